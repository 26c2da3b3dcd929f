-- Where a step's time went, for the cluster's timeline: when it first became due; seconds it was due but
-- unclaimed (queued), its handler ran (working), and it waited by choice (requeued until the cloud
-- expects a resource ready, or backing off after a failure); since when it has been idle between runs.
ALTER TABLE steps
    ADD COLUMN due_at timestamptz,
    ADD COLUMN idle_since timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN queued_seconds double precision NOT NULL DEFAULT 0,
    ADD COLUMN working_seconds double precision NOT NULL DEFAULT 0,
    ADD COLUMN waiting_seconds double precision NOT NULL DEFAULT 0;
