-- +goose Up

-- A PAID payment is settled once outputs with the coin's full confirmation
-- depth (settle_confirmations, at least confirmations_required) cover the
-- amount due. A payment that asks for fewer confirmations than the coin's
-- default is PAID early and settled later; the BitPay adapter calls these
-- "confirmed" and "complete".
ALTER TABLE payments
    ADD COLUMN settle_confirmations integer NOT NULL DEFAULT 0
        CHECK (settle_confirmations BETWEEN 0 AND 1000),
    ADD COLUMN settled boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT payments_settled_is_paid CHECK (NOT settled OR status = 'PAID');

-- +goose Down
ALTER TABLE payments DROP CONSTRAINT payments_settled_is_paid, DROP COLUMN settled, DROP COLUMN settle_confirmations;
