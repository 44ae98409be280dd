-- 0023: a number that opts out gets nothing more but its STOP confirmation. Texts still queued to
-- it from the practice's number are `cancelled` (with the reason, `opted_out`) in the STOP's own
-- transaction, and a claim cancels instead of sending any due row whose number has opted out
-- meanwhile (a text queued by a transaction that raced the STOP). The conversation message of a
-- cancelled text shows `cancelled` and the reason.
ALTER TABLE outbox DROP CONSTRAINT outbox_state_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_state_check
    CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'cancelled'));
-- Why a row was cancelled (`opted_out`); NULL for every other state.
ALTER TABLE outbox ADD COLUMN cancel_reason text;
-- An answer to the patient's own text queued while their number is opted out (the STOP
-- confirmation): the one kind of text that may still go to that number.
ALTER TABLE outbox ADD COLUMN opt_out_reply boolean NOT NULL DEFAULT false;
ALTER TABLE outbox ADD CONSTRAINT outbox_cancel_reason_check
    CHECK ((state = 'cancelled') = (cancel_reason IS NOT NULL));
-- The STOP cancels the queued rows of one (practice number, patient number) pair.
CREATE INDEX outbox_queued_pair_idx ON outbox (to_number, from_number) WHERE state = 'queued';

-- Why a message has its status, where the status alone does not say (`opted_out` for a
-- cancelled text).
ALTER TABLE messages ADD COLUMN status_reason text;
