-- 0018: schedules people can live with.
-- Weekly windows may be limited to weekdays: bit 0 Monday … bit 6 Sunday, the day a window
-- starts on (an overnight window belongs to the evening it starts). Existing windows are every
-- day (127), as they were.
ALTER TABLE on_call_windows
    ADD COLUMN days smallint NOT NULL DEFAULT 127 CHECK (days BETWEEN 1 AND 127);

-- Dated overrides: `user_id` is on call from `starts_at` (inclusive) to `ends_at` (exclusive),
-- and while any override of a practice runs, its users are on call instead of the weekly
-- windows (the gateway's domain owns the meaning). `position` keeps the saved order, in which
-- the users are listed. A save replaces all the practice's overrides; ended ones are history
-- and are dropped at the next save.
CREATE TABLE on_call_overrides (
    practice_id uuid NOT NULL REFERENCES practices (id),
    position    integer NOT NULL CHECK (position >= 0),
    user_id     uuid NOT NULL REFERENCES users (id),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    CHECK (starts_at < ends_at),
    PRIMARY KEY (practice_id, position)
);
-- A user's overrides, for handing them over when the user is locked or loses access.
CREATE INDEX on_call_overrides_user_idx ON on_call_overrides (user_id);
