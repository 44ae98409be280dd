-- 0024: the request fingerprint of an Idempotency-Key (see the PostgreSQL migration).
ALTER TABLE idempotency_keys ADD COLUMN fingerprint TEXT;
