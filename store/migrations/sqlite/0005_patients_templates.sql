-- 0005: per-practice message template overrides (a missing row means the default text), and
-- a name search index for patients. Kept in step with PostgreSQL.

CREATE TABLE practice_templates (
    practice_id BLOB NOT NULL REFERENCES practices (id),
    name        TEXT NOT NULL,
    body        TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  BLOB REFERENCES users (id),
    PRIMARY KEY (practice_id, name)
) STRICT;

CREATE INDEX patients_practice_first_name_idx ON patients (practice_id, lower(first_name));
