-- +goose Up

-- Fresh receiving addresses, made ahead of time so that creating a payment
-- never waits on the node. An address leaves the pool in the statement (or
-- transaction) that inserts the payment it is given to: a crash between the
-- two leaves it in the pool, and a row can be deleted only once, so no
-- address is handed out twice, by one process or several.
CREATE TABLE address_pool (
    id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    coin     text        NOT NULL,
    address  text        NOT NULL CHECK (address <> ''),
    added_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (coin, address)
);

-- Creation takes the oldest address of its coin.
CREATE INDEX address_pool_coin_id ON address_pool (coin, id);

-- +goose Down
DROP TABLE address_pool;
