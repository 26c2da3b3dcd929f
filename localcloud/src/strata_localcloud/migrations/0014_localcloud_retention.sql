-- Resources deleted longer than STRATA_RETENTION_SECONDS ago are purged by the emulator's garbage
-- collection; one indexed query finds them.
CREATE INDEX lc_resources_deleted ON lc_resources (deleted_at) WHERE deleted_at IS NOT NULL;
