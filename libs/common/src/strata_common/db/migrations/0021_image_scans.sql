-- CIS scans of built images (OpenSCAP on the builder, against the image's root), one per image
-- signature and cloud account: every copy of an image in another region shares its scan. `rules`
-- holds each selected rule's id, title, severity and result; `status` not-scanned says why in `reason`.
CREATE TABLE image_scans (
    cloud_account_id uuid NOT NULL REFERENCES cloud_accounts (id) ON DELETE CASCADE,
    signature        text NOT NULL,
    status           text NOT NULL CHECK (status IN ('scanned', 'not-scanned')),
    reason           text,
    benchmark        text,
    profile          text,
    score            double precision,
    totals           jsonb NOT NULL DEFAULT '{}',
    rules            jsonb NOT NULL DEFAULT '[]',
    seconds          double precision,
    scanned_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cloud_account_id, signature)
);
