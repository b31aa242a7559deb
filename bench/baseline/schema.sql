-- The plain CRUD baseline's schema: what a competent developer writes without CQRS.
-- Normalized tables, the obvious indexes, WAL on; lists join and sort at query time.
PRAGMA journal_mode = WAL;

CREATE TABLE IF NOT EXISTS items (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents INTEGER
);
CREATE INDEX IF NOT EXISTS items_by_name ON items (name, id);

CREATE TABLE IF NOT EXISTS employees (
    id         TEXT PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS addresses (
    id     TEXT PRIMARY KEY REFERENCES employees (id) ON DELETE CASCADE,
    street TEXT NOT NULL,
    zip    TEXT NOT NULL,
    city   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS addresses_by_city ON addresses (city);

CREATE TABLE IF NOT EXISTS users (
    id         TEXT PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name  TEXT NOT NULL,
    email      TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_by_email ON users (lower(email));
CREATE INDEX IF NOT EXISTS users_by_name ON users (last_name, first_name, id);

-- An order, its lines (each with the item's name and unit price as ordered, as the product's
-- contract says) and its user, joined and added up at query time.
CREATE TABLE IF NOT EXISTS orders (
    id                  TEXT    PRIMARY KEY,
    user_id             TEXT    NOT NULL,               -- no foreign key: a deleted user's orders stay
    status              TEXT    NOT NULL,
    placed_at           TEXT    NOT NULL,
    shipped_at          TEXT,
    cancelled_at        TEXT,
    cancellation_reason TEXT,
    version             INTEGER NOT NULL                -- the ETag, as the product sends it
);
CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, placed_at, id);

CREATE TABLE IF NOT EXISTS order_lines (
    order_id         TEXT    NOT NULL REFERENCES orders (id),
    line_no          INTEGER NOT NULL,
    item_id          TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    quantity         INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- Devices, and every reading as a plain row; statistics are worked out at query time.
CREATE TABLE IF NOT EXISTS devices (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    status            TEXT NOT NULL,
    registered_at     TEXT NOT NULL,
    decommissioned_at TEXT
);

CREATE TABLE IF NOT EXISTS readings (
    id          INTEGER PRIMARY KEY,                    -- arrival order: of equal times, the later one is last
    device_id   TEXT    NOT NULL REFERENCES devices (id),
    metric      TEXT    NOT NULL,
    value       REAL    NOT NULL,
    recorded_at TEXT    NOT NULL                        -- UTC, fixed width: text order is time order
);
CREATE INDEX IF NOT EXISTS readings_by_device ON readings (device_id, metric, recorded_at);

-- The samples' seed rows, as the product has them.
INSERT OR IGNORE INTO items VALUES
    ('12a33c84-ee60-45a1-848d-428ad3259abc', 'Bacon', 'Everything tastes better, with bacon 🥓', NULL);
INSERT OR IGNORE INTO employees VALUES ('12a33c84-ee60-45a1-848d-428ad3259abc', 'John', 'Doe');
INSERT OR IGNORE INTO addresses VALUES ('12a33c84-ee60-45a1-848d-428ad3259abc', '1234 Main Street', '02112', 'Boston');
