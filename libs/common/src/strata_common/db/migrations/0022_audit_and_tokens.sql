-- Tokens may expire; a platform admin's token may create projects. The audit log: every write through
-- the API and every kubeconfig download (who, what, the answer's status, when), append-only: a trigger
-- refuses UPDATE, DELETE and TRUNCATE. It holds no request body, so no secret.
ALTER TABLE api_tokens
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN platform_admin boolean NOT NULL DEFAULT false;

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    project_id  uuid NOT NULL,  -- no foreign key: the record outlives what it names
    token_id    uuid NOT NULL,
    token_name  text NOT NULL,
    role        text NOT NULL,
    method      text NOT NULL,
    path        text NOT NULL,
    resource    text NOT NULL,
    resource_id text,
    status      integer NOT NULL,
    remote_addr text
);
CREATE INDEX audit_log_project ON audit_log (project_id, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
