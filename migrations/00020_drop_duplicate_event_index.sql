-- +goose Up

-- payment_events_payment_id_idx (00004) indexes exactly what the UNIQUE
-- (payment_id, sequence) constraint of 00002 already indexes: reading a
-- payment's events in order uses either, and every event written (one per
-- payment created, one per change) paid for both.
DROP INDEX payment_events_payment_id_idx;

-- +goose Down
CREATE INDEX payment_events_payment_id_idx ON payment_events (payment_id, sequence);
