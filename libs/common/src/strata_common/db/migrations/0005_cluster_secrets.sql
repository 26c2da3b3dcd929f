-- A cluster's PKI and bootstrap secrets, sealed with STRATA_SECRET_KEY (one row per cluster).
CREATE TABLE cluster_secrets (
    cluster_id uuid PRIMARY KEY REFERENCES clusters (id) ON DELETE CASCADE,
    sealed     bytea NOT NULL,
    ca_cert    text NOT NULL,  -- public: shown in kubeconfigs and used for discovery hashes
    created_at timestamptz NOT NULL DEFAULT now()
);
