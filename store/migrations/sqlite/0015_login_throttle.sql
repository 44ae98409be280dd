-- 0015: failed-login throttling state per key. Kept in step with PostgreSQL.
CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    tat           INTEGER,
    blocked_until INTEGER
) STRICT;
