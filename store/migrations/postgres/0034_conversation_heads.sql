-- 0034: each patient's conversation head, kept by a trigger on messages (whoever inserts one),
-- so a staff member's conversation list reads one row per patient instead of searching each
-- patient's messages for the newest one and for an unread one.
--
-- Messages are only ever inserted (their status changes, never their patient, direction or
-- body), so the head only moves forward: `last_message_id` is the patient's newest message (ids
-- are UUIDv7, ordered by creation), `last_inbound_id` the newest one from the patient whose body
-- was kept (what a user's read mark is compared with for "unread").
CREATE TABLE conversation_heads (
    patient_id      uuid PRIMARY KEY REFERENCES patients (id) ON DELETE CASCADE,
    last_message_id uuid NOT NULL,
    last_at         timestamptz NOT NULL,
    last_inbound_id uuid
) WITH (fillfactor = 50);
-- Every message rewrites its patient's head: half of each page is left free so the new version
-- fits beside the old one (a HOT update, no index entry) and the page prunes itself, which keeps
-- the table at a few pages per thousand patients instead of one dead row per message.

INSERT INTO conversation_heads (patient_id, last_message_id, last_at, last_inbound_id)
SELECT DISTINCT ON (m.patient_id) m.patient_id, m.id, m.created_at,
       (SELECT i.id FROM messages i
        WHERE i.patient_id = m.patient_id AND i.direction = 'inbound' AND i.body IS NOT NULL
        ORDER BY i.id DESC LIMIT 1)
FROM messages m
WHERE m.patient_id IS NOT NULL
ORDER BY m.patient_id, m.id DESC;

CREATE FUNCTION keep_conversation_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO conversation_heads AS h (patient_id, last_message_id, last_at, last_inbound_id)
    VALUES (NEW.patient_id, NEW.id, NEW.created_at,
            CASE WHEN NEW.direction = 'inbound' AND NEW.body IS NOT NULL THEN NEW.id END)
    ON CONFLICT (patient_id) DO UPDATE SET
        last_message_id = GREATEST(h.last_message_id, excluded.last_message_id),
        last_at = CASE WHEN excluded.last_message_id > h.last_message_id
                       THEN excluded.last_at ELSE h.last_at END,
        last_inbound_id = GREATEST(h.last_inbound_id, excluded.last_inbound_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_keep_conversation_head AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.patient_id IS NOT NULL) EXECUTE FUNCTION keep_conversation_head();

-- Unread is now read from the heads: nothing searches a patient's inbound messages any more.
DROP INDEX IF EXISTS messages_patient_inbound_idx;
