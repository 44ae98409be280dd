-- 0001: tenancy (customers, practice groups, practices), accounts and sessions, patients with
-- their texting opt-in state, and the append-only audit log. Kept in step with the PostgreSQL
-- migration of the same name. Times are INTEGER microseconds since the Unix epoch (UTC), ids
-- are 16-byte UUID blobs (which sort like the UUID), dates are 'YYYY-MM-DD'.

CREATE TABLE customers (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE practice_groups (
    id          BLOB PRIMARY KEY,
    customer_id BLOB NOT NULL REFERENCES customers (id),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX practice_groups_customer_idx ON practice_groups (customer_id, id);

CREATE TABLE practices (
    id                       BLOB PRIMARY KEY,
    customer_id              BLOB NOT NULL REFERENCES customers (id),
    name                     TEXT NOT NULL,
    timezone                 TEXT NOT NULL,
    sms_number               TEXT NOT NULL,
    practice_group_id        BLOB REFERENCES practice_groups (id),
    escalation_delay_minutes INTEGER NOT NULL DEFAULT 10 CHECK (escalation_delay_minutes > 0),
    created_at               INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX practices_sms_number_key ON practices (sms_number);
CREATE INDEX practices_customer_idx ON practices (customer_id, id);

CREATE TABLE users (
    id                  BLOB PRIMARY KEY,
    customer_id         BLOB REFERENCES customers (id),
    username            TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    role                TEXT NOT NULL CHECK (role IN ('super_admin', 'customer_admin', 'staff')),
    email               TEXT NOT NULL DEFAULT '',
    first_name          TEXT NOT NULL DEFAULT '',
    last_name           TEXT NOT NULL DEFAULT '',
    title               TEXT NOT NULL DEFAULT '',
    mobile_phone        TEXT,
    auto_logout_minutes INTEGER NOT NULL DEFAULT 30 CHECK (auto_logout_minutes > 0),
    locked_at           INTEGER,
    created_at          INTEGER NOT NULL,
    CHECK ((role = 'super_admin') = (customer_id IS NULL))
) STRICT;
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE INDEX users_customer_idx ON users (customer_id, id);

CREATE TABLE user_practices (
    user_id     BLOB NOT NULL REFERENCES users (id),
    practice_id BLOB NOT NULL REFERENCES practices (id),
    PRIMARY KEY (user_id, practice_id)
) STRICT;
CREATE INDEX user_practices_practice_idx ON user_practices (practice_id);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      BLOB NOT NULL REFERENCES users (id),
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE patients (
    id                    BLOB PRIMARY KEY,
    practice_id           BLOB NOT NULL REFERENCES practices (id),
    first_name            TEXT NOT NULL,
    last_name             TEXT NOT NULL,
    dob                   TEXT NOT NULL,
    mobile_phone          TEXT,
    texting_status        TEXT NOT NULL DEFAULT 'not_enabled'
        CHECK (texting_status IN ('not_enabled', 'pending', 'failed', 'opted_out', 'enabled')),
    texting_attempts_left INTEGER NOT NULL DEFAULT 0,
    texting_expires_at    INTEGER,
    texting_updated_at    INTEGER NOT NULL,
    created_at            INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX patients_practice_id_mobile_phone_key ON patients (practice_id, mobile_phone)
    WHERE texting_status IN ('pending', 'enabled');
CREATE INDEX patients_practice_name_idx ON patients (practice_id, lower(last_name), lower(first_name));
CREATE INDEX patients_pending_expiry_idx ON patients (texting_expires_at) WHERE texting_status = 'pending';

CREATE TABLE patient_programs (
    patient_id BLOB NOT NULL REFERENCES patients (id),
    program    TEXT NOT NULL,
    PRIMARY KEY (patient_id, program)
) STRICT;

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    user_id     BLOB,
    customer_id BLOB,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT,
    patient_id  BLOB,
    client_addr TEXT
);
CREATE INDEX audit_log_customer_idx ON audit_log (customer_id, id);
CREATE INDEX audit_log_patient_idx ON audit_log (patient_id, id) WHERE patient_id IS NOT NULL;

-- The audit log is append-only: the database itself refuses to change or remove a row.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
