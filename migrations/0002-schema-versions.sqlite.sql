-- Version 2: the database records its schema version (one row per step applied), and each
-- projection the version of the code that made its rows, so that a projection whose
-- version changes is rebuilt at the next start.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at TEXT    NOT NULL
) STRICT;

ALTER TABLE projection_checkpoints ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- Before 2026-12-06, GET /users/<id>/orders read a copy of order_list_view's rows; a read
-- table, so dropping it loses nothing.
DROP TABLE IF EXISTS order_history_view;
