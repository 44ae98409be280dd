-- 0016: delivery statuses that arrived before the send they belong to was recorded (the carrier
-- may call back before its answer to the send has been processed). Applied, then deleted, once
-- the send's id is recorded; rows for ids that never appear are forgotten after a day.
CREATE TABLE early_statuses (
    carrier_sid text NOT NULL,
    status      text NOT NULL,
    is_failure  boolean NOT NULL,
    error_code  integer,
    opted_out   boolean NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (carrier_sid, status)
);
CREATE INDEX early_statuses_received_idx ON early_statuses (received_at);
