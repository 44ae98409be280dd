-- 0032: reading frequency and overdue warnings per vital and patient, patients' own
-- notification settings, and one number shared by several patients of a practice. Kept in
-- step with PostgreSQL.

CREATE TABLE patient_reading_frequency (
    patient_id BLOB NOT NULL REFERENCES patients (id),
    vital      TEXT NOT NULL CHECK (vital IN ('pulse', 'blood_glucose_before_meal',
                   'blood_glucose_after_meal', 'blood_pressure_systolic',
                   'blood_pressure_diastolic', 'spo2', 'peak_flow', 'body_weight')),
    readings   INTEGER NOT NULL CHECK (readings BETWEEN 1 AND 100),
    per_days   INTEGER NOT NULL CHECK (per_days BETWEEN 1 AND 365),
    set_at     INTEGER NOT NULL,
    PRIMARY KEY (patient_id, vital)
) STRICT;
INSERT INTO patient_reading_frequency (patient_id, vital, readings, per_days, set_at)
SELECT p.id, f.vital, f.readings, f.per_days, max(p.created_at, coalesce(r.updated_at, p.created_at))
FROM patients p
JOIN practice_reading_frequency f ON f.practice_id = p.practice_id
LEFT JOIN practice_reading_rules r ON r.practice_id = p.practice_id;

CREATE TABLE overdue_vital_warnings (
    patient_id BLOB NOT NULL REFERENCES patients (id),
    vital      TEXT NOT NULL,
    warned_for INTEGER NOT NULL,
    warned_at  INTEGER NOT NULL,
    PRIMARY KEY (patient_id, vital)
) STRICT;
DROP TABLE overdue_warnings;

CREATE TABLE patient_notification_settings (
    patient_id BLOB NOT NULL REFERENCES patients (id),
    kind       TEXT NOT NULL CHECK (kind IN ('reading_caution', 'reading_critical', 'overdue_readings')),
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    email      INTEGER NOT NULL CHECK (email IN (0, 1)),
    text       INTEGER NOT NULL CHECK (text IN (0, 1)),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (patient_id, kind),
    CHECK (enabled = 1 OR (email = 0 AND text = 0))
) STRICT;
INSERT INTO patient_notification_settings (patient_id, kind, enabled, email, text, updated_at)
SELECT p.id, d.kind, d.enabled, d.email, d.text, p.created_at
FROM patients p
JOIN practice_patient_notification_defaults d ON d.practice_id = p.practice_id
WHERE p.created_at >= d.updated_at;

DROP INDEX patients_practice_id_mobile_phone_key;
CREATE INDEX patients_practice_mobile_phone_idx ON patients (practice_id, mobile_phone);
