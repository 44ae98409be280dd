-- 0010: who works on a patient's conversation and what each user has read.
--
-- Care team and program staff follow seed 003: assigning a user to a program enrolment also puts
-- them on the care team; removing them from the care team removes them from every enrolment;
-- removing them from an enrolment leaves the care team alone (enforced by the store).

CREATE TABLE care_team (
    patient_id uuid NOT NULL REFERENCES patients (id),
    user_id    uuid NOT NULL REFERENCES users (id),
    added_at   timestamptz NOT NULL,
    PRIMARY KEY (patient_id, user_id)
);
CREATE INDEX care_team_user_idx ON care_team (user_id);

CREATE TABLE program_staff (
    patient_id uuid NOT NULL REFERENCES patients (id),
    program    text NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id),
    PRIMARY KEY (patient_id, program, user_id)
);

-- Users who are not on the care team but asked to be notified about the patient.
CREATE TABLE patient_subscriptions (
    patient_id uuid NOT NULL REFERENCES patients (id),
    user_id    uuid NOT NULL REFERENCES users (id),
    added_at   timestamptz NOT NULL,
    PRIMARY KEY (patient_id, user_id)
);
CREATE INDEX patient_subscriptions_user_idx ON patient_subscriptions (user_id);

-- Per user and patient, the newest message id the user has read (ids are time-ordered).
CREATE TABLE conversation_reads (
    user_id      uuid NOT NULL REFERENCES users (id),
    patient_id   uuid NOT NULL REFERENCES patients (id),
    read_through uuid NOT NULL,
    read_at      timestamptz NOT NULL,
    PRIMARY KEY (user_id, patient_id)
);

-- A retried staff send with the same Idempotency-Key returns the first answer.
CREATE TABLE idempotency_keys (
    user_id    uuid NOT NULL REFERENCES users (id),
    key        text NOT NULL,
    patient_id uuid NOT NULL REFERENCES patients (id),
    message_id uuid NOT NULL REFERENCES messages (id),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- Patient portal access: only a hash of the token is kept.
CREATE TABLE portal_tokens (
    token_hash text PRIMARY KEY,
    patient_id uuid NOT NULL REFERENCES patients (id),
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX portal_tokens_patient_idx ON portal_tokens (patient_id);

-- The conversation thread reads a patient's messages by id, newest first.
CREATE INDEX messages_patient_id_idx ON messages (patient_id, id) WHERE patient_id IS NOT NULL;
-- "Has a patient message newer than what I read": inbound messages per patient by id.
CREATE INDEX messages_patient_inbound_idx ON messages (patient_id, id) WHERE direction = 'inbound' AND patient_id IS NOT NULL;
