-- +goose Up

-- Greenfield (BTCPay v1 API) webhooks of a store. The secret is kept as it
-- was given or generated, not hashed: every delivery is signed with it
-- (BTCPay-Sig is an HMAC keyed with the secret itself). It is shown only in
-- the answer to the create request.
CREATE TABLE greenfield_webhooks (
    id                   text        PRIMARY KEY,
    store_id             text        NOT NULL REFERENCES greenfield_stores (id) ON DELETE CASCADE,
    -- POSTed to exactly as stored, query string included.
    url                  text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    secret               text        NOT NULL CHECK (length(secret) BETWEEN 1 AND 256),
    enabled              boolean     NOT NULL,
    automatic_redelivery boolean     NOT NULL,
    -- authorizedEvents: everything, or only the types listed.
    everything           boolean     NOT NULL,
    specific_events      text[]      NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL
);
-- Every payment event of a Greenfield invoice reads its store's webhooks.
CREATE INDEX greenfield_webhooks_store_idx ON greenfield_webhooks (store_id);

-- One row per Greenfield delivery (BTCPay's delivery id, in the body): the
-- body is the outbox delivery's body byte for byte (webhook_deliveries,
-- kind greenfield_webhook, same event_id and body), which holds the state,
-- attempts and errors. seq orders the deliveries of one webhook and invoice:
-- the sender sends none while an earlier one is still pending.
CREATE TABLE greenfield_webhook_deliveries (
    id                   text        PRIMARY KEY,
    seq                  bigserial   NOT NULL UNIQUE,
    webhook_id           text        NOT NULL REFERENCES greenfield_webhooks (id) ON DELETE CASCADE,
    payment_id           uuid        NOT NULL REFERENCES greenfield_invoices (payment_id),
    event_id             uuid        NOT NULL,
    type                 text        NOT NULL,
    original_delivery_id text        NOT NULL,
    is_redelivery        boolean     NOT NULL,
    body                 bytea       NOT NULL,
    created_at           timestamptz NOT NULL,
    -- The latest request and its answer's status (NULL: none, or no answer).
    sent_at              timestamptz,
    http_code            integer     CHECK (http_code BETWEEN 100 AND 599)
);
-- Listings show a webhook's deliveries newest first; the sender looks for
-- earlier deliveries of the same webhook and invoice.
CREATE INDEX greenfield_webhook_deliveries_list_idx ON greenfield_webhook_deliveries (webhook_id, seq DESC);
CREATE INDEX greenfield_webhook_deliveries_order_idx ON greenfield_webhook_deliveries (webhook_id, payment_id, seq);

-- +goose Down
DROP TABLE greenfield_webhook_deliveries;
DROP TABLE greenfield_webhooks;
