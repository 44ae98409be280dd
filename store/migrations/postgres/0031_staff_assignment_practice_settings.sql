-- 0031: practice settings (texting and the patient portal may be turned off per practice) and
-- staff supervisors (seed 003: a patient created by a staff user puts the creator and their
-- supervisor on the care team). Kept in step with SQLite.
ALTER TABLE practices ADD COLUMN texting_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE practices ADD COLUMN portal_enabled BOOLEAN NOT NULL DEFAULT TRUE;
-- A supervisor is a user of the same customer (checked by the store when it is set).
ALTER TABLE users ADD COLUMN supervisor_id UUID REFERENCES users (id);
