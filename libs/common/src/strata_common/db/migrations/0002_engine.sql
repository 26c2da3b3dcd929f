-- The reconciliation engine: clusters' desired state, durable steps, conditions and events.

CREATE TABLE clusters (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project     text NOT NULL DEFAULT 'default',
    name        text NOT NULL,
    generation  bigint NOT NULL DEFAULT 1,
    spec        jsonb NOT NULL DEFAULT '{}',
    phase       text NOT NULL DEFAULT 'Pending',
    event_seq   bigint NOT NULL DEFAULT 0,  -- last event number; its row lock orders a cluster's events
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project, name)
);

CREATE TABLE steps (
    id           bigserial PRIMARY KEY,
    cluster_id   uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    generation   bigint NOT NULL,
    name         text NOT NULL,
    queue        text NOT NULL CHECK (queue IN ('imagebuilder', 'provisioner', 'addons', 'control')),
    condition    text,
    depends_on   text[] NOT NULL DEFAULT '{}',
    status       text NOT NULL CHECK (status IN
                     ('pending', 'ready', 'running', 'succeeded', 'failed', 'superseded', 'cancelled')),
    attempts     integer NOT NULL DEFAULT 0,
    not_before   timestamptz NOT NULL DEFAULT now(),
    lease_until  timestamptz,
    claim_token  uuid,
    claimed_by   text,
    -- When beat must look at this step next: ready -> publish grace, failed -> not_before,
    -- running -> lease_until; NULL when nothing can become due (pending or finished).
    wake_at      timestamptz,
    redrives     integer NOT NULL DEFAULT 0,
    last_error   text,
    error_reason text,
    error_class  text CHECK (error_class IN ('user-fixable', 'transient')),
    input        jsonb NOT NULL DEFAULT '{}',
    output       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    UNIQUE (cluster_id, generation, name)
);
-- The re-drive query reads only this index: due steps are few, finished ones are not in it.
CREATE INDEX steps_wake_at ON steps (wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX steps_cluster_generation ON steps (cluster_id, generation, status);

CREATE TABLE conditions (
    cluster_id           uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    type                 text NOT NULL,
    status               text NOT NULL CHECK (status IN ('True', 'False', 'Unknown')),
    reason               text NOT NULL,
    message              text NOT NULL DEFAULT '',
    error_class          text,
    observed_generation  bigint NOT NULL,
    last_transition_time timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_id, type)
);

CREATE TABLE events (
    cluster_id uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,  -- strictly increasing per cluster, in commit order, no gaps
    at         timestamptz NOT NULL DEFAULT now(),
    level      text NOT NULL CHECK (level IN ('info', 'warning', 'error')),
    source     text NOT NULL,
    reason     text NOT NULL,
    message    text NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}',
    step_id    bigint,
    PRIMARY KEY (cluster_id, seq)
);
