-- Retention: a deleted cluster's rows (steps, conditions, events, machines, secrets, by cascade) are
-- removed STRATA_RETENTION_SECONDS after its deletion finished; one indexed query finds them.
CREATE INDEX clusters_deleted ON clusters (deleted_at) WHERE deleted_at IS NOT NULL;
