-- +goose Up

-- A payment's own monitoring window (how long it may stay PENDING before it
-- is INVALID), in seconds: a Greenfield invoice's checkout.monitoringMinutes.
-- NULL, every payment made before this and every payment of the other APIs,
-- means the server's MONITORING_WINDOW at the time it is judged.
ALTER TABLE payments ADD COLUMN monitoring_window_seconds integer
    CHECK (monitoring_window_seconds > 0);

-- +goose Down
ALTER TABLE payments DROP COLUMN monitoring_window_seconds;
