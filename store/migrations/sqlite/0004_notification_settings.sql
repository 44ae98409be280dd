-- 0004: notification settings of users per practice and kind, the practice defaults they fall
-- back to, the practice's patient notification defaults for new patients, and the practice's
-- report disclaimers. Kept in step with the PostgreSQL migration of the same name (see there for
-- how the tables work together). Booleans are INTEGER 0/1, times INTEGER microseconds (UTC),
-- ids 16-byte UUID blobs.

CREATE TABLE user_notification_settings (
    user_id     BLOB NOT NULL REFERENCES users (id),
    practice_id BLOB NOT NULL REFERENCES practices (id),
    kind        TEXT NOT NULL CHECK (kind IN ('new_patient_message', 'unread_message_reminder',
                    'two_way_texting', 'reading_caution', 'reading_critical', 'overdue_readings')),
    enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    push        INTEGER NOT NULL CHECK (push IN (0, 1)),
    email       INTEGER NOT NULL CHECK (email IN (0, 1)),
    text        INTEGER NOT NULL CHECK (text IN (0, 1)),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, practice_id, kind),
    -- A channel can only be on while the notification is enabled.
    CHECK (enabled = 1 OR (push = 0 AND email = 0 AND text = 0))
) STRICT;
-- "Set for all users" deletes every user's rows of one practice.
CREATE INDEX user_notification_settings_practice_idx ON user_notification_settings (practice_id);

CREATE TABLE practice_notification_defaults (
    practice_id BLOB NOT NULL REFERENCES practices (id),
    kind        TEXT NOT NULL CHECK (kind IN ('new_patient_message', 'unread_message_reminder',
                    'two_way_texting', 'reading_caution', 'reading_critical', 'overdue_readings')),
    enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    push        INTEGER NOT NULL CHECK (push IN (0, 1)),
    email       INTEGER NOT NULL CHECK (email IN (0, 1)),
    text        INTEGER NOT NULL CHECK (text IN (0, 1)),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (practice_id, kind),
    CHECK (enabled = 1 OR (push = 0 AND email = 0 AND text = 0))
) STRICT;

-- What a new patient of the practice starts with; patients are told by text or email only.
CREATE TABLE practice_patient_notification_defaults (
    practice_id BLOB NOT NULL REFERENCES practices (id),
    kind        TEXT NOT NULL CHECK (kind IN ('reading_caution', 'reading_critical', 'overdue_readings')),
    enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    email       INTEGER NOT NULL CHECK (email IN (0, 1)),
    text        INTEGER NOT NULL CHECK (text IN (0, 1)),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (practice_id, kind),
    CHECK (enabled = 1 OR (email = 0 AND text = 0))
) STRICT;

-- Printed on the practice's care plan and HRA reports; '' means none. One row per practice,
-- written on first save.
CREATE TABLE practice_disclaimers (
    practice_id      BLOB PRIMARY KEY REFERENCES practices (id),
    care_plan_report TEXT NOT NULL CHECK (length(care_plan_report) <= 4000),
    hra_report       TEXT NOT NULL CHECK (length(hra_report) <= 4000),
    updated_at       INTEGER NOT NULL
) STRICT;
