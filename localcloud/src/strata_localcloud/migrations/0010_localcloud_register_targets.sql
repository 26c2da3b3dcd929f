-- The local cloud's load balancers have targets now (the control-plane nodes): RegisterTargets is
-- throttled like every other action.
INSERT INTO lc_throttle (action, rate, burst, tokens) VALUES ('RegisterTargets', 100, 200, 200)
ON CONFLICT (action) DO NOTHING;
