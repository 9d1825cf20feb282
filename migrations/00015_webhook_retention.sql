-- +goose Up

-- The hourly prune deletes finished deliveries completed before the
-- retention cutoff (WEBHOOK_RETENTION); pending ones are never deleted.
CREATE INDEX webhook_deliveries_completed_at_idx ON webhook_deliveries (completed_at)
    WHERE state <> 'pending';
-- The sweep looks for pending deliveries whose job was lost; they are few.
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (created_at)
    WHERE state = 'pending';

-- +goose Down
DROP INDEX webhook_deliveries_pending_idx;
DROP INDEX webhook_deliveries_completed_at_idx;
