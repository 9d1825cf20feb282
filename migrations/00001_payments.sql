-- +goose Up

-- One row per payment. Amounts are integer base units (1 coin = 100,000,000)
-- and the CHECKs mirror the domain rules, so a bug in the Go code cannot store
-- a payment the rest of the system would misread.
CREATE TABLE payments (
    id                     uuid        PRIMARY KEY,
    coin                   text        NOT NULL CHECK (coin ~ '^[A-Z0-9]{2,10}$'),
    amount                 bigint      NOT NULL CHECK (amount > 0),
    address                text        NOT NULL CHECK (address <> ''),
    label                  text        NOT NULL DEFAULT '',
    status                 text        NOT NULL DEFAULT 'UNPAID'
        CHECK (status IN ('UNPAID', 'PARTIAL', 'PENDING', 'PAID', 'EXPIRED', 'INVALID')),
    amount_received        bigint      NOT NULL DEFAULT 0 CHECK (amount_received >= 0),
    amount_confirmed       bigint      NOT NULL DEFAULT 0
        CHECK (amount_confirmed >= 0 AND amount_confirmed <= amount_received),
    overpaid               boolean     NOT NULL DEFAULT false,
    paid_late              boolean     NOT NULL DEFAULT false,
    confirmations_required integer     NOT NULL CHECK (confirmations_required BETWEEN 0 AND 1000),
    tolerance_bp           integer     NOT NULL DEFAULT 0 CHECK (tolerance_bp BETWEEN 0 AND 10000),
    expires_at             timestamptz,
    -- Set while the payment is PENDING: the monitoring window counts from it.
    pending_since          timestamptz CHECK ((status = 'PENDING') = (pending_since IS NOT NULL)),
    order_id               text        CHECK (length(order_id) BETWEEN 1 AND 255),
    metadata               jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    -- An address belongs to exactly one payment: outputs are matched to
    -- payments by address.
    UNIQUE (coin, address)
);

-- GET /payments lists newest first with keyset pagination on (created_at, id).
CREATE INDEX payments_created_at_idx ON payments (created_at DESC, id DESC);
CREATE INDEX payments_status_created_at_idx ON payments (status, created_at DESC, id DESC);
CREATE INDEX payments_order_id_idx ON payments (order_id) WHERE order_id IS NOT NULL;

-- +goose Down
DROP TABLE payments;
