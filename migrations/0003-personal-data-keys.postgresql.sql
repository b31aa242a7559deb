-- Version 3: personal fields of events are stored encrypted under a key per person
-- (app/personal_data.py), kept here; an idempotency record names the person whose data its
-- stored response carries, so that erasing the person deletes it.
CREATE TABLE IF NOT EXISTS personal_data_keys (
    stream_type TEXT COLLATE "C" NOT NULL,
    stream_id   TEXT COLLATE "C" NOT NULL,
    key         BYTEA,
    created_at  TEXT COLLATE "C" NOT NULL,
    erased_at   TEXT COLLATE "C",
    PRIMARY KEY (stream_type, stream_id)
);

ALTER TABLE idempotency_keys ADD COLUMN person_type TEXT COLLATE "C";
ALTER TABLE idempotency_keys ADD COLUMN person_id TEXT COLLATE "C";
CREATE INDEX IF NOT EXISTS idempotency_keys_by_person ON idempotency_keys (person_id) WHERE person_id IS NOT NULL;

-- The command side keeps the keys; the projector reads them (it decrypts what it applies).
DO $$
BEGIN
    IF (SELECT count(*) FROM pg_roles WHERE rolname IN ('cqrs_command', 'cqrs_projector', 'cqrs_query')) = 3 THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON personal_data_keys TO cqrs_command;
        GRANT SELECT ON personal_data_keys TO cqrs_projector;
    END IF;
END $$;
