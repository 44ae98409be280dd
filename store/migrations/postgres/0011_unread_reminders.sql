-- 0011: which unread-message reminders went out, so each patient message reminds each user at
-- most once, whichever gateway instance runs the reminder worker.
CREATE TABLE unread_reminders (
    message_id uuid NOT NULL REFERENCES messages (id),
    user_id    uuid NOT NULL REFERENCES users (id),
    sent_at    timestamptz NOT NULL,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX messages_inbound_created_idx ON messages (created_at) WHERE direction = 'inbound' AND patient_id IS NOT NULL;
