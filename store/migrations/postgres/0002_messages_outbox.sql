-- 0002: the conversation's messages, the transactional outbox that sends them, and the per-number
-- send slots that pace every sending number across all gateways. Unique rules are named
-- `{table}_{columns}_key` so both backends report the same constraint name on a conflict.

-- One row per message of a conversation, SMS or portal, in or out. An inbound text is recorded even
-- when its sender or the number it was sent to matches nothing (practice_id / patient_id NULL).
CREATE TABLE messages (
    id             uuid PRIMARY KEY,
    practice_id    uuid REFERENCES practices (id),
    patient_id     uuid REFERENCES patients (id),
    channel        text NOT NULL CHECK (channel IN ('sms', 'portal')),
    direction      text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- NULL when the text must not be kept (a date of birth sent while verifying): then `redacted`.
    body           text,
    redacted       boolean NOT NULL DEFAULT false,
    -- The staff member who wrote an outbound message; NULL for the patient and for the system.
    author_user_id uuid REFERENCES users (id),
    -- The carrier's status names (received, queued, sent, delivered, undelivered, failed, …).
    status         text NOT NULL,
    -- Which carrier and its id of the message; set on receipt, or once the carrier accepted a send.
    carrier        text,
    carrier_sid    text,
    from_number    text,
    to_number      text,
    error_code     integer,
    num_segments   integer,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CHECK (NOT redacted OR body IS NULL),
    -- Carriers repeat webhooks: a repeated MessageSid must find this rule and change nothing.
    CONSTRAINT messages_carrier_carrier_sid_key UNIQUE (carrier, carrier_sid)
);
CREATE INDEX messages_patient_idx ON messages (patient_id, created_at, id) WHERE patient_id IS NOT NULL;
CREATE INDEX messages_practice_idx ON messages (practice_id, created_at, id);

-- Every text the gateway sends is first a row here, written in the transaction of the change that
-- caused it; the dispatcher sends it later. `state`: queued (waiting, maybe for a retry), sending
-- (claimed under a lease), sent (the carrier accepted it), failed (given up; see error_code and
-- last_error). A send is never held under a row lock: the claim is a lease (`claimed_until`),
-- and a lease that runs out means the claimer died; such a row is sent once more (`recovered`).
CREATE TABLE outbox (
    id              uuid PRIMARY KEY,
    -- The conversation message whose status follows this send, if it is one.
    message_id      uuid REFERENCES messages (id),
    practice_id     uuid REFERENCES practices (id),
    patient_id      uuid REFERENCES patients (id),
    to_number       text NOT NULL,
    from_number     text NOT NULL,
    body            text NOT NULL,
    -- Higher goes first: 100 alert, 50 opt-in replies, 30 notifications, 10 routine.
    priority        smallint NOT NULL,
    state           text NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    -- Claims so far (each claim is one attempt to send).
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    claimed_until   timestamptz,
    claimed_by      text,
    -- How often a claim ran out without an answer and the row was sent again.
    recovered       integer NOT NULL DEFAULT 0,
    carrier         text,
    carrier_sid     text,
    carrier_status  text,
    error_code      integer,
    last_error      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    CHECK ((state = 'sending') = (claimed_until IS NOT NULL))
);
-- The claim query: due rows, highest priority first, then oldest due.
CREATE INDEX outbox_due_idx ON outbox (priority DESC, next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX outbox_lease_idx ON outbox (claimed_until) WHERE state = 'sending';
-- Status callbacks find the row by the carrier's id.
CREATE INDEX outbox_carrier_sid_idx ON outbox (carrier_sid) WHERE carrier_sid IS NOT NULL;
CREATE INDEX outbox_message_idx ON outbox (message_id) WHERE message_id IS NOT NULL;

-- The next free send slot of each sending number. A claim reserves slots 1/SMS_SENDER_MPS apart
-- under this row's lock, so several gateways together never exceed the number's rate.
CREATE TABLE outbox_senders (
    from_number  text PRIMARY KEY,
    next_slot_at timestamptz NOT NULL
);
