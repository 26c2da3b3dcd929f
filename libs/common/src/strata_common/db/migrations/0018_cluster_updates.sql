-- Update notifications: a profile's newer revision offered to each cluster on an older one of it, from
-- the revision the cluster runs to the profile's latest; one pending per cluster (a newer revision
-- supersedes it), with the user's resolutions of its override conflicts until it is applied.
CREATE TABLE cluster_updates (
    cluster_id    uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    number        integer NOT NULL,
    profile_id    uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    from_revision integer NOT NULL,
    to_revision   integer NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'superseded', 'applied')),
    resolutions   jsonb NOT NULL DEFAULT '{}',  -- "pack:path" -> {"action": ..., "value": ...}
    created_at    timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz,
    PRIMARY KEY (cluster_id, number)
);
CREATE UNIQUE INDEX cluster_updates_pending ON cluster_updates (cluster_id) WHERE status = 'pending';
CREATE INDEX cluster_updates_profile ON cluster_updates (profile_id, cluster_id) WHERE status = 'pending';
