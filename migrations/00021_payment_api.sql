-- +goose Up

-- The API that made a payment: 'transient' for Transient's own, or the
-- adapter that keeps its own row for it ('bitpay', 'greenfield'). It never
-- changes after the payment is stored, so an adapter's event hooks skip a
-- payment made by another API without looking for their row: two queries
-- less in the transaction of every status change. NULL (payments stored
-- before this, or by an older binary during an upgrade) means unknown, and
-- the hooks look, as before; the adapters' payments are filled in here.
ALTER TABLE payments ADD COLUMN api text CHECK (api ~ '^[a-z_]{1,32}$');
UPDATE payments SET api = 'bitpay' WHERE id IN (SELECT payment_id FROM bitpay_invoices);
UPDATE payments SET api = 'greenfield' WHERE id IN (SELECT payment_id FROM greenfield_invoices);

-- +goose Down
ALTER TABLE payments DROP COLUMN api;
