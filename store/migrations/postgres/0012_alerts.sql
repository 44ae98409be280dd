-- 0012: alerts opened by critical readings, and where each one is in its escalation. The state
-- lives here (not in memory) so escalation resumes after a restart, and `step` is the version
-- that keeps two gateways from taking the same escalation step twice.
CREATE TABLE alerts (
    id              uuid PRIMARY KEY,
    practice_id     uuid NOT NULL REFERENCES practices (id),
    patient_id      uuid NOT NULL REFERENCES patients (id),
    reading_id      uuid NOT NULL REFERENCES readings (id),
    level           text NOT NULL CHECK (level IN ('caution', 'critical')),
    state           text NOT NULL CHECK (state IN ('open', 'acknowledged')),
    -- What an SMS reply "ACK <code>" acknowledges.
    code            text NOT NULL,
    opened_at       timestamptz NOT NULL,
    -- 0 = the opening notification; each escalation step adds one.
    step            integer NOT NULL DEFAULT 0,
    next_step_at    timestamptz NOT NULL,
    acknowledged_by uuid REFERENCES users (id),
    acknowledged_at timestamptz,
    CHECK ((state = 'acknowledged') = (acknowledged_at IS NOT NULL))
);
CREATE INDEX alerts_due_idx ON alerts (next_step_at) WHERE state = 'open';
CREATE INDEX alerts_practice_idx ON alerts (practice_id, id);
CREATE UNIQUE INDEX alerts_practice_id_code_key ON alerts (practice_id, code) WHERE state = 'open';
