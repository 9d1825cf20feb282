-- +goose Up

-- When the node says the transaction reached its wallet: gettransaction's
-- and listsinceblock's "time" (about the block's time for a transaction
-- first seen mined). Expiry is decided on it, not on first_seen_at, which is
-- only when Transient wrote the row: a payment made in time but observed
-- late (a lost hook, a restart) is in time, and one made after the expiry
-- but observed before the deadline job is late. Rows written before this
-- column existed take first_seen_at, the best they have.
ALTER TABLE payment_outputs ADD COLUMN received_at timestamptz;
UPDATE payment_outputs SET received_at = first_seen_at;
ALTER TABLE payment_outputs ALTER COLUMN received_at SET NOT NULL;

-- The block refresh also re-reads outputs deeper than its usual 100
-- confirmations while their payment still waits for its own (up to 1,000):
-- those are PENDING or PAID and not yet settled.
CREATE INDEX payments_unsettled_idx ON payments (coin) WHERE status IN ('PENDING', 'PAID') AND NOT settled;

-- pending_since is when the monitoring window started, and the window
-- counts only while the amount due is not in a block: a PENDING payment
-- that is confirming has none. It still never outlives PENDING.
ALTER TABLE payments DROP CONSTRAINT payments_check1,
    ADD CONSTRAINT payments_pending_since_only_pending CHECK (status = 'PENDING' OR pending_since IS NULL);

-- +goose Down
UPDATE payments SET pending_since = updated_at WHERE status = 'PENDING' AND pending_since IS NULL;
ALTER TABLE payments DROP CONSTRAINT payments_pending_since_only_pending,
    ADD CONSTRAINT payments_check1 CHECK ((status = 'PENDING') = (pending_since IS NOT NULL));
DROP INDEX payments_unsettled_idx;
ALTER TABLE payment_outputs DROP COLUMN received_at;
