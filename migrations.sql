-- The whole schema as it is now, one section per module, and the seed rows. A new database
-- is made from it in one transaction (by `flask --app wsgi init-db`, or at the first start)
-- and recorded at the current schema version; a database made earlier is brought up to
-- date by the numbered steps in migrations/ instead (app/schema.py, `flask db status`).
-- Every statement creates only what is missing, so applying it twice changes nothing.
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

-- The schema's version: one row per step applied to this database (app/schema.py).
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at TEXT    NOT NULL
) STRICT;

-- Responses to commands sent with an Idempotency-Key, stored in the command's own
-- transaction; a retry with the same key gets the stored response instead of a rerun.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key         TEXT    PRIMARY KEY,
    fingerprint TEXT    NOT NULL,                      -- sha256 of method, path and body
    status      INTEGER NOT NULL,
    headers     TEXT    NOT NULL,                      -- JSON: Content-Type, Location, ETag
    body        BLOB    NOT NULL,
    created_at  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    person_type TEXT,                                  -- the person whose data the body carries,
    person_id   TEXT                                   -- if any: an erasure deletes it
) STRICT;

CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys (expires_at);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_person ON idempotency_keys (person_id) WHERE person_id IS NOT NULL;

-- The key of each stream whose events carry personal fields (a user, an employee): those
-- fields are stored encrypted under it (app/personal_data.py). Erasing the person sets key
-- to NULL, and the row stays as the record of it: their fields can never be read again.
-- The command side keeps it; the projector reads it; queries never see it.
CREATE TABLE IF NOT EXISTS personal_data_keys (
    stream_type TEXT NOT NULL,
    stream_id   TEXT NOT NULL,
    key         BLOB,                                  -- 32 random bytes; NULL once erased
    created_at  TEXT NOT NULL,
    erased_at   TEXT,
    PRIMARY KEY (stream_type, stream_id)
) STRICT;

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
    retry_at       TEXT,                               -- a failing projection waits until then
    version        INTEGER NOT NULL DEFAULT 1          -- of the projection that made its rows
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

-- A following query service's source (FOLLOW_URL): how far its log went, and whether it answers.
CREATE TABLE IF NOT EXISTS projection_source (
    name          TEXT    PRIMARY KEY,              -- 'feed'
    url           TEXT    NOT NULL,
    head          INTEGER NOT NULL DEFAULT 0,       -- the source's Log-Position when last read
    contacted_at  TEXT,
    error         TEXT,
    failing_since TEXT
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
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    summary TEXT NOT NULL  -- the item's entry in GET /items, rendered by the projection
) STRICT, WITHOUT ROWID;

-- The summary too: a page is one range of this index, its entries joined as they are.
CREATE INDEX IF NOT EXISTS item_list_view_by_name ON item_list_view (name, id, summary);

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
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    city    TEXT NOT NULL,
    summary TEXT NOT NULL  -- the employee's entry in GET /employees, rendered by the projection
) STRICT, WITHOUT ROWID;

-- The summary too: a page is one range of an index, its entries joined as they are.
CREATE INDEX IF NOT EXISTS employee_list_view_by_name ON employee_list_view (name, id, summary);
CREATE INDEX IF NOT EXISTS employee_list_view_by_city ON employee_list_view (city, name, id, summary);

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

-- ---------------------------------------------------------------- devices

-- The write side keeps only what the rules need: a device's status and version (and
-- what its replies show). Readings are not rows here: they live in the TelemetryRecorded
-- events and in the read tables below. name_key is the name trimmed, with runs of
-- spaces collapsed, NFC-composed and case-folded; the partial UNIQUE index keeps it to
-- one ACTIVE device, also when two workers race, and frees it at decommissioning.
CREATE TABLE IF NOT EXISTS devices (
    id            TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    name_key      TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('sensor', 'meter', 'gateway')),
    status        TEXT    NOT NULL CHECK (status IN ('active', 'decommissioned')),
    registered_at TEXT    NOT NULL,
    version       INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX IF NOT EXISTS devices_by_active_name_key ON devices (name_key) WHERE status = 'active';

-- GET /devices and the device part of GET /devices/<id>; one index per filter, each in name order.
CREATE TABLE IF NOT EXISTS device_list_view (
    id                TEXT    PRIMARY KEY,
    name              TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    registered_at     TEXT    NOT NULL,
    decommissioned_at TEXT,
    last_seen_at      TEXT,                            -- the latest recorded_at of its readings
    reading_count     INTEGER NOT NULL,
    version           INTEGER NOT NULL                 -- the device stream's version: the ETag
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS device_list_view_by_name ON device_list_view (name, id);
CREATE INDEX IF NOT EXISTS device_list_view_by_kind ON device_list_view (kind, name, id);
CREATE INDEX IF NOT EXISTS device_list_view_by_status ON device_list_view (status, name, id);
CREATE INDEX IF NOT EXISTS device_list_view_by_kind_status ON device_list_view (kind, status, name, id);

-- Running statistics per device and metric: GET /devices/<id> reads a device's rows by
-- primary key, however many readings arrived. mean = sum / count at query time;
-- last_value is the value of the reading with the latest recorded_at (ties: the later arrival).
CREATE TABLE IF NOT EXISTS telemetry_stats_view (
    device_id        TEXT    NOT NULL,
    metric           TEXT    NOT NULL,
    active           INTEGER NOT NULL,                 -- 1 until the device is decommissioned
    count            INTEGER NOT NULL,
    sum              REAL    NOT NULL,
    min              REAL    NOT NULL,
    max              REAL    NOT NULL,
    last_value       REAL    NOT NULL,
    last_recorded_at TEXT    NOT NULL,
    PRIMARY KEY (device_id, metric)
) STRICT, WITHOUT ROWID;

-- Fleet minimum and maximum over ACTIVE devices: one seek in each of these at query time
-- (a minimum cannot be kept by subtraction when a device leaves the fleet).
CREATE INDEX IF NOT EXISTS telemetry_stats_view_active_min ON telemetry_stats_view (metric, min) WHERE active = 1;
CREATE INDEX IF NOT EXISTS telemetry_stats_view_active_max ON telemetry_stats_view (metric, max) WHERE active = 1;

-- Fleet-wide count and sum per metric over ACTIVE devices: added to per batch, and a
-- decommissioned device's own count and sum subtracted. The sum is sum + sum_error,
-- a compensated (Neumaier) pair, so subtracting a large device's sum keeps the rest exact.
CREATE TABLE IF NOT EXISTS telemetry_fleet_stats_view (
    metric    TEXT    PRIMARY KEY,
    devices   INTEGER NOT NULL,                        -- active devices that reported the metric
    count     INTEGER NOT NULL,
    sum       REAL    NOT NULL,
    sum_error REAL    NOT NULL
) STRICT, WITHOUT ROWID;

-- Every accepted reading, clustered by (device, metric, time) for GET /devices/<id>/telemetry;
-- position (of its TelemetryRecorded event) and seq (its index in the batch) keep equal times apart.
CREATE TABLE IF NOT EXISTS telemetry_readings_view (
    device_id   TEXT    NOT NULL,
    metric      TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL,
    position    INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    value       REAL    NOT NULL,
    PRIMARY KEY (device_id, metric, recorded_at, position, seq)
) STRICT, WITHOUT ROWID;

-- ---------------------------------------------------------------- orders

-- An order and its lines, normalized: totals are not stored, they are the lines' sums.
-- No foreign key to users or items: either may be deleted, and the order stays as it was.
CREATE TABLE IF NOT EXISTS orders (
    id                  TEXT    PRIMARY KEY,
    user_id             TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('placed', 'shipped', 'cancelled')),
    placed_at           TEXT    NOT NULL,
    shipped_at          TEXT,                          -- set when shipped
    cancelled_at        TEXT,                          -- set when cancelled, with the reason
    cancellation_reason TEXT,
    version             INTEGER NOT NULL
) STRICT;

-- The process manager finds a deleted user's placed orders here.
CREATE INDEX IF NOT EXISTS orders_by_user_status ON orders (user_id, status);

-- Each line keeps the item's name and unit price as they were when the order was placed.
CREATE TABLE IF NOT EXISTS order_lines (
    order_id         TEXT    NOT NULL REFERENCES orders (id),
    line_no          INTEGER NOT NULL,
    item_id          TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, line_no)
) STRICT, WITHOUT ROWID;

-- The ready-made JSON document that GET /orders/<id> answers with. state is the same order
-- with money in cents (the document's source), so a change of the user's name or email
-- re-renders every document of that user (found by user_id) without parsing it.
CREATE TABLE IF NOT EXISTS order_details_view (
    id       TEXT    PRIMARY KEY,
    user_id  TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    state    TEXT    NOT NULL,
    document TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS order_details_view_by_user ON order_details_view (user_id);

-- order_details' own copy of each user's name ("<first_name> <last_name>") and email, and how
-- many UserUpdated events it has seen of them (what a rebuild can count once they are erased).
CREATE TABLE IF NOT EXISTS order_details_user_view (
    id      TEXT    PRIMARY KEY,
    name    TEXT    NOT NULL,
    email   TEXT    NOT NULL,
    updates INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The users order_history knows, so that an unknown (or deleted) user's history is a 404.
CREATE TABLE IF NOT EXISTS order_history_user_view (
    id TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;

-- GET /orders, GET /orders?status= and GET /users/<id>/orders: newest first, one index each.
CREATE TABLE IF NOT EXISTS order_list_view (
    id          TEXT    PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    placed_at   TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    item_count  INTEGER NOT NULL,
    total_cents INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS order_list_view_by_time ON order_list_view (placed_at, id);
CREATE INDEX IF NOT EXISTS order_list_view_by_status ON order_list_view (status, placed_at, id);
CREATE INDEX IF NOT EXISTS order_list_view_by_user ON order_list_view (user_id, placed_at, id);

-- ---------------------------------------------------------------- process managers

-- One row per process manager: how far it has reacted to the log, and its last failure.
-- A write table (the command side reads and moves it in the transaction of the commands
-- a reaction executes), unlike the projections' checkpoints.
CREATE TABLE IF NOT EXISTS process_checkpoints (
    name           TEXT    PRIMARY KEY,
    position       INTEGER NOT NULL DEFAULT 0,
    updated_at     TEXT,
    error_type     TEXT,
    error_message  TEXT,
    error_position INTEGER,
    error_count    INTEGER NOT NULL DEFAULT 0,
    failed_at      TEXT,
    retry_at       TEXT                                -- a failing process manager waits until then
) STRICT;
