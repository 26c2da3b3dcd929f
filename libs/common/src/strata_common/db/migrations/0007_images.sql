-- Images: the local cloud's image disks, Strata's record of the images it resolved, copied or built,
-- and the one-build-per-signature lock.

-- The root filesystem of a local cloud image made by CreateImage or CopyImage (a gzipped tar).
-- Catalog images (ubuntu-22.04, ...) have none: their root is generated from their name.
CREATE TABLE lc_image_disks (
    image_id text PRIMARY KEY REFERENCES lc_resources (id) ON DELETE CASCADE,
    archive  bytea NOT NULL
);

-- Every image a cluster of a cloud account was given, by region.
CREATE TABLE images (
    cloud_account_id   uuid NOT NULL REFERENCES cloud_accounts (id) ON DELETE CASCADE,
    region             text NOT NULL,
    image_id           text NOT NULL,
    signature          text NOT NULL,
    source             text NOT NULL CHECK (source IN ('catalog', 'copied', 'built')),
    state              text NOT NULL,
    pack_name          text NOT NULL,
    pack_version       text NOT NULL,
    kubernetes_version text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cloud_account_id, region, image_id)
);
CREATE INDEX images_signature ON images (cloud_account_id, signature);

-- One build per signature and cloud account: the row names the step that builds; others wait while
-- that step is unfinished. `attempt` numbers the builder instances (each attempt launches its own).
CREATE TABLE image_builds (
    cloud_account_id uuid NOT NULL REFERENCES cloud_accounts (id) ON DELETE CASCADE,
    signature        text NOT NULL,
    step_id          bigint NOT NULL,
    cluster_id       uuid NOT NULL,
    attempt          integer NOT NULL DEFAULT 1,
    status           text NOT NULL CHECK (status IN ('building', 'succeeded', 'failed')),
    error            text,
    image_id         text,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    PRIMARY KEY (cloud_account_id, signature)
);
