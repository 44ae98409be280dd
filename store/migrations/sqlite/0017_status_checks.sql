-- 0017: when the carrier was last asked for a sent message's status. Kept in step with
-- PostgreSQL.
ALTER TABLE outbox ADD COLUMN status_checked_at INTEGER;
CREATE INDEX outbox_unsettled_idx ON outbox (sent_at) WHERE state = 'sent';
