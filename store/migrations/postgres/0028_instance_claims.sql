-- 0028: claims that carry the claiming instance, and the recovered mark in the conversation.
--
-- A text's conversation message shows whether its outbox row had to be sent again after a
-- claim was lost (the gateway stopped mid-send), so staff can see that the patient may have
-- received it twice. Kept in step with the outbox row's `recovered` count by every outcome.
ALTER TABLE messages ADD COLUMN recovered boolean NOT NULL DEFAULT false;
UPDATE messages m SET recovered = true
FROM outbox o WHERE o.message_id = m.id AND o.recovered > 0;
-- Email claims name their instance too, so that the claims of an instance that is gone are
-- released at once instead of when their lease runs out (as text claims already do).
ALTER TABLE email_outbox ADD COLUMN claimed_by text;
