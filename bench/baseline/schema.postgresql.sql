-- The plain CRUD baseline's tables on PostgreSQL 15, for the postgres phase: items,
-- employees + addresses and users, as schema.sql has them (TEXT ids, the obvious indexes);
-- lists join and sort at query time. The benchmark's server is made with --locale=C, so
-- text sorts by bytes here as in SQLite and in the product's COLLATE "C" columns.
CREATE TABLE IF NOT EXISTS items (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents BIGINT
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
INSERT INTO items VALUES
    ('12a33c84-ee60-45a1-848d-428ad3259abc', 'Bacon', 'Everything tastes better, with bacon 🥓', NULL)
    ON CONFLICT DO NOTHING;
INSERT INTO employees VALUES ('12a33c84-ee60-45a1-848d-428ad3259abc', 'John', 'Doe') ON CONFLICT DO NOTHING;
INSERT INTO addresses VALUES ('12a33c84-ee60-45a1-848d-428ad3259abc', '1234 Main Street', '02112', 'Boston')
    ON CONFLICT DO NOTHING;
