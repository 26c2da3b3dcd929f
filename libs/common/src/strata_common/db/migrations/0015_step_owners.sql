-- A running step names the process that claimed it: the key of the advisory lock that process holds
-- while it lives (strata_common.engine.liveness). The re-drive looks only at running steps.
ALTER TABLE steps ADD COLUMN owner integer;
CREATE INDEX steps_running ON steps (id) WHERE status = 'running';
