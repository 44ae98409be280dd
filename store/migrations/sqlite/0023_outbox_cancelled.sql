-- 0023: cancelled outbox rows (see the PostgreSQL migration of the same name). SQLite cannot
-- change a CHECK constraint, so the outbox is rebuilt with every column it has after 0017 plus
-- the new ones, and its indexes are created again. Nothing references the outbox.
CREATE TABLE outbox_new (
    id                BLOB PRIMARY KEY,
    message_id        BLOB REFERENCES messages (id),
    practice_id       BLOB REFERENCES practices (id),
    patient_id        BLOB REFERENCES patients (id),
    to_number         TEXT NOT NULL,
    from_number       TEXT NOT NULL,
    body              TEXT NOT NULL,
    priority          INTEGER NOT NULL,
    state             TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    claimed_until     INTEGER,
    claimed_by        TEXT,
    recovered         INTEGER NOT NULL DEFAULT 0,
    carrier           TEXT,
    carrier_sid       TEXT,
    carrier_status    TEXT,
    error_code        INTEGER,
    last_error        TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    sent_at           INTEGER,
    status_checked_at INTEGER,
    cancel_reason     TEXT,
    opt_out_reply    INTEGER NOT NULL DEFAULT 0 CHECK (opt_out_reply IN (0, 1)),
    CHECK ((state = 'sending') = (claimed_until IS NOT NULL)),
    CHECK ((state = 'cancelled') = (cancel_reason IS NOT NULL))
) STRICT;
INSERT INTO outbox_new (id, message_id, practice_id, patient_id, to_number, from_number, body,
                        priority, state, attempts, next_attempt_at, claimed_until, claimed_by,
                        recovered, carrier, carrier_sid, carrier_status, error_code, last_error,
                        created_at, updated_at, sent_at, status_checked_at)
SELECT id, message_id, practice_id, patient_id, to_number, from_number, body,
       priority, state, attempts, next_attempt_at, claimed_until, claimed_by,
       recovered, carrier, carrier_sid, carrier_status, error_code, last_error,
       created_at, updated_at, sent_at, status_checked_at
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due_idx ON outbox (priority DESC, next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX outbox_lease_idx ON outbox (claimed_until) WHERE state = 'sending';
CREATE INDEX outbox_carrier_sid_idx ON outbox (carrier_sid) WHERE carrier_sid IS NOT NULL;
CREATE INDEX outbox_message_idx ON outbox (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX outbox_unsettled_idx ON outbox (sent_at) WHERE state = 'sent';
CREATE INDEX outbox_queued_pair_idx ON outbox (to_number, from_number) WHERE state = 'queued';

ALTER TABLE messages ADD COLUMN status_reason TEXT;
