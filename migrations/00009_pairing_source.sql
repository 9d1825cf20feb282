-- +goose Up

-- The client address (an IPv4 address or an IPv6 /64) a client-initiated
-- pairing request came from: one address may have only a few requests
-- waiting for approval, so it cannot crowd out the others, and
-- `transientd pairing list` shows the operator where each request came
-- from. NULL for operator codes and for requests made before this column.
ALTER TABLE bitpay_pairing_codes ADD COLUMN source text CHECK (length(source) BETWEEN 1 AND 64);

-- The per-source count of waiting requests runs on every request.
CREATE INDEX bitpay_pairing_codes_waiting_by_source ON bitpay_pairing_codes (source, expires_at)
    WHERE origin = 'client' AND approved_at IS NULL;

-- +goose Down
DROP INDEX bitpay_pairing_codes_waiting_by_source;
ALTER TABLE bitpay_pairing_codes DROP COLUMN source;
