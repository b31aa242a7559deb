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

-- The samples' seed rows, as the product has them.
INSERT OR IGNORE INTO items VALUES
    ('12a33c84-ee60-45a1-848d-428ad3259abc', 'Bacon', 'Everything tastes better, with bacon 🥓', NULL);
INSERT OR IGNORE INTO employees VALUES ('12a33c84-ee60-45a1-848d-428ad3259abc', 'John', 'Doe');
INSERT OR IGNORE INTO addresses VALUES ('12a33c84-ee60-45a1-848d-428ad3259abc', '1234 Main Street', '02112', 'Boston');
