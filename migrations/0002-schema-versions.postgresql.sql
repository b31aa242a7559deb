-- Version 2: the database records its schema version (one row per step applied), and each
-- projection the version of the code that made its rows, so that a projection whose
-- version changes is rebuilt at the next start.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL,
    applied_at TEXT COLLATE "C" NOT NULL
);

ALTER TABLE projection_checkpoints ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- Every role may read the version (a query process checks it at start); none may change it.
DO $$
BEGIN
    IF (SELECT count(*) FROM pg_roles WHERE rolname IN ('cqrs_command', 'cqrs_projector', 'cqrs_query')) = 3 THEN
        GRANT SELECT ON schema_migrations TO cqrs_command, cqrs_projector, cqrs_query;
    END IF;
END $$;

-- Before 2026-12-06, GET /users/<id>/orders read a copy of order_list_view's rows; a read
-- table, so dropping it loses nothing.
DROP TABLE IF EXISTS order_history_view;
