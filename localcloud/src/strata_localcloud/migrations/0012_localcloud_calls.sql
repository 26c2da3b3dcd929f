-- Every call the local cloud admits is counted per action (what a paused cluster must not make, what a
-- benchmark reports per node), and DeregisterTargets joins the throttled actions.
ALTER TABLE lc_throttle ADD COLUMN calls bigint NOT NULL DEFAULT 0;
INSERT INTO lc_throttle (action, rate, burst, tokens) VALUES ('DeregisterTargets', 100, 200, 200)
ON CONFLICT (action) DO NOTHING;
