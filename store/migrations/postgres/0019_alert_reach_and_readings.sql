-- 0019: who an alert reached, numbers known to fail, readings that repeat, arrive late or in
-- another unit, and alerts that gather later critical readings of the same vital.

-- A reading of a vital with no ranges at any level is `unclassified`, not `normal`.
ALTER TABLE readings DROP CONSTRAINT readings_level_check;
ALTER TABLE readings ADD CONSTRAINT readings_level_check
    CHECK (level IN ('normal', 'caution', 'critical', 'unclassified'));
-- `value` is in the vital's canonical unit (what classification uses); when the device sent
-- another unit (glucose in mmol/L, weight in lb) the value and unit as sent are kept too.
ALTER TABLE readings ADD COLUMN sent_value double precision
    CHECK (sent_value > '-Infinity'::float8 AND sent_value < 'Infinity'::float8);
ALTER TABLE readings ADD COLUMN sent_unit text;
ALTER TABLE readings ADD CONSTRAINT readings_sent_check CHECK ((sent_value IS NULL) = (sent_unit IS NULL));
-- A device that uploads a reading again (same patient, vital, time and value) stores it once.
CREATE UNIQUE INDEX readings_patient_vital_taken_value_key
    ON readings (patient_id, vital, taken_at, value);

-- The vital an alert is about: while it is open, later critical readings of that vital attach
-- to it instead of opening another alert.
ALTER TABLE alerts ADD COLUMN vital text;
UPDATE alerts a SET vital = r.vital FROM readings r WHERE r.id = a.reading_id;
ALTER TABLE alerts ALTER COLUMN vital SET NOT NULL;
CREATE INDEX alerts_open_patient_vital_idx ON alerts (patient_id, vital) WHERE state = 'open';

-- Every critical reading an alert stands for: the one that opened it and those attached later.
CREATE TABLE alert_readings (
    alert_id   uuid NOT NULL REFERENCES alerts (id),
    reading_id uuid NOT NULL REFERENCES readings (id),
    PRIMARY KEY (alert_id, reading_id)
);
INSERT INTO alert_readings (alert_id, reading_id) SELECT id, reading_id FROM alerts;

-- The texts an alert sent, to whom and at which step: an "ACK code" reply is accepted only from
-- a number the alert was sent to, and a text that fails for good makes the next step due at
-- once. No foreign key to the outbox: outbox rows may be rebuilt by later migrations.
CREATE TABLE alert_texts (
    outbox_id uuid PRIMARY KEY,
    alert_id  uuid NOT NULL REFERENCES alerts (id),
    step      integer NOT NULL,
    user_id   uuid NOT NULL REFERENCES users (id),
    to_number text NOT NULL
);
CREATE INDEX alert_texts_alert_idx ON alert_texts (alert_id, to_number);

-- Staff numbers that cannot be texted from a practice number: a permanent carrier error
-- (21211 invalid, 21610 replied STOP, 21614 not a mobile, ...) or a STOP reply. Such a number
-- does not count as reachable and is skipped until it answers START, a text to it is delivered,
-- or its user saves their mobile number again.
CREATE TABLE failing_numbers (
    from_number text NOT NULL,
    to_number   text NOT NULL,
    -- The carrier's error code, or 0 for a STOP reply.
    code        integer NOT NULL,
    failed_at   timestamptz NOT NULL,
    PRIMARY KEY (from_number, to_number)
);
CREATE INDEX failing_numbers_to_idx ON failing_numbers (to_number);
