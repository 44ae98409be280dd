-- 0013: the overdue-readings episode each patient was last warned about. Kept in step with
-- PostgreSQL.
CREATE TABLE overdue_warnings (
    patient_id BLOB PRIMARY KEY REFERENCES patients (id),
    warned_for INTEGER NOT NULL,
    warned_at  INTEGER NOT NULL
) STRICT;
