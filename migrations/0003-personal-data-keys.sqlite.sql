-- Version 3: personal fields of events are stored encrypted under a key per person
-- (app/personal_data.py), kept here; an idempotency record names the person whose data its
-- stored response carries, so that erasing the person deletes it.
CREATE TABLE IF NOT EXISTS personal_data_keys (
    stream_type TEXT NOT NULL,
    stream_id   TEXT NOT NULL,
    key         BLOB,
    created_at  TEXT NOT NULL,
    erased_at   TEXT,
    PRIMARY KEY (stream_type, stream_id)
) STRICT;

ALTER TABLE idempotency_keys ADD COLUMN person_type TEXT;
ALTER TABLE idempotency_keys ADD COLUMN person_id TEXT;
CREATE INDEX IF NOT EXISTS idempotency_keys_by_person ON idempotency_keys (person_id) WHERE person_id IS NOT NULL;
