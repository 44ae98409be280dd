-- 0028: claims that carry the claiming instance, and the recovered mark in the conversation.
-- Kept in step with PostgreSQL.
ALTER TABLE messages ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0 CHECK (recovered IN (0, 1));
UPDATE messages SET recovered = 1
WHERE id IN (SELECT message_id FROM outbox WHERE recovered > 0 AND message_id IS NOT NULL);
ALTER TABLE email_outbox ADD COLUMN claimed_by TEXT;
