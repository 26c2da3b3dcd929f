-- Round-trip pings: `strata status` sends a ping task to each service queue and the worker
-- that consumes it records a row here, proving queue, worker and database all work.
CREATE TABLE service_pings (
    token       uuid PRIMARY KEY,
    service     text NOT NULL,
    hostname    text NOT NULL,
    pid         integer NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX service_pings_received_at ON service_pings (received_at);
