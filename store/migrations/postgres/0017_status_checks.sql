-- 0017: when the carrier was last asked for the status of a sent message whose outcome never
-- arrived (lost status callbacks), so that each is asked about at most once per interval.
ALTER TABLE outbox ADD COLUMN status_checked_at timestamptz;
CREATE INDEX outbox_unsettled_idx ON outbox (sent_at) WHERE state = 'sent';
