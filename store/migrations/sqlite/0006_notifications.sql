-- 0006: the in-app notification feed. A row tells one user that something needs a look; its
-- summary never holds a message body or clinical detail. Kept in step with PostgreSQL.

CREATE TABLE notifications (
    id          BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users (id),
    practice_id BLOB NOT NULL REFERENCES practices (id),
    patient_id  BLOB REFERENCES patients (id),
    kind        TEXT NOT NULL CHECK (kind IN ('new_patient_message', 'unread_message_reminder', 'two_way_texting',
                                              'reading_caution', 'reading_critical', 'overdue_readings')),
    summary     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    read_at     INTEGER
) STRICT;
CREATE INDEX notifications_user_idx ON notifications (user_id, id);
