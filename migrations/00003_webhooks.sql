-- +goose Up

-- One row per webhook delivery: one event sent to one destination. This is
-- what the merchant sees in the delivery log; the River job that works it is
-- only the scheduling. There is deliberately no foreign key to the payment
-- tables: package webhook stays independent of the payments schema, and a
-- redelivery is a new row with the same event_id.
CREATE TABLE webhook_deliveries (
    id              uuid        PRIMARY KEY,
    event_id        uuid        NOT NULL,
    payment_id      uuid        NOT NULL,
    url             text        NOT NULL CHECK (url <> ''),
    -- What the destination expects: a Transient webhook, a BitPay IPN, ...
    kind            text        NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,31}$'),
    -- Sent byte for byte on every attempt, so a receiver can verify the
    -- signature over exactly what the event wrote.
    body            bytea       NOT NULL,
    -- The operator-configured global URL may be private or loopback; a
    -- per-payment destination is refused those unless the operator allows it.
    trusted         boolean     NOT NULL DEFAULT false,
    state           text        NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed', 'dead')),
    -- Attempt numbers are claimed by incrementing this before the request
    -- goes out, so a number is never used twice.
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at      timestamptz NOT NULL,
    -- When the next attempt is due; only a pending delivery has one.
    next_attempt_at timestamptz CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL)),
    -- When the delivery stopped being pending.
    completed_at    timestamptz CHECK ((state = 'pending') = (completed_at IS NULL)),
    -- The outcome of the latest attempt when it was not a success.
    last_error      text,
    -- Only the outcome of an attempt ends a delivery.
    CHECK (state = 'pending' OR attempts > 0)
);
-- The delivery log is read per event (payment events API) and per payment.
CREATE INDEX webhook_deliveries_event_id_idx ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_payment_id_idx ON webhook_deliveries (payment_id);

-- One row per attempt of a delivery. The row is written when the attempt
-- number is claimed, before the request goes out, and completed afterwards;
-- a row whose duration_ms is still NULL is an attempt in flight or one whose
-- process stopped during it.
CREATE TABLE webhook_attempts (
    delivery_id  uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    number       integer     NOT NULL CHECK (number > 0),
    attempted_at timestamptz NOT NULL,
    duration_ms  integer     CHECK (duration_ms >= 0),
    -- NULL when no HTTP response arrived (network error, timeout, refused).
    http_status  integer     CHECK (http_status BETWEEN 100 AND 599),
    -- Truncated by the dispatcher; never the whole response body.
    error        text,
    -- The schema itself guarantees that no attempt number is made twice,
    -- whatever the number of dispatcher processes.
    PRIMARY KEY (delivery_id, number)
);
-- The hourly prune deletes attempts older than the log retention.
CREATE INDEX webhook_attempts_attempted_at_idx ON webhook_attempts (attempted_at);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
