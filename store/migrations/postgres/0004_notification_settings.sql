-- 0004: notification settings of users per practice and kind, the practice defaults they fall
-- back to, the practice's patient notification defaults for new patients, and the practice's
-- report disclaimers.
--
-- A user's effective setting for (practice, kind) is their own row, else the practice's default
-- row, else the gateway's built-in default. Saving practice defaults "for new users" first copies
-- the previous effective values into rows of the practice's existing users who had none, so
-- their effective settings do not move; saving "for all users" deletes the users' rows so every
-- user follows the new defaults. The rule "unread_message_reminder only with
-- new_patient_message" spans two rows and is enforced by the gateway's domain.

CREATE TABLE user_notification_settings (
    user_id     uuid NOT NULL REFERENCES users (id),
    practice_id uuid NOT NULL REFERENCES practices (id),
    kind        text NOT NULL CHECK (kind IN ('new_patient_message', 'unread_message_reminder',
                    'two_way_texting', 'reading_caution', 'reading_critical', 'overdue_readings')),
    enabled     boolean NOT NULL,
    push        boolean NOT NULL,
    email       boolean NOT NULL,
    text        boolean NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, practice_id, kind),
    -- A channel can only be on while the notification is enabled.
    CHECK (enabled OR NOT (push OR email OR text))
);
-- "Set for all users" deletes every user's rows of one practice.
CREATE INDEX user_notification_settings_practice_idx ON user_notification_settings (practice_id);

CREATE TABLE practice_notification_defaults (
    practice_id uuid NOT NULL REFERENCES practices (id),
    kind        text NOT NULL CHECK (kind IN ('new_patient_message', 'unread_message_reminder',
                    'two_way_texting', 'reading_caution', 'reading_critical', 'overdue_readings')),
    enabled     boolean NOT NULL,
    push        boolean NOT NULL,
    email       boolean NOT NULL,
    text        boolean NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (practice_id, kind),
    CHECK (enabled OR NOT (push OR email OR text))
);

-- What a new patient of the practice starts with; patients are told by text or email only.
CREATE TABLE practice_patient_notification_defaults (
    practice_id uuid NOT NULL REFERENCES practices (id),
    kind        text NOT NULL CHECK (kind IN ('reading_caution', 'reading_critical', 'overdue_readings')),
    enabled     boolean NOT NULL,
    email       boolean NOT NULL,
    text        boolean NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (practice_id, kind),
    CHECK (enabled OR NOT (email OR text))
);

-- Printed on the practice's care plan and HRA reports; '' means none. One row per practice,
-- written on first save.
CREATE TABLE practice_disclaimers (
    practice_id      uuid PRIMARY KEY REFERENCES practices (id),
    care_plan_report text NOT NULL CHECK (char_length(care_plan_report) <= 4000),
    hra_report       text NOT NULL CHECK (char_length(hra_report) <= 4000),
    updated_at       timestamptz NOT NULL
);
