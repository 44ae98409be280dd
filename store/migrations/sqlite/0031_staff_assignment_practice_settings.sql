-- 0031: practice settings (texting and the patient portal may be turned off per practice) and
-- staff supervisors (seed 003: a patient created by a staff user puts the creator and their
-- supervisor on the care team). Kept in step with PostgreSQL.
ALTER TABLE practices ADD COLUMN texting_enabled INTEGER NOT NULL DEFAULT 1 CHECK (texting_enabled IN (0, 1));
ALTER TABLE practices ADD COLUMN portal_enabled INTEGER NOT NULL DEFAULT 1 CHECK (portal_enabled IN (0, 1));
-- A supervisor is a user of the same customer (checked by the store when it is set).
ALTER TABLE users ADD COLUMN supervisor_id BLOB REFERENCES users (id);
