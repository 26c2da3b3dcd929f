-- The management agent of a cluster: its credentials (good for that one cluster only, stored as sha256,
-- expiring, rotated by the agent, revocable) and its last report (applied generation, packs, nodes, drift).
CREATE TABLE agent_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    cluster_id  uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    token_hash  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX agent_tokens_cluster ON agent_tokens (cluster_id);

CREATE TABLE agent_reports (
    cluster_id   uuid PRIMARY KEY REFERENCES clusters (id) ON DELETE CASCADE,
    generation   bigint NOT NULL,
    report       jsonb NOT NULL,
    reported_at  timestamptz NOT NULL DEFAULT now()
);
