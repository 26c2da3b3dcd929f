-- What a force delete could not delete: every resource still tagged with the cluster (or, when the cloud
-- would not even list them, every one Strata recorded making), kept after the cluster is gone and purged
-- (no foreign key), for someone with access to the cloud to remove by hand.
CREATE TABLE leftovers (
    id               bigserial PRIMARY KEY,
    project_id       uuid NOT NULL,
    cluster_id       uuid NOT NULL,
    cluster_name     text NOT NULL,
    cloud_account_id uuid NOT NULL,
    cloud            text NOT NULL,
    kind             text NOT NULL,
    region           text NOT NULL,
    resource_id      text NOT NULL,
    reason           text NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leftovers_project ON leftovers (project_id, id);
