-- The Kubernetes API emulator of the local cloud: every object of every local cluster, and the
-- change log that resourceVersions number and watches read (compacted after a while, like etcd).

CREATE TABLE kube_objects (
    cluster_id       uuid NOT NULL,
    resource         text NOT NULL,  -- group/plural, "" group for core: "/pods", "apps/deployments"
    namespace        text NOT NULL DEFAULT '',  -- '' for cluster-scoped objects
    name             text NOT NULL,
    uid              uuid NOT NULL,
    resource_version bigint NOT NULL,
    body             jsonb NOT NULL,
    PRIMARY KEY (cluster_id, resource, namespace, name)
);
CREATE INDEX kube_objects_namespace ON kube_objects (cluster_id, namespace);
CREATE INDEX kube_objects_owner ON kube_objects USING gin ((body -> 'metadata' -> 'ownerReferences') jsonb_path_ops);

CREATE TABLE kube_changes (
    resource_version bigserial PRIMARY KEY,
    cluster_id       uuid NOT NULL,
    resource         text NOT NULL,
    namespace        text NOT NULL,
    name             text NOT NULL,
    type             text NOT NULL CHECK (type IN ('ADDED', 'MODIFIED', 'DELETED')),
    body             jsonb NOT NULL,
    at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kube_changes_cluster ON kube_changes (cluster_id, resource, resource_version);

-- Changes up to this resourceVersion were compacted: a watch from before it is answered 410 Gone.
CREATE TABLE kube_compaction (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    horizon  bigint NOT NULL
);
INSERT INTO kube_compaction (horizon) VALUES (0);
