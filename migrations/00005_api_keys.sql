-- +goose Up

-- API keys created with `transientd apikeys create`, beside the API_KEYS
-- setting. A key is shown once, when it is created; only its SHA-256 is
-- stored. Keys hold 192 random bits, so a fast hash is enough: nobody
-- can guess a key from its hash, and checking one costs a single index
-- lookup per request instead of a slow password hash.
CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY,
    -- What the operator called the key ("shop frontend", "accounting").
    label        text        NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
    -- The key's first characters ("tk_" and 8 more), shown in listings so
    -- an operator can tell keys apart; not enough to use the key.
    prefix       text        NOT NULL UNIQUE CHECK (prefix ~ '^tk_[a-z2-7]{8}$'),
    key_hash     bytea       NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    created_at   timestamptz NOT NULL,
    -- Updated at most once a minute per key and process, so a busy key does
    -- not turn every request into a write.
    last_used_at timestamptz,
    -- A revoked key is refused at once; the row stays for the record.
    revoked_at   timestamptz
);

-- +goose Down
DROP TABLE api_keys;
