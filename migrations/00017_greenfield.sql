-- +goose Up

-- Greenfield API (BTCPay Server's v1 API) stores. A store owns its
-- invoices, its webhooks and its API keys; the shop's plugin names it by id.
-- Ids are 44 base58 characters, the shape BTCPay's store ids have, so
-- plugins that check the shape accept them.
CREATE TABLE greenfield_stores (
    id               text        PRIMARY KEY CHECK (id ~ '^[1-9A-HJ-NP-Za-km-z]{44}$'),
    name             text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- The currency invoices are priced in when they name none: a fiat code
    -- (converted through our rates) or a coin code.
    default_currency text        NOT NULL CHECK (default_currency ~ '^[A-Z0-9]{2,10}$'),
    -- The coins the store takes; an empty array means every configured
    -- coin.
    coins            text[]      NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL
);

-- Greenfield API keys. Like api_keys, only the key's SHA-256 is kept; a key
-- is shown once, when created. Every key is scoped to one store and holds
-- BTCPay's permission names (btcpay.store.canviewinvoices, ...).
CREATE TABLE greenfield_api_keys (
    id           uuid        PRIMARY KEY,
    store_id     text        NOT NULL REFERENCES greenfield_stores (id),
    label        text        NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
    -- The key's first 8 characters, shown in listings.
    prefix       text        NOT NULL UNIQUE CHECK (prefix ~ '^[0-9a-f]{8}$'),
    key_hash     bytea       NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    permissions  text[]      NOT NULL CHECK (cardinality(permissions) BETWEEN 1 AND 64),
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX greenfield_api_keys_store_idx ON greenfield_api_keys (store_id);

-- The Greenfield side of an invoice. The invoice is the payment with this
-- id: status, amounts, address, outputs and expiry live in payments and
-- follow its one state machine; this row holds what Greenfield adds.
CREATE TABLE greenfield_invoices (
    payment_id         uuid        PRIMARY KEY REFERENCES payments (id),
    store_id           text        NOT NULL REFERENCES greenfield_stores (id),
    -- The price as the shop gave it, in currency, and the rate (currency
    -- per coin) it was converted at.
    amount             numeric     NOT NULL CHECK (amount > 0),
    currency           text        NOT NULL CHECK (currency ~ '^[A-Z0-9]{2,10}$'),
    rate               numeric     NOT NULL CHECK (rate > 0),
    rate_source        text        NOT NULL,
    -- The shop's metadata exactly as sent: json (not jsonb) keeps the text,
    -- key order and number spelling.
    metadata           json        NOT NULL,
    order_id           text        CHECK (length(order_id) BETWEEN 1 AND 255),
    speed_policy       text        NOT NULL CHECK (speed_policy IN ('HighSpeed', 'MediumSpeed', 'LowMediumSpeed', 'LowSpeed')),
    payment_tolerance  numeric     NOT NULL CHECK (payment_tolerance BETWEEN 0 AND 100),
    redirect_url       text        CHECK (length(redirect_url) <= 2048),
    redirect_automatically boolean NOT NULL DEFAULT false,
    -- Set when the merchant marks the invoice (POST .../status): the status
    -- it was marked with, and when.
    marked_status      text        CHECK (marked_status IN ('Settled', 'Invalid')),
    marked_at          timestamptz,
    archived           boolean     NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL,
    CHECK ((marked_status IS NULL) = (marked_at IS NULL))
);
-- Listings show a store's invoices newest first.
CREATE INDEX greenfield_invoices_store_idx ON greenfield_invoices (store_id, created_at DESC, payment_id DESC);
CREATE INDEX greenfield_invoices_order_idx ON greenfield_invoices (store_id, order_id) WHERE order_id IS NOT NULL;

-- +goose Down
DROP TABLE greenfield_invoices;
DROP TABLE greenfield_api_keys;
DROP TABLE greenfield_stores;
