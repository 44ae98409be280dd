-- 0007: a flag on a message for staff attention, e.g. 'possible_opt_out' when a patient's text
-- mentions an opt-out word without being a clear revocation. Kept in step with PostgreSQL.
ALTER TABLE messages ADD COLUMN flag TEXT;
