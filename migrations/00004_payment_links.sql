-- +goose Up

-- Where a payment's own events go besides the global webhook, and where the
-- checkout page sends the buyer back once paid. Both are optional.
ALTER TABLE payments
    ADD COLUMN callback_url text CHECK (callback_url ~ '^https?://' AND length(callback_url) <= 2048),
    ADD COLUMN redirect_url text CHECK (redirect_url ~ '^https?://' AND length(redirect_url) <= 2048);

-- GET /payments/{id}/events reads a payment's events in order.
CREATE INDEX payment_events_payment_id_idx ON payment_events (payment_id, sequence);

-- +goose Down
DROP INDEX payment_events_payment_id_idx;
ALTER TABLE payments DROP COLUMN redirect_url, DROP COLUMN callback_url;
