-- +goose Up

-- BitPay API tokens. A token is what a paired client sends with every
-- request; only its SHA-256 is stored, so a database dump cannot be used to
-- call the API. Each token belongs to one client key (its SIN): a request
-- must be signed by a key that hashes to it.
CREATE TABLE bitpay_tokens (
    id          uuid        PRIMARY KEY,
    token_hash  bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    sin         text        NOT NULL CHECK (sin ~ '^[1-9A-HJ-NP-Za-km-z]{30,40}$'),
    facade      text        NOT NULL DEFAULT 'merchant' CHECK (facade = 'merchant'),
    label       text        NOT NULL DEFAULT '' CHECK (length(label) <= 255),
    -- A token from client-initiated pairing works only once the operator
    -- approved its pairing code; one from an operator's code at once.
    approved_at timestamptz,
    created_at  timestamptz NOT NULL
);

-- Pairing codes: 7 base58 characters, single use, short-lived. The operator
-- creates one (transientd pairing create) and the client claims it with its
-- SIN; or the client asks for one with its SIN and the operator approves it
-- (transientd pairing approve).
CREATE TABLE bitpay_pairing_codes (
    code        text        PRIMARY KEY CHECK (code ~ '^[1-9A-HJ-NP-Za-km-z]{7}$'),
    origin      text        NOT NULL CHECK (origin IN ('operator', 'client')),
    facade      text        NOT NULL DEFAULT 'merchant' CHECK (facade = 'merchant'),
    label       text        NOT NULL DEFAULT '' CHECK (length(label) <= 255),
    -- The client's SIN: known from the start for a client's request, from
    -- the claim for an operator's code.
    sin         text        CHECK (sin ~ '^[1-9A-HJ-NP-Za-km-z]{30,40}$'),
    -- The token the pairing produced; set exactly when the code is used.
    token_id    uuid        UNIQUE REFERENCES bitpay_tokens (id),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL CHECK (expires_at > created_at),
    -- An operator's code is approved when created; a client's when the
    -- operator approves it.
    approved_at timestamptz,
    claimed_at  timestamptz,
    -- An operator's code is approved from the start.
    CHECK (origin = 'client' OR approved_at IS NOT NULL),
    -- A token exists exactly when the client's SIN is known.
    CHECK ((token_id IS NULL) = (sin IS NULL)),
    -- An operator's code gets its SIN and token when claimed; a client's
    -- has them from the start and is never claimed.
    CHECK (CASE WHEN origin = 'operator' THEN (claimed_at IS NULL) = (token_id IS NULL)
                ELSE claimed_at IS NULL AND token_id IS NOT NULL END)
);
-- The prune job deletes codes that expired unused long ago.
CREATE INDEX bitpay_pairing_codes_expires_idx ON bitpay_pairing_codes (expires_at) WHERE token_id IS NULL;
-- Client-initiated requests waiting for approval are counted to bound them.
CREATE INDEX bitpay_pairing_codes_waiting_idx ON bitpay_pairing_codes (expires_at)
    WHERE origin = 'client' AND approved_at IS NULL;

-- The BitPay side of an invoice. The invoice is the payment with this id:
-- status, amounts, address, outputs and expiry live in payments and follow
-- its one state machine; this row holds only what BitPay adds.
CREATE TABLE bitpay_invoices (
    payment_id             uuid        PRIMARY KEY REFERENCES payments (id),
    -- The token that created the invoice: listings show a client only its
    -- own pairing's invoices.
    token_id               uuid        NOT NULL REFERENCES bitpay_tokens (id),
    -- The price as the shop gave it, in currency, and the rate (currency per
    -- coin) it was converted at when the invoice was created. The payment's
    -- amount is price / rate rounded up to a base unit.
    price                  numeric     NOT NULL CHECK (price > 0),
    currency               text        NOT NULL CHECK (currency ~ '^[A-Z0-9]{2,10}$'),
    rate                   numeric     NOT NULL CHECK (rate > 0),
    rate_source            text        NOT NULL,
    item_code              text        CHECK (length(item_code) BETWEEN 1 AND 255),
    item_desc              text        CHECK (length(item_desc) BETWEEN 1 AND 2000),
    pos_data               text        CHECK (length(pos_data) BETWEEN 1 AND 16384),
    -- Where IPNs go; NULL sends none.
    notification_url       text        CHECK (notification_url ~ '^https?://' AND length(notification_url) <= 2048),
    transaction_speed      text        NOT NULL CHECK (transaction_speed IN ('high', 'medium', 'low')),
    full_notifications     boolean     NOT NULL DEFAULT false,
    extended_notifications boolean     NOT NULL DEFAULT false,
    -- Confirmations after which a confirmed invoice is complete (at least
    -- the payment's own confirmations_required).
    complete_confirmations integer     NOT NULL CHECK (complete_confirmations BETWEEN 0 AND 1000),
    -- The invoice's "token" field: a random identifier shown to the shop,
    -- not a credential.
    resource_token         text        NOT NULL CHECK (resource_token ~ '^[1-9A-HJ-NP-Za-km-z]{16,64}$'),
    created_at             timestamptz NOT NULL
);
-- GET /invoices lists a token's invoices newest first.
CREATE INDEX bitpay_invoices_token_idx ON bitpay_invoices (token_id, created_at DESC, payment_id DESC);
CREATE INDEX bitpay_invoices_item_code_idx ON bitpay_invoices (token_id, item_code) WHERE item_code IS NOT NULL;

-- +goose Down
DROP TABLE bitpay_invoices;
DROP TABLE bitpay_pairing_codes;
DROP TABLE bitpay_tokens;
