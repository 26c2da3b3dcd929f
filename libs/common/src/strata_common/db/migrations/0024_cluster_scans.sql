-- CIS Kubernetes Benchmark scans of a cluster, numbered per cluster: after each create or update, on a
-- schedule and on demand; `report` is kube-bench's JSON shape (Controls -> tests -> results, Totals), `totals` its counts.
CREATE TABLE cluster_scans (
    cluster_id uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    number     integer NOT NULL,
    benchmark  text NOT NULL,
    trigger    text NOT NULL CHECK (trigger IN ('create', 'update', 'schedule', 'demand')),
    totals     jsonb NOT NULL,
    report     jsonb NOT NULL,
    scanned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_id, number)
);
