-- 0011: which unread-message reminders went out, so each patient message reminds each user at
-- most once. Kept in step with PostgreSQL.
CREATE TABLE unread_reminders (
    message_id BLOB NOT NULL REFERENCES messages (id),
    user_id    BLOB NOT NULL REFERENCES users (id),
    sent_at    INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id)
) STRICT;
CREATE INDEX messages_inbound_created_idx ON messages (created_at) WHERE direction = 'inbound' AND patient_id IS NOT NULL;
