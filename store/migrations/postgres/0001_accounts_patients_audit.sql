-- 0001: tenancy (customers, practice groups, practices), accounts and sessions, patients with
-- their texting opt-in state, and the append-only audit log. Names of unique rules follow
-- `{table}_{columns}_key` so both backends report the same constraint name on a conflict.

CREATE TABLE customers (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL
);

-- Groups exist only for customers with 10 or more practices (enforced by the gateway).
CREATE TABLE practice_groups (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX practice_groups_customer_idx ON practice_groups (customer_id, id);

CREATE TABLE practices (
    id                       uuid PRIMARY KEY,
    customer_id              uuid NOT NULL REFERENCES customers (id),
    name                     text NOT NULL,
    timezone                 text NOT NULL,
    -- Inbound texts are routed by the number they were sent to, so it selects one practice.
    sms_number               text NOT NULL CONSTRAINT practices_sms_number_key UNIQUE,
    practice_group_id        uuid REFERENCES practice_groups (id),
    escalation_delay_minutes integer NOT NULL DEFAULT 10 CHECK (escalation_delay_minutes > 0),
    created_at               timestamptz NOT NULL
);
CREATE INDEX practices_customer_idx ON practices (customer_id, id);

CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    -- NULL only for super admins, who belong to no customer.
    customer_id         uuid REFERENCES customers (id),
    username            text NOT NULL,
    password_hash       text NOT NULL,
    role                text NOT NULL CHECK (role IN ('super_admin', 'customer_admin', 'staff')),
    email               text NOT NULL DEFAULT '',
    first_name          text NOT NULL DEFAULT '',
    last_name           text NOT NULL DEFAULT '',
    title               text NOT NULL DEFAULT '',
    mobile_phone        text,
    auto_logout_minutes integer NOT NULL DEFAULT 30 CHECK (auto_logout_minutes > 0),
    -- Users are locked, never deleted: the audit log keeps pointing at them.
    locked_at           timestamptz,
    created_at          timestamptz NOT NULL,
    CHECK ((role = 'super_admin') = (customer_id IS NULL))
);
-- Usernames are unique regardless of case so "Alice" cannot impersonate "alice".
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE INDEX users_customer_idx ON users (customer_id, id);

CREATE TABLE user_practices (
    user_id     uuid NOT NULL REFERENCES users (id),
    practice_id uuid NOT NULL REFERENCES practices (id),
    PRIMARY KEY (user_id, practice_id)
);
CREATE INDEX user_practices_practice_idx ON user_practices (practice_id);

-- Only a hash of the bearer token is stored: a leaked table grants no access.
CREATE TABLE sessions (
    token_hash   text PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE patients (
    id                    uuid PRIMARY KEY,
    practice_id           uuid NOT NULL REFERENCES practices (id),
    first_name            text NOT NULL,
    last_name             text NOT NULL,
    dob                   date NOT NULL,
    mobile_phone          text,
    texting_status        text NOT NULL DEFAULT 'not_enabled'
        CHECK (texting_status IN ('not_enabled', 'pending', 'failed', 'opted_out', 'enabled')),
    texting_attempts_left smallint NOT NULL DEFAULT 0,
    texting_expires_at    timestamptz,
    texting_updated_at    timestamptz NOT NULL,
    created_at            timestamptz NOT NULL
);
-- Two patients of one practice may not share a mobile number while either is texting.
CREATE UNIQUE INDEX patients_practice_id_mobile_phone_key ON patients (practice_id, mobile_phone)
    WHERE texting_status IN ('pending', 'enabled');
CREATE INDEX patients_practice_name_idx ON patients (practice_id, lower(last_name), lower(first_name));
CREATE INDEX patients_pending_expiry_idx ON patients (texting_expires_at) WHERE texting_status = 'pending';

CREATE TABLE patient_programs (
    patient_id uuid NOT NULL REFERENCES patients (id),
    program    text NOT NULL,
    PRIMARY KEY (patient_id, program)
);

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    user_id     uuid,
    customer_id uuid,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text,
    patient_id  uuid,
    client_addr text
);
CREATE INDEX audit_log_customer_idx ON audit_log (customer_id, id);
CREATE INDEX audit_log_patient_idx ON audit_log (patient_id, id) WHERE patient_id IS NOT NULL;

-- The audit log is append-only: the database itself refuses to change or remove a row.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
