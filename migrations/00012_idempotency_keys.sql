-- +goose Up

-- A payment creation request named by the client (the HTTP Idempotency-Key
-- header, an AMQP command's message_id): repeating it within 24 hours
-- returns the payment the first one made instead of a second payment.
-- A row is claimed before the payment is created (payment_id NULL,
-- claimed_until set) so that a concurrent request with the same key waits
-- for the first instead of making its own; the payment and the key are
-- then stored in one transaction. A claim whose process died expires.
CREATE TABLE payment_idempotency_keys (
    -- Which interface the key came from: keys of different interfaces
    -- never meet.
    scope         text        NOT NULL CHECK (scope ~ '^[a-z]{1,16}$'),
    key           text        NOT NULL CHECK (octet_length(key) BETWEEN 1 AND 255),
    -- SHA-256 of the request: the same key with another request is refused.
    fingerprint   bytea       NOT NULL CHECK (octet_length(fingerprint) = 32),
    payment_id    uuid        REFERENCES payments (id) ON DELETE CASCADE,
    -- The claim of the request that is creating the payment.
    claim         uuid        NOT NULL,
    claimed_until timestamptz,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (scope, key),
    CHECK ((payment_id IS NULL) = (claimed_until IS NOT NULL))
);
-- Keys older than the 24-hour window are pruned by age.
CREATE INDEX payment_idempotency_keys_created_at_idx ON payment_idempotency_keys (created_at);

-- +goose Down
DROP TABLE payment_idempotency_keys;
