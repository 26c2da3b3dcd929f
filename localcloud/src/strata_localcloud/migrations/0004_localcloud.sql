-- The built-in local cloud: a simulated cloud whose state every worker process shares.

CREATE TABLE lc_regions (
    name        text PRIMARY KEY,
    vcpu_quota  integer NOT NULL CHECK (vcpu_quota >= 0)
);

CREATE TABLE lc_resources (
    id           text PRIMARY KEY,  -- i-…, vpc-…, subnet-…, sg-…, lb-…, ami-…
    kind         text NOT NULL CHECK (kind IN ('network', 'subnet', 'security_group', 'load_balancer', 'instance', 'image')),
    region       text NOT NULL,
    zone         text,
    spec         jsonb NOT NULL DEFAULT '{}',
    tags         jsonb NOT NULL DEFAULT '{}',
    client_token text,              -- idempotency token: the same token answers the same resource
    ready_at     timestamptz NOT NULL DEFAULT now(),  -- pending until then, then running/available
    created_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz
);
CREATE UNIQUE INDEX lc_resources_token ON lc_resources (kind, region, client_token) WHERE client_token IS NOT NULL;
CREATE INDEX lc_resources_tags ON lc_resources USING gin (tags);
CREATE INDEX lc_resources_live_instances ON lc_resources (region) WHERE kind = 'instance' AND deleted_at IS NULL;

CREATE TABLE lc_faults (
    id         bigserial PRIMARY KEY,
    action     text NOT NULL,
    code       text NOT NULL,
    message    text NOT NULL,
    remaining  integer NOT NULL CHECK (remaining >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lc_faults_pending ON lc_faults (action, id) WHERE remaining > 0;

-- The regions of strata_common.clouds.catalog.REGIONS["local"], each with a default vCPU quota.
INSERT INTO lc_regions (name, vcpu_quota) VALUES ('local-1', 64), ('local-2', 64);
