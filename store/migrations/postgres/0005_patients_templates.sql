-- 0005: per-practice message template overrides (a missing row means the default text), and
-- a name search index for patients.

CREATE TABLE practice_templates (
    practice_id uuid NOT NULL REFERENCES practices (id),
    name        text NOT NULL,
    body        text NOT NULL,
    updated_at  timestamptz NOT NULL,
    updated_by  uuid REFERENCES users (id),
    PRIMARY KEY (practice_id, name)
);

CREATE INDEX patients_practice_first_name_idx ON patients (practice_id, lower(first_name));
