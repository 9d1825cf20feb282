-- +goose Up

-- Extended public keys that receiving addresses are derived from, and the
-- next index of each one's external chain (/0/i). The index is advanced in
-- the transaction that puts the derived addresses into address_pool, so a
-- crash either keeps both or neither: an index is never handed out twice
-- and never skipped. key_id is a hash of the key's material, not the key.
CREATE TABLE xpub_keys (
    coin       text        NOT NULL,
    key_id     text        NOT NULL CHECK (key_id ~ '^[0-9a-f]{32}$'),
    -- BIP32 public derivation stops at 2^31 (hardened indexes).
    next_index bigint      NOT NULL CHECK (next_index BETWEEN 0 AND 2147483648),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (coin, key_id)
);

-- Every derived address with its index, for the gap between the highest
-- index handed out and the highest one paid, and to re-import the addresses
-- of open payments into a node that lost them.
CREATE TABLE xpub_addresses (
    coin             text   NOT NULL,
    address          text   NOT NULL CHECK (address <> ''),
    key_id           text   NOT NULL,
    derivation_index bigint NOT NULL CHECK (derivation_index >= 0),
    PRIMARY KEY (coin, address),
    UNIQUE (coin, key_id, derivation_index),
    FOREIGN KEY (coin, key_id) REFERENCES xpub_keys (coin, key_id)
);

-- A pooled address derived from a key is not ready until the node watches
-- it: payments take ready addresses only, and the refill imports the
-- others (again, after a crash) before it marks them ready. Addresses from
-- the node's own wallet are ready at once.
ALTER TABLE address_pool ADD COLUMN ready boolean NOT NULL DEFAULT true;
CREATE INDEX address_pool_not_ready ON address_pool (coin, id) WHERE NOT ready;

-- +goose Down
DROP INDEX address_pool_not_ready;
ALTER TABLE address_pool DROP COLUMN ready;
DROP TABLE xpub_addresses;
DROP TABLE xpub_keys;
