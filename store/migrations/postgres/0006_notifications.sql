-- 0006: the in-app notification feed. A row tells one user that something needs a look; its
-- summary never holds a message body or clinical detail.

CREATE TABLE notifications (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id),
    practice_id uuid NOT NULL REFERENCES practices (id),
    patient_id  uuid REFERENCES patients (id),
    kind        text NOT NULL CHECK (kind IN ('new_patient_message', 'unread_message_reminder', 'two_way_texting',
                                              'reading_caution', 'reading_critical', 'overdue_readings')),
    summary     text NOT NULL,
    created_at  timestamptz NOT NULL,
    read_at     timestamptz
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id);
