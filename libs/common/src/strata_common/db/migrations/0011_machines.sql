-- Machines: one row per node a cluster has or is about to have (like Cluster API's Machines). The
-- planner diffs a cluster's desired pools against these rows; a machine whose template hash differs
-- from its pool's desired one is replaced. Names (`<pool>-<ordinal>`) are never reused in a
-- cluster, so a replacement has its own step, launch token and instance.
CREATE TABLE machines (
    cluster_id      uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    name            text NOT NULL,
    pool            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('controlPlane', 'worker')),
    ordinal         integer NOT NULL,
    zone            text NOT NULL,
    template_hash   text NOT NULL,  -- '' for machines recorded from steps made before this table
    template        jsonb NOT NULL,  -- the NodeTemplate its step launches
    phase           text NOT NULL CHECK (phase IN
                        ('Provisioning', 'Running', 'Draining', 'Deleting', 'Failed', 'Deleted')),
    retire_reason   text,  -- set by the plan that removes it: template changed, scale-down, unhealthy, ...
    instance_id     text,
    node_name       text,
    unhealthy_since timestamptz,  -- first health check that found it gone or NotReady
    generation      bigint NOT NULL,  -- the generation that planned it
    created_at      timestamptz NOT NULL DEFAULT now(),
    ready_at        timestamptz,
    deleted_at      timestamptz,
    PRIMARY KEY (cluster_id, name)
);
CREATE INDEX machines_live ON machines (cluster_id) WHERE phase <> 'Deleted';

-- The nodes of clusters made before machines existed: their last successful node steps.
INSERT INTO machines (cluster_id, name, pool, role, ordinal, zone, template_hash, template, phase,
                      instance_id, node_name, generation, ready_at)
SELECT DISTINCT ON (s.cluster_id, s.name)
       s.cluster_id, split_part(s.name, '/', 2), s.input ->> 'pool', s.input ->> 'role',
       (s.input ->> 'index')::int, s.input ->> 'zone', '', s.input, 'Running',
       s.output ->> 'instance', split_part(s.name, '/', 2), s.generation, s.finished_at
FROM steps s JOIN clusters c ON c.id = s.cluster_id
WHERE s.name LIKE 'ensure_node/%' AND s.status = 'succeeded' AND c.deleted_at IS NULL
ORDER BY s.cluster_id, s.name, s.generation DESC;

-- Pausing stops every cloud call of a cluster; health checks come due per cluster (one indexed
-- query finds them, as for steps).
ALTER TABLE clusters ADD COLUMN paused boolean NOT NULL DEFAULT false,
                     ADD COLUMN health_due_at timestamptz;
CREATE INDEX clusters_health_due ON clusters (health_due_at) WHERE health_due_at IS NOT NULL;
