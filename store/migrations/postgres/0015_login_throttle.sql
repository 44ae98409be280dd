-- 0015: failed-login throttling state per key ("user:<name>" or "addr:<ip>"), kept in the store
-- so that the limits hold across every gateway instance. `tat` is NULL for a row just created to
-- be locked (no failure counted yet).
CREATE TABLE login_throttle (
    key           text PRIMARY KEY,
    tat           timestamptz,
    blocked_until timestamptz
);
