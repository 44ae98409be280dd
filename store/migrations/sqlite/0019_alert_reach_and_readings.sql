-- 0019: who an alert reached, numbers known to fail, readings that repeat, arrive late or in
-- another unit, and alerts that gather later critical readings. Kept in step with PostgreSQL.
-- SQLite cannot change a CHECK in place, so `readings` is rebuilt; migrations run with foreign
-- keys off and are checked with `PRAGMA foreign_key_check` before they commit.
CREATE TABLE readings_new (
    id                  BLOB PRIMARY KEY,
    patient_id          BLOB NOT NULL REFERENCES patients (id),
    practice_id         BLOB NOT NULL REFERENCES practices (id),
    vital               TEXT NOT NULL CHECK (vital IN ('pulse', 'blood_glucose_before_meal',
                            'blood_glucose_after_meal', 'blood_pressure_systolic',
                            'blood_pressure_diastolic', 'spo2', 'peak_flow', 'body_weight')),
    value               REAL NOT NULL CHECK (value > -9e999 AND value < 9e999),
    taken_at            INTEGER NOT NULL,
    received_at         INTEGER NOT NULL,
    level               TEXT NOT NULL
                            CHECK (level IN ('normal', 'caution', 'critical', 'unclassified')),
    reasons             TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(reasons)),
    source_user_id      BLOB REFERENCES users (id),
    source_api_token_id BLOB REFERENCES api_tokens (id),
    sent_value          REAL CHECK (sent_value > -9e999 AND sent_value < 9e999),
    sent_unit           TEXT,
    CHECK (source_user_id IS NULL OR source_api_token_id IS NULL),
    CHECK ((sent_value IS NULL) = (sent_unit IS NULL))
) STRICT;
INSERT INTO readings_new (id, patient_id, practice_id, vital, value, taken_at, received_at,
                          level, reasons, source_user_id, source_api_token_id)
    SELECT id, patient_id, practice_id, vital, value, taken_at, received_at, level, reasons,
           source_user_id, source_api_token_id
    FROM readings;
DROP TABLE readings;
ALTER TABLE readings_new RENAME TO readings;
CREATE INDEX readings_patient_taken_idx ON readings (patient_id, taken_at, id);
CREATE INDEX readings_patient_vital_taken_idx ON readings (patient_id, vital, taken_at);
CREATE UNIQUE INDEX readings_patient_vital_taken_value_key
    ON readings (patient_id, vital, taken_at, value);

ALTER TABLE alerts ADD COLUMN vital TEXT;
UPDATE alerts SET vital = (SELECT r.vital FROM readings r WHERE r.id = alerts.reading_id);
CREATE INDEX alerts_open_patient_vital_idx ON alerts (patient_id, vital) WHERE state = 'open';

CREATE TABLE alert_readings (
    alert_id   BLOB NOT NULL REFERENCES alerts (id),
    reading_id BLOB NOT NULL REFERENCES readings (id),
    PRIMARY KEY (alert_id, reading_id)
) STRICT;
INSERT INTO alert_readings (alert_id, reading_id) SELECT id, reading_id FROM alerts;

CREATE TABLE alert_texts (
    outbox_id BLOB PRIMARY KEY,
    alert_id  BLOB NOT NULL REFERENCES alerts (id),
    step      INTEGER NOT NULL,
    user_id   BLOB NOT NULL REFERENCES users (id),
    to_number TEXT NOT NULL
) STRICT;
CREATE INDEX alert_texts_alert_idx ON alert_texts (alert_id, to_number);

CREATE TABLE failing_numbers (
    from_number TEXT NOT NULL,
    to_number   TEXT NOT NULL,
    code        INTEGER NOT NULL,
    failed_at   INTEGER NOT NULL,
    PRIMARY KEY (from_number, to_number)
) STRICT;
CREATE INDEX failing_numbers_to_idx ON failing_numbers (to_number);
