-- 0008: vital-sign readings and what classifies them, reading frequency, on-call schedules, and
-- the API tokens integrations post readings with. Kept in step with the PostgreSQL migration of
-- the same name (see there for how the tables work together). Times are INTEGER microseconds
-- (UTC), ids 16-byte UUID blobs, `reasons` a JSON array as TEXT, values REAL.

CREATE TABLE api_tokens (
    id          BLOB PRIMARY KEY,
    customer_id BLOB NOT NULL REFERENCES customers (id),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- Space-separated, e.g. 'readings:write'.
    scopes      TEXT NOT NULL,
    -- SHA-256 hex of the token; the token itself is never stored.
    token_hash  TEXT NOT NULL,
    created_by  BLOB REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
CREATE UNIQUE INDEX api_tokens_token_hash_key ON api_tokens (token_hash);
CREATE INDEX api_tokens_customer_idx ON api_tokens (customer_id, id);

-- One reading as received, with the classification it got on arrival.
CREATE TABLE readings (
    id                  BLOB PRIMARY KEY,
    patient_id          BLOB NOT NULL REFERENCES patients (id),
    practice_id         BLOB NOT NULL REFERENCES practices (id),
    vital               TEXT NOT NULL CHECK (vital IN ('pulse', 'blood_glucose_before_meal',
                            'blood_glucose_after_meal', 'blood_pressure_systolic',
                            'blood_pressure_diastolic', 'spo2', 'peak_flow', 'body_weight')),
    -- Finite only (SQLite stores NaN as NULL, which NOT NULL refuses).
    value               REAL NOT NULL CHECK (value > -9e999 AND value < 9e999),
    taken_at            INTEGER NOT NULL,
    received_at         INTEGER NOT NULL,
    level               TEXT NOT NULL CHECK (level IN ('normal', 'caution', 'critical')),
    reasons             TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(reasons)),
    source_user_id      BLOB REFERENCES users (id),
    source_api_token_id BLOB REFERENCES api_tokens (id),
    CHECK (source_user_id IS NULL OR source_api_token_id IS NULL)
) STRICT;
CREATE INDEX readings_patient_taken_idx ON readings (patient_id, taken_at, id);
CREATE INDEX readings_patient_vital_taken_idx ON readings (patient_id, vital, taken_at);

CREATE TABLE practice_reading_alert_defaults (
    practice_id         BLOB NOT NULL REFERENCES practices (id),
    vital               TEXT NOT NULL CHECK (vital IN ('pulse', 'blood_glucose_before_meal',
                            'blood_glucose_after_meal', 'blood_pressure_systolic',
                            'blood_pressure_diastolic', 'spo2', 'peak_flow', 'body_weight')),
    critical_low        REAL NOT NULL,
    normal_low          REAL NOT NULL,
    normal_high         REAL NOT NULL,
    critical_high       REAL NOT NULL,
    change_amount       REAL,
    change_unit         TEXT CHECK (change_unit IN ('percent', 'units')),
    change_within_hours INTEGER,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (practice_id, vital),
    CHECK (critical_low <= normal_low AND normal_low <= normal_high AND normal_high <= critical_high),
    CHECK ((change_amount IS NULL) = (change_unit IS NULL)
       AND (change_unit IS NULL) = (change_within_hours IS NULL)),
    CHECK (change_amount IS NULL OR (change_amount > 0 AND change_within_hours > 0))
) STRICT;

-- All four bounds NULL: the patient explicitly has no alert settings for the vital.
CREATE TABLE patient_reading_alert_settings (
    patient_id          BLOB NOT NULL REFERENCES patients (id),
    vital               TEXT NOT NULL CHECK (vital IN ('pulse', 'blood_glucose_before_meal',
                            'blood_glucose_after_meal', 'blood_pressure_systolic',
                            'blood_pressure_diastolic', 'spo2', 'peak_flow', 'body_weight')),
    critical_low        REAL,
    normal_low          REAL,
    normal_high         REAL,
    critical_high       REAL,
    change_amount       REAL,
    change_unit         TEXT CHECK (change_unit IN ('percent', 'units')),
    change_within_hours INTEGER,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (patient_id, vital),
    CHECK ((critical_low IS NULL) = (normal_low IS NULL) AND (normal_low IS NULL) = (normal_high IS NULL)
       AND (normal_high IS NULL) = (critical_high IS NULL)),
    CHECK (critical_low <= normal_low AND normal_low <= normal_high AND normal_high <= critical_high),
    CHECK ((change_amount IS NULL) = (change_unit IS NULL)
       AND (change_unit IS NULL) = (change_within_hours IS NULL)),
    CHECK (change_amount IS NULL OR critical_low IS NOT NULL),
    CHECK (change_amount IS NULL OR (change_amount > 0 AND change_within_hours > 0))
) STRICT;

-- "Warn after N days overdue" and "notify after N consecutive out of range readings" (0 = off).
CREATE TABLE practice_reading_rules (
    practice_id        BLOB PRIMARY KEY REFERENCES practices (id),
    warn_after_days    INTEGER NOT NULL CHECK (warn_after_days BETWEEN 0 AND 365),
    out_of_range_count INTEGER NOT NULL CHECK (out_of_range_count BETWEEN 0 AND 100),
    updated_at         INTEGER NOT NULL
) STRICT;

-- `readings` readings of the vital expected every `per_days` days.
CREATE TABLE practice_reading_frequency (
    practice_id BLOB NOT NULL REFERENCES practices (id),
    vital       TEXT NOT NULL CHECK (vital IN ('pulse', 'blood_glucose_before_meal',
                    'blood_glucose_after_meal', 'blood_pressure_systolic',
                    'blood_pressure_diastolic', 'spo2', 'peak_flow', 'body_weight')),
    readings    INTEGER NOT NULL CHECK (readings BETWEEN 1 AND 100),
    per_days    INTEGER NOT NULL CHECK (per_days BETWEEN 1 AND 365),
    PRIMARY KEY (practice_id, vital)
) STRICT;

-- Daily on-call windows as minutes after local midnight, in saved order.
CREATE TABLE on_call_windows (
    practice_id BLOB NOT NULL REFERENCES practices (id),
    position    INTEGER NOT NULL CHECK (position >= 0),
    from_minute INTEGER NOT NULL CHECK (from_minute BETWEEN 0 AND 1439),
    to_minute   INTEGER NOT NULL CHECK (to_minute BETWEEN 0 AND 1439),
    user_id     BLOB NOT NULL REFERENCES users (id),
    PRIMARY KEY (practice_id, position)
) STRICT;
CREATE INDEX on_call_windows_user_idx ON on_call_windows (user_id);
