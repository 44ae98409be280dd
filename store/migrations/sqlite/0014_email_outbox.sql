-- 0014: notification emails waiting for the SMTP server. Kept in step with PostgreSQL.
CREATE TABLE email_outbox (
    id              BLOB PRIMARY KEY,
    user_id         BLOB NOT NULL REFERENCES users (id),
    practice_id     BLOB REFERENCES practices (id),
    kind            TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    CHECK ((state = 'sending') = (claimed_until IS NOT NULL))
) STRICT;
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX email_outbox_lease_idx ON email_outbox (claimed_until) WHERE state = 'sending';
