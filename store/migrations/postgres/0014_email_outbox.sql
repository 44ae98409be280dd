-- 0014: notification emails waiting for the SMTP server. Rows are written in the transaction of
-- the change they tell of (like the text outbox), so an email exists exactly when its cause does.
-- States: queued (waiting or retrying), sending (claimed under a lease), sent (the server
-- accepted it), failed (given up; see last_error). A lease that runs out means the claimer died
-- and the row is due again, so an email may arrive twice after a crash but is never lost.
CREATE TABLE email_outbox (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id),
    practice_id     uuid REFERENCES practices (id),
    kind            text NOT NULL,
    to_address      text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    state           text NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    claimed_until   timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    CHECK ((state = 'sending') = (claimed_until IS NOT NULL))
);
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX email_outbox_lease_idx ON email_outbox (claimed_until) WHERE state = 'sending';
