-- 0032: reading frequency and overdue warnings per vital and patient, patients' own
-- notification settings, and one number shared by several patients of a practice.

-- Each patient's own copy of the required reading frequency per vital: copied from the
-- practice at creation, replaced for every patient when the practice saves "for all patients",
-- changed by clinical staff for one patient. `set_at` is when this vital's frequency last
-- changed for the patient: a vital with no reading yet is counted from then.
CREATE TABLE patient_reading_frequency (
    patient_id uuid NOT NULL REFERENCES patients (id),
    vital      text NOT NULL CHECK (vital IN ('pulse', 'blood_glucose_before_meal',
                   'blood_glucose_after_meal', 'blood_pressure_systolic',
                   'blood_pressure_diastolic', 'spo2', 'peak_flow', 'body_weight')),
    readings   integer NOT NULL CHECK (readings BETWEEN 1 AND 100),
    per_days   integer NOT NULL CHECK (per_days BETWEEN 1 AND 365),
    set_at     timestamptz NOT NULL,
    PRIMARY KEY (patient_id, vital)
);
-- Existing patients get the copy they would have got: the practice's frequency as it is now,
-- counted from when it was saved (or from their creation, if later).
INSERT INTO patient_reading_frequency (patient_id, vital, readings, per_days, set_at)
SELECT p.id, f.vital, f.readings, f.per_days, greatest(p.created_at, r.updated_at)
FROM patients p
JOIN practice_reading_frequency f ON f.practice_id = p.practice_id
LEFT JOIN practice_reading_rules r ON r.practice_id = p.practice_id;

-- The overdue episode each patient was last warned about, per vital, keyed by the episode's
-- start (see the gateway's domain), so each episode warns once whichever gateway notices it.
-- Replaces the per-patient table of 0013: a reading of one vital no longer ends another's
-- episode.
CREATE TABLE overdue_vital_warnings (
    patient_id uuid NOT NULL REFERENCES patients (id),
    vital      text NOT NULL,
    warned_for timestamptz NOT NULL,
    warned_at  timestamptz NOT NULL,
    PRIMARY KEY (patient_id, vital)
);
DROP TABLE overdue_warnings;

-- A patient's own notification settings about their own readings, one row per kind: copied
-- from the practice's patient defaults at creation, changed by clinical staff at any time.
-- A kind without a row is off.
CREATE TABLE patient_notification_settings (
    patient_id uuid NOT NULL REFERENCES patients (id),
    kind       text NOT NULL CHECK (kind IN ('reading_caution', 'reading_critical', 'overdue_readings')),
    enabled    boolean NOT NULL,
    email      boolean NOT NULL,
    text       boolean NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (patient_id, kind),
    CHECK (enabled OR NOT (email OR text))
);
-- Patients created since the practice saved a default would have got it at creation.
INSERT INTO patient_notification_settings (patient_id, kind, enabled, email, text, updated_at)
SELECT p.id, d.kind, d.enabled, d.email, d.text, p.created_at
FROM patients p
JOIN practice_patient_notification_defaults d ON d.practice_id = p.practice_id
WHERE p.created_at >= d.updated_at;

-- One number may belong to several patients of a practice (a family phone), each texting on
-- it: the number's opt-out, the date of birth texted and the last verified patient decide whose
-- text it is (the gateway's domain), so the rule "one texting patient per number" goes.
DROP INDEX patients_practice_id_mobile_phone_key;
CREATE INDEX patients_practice_mobile_phone_idx ON patients (practice_id, mobile_phone);
