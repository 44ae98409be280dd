-- 0012: alerts opened by critical readings, and where each one is in its escalation. Kept in
-- step with PostgreSQL.
CREATE TABLE alerts (
    id              BLOB PRIMARY KEY,
    practice_id     BLOB NOT NULL REFERENCES practices (id),
    patient_id      BLOB NOT NULL REFERENCES patients (id),
    reading_id      BLOB NOT NULL REFERENCES readings (id),
    level           TEXT NOT NULL CHECK (level IN ('caution', 'critical')),
    state           TEXT NOT NULL CHECK (state IN ('open', 'acknowledged')),
    code            TEXT NOT NULL,
    opened_at       INTEGER NOT NULL,
    step            INTEGER NOT NULL DEFAULT 0,
    next_step_at    INTEGER NOT NULL,
    acknowledged_by BLOB REFERENCES users (id),
    acknowledged_at INTEGER,
    CHECK ((state = 'acknowledged') = (acknowledged_at IS NOT NULL))
) STRICT;
CREATE INDEX alerts_due_idx ON alerts (next_step_at) WHERE state = 'open';
CREATE INDEX alerts_practice_idx ON alerts (practice_id, id);
CREATE UNIQUE INDEX alerts_practice_id_code_key ON alerts (practice_id, code) WHERE state = 'open';
