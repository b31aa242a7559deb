-- The whole schema, one section per module. Applied by `flask --app wsgi init-db`
-- and at every start, inside one transaction: every statement creates only what is
-- missing and seeds only what was never seeded, so applying it twice changes nothing.
-- Write tables are plain plurals; read tables end in _view and are written only by
-- projections; the event log is append-only.

-- ---------------------------------------------------------------- core

CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,  -- global order, never reused
    event_id       TEXT    NOT NULL UNIQUE,
    stream_type    TEXT    NOT NULL,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL CHECK (version > 0),
    type           TEXT    NOT NULL,
    schema_version INTEGER NOT NULL DEFAULT 1,
    payload        TEXT    NOT NULL CHECK (json_valid(payload)),
    occurred_at    TEXT    NOT NULL,                   -- ISO 8601, UTC
    correlation_id TEXT,                               -- the request that appended it
    causation_id   TEXT,                               -- the event that caused it, if any
    UNIQUE (stream_type, stream_id, version)           -- a racing writer fails here, not silently
) STRICT;

CREATE TRIGGER IF NOT EXISTS events_are_never_updated BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

CREATE TRIGGER IF NOT EXISTS events_are_never_deleted BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

-- Responses to commands sent with an Idempotency-Key, stored in the command's own
-- transaction; a retry with the same key gets the stored response instead of a rerun.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key         TEXT    PRIMARY KEY,
    fingerprint TEXT    NOT NULL,                      -- sha256 of method, path and body
    status      INTEGER NOT NULL,
    headers     TEXT    NOT NULL,                      -- JSON: Content-Type, Location, ETag
    body        BLOB    NOT NULL,
    created_at  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys (expires_at);

-- One row per projection: how far it has applied the log, and its last failure.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name           TEXT    PRIMARY KEY,
    position       INTEGER NOT NULL DEFAULT 0,
    updated_at     TEXT,
    error_type     TEXT,
    error_message  TEXT,
    error_position INTEGER,
    error_count    INTEGER NOT NULL DEFAULT 0,
    failed_at      TEXT,
    retry_at       TEXT                                -- a failing projection waits until then
) STRICT;

-- Events an operator told a projection to pass over, and why.
CREATE TABLE IF NOT EXISTS projection_skips (
    name       TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    skipped_by TEXT    NOT NULL,
    skipped_at TEXT    NOT NULL,
    PRIMARY KEY (name, position)
) STRICT;

-- Rebuilds in progress: the shadow tables have been filled up to position.
CREATE TABLE IF NOT EXISTS projection_rebuilds (
    name       TEXT    PRIMARY KEY,
    position   INTEGER NOT NULL,
    head       INTEGER NOT NULL,
    started_at TEXT    NOT NULL
) STRICT;

-- The log as the read side sees it: the event feed, stream histories, as_of reads.
CREATE TABLE IF NOT EXISTS event_history_view (
    position       INTEGER PRIMARY KEY,
    event_id       TEXT    NOT NULL,
    stream_type    TEXT    NOT NULL,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    type           TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT    NOT NULL,
    occurred_at    TEXT    NOT NULL,
    correlation_id TEXT,
    causation_id   TEXT
) STRICT;

CREATE INDEX IF NOT EXISTS event_history_view_by_stream ON event_history_view (stream_type, stream_id, version);
CREATE INDEX IF NOT EXISTS event_history_view_by_type ON event_history_view (type, position);
CREATE INDEX IF NOT EXISTS event_history_view_by_stream_type ON event_history_view (stream_type, position);

-- ---------------------------------------------------------------- items

CREATE TABLE IF NOT EXISTS items (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    price_cents INTEGER CHECK (price_cents >= 0),      -- NULL: no price was given
    version     INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS item_list_view (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS item_list_view_by_name ON item_list_view (name, id);

-- The ready-made JSON document that GET /items/<id> answers with.
CREATE TABLE IF NOT EXISTS item_details_view (
    id       TEXT    PRIMARY KEY,
    version  INTEGER NOT NULL,
    document TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

-- Seed 000's sample product. Its write row is created only together with its
-- event, so a seeded item that was later deleted is not brought back.
INSERT INTO items (id, name, description, price_cents, version)
SELECT '12a33c84-ee60-45a1-848d-428ad3259abc', 'Bacon', 'Everything tastes better, with bacon 🥓', NULL, 1
WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_id = 'c0f7a1d2-5b1e-4c38-9a8e-000000000001');

INSERT INTO events
    (event_id, stream_type, stream_id, version, type, schema_version, payload, occurred_at, correlation_id)
SELECT 'c0f7a1d2-5b1e-4c38-9a8e-000000000001', 'item', '12a33c84-ee60-45a1-848d-428ad3259abc', 1,
       'ItemCreated', 1,
       '{"name":"Bacon","description":"Everything tastes better, with bacon 🥓","price_cents":null}',
       '2024-01-01T00:00:00.000000Z', 'seed'
-- Not INSERT OR IGNORE: an ignored insert still advances AUTOINCREMENT and leaves a gap.
WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_id = 'c0f7a1d2-5b1e-4c38-9a8e-000000000001');

-- ---------------------------------------------------------------- employees

CREATE TABLE IF NOT EXISTS employees (
    id         TEXT    PRIMARY KEY,
    first_name TEXT    NOT NULL,
    last_name  TEXT    NOT NULL,
    version    INTEGER NOT NULL
) STRICT;

-- One address per employee, under the employee's id (as in seed 001's sample).
CREATE TABLE IF NOT EXISTS addresses (
    id     TEXT PRIMARY KEY REFERENCES employees (id) ON DELETE CASCADE,
    street TEXT NOT NULL,
    zip    TEXT NOT NULL,
    city   TEXT NOT NULL
) STRICT;

-- name is "<last_name>, <first_name>", made by the projection, so listing needs no join.
CREATE TABLE IF NOT EXISTS employee_list_view (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    city TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS employee_list_view_by_name ON employee_list_view (name, id);
CREATE INDEX IF NOT EXISTS employee_list_view_by_city ON employee_list_view (city, name, id);

-- The ready-made JSON document that GET /employees/<id> answers with.
CREATE TABLE IF NOT EXISTS employee_details_view (
    id       TEXT    PRIMARY KEY,
    version  INTEGER NOT NULL,
    document TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

-- Seed 001's sample employee. Its write rows are created only together with its
-- event, so a seeded employee who later left is not brought back. The id equals
-- the seeded item's; streams are per stream type, so the two never meet.
INSERT INTO employees (id, first_name, last_name, version)
SELECT '12a33c84-ee60-45a1-848d-428ad3259abc', 'John', 'Doe', 1
WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_id = 'c0f7a1d2-5b1e-4c38-9a8e-001000000001');

INSERT INTO addresses (id, street, zip, city)
SELECT '12a33c84-ee60-45a1-848d-428ad3259abc', '1234 Main Street', '02112', 'Boston'
WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_id = 'c0f7a1d2-5b1e-4c38-9a8e-001000000001');

INSERT INTO events
    (event_id, stream_type, stream_id, version, type, schema_version, payload, occurred_at, correlation_id)
SELECT 'c0f7a1d2-5b1e-4c38-9a8e-001000000001', 'employee', '12a33c84-ee60-45a1-848d-428ad3259abc', 1,
       'EmployeeHired', 1,
       '{"first_name":"John","last_name":"Doe","street":"1234 Main Street","zip":"02112","city":"Boston"}',
       '2024-01-01T00:00:00.000000Z', 'seed'
-- Not INSERT OR IGNORE: an ignored insert still advances AUTOINCREMENT and leaves a gap.
WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_id = 'c0f7a1d2-5b1e-4c38-9a8e-001000000001');

-- ---------------------------------------------------------------- users

-- email is kept as given; email_key is its lower-cased form, and the UNIQUE index on it
-- is what keeps an email to one user, also when two workers race to register it.
CREATE TABLE IF NOT EXISTS users (
    id         TEXT    PRIMARY KEY,
    first_name TEXT    NOT NULL,
    last_name  TEXT    NOT NULL,
    email      TEXT    NOT NULL,
    email_key  TEXT    NOT NULL,
    version    INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX IF NOT EXISTS users_by_email_key ON users (email_key);

CREATE TABLE IF NOT EXISTS user_list_view (
    id         TEXT PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name  TEXT NOT NULL,
    email      TEXT NOT NULL,
    email_key  TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS user_list_view_by_name ON user_list_view (last_name, first_name, id);
CREATE INDEX IF NOT EXISTS user_list_view_by_email_key ON user_list_view (email_key);

-- The ready-made JSON document that GET /users/<id> answers with.
CREATE TABLE IF NOT EXISTS user_details_view (
    id       TEXT    PRIMARY KEY,
    version  INTEGER NOT NULL,
    document TEXT    NOT NULL
) STRICT, WITHOUT ROWID;
