-- 0016: delivery statuses that arrived before their send was recorded. Kept in step with
-- PostgreSQL.
CREATE TABLE early_statuses (
    carrier_sid TEXT NOT NULL,
    status      TEXT NOT NULL,
    is_failure  INTEGER NOT NULL,
    error_code  INTEGER,
    opted_out   INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (carrier_sid, status)
) STRICT;
CREATE INDEX early_statuses_received_idx ON early_statuses (received_at);
