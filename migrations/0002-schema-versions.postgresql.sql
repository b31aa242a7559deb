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
-- The projector owns the read tables, and may create in this schema: a rebuild of a projection
-- whose version changed drops its tables and moves the new ones in.
DO $$
DECLARE
    table_name text;
BEGIN
    IF (SELECT count(*) FROM pg_roles WHERE rolname IN ('cqrs_command', 'cqrs_projector', 'cqrs_query')) = 3 THEN
        GRANT SELECT ON schema_migrations TO cqrs_command, cqrs_projector, cqrs_query;
        EXECUTE format('GRANT CREATE ON SCHEMA %I TO cqrs_projector', current_schema());
        FOR table_name IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
            IF right(table_name, 5) = '_view' OR left(table_name, 11) = 'projection_' THEN
                EXECUTE format('ALTER TABLE %I OWNER TO cqrs_projector', table_name);
            END IF;
        END LOOP;
    END IF;
END $$;

-- Before 2026-12-06, GET /users/<id>/orders read a copy of order_list_view's rows; a read
-- table, so dropping it loses nothing.
DROP TABLE IF EXISTS order_history_view;
