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

-- A launch checks the region's vCPU quota against the vCPUs of its live instances: kept as a running
-- total (summing thousands of instances under the region's lock serialized launches behind it).
ALTER TABLE lc_regions ADD COLUMN vcpus_used integer NOT NULL DEFAULT 0;
UPDATE lc_regions r SET vcpus_used = (
    SELECT coalesce(sum((spec ->> 'vcpus')::int), 0) FROM lc_resources
     WHERE kind = 'instance' AND region = r.name AND deleted_at IS NULL);

CREATE FUNCTION lc_count_vcpus() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    before integer := 0;
    after integer := 0;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.kind = 'instance' AND OLD.deleted_at IS NULL THEN
        before := coalesce((OLD.spec ->> 'vcpus')::int, 0);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.kind = 'instance' AND NEW.deleted_at IS NULL THEN
        after := coalesce((NEW.spec ->> 'vcpus')::int, 0);
    END IF;
    IF before <> after THEN
        UPDATE lc_regions SET vcpus_used = vcpus_used + after - before
         WHERE name = coalesce(NEW.region, OLD.region);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER lc_count_vcpus AFTER INSERT OR UPDATE OR DELETE ON lc_resources
    FOR EACH ROW EXECUTE FUNCTION lc_count_vcpus();
