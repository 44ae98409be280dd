-- 0008: vital-sign readings and what classifies them, reading frequency, on-call schedules, and
-- the API tokens integrations (device vendors) post readings with.
--
-- A reading's effective alert settings for one vital are the patient's own row, else the
-- practice's default row, else none (the reading is then `normal` with no reasons). A patient
-- row whose ranges are all NULL is an explicit "none": saving practice defaults "for new
-- patients" writes the previous effective value (a copy of the previous default, or such a NULL
-- row when there was none) into every existing patient of the practice that had no row, so their
-- effective settings do not move; saving "for all patients" deletes the patients' rows of that
-- vital. Bounds are ordered critical_low <= normal_low <= normal_high <= critical_high; equal
-- bounds leave a band empty. The gateway's domain validates all of this first; the CHECKs are
-- the last line of defence.

-- Integrations of a customer. Only the SHA-256 (hex) of the token is kept, like sessions, so a
-- copy of this table grants nothing. Scopes are a space-separated list (`readings:write`).
-- A revoked token stays for the audit trail and stops working at once.
CREATE TABLE api_tokens (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    scopes      text NOT NULL,
    token_hash  text NOT NULL,
    created_by  uuid REFERENCES users (id),
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE UNIQUE INDEX api_tokens_token_hash_key ON api_tokens (token_hash);
CREATE INDEX api_tokens_customer_idx ON api_tokens (customer_id, id);

-- One reading as received, with the classification it got when it arrived (kept, not
-- recomputed: later changes to the settings do not rewrite history). `practice_id` is the
-- patient's, copied so that per-practice workers (overdue readings) need no join.
-- `reasons` is the JSON array the API answered. Who sent it: a user, an API token, or neither
-- (the system, e.g. the demo).
CREATE TABLE readings (
    id                  uuid PRIMARY KEY,
    patient_id          uuid NOT NULL REFERENCES patients (id),
    practice_id         uuid NOT NULL REFERENCES practices (id),
    vital               text NOT NULL CHECK (vital IN ('pulse', 'blood_glucose_before_meal',
                            'blood_glucose_after_meal', 'blood_pressure_systolic',
                            'blood_pressure_diastolic', 'spo2', 'peak_flow', 'body_weight')),
    value               double precision NOT NULL
                            CHECK (value > '-Infinity'::float8 AND value < 'Infinity'::float8),
    taken_at            timestamptz NOT NULL,
    received_at         timestamptz NOT NULL,
    level               text NOT NULL CHECK (level IN ('normal', 'caution', 'critical')),
    reasons             jsonb NOT NULL DEFAULT '[]',
    source_user_id      uuid REFERENCES users (id),
    source_api_token_id uuid REFERENCES api_tokens (id),
    CHECK (source_user_id IS NULL OR source_api_token_id IS NULL)
);
-- A patient's readings newest first, and the earlier readings of one vital for the change rule.
CREATE INDEX readings_patient_taken_idx ON readings (patient_id, taken_at, id);
CREATE INDEX readings_patient_vital_taken_idx ON readings (patient_id, vital, taken_at);

-- The practice's default alert settings of one vital.
CREATE TABLE practice_reading_alert_defaults (
    practice_id         uuid NOT NULL REFERENCES practices (id),
    vital               text NOT NULL CHECK (vital IN ('pulse', 'blood_glucose_before_meal',
                            'blood_glucose_after_meal', 'blood_pressure_systolic',
                            'blood_pressure_diastolic', 'spo2', 'peak_flow', 'body_weight')),
    critical_low        double precision NOT NULL,
    normal_low          double precision NOT NULL,
    normal_high         double precision NOT NULL,
    critical_high       double precision NOT NULL,
    change_amount       double precision,
    change_unit         text CHECK (change_unit IN ('percent', 'units')),
    change_within_hours integer,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (practice_id, vital),
    CHECK (critical_low <= normal_low AND normal_low <= normal_high AND normal_high <= critical_high),
    -- The change rule is all there or all absent.
    CHECK ((change_amount IS NULL) = (change_unit IS NULL)
       AND (change_unit IS NULL) = (change_within_hours IS NULL)),
    CHECK (change_amount IS NULL OR (change_amount > 0 AND change_within_hours > 0))
);

-- A patient's own alert settings of one vital; all four bounds NULL means "no alert settings"
-- (kept so a "for new patients" save does not change the patient's effective settings).
CREATE TABLE patient_reading_alert_settings (
    patient_id          uuid NOT NULL REFERENCES patients (id),
    vital               text NOT NULL CHECK (vital IN ('pulse', 'blood_glucose_before_meal',
                            'blood_glucose_after_meal', 'blood_pressure_systolic',
                            'blood_pressure_diastolic', 'spo2', 'peak_flow', 'body_weight')),
    critical_low        double precision,
    normal_low          double precision,
    normal_high         double precision,
    critical_high       double precision,
    change_amount       double precision,
    change_unit         text CHECK (change_unit IN ('percent', 'units')),
    change_within_hours integer,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (patient_id, vital),
    CHECK ((critical_low IS NULL) = (normal_low IS NULL) AND (normal_low IS NULL) = (normal_high IS NULL)
       AND (normal_high IS NULL) = (critical_high IS NULL)),
    CHECK (critical_low <= normal_low AND normal_low <= normal_high AND normal_high <= critical_high),
    CHECK ((change_amount IS NULL) = (change_unit IS NULL)
       AND (change_unit IS NULL) = (change_within_hours IS NULL)),
    -- No change rule without ranges.
    CHECK (change_amount IS NULL OR critical_low IS NOT NULL),
    CHECK (change_amount IS NULL OR (change_amount > 0 AND change_within_hours > 0))
);

-- Practice-level reading rules: "warn after N days overdue" and "notify after N consecutive out
-- of range readings"; 0 turns a rule off. One row per practice, written on first save.
CREATE TABLE practice_reading_rules (
    practice_id        uuid PRIMARY KEY REFERENCES practices (id),
    warn_after_days    integer NOT NULL CHECK (warn_after_days BETWEEN 0 AND 365),
    out_of_range_count integer NOT NULL CHECK (out_of_range_count BETWEEN 0 AND 100),
    updated_at         timestamptz NOT NULL
);

-- How often the practice expects a reading of a vital: `readings` readings every `per_days`
-- days. A vital without a row has no required frequency.
CREATE TABLE practice_reading_frequency (
    practice_id uuid NOT NULL REFERENCES practices (id),
    vital       text NOT NULL CHECK (vital IN ('pulse', 'blood_glucose_before_meal',
                    'blood_glucose_after_meal', 'blood_pressure_systolic',
                    'blood_pressure_diastolic', 'spo2', 'peak_flow', 'body_weight')),
    readings    integer NOT NULL CHECK (readings BETWEEN 1 AND 100),
    per_days    integer NOT NULL CHECK (per_days BETWEEN 1 AND 365),
    PRIMARY KEY (practice_id, vital)
);

-- Daily on-call windows in the practice's time zone, as minutes after local midnight; `to`
-- before `from` wraps past midnight, `from = to` is all day (the gateway's domain owns the
-- meaning). `position` keeps the order the schedule was saved in: the on-call users of an
-- instant are listed in that order. A save replaces the practice's whole schedule.
CREATE TABLE on_call_windows (
    practice_id uuid NOT NULL REFERENCES practices (id),
    position    integer NOT NULL CHECK (position >= 0),
    from_minute integer NOT NULL CHECK (from_minute BETWEEN 0 AND 1439),
    to_minute   integer NOT NULL CHECK (to_minute BETWEEN 0 AND 1439),
    user_id     uuid NOT NULL REFERENCES users (id),
    PRIMARY KEY (practice_id, position)
);
-- A user's windows, for handing them over when the user is locked.
CREATE INDEX on_call_windows_user_idx ON on_call_windows (user_id);
