-- +goose Up

-- Every output that pays a payment's address, keyed the way the chain keys
-- it. Writes are upserts on (coin, txid, vout), so a notification that
-- arrives twice, or from two processes, records the output once.
CREATE TABLE payment_outputs (
    coin          text        NOT NULL,
    txid          text        NOT NULL CHECK (txid ~ '^[0-9a-f]{64}$'),
    vout          integer     NOT NULL CHECK (vout >= 0),
    payment_id    uuid        NOT NULL REFERENCES payments (id),
    amount        bigint      NOT NULL CHECK (amount > 0),
    -- As the node reports them: negative means a conflicting transaction
    -- is in the active chain.
    confirmations bigint      NOT NULL,
    -- Set when the output can no longer confirm although confirmations is
    -- not negative (listed as removed, or replaced in the mempool).
    conflicted    boolean     NOT NULL DEFAULT false,
    replaceable   boolean     NOT NULL DEFAULT false,
    block_hash    text,
    block_height  bigint,
    first_seen_at timestamptz NOT NULL,
    -- When the node was asked. An older observation never overwrites a
    -- newer one, so two workers racing on one transaction cannot move its
    -- confirmations backwards.
    observed_at   timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (coin, txid, vout)
);
CREATE INDEX payment_outputs_payment_id_idx ON payment_outputs (payment_id);
-- The block refresh re-reads outputs that a reorg could still change.
CREATE INDEX payment_outputs_shallow_idx ON payment_outputs (coin, txid) WHERE confirmations < 100;

-- The per-payment counter that orders its events.
ALTER TABLE payments ADD COLUMN event_sequence integer NOT NULL DEFAULT 0;

-- Every status change, written in the same transaction as the change: the
-- outbox the webhook dispatcher reads.
CREATE TABLE payment_events (
    id              uuid        PRIMARY KEY,
    payment_id      uuid        NOT NULL REFERENCES payments (id),
    sequence        integer     NOT NULL CHECK (sequence > 0),
    type            text        NOT NULL,
    status          text        NOT NULL,
    previous_status text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    -- The webhook body, exactly as every delivery of this event sends it:
    -- json, not jsonb, keeps the bytes (key order, number text) unchanged.
    payload         json        NOT NULL,
    UNIQUE (payment_id, sequence)
);

-- Where the catch-up scan of each coin's wallet resumes: a block on the
-- active chain at the time it was stored, and its height as a fallback when
-- the node no longer knows the hash.
CREATE TABLE chain_cursors (
    coin         text        PRIMARY KEY,
    block_hash   text        NOT NULL CHECK (block_hash ~ '^[0-9a-f]{64}$'),
    block_height bigint      NOT NULL CHECK (block_height >= 0),
    updated_at   timestamptz NOT NULL
);

-- Workers look for payments whose deadline (expiry or monitoring window) may
-- have passed.
CREATE INDEX payments_open_expiry_idx ON payments (expires_at) WHERE status IN ('UNPAID', 'PARTIAL');
CREATE INDEX payments_pending_since_idx ON payments (pending_since) WHERE status = 'PENDING';

-- +goose Down
DROP INDEX payments_pending_since_idx;
DROP INDEX payments_open_expiry_idx;
DROP TABLE chain_cursors;
DROP TABLE payment_events;
ALTER TABLE payments DROP COLUMN event_sequence;
DROP TABLE payment_outputs;
