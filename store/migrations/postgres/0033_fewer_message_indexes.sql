-- 0033: two indexes on messages that no query reads. Every message (an inbound text above all)
-- paid for them on insert. Conversations are read by (patient_id, id) (messages_patient_id_idx
-- and its inbound-only twin), repeats by (carrier, carrier_sid), unread reminders by created_at;
-- nothing lists a patient's messages by created_at or a practice's messages at all.
DROP INDEX IF EXISTS messages_patient_idx;
DROP INDEX IF EXISTS messages_practice_idx;
