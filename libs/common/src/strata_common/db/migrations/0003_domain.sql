-- The domain: projects and tokens, pack registries and packs, profiles with immutable
-- revisions, cloud accounts with encrypted credentials, clusters' references, idempotency keys.

CREATE TABLE projects (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    name         text NOT NULL DEFAULT '',
    token_hash   text NOT NULL UNIQUE,  -- sha256 of the token; the token itself is never stored
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE registries (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id     uuid REFERENCES projects (id) ON DELETE CASCADE,  -- NULL: the built-in public registry
    name           text NOT NULL,
    source         text NOT NULL,
    last_synced_at timestamptz,
    last_sync      jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX registries_project_name ON registries (coalesce(project_id, '00000000-0000-0000-0000-000000000000'), name);

CREATE TABLE packs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    registry_id uuid NOT NULL REFERENCES registries (id) ON DELETE CASCADE,
    name        text NOT NULL,
    version     text NOT NULL,
    layer       text NOT NULL CHECK (layer IN ('os', 'k8s', 'cni', 'csi', 'addon')),
    digest      text NOT NULL,
    definition  jsonb NOT NULL,  -- the validated pack.json, values, manifests and role files
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (registry_id, name, version)
);

CREATE TABLE profiles (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name            text NOT NULL,
    description     text NOT NULL DEFAULT '',
    latest_revision integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

CREATE TABLE profile_revisions (
    profile_id uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    revision   integer NOT NULL,
    layers     jsonb NOT NULL,  -- resolved: each layer with its pack id and digest
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_id, revision)
);

CREATE TABLE cloud_accounts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        text NOT NULL,
    cloud       text NOT NULL CHECK (cloud IN ('local', 'aws', 'azure', 'vsphere')),
    config      jsonb NOT NULL DEFAULT '{}',
    credentials bytea,  -- encrypted with STRATA_SECRET_KEY; never returned
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

ALTER TABLE clusters DROP CONSTRAINT clusters_project_name_key;
ALTER TABLE clusters DROP COLUMN project;
ALTER TABLE clusters
    ADD COLUMN project_id uuid REFERENCES projects (id) ON DELETE CASCADE,
    ADD COLUMN profile_id uuid REFERENCES profiles (id) ON DELETE SET NULL,
    ADD COLUMN profile_revision integer,
    ADD COLUMN cloud_account_id uuid REFERENCES cloud_accounts (id) ON DELETE SET NULL,
    ADD COLUMN deleted_at timestamptz;
CREATE UNIQUE INDEX clusters_project_name ON clusters (project_id, name) WHERE deleted_at IS NULL;
CREATE INDEX clusters_project_created ON clusters (project_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE idempotency_keys (
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key         text NOT NULL,
    request     text NOT NULL,  -- method, path and sha256 of the body
    status      integer NOT NULL,
    response    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, key)
);
