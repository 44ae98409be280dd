-- 0034: each patient's conversation head, kept by a trigger on messages (whoever inserts one),
-- so a staff member's conversation list reads one row per patient instead of searching each
-- patient's messages for the newest one and for an unread one.
--
-- Messages are only ever inserted (their status changes, never their patient, direction or
-- body), so the head only moves forward: `last_message_id` is the patient's newest message (ids
-- are UUIDv7, ordered by creation), `last_inbound_id` the newest one from the patient whose body
-- was kept (what a user's read mark is compared with for "unread").
CREATE TABLE conversation_heads (
    patient_id      BLOB PRIMARY KEY REFERENCES patients (id) ON DELETE CASCADE,
    last_message_id BLOB NOT NULL,
    last_at         INTEGER NOT NULL,
    last_inbound_id BLOB
) STRICT;

INSERT INTO conversation_heads (patient_id, last_message_id, last_at, last_inbound_id)
SELECT m.patient_id, m.id, m.created_at,
       (SELECT i.id FROM messages i
        WHERE i.patient_id = m.patient_id AND i.direction = 'inbound' AND i.body IS NOT NULL
        ORDER BY i.id DESC LIMIT 1)
FROM messages m
WHERE m.patient_id IS NOT NULL
  AND m.id = (SELECT n.id FROM messages n WHERE n.patient_id = m.patient_id ORDER BY n.id DESC LIMIT 1);

CREATE TRIGGER messages_keep_conversation_head AFTER INSERT ON messages
WHEN NEW.patient_id IS NOT NULL
BEGIN
    INSERT INTO conversation_heads (patient_id, last_message_id, last_at, last_inbound_id)
    VALUES (NEW.patient_id, NEW.id, NEW.created_at,
            CASE WHEN NEW.direction = 'inbound' AND NEW.body IS NOT NULL THEN NEW.id END)
    ON CONFLICT (patient_id) DO UPDATE SET
        last_at = CASE WHEN excluded.last_message_id > last_message_id
                       THEN excluded.last_at ELSE last_at END,
        last_message_id = max(last_message_id, excluded.last_message_id),
        last_inbound_id = CASE WHEN last_inbound_id IS NULL
                                 OR excluded.last_inbound_id > last_inbound_id
                               THEN coalesce(excluded.last_inbound_id, last_inbound_id)
                               ELSE last_inbound_id END;
END;

-- Unread is now read from the heads: nothing searches a patient's inbound messages any more.
DROP INDEX IF EXISTS messages_patient_inbound_idx;
