-- 0018: weekdays on on-call windows (bit 0 Monday … bit 6 Sunday, the day a window starts;
-- existing windows every day) and dated overrides that take precedence. Kept in step with
-- PostgreSQL.
ALTER TABLE on_call_windows
    ADD COLUMN days INTEGER NOT NULL DEFAULT 127 CHECK (days BETWEEN 1 AND 127);

CREATE TABLE on_call_overrides (
    practice_id BLOB NOT NULL REFERENCES practices (id),
    position    INTEGER NOT NULL CHECK (position >= 0),
    user_id     BLOB NOT NULL REFERENCES users (id),
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    CHECK (starts_at < ends_at),
    PRIMARY KEY (practice_id, position)
) STRICT;
CREATE INDEX on_call_overrides_user_idx ON on_call_overrides (user_id);
