-- Request throttling of the local cloud: a token bucket per action, as EC2 throttles per API action.
-- `rate` tokens per second refill the bucket up to `burst`; a call takes one token or is refused
-- with RequestLimitExceeded. A rate of 0 turns throttling of that action off.

CREATE TABLE lc_throttle (
    action      text PRIMARY KEY,
    rate        double precision NOT NULL CHECK (rate >= 0),
    burst       double precision NOT NULL CHECK (burst >= 1),
    tokens      double precision NOT NULL,
    refilled_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

INSERT INTO lc_throttle (action, rate, burst, tokens)
SELECT action, 100, 200, 200 FROM unnest(ARRAY[
    'CreateNetwork', 'CreateSecurityGroup', 'CreateLoadBalancer', 'DescribeImages', 'CopyImage', 'CreateImage',
    'RunInstances', 'DescribeInstances', 'ModifyInstanceAttribute', 'DeleteResource', 'ListOwned'
]) AS action;
