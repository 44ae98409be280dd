-- 0013: the overdue-readings episode each patient was last warned about, keyed by the time of
-- the last reading before the gap, so each episode warns once whichever gateway notices it.
CREATE TABLE overdue_warnings (
    patient_id uuid PRIMARY KEY REFERENCES patients (id),
    warned_for timestamptz NOT NULL,
    warned_at  timestamptz NOT NULL
);
