-- A Running cluster's add-ons are compared with what its packs declare less often than its nodes are
-- checked (every STRATA_DRIFT_INTERVAL seconds): when they last were.
ALTER TABLE clusters ADD COLUMN drift_checked_at timestamptz;
