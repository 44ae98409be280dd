-- 0002: the conversation's messages, the transactional outbox that sends them, and the per-number
-- send slots that pace every sending number. Kept in step with the PostgreSQL migration of the same
-- name (see it for what each column means). Times are INTEGER microseconds since the Unix epoch
-- (UTC), ids 16-byte UUID blobs, booleans 0/1.

CREATE TABLE messages (
    id             BLOB PRIMARY KEY,
    practice_id    BLOB REFERENCES practices (id),
    patient_id     BLOB REFERENCES patients (id),
    channel        TEXT NOT NULL CHECK (channel IN ('sms', 'portal')),
    direction      TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- NULL when the text must not be kept (a date of birth sent while verifying): then `redacted`.
    body           TEXT,
    redacted       INTEGER NOT NULL DEFAULT 0 CHECK (redacted IN (0, 1)),
    author_user_id BLOB REFERENCES users (id),
    status         TEXT NOT NULL,
    carrier        TEXT,
    carrier_sid    TEXT,
    from_number    TEXT,
    to_number      TEXT,
    error_code     INTEGER,
    num_segments   INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    CHECK (redacted = 0 OR body IS NULL)
) STRICT;
-- Carriers repeat webhooks: a repeated MessageSid must find this rule and change nothing.
CREATE UNIQUE INDEX messages_carrier_carrier_sid_key ON messages (carrier, carrier_sid);
CREATE INDEX messages_patient_idx ON messages (patient_id, created_at, id) WHERE patient_id IS NOT NULL;
CREATE INDEX messages_practice_idx ON messages (practice_id, created_at, id);

-- Every text the gateway sends is first a row here, written in the transaction of the change that
-- caused it. See the PostgreSQL migration for the states and the lease.
CREATE TABLE outbox (
    id              BLOB PRIMARY KEY,
    message_id      BLOB REFERENCES messages (id),
    practice_id     BLOB REFERENCES practices (id),
    patient_id      BLOB REFERENCES patients (id),
    to_number       TEXT NOT NULL,
    from_number     TEXT NOT NULL,
    body            TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    state           TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    claimed_by      TEXT,
    recovered       INTEGER NOT NULL DEFAULT 0,
    carrier         TEXT,
    carrier_sid     TEXT,
    carrier_status  TEXT,
    error_code      INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    CHECK ((state = 'sending') = (claimed_until IS NOT NULL))
) STRICT;
CREATE INDEX outbox_due_idx ON outbox (priority DESC, next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX outbox_lease_idx ON outbox (claimed_until) WHERE state = 'sending';
CREATE INDEX outbox_carrier_sid_idx ON outbox (carrier_sid) WHERE carrier_sid IS NOT NULL;
CREATE INDEX outbox_message_idx ON outbox (message_id) WHERE message_id IS NOT NULL;

-- The next free send slot of each sending number (see the PostgreSQL migration).
CREATE TABLE outbox_senders (
    from_number  TEXT PRIMARY KEY,
    next_slot_at INTEGER NOT NULL
) STRICT;
