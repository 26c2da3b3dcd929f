-- The Kubernetes API emulator follows a cluster's instances by notification, not by polling every
-- cluster: each change to an instance row NOTIFYs `strata_lc_instances` with the instance's cluster.
CREATE FUNCTION lc_instance_news() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cluster text := coalesce(NEW.tags, OLD.tags) ->> 'strata:cluster';
BEGIN
    IF coalesce(NEW.kind, OLD.kind) = 'instance' AND cluster IS NOT NULL THEN
        PERFORM pg_notify('strata_lc_instances', cluster);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER lc_instance_news AFTER INSERT OR UPDATE OR DELETE ON lc_resources
    FOR EACH ROW EXECUTE FUNCTION lc_instance_news();

-- The emulator looks a cluster's live instances and load balancer up by its tag many times a second.
CREATE INDEX lc_resources_cluster ON lc_resources ((tags ->> 'strata:cluster')) WHERE deleted_at IS NULL;
