-- 0024: an Idempotency-Key is bound to the request it first came with. The fingerprint is a hash
-- of the route, the patient and the body; the same key with another fingerprint is refused
-- (`idempotency_key_reused`) instead of answered with the first request's result. Keys stored
-- before this migration have none and replay as before.
ALTER TABLE idempotency_keys ADD COLUMN fingerprint text;
