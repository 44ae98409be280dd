//! Messaging on sqlite: the same use cases as on PostgreSQL. The single connection and
//! `BEGIN IMMEDIATE` serialise every claim and every inbound text, so no row locks are needed.
//!
//! The helpers [`insert_outbox`] and [`opt_out`] take a connection inside the caller's transaction,
//! so other aggregates' use cases can queue texts or opt a number out atomically with their change.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use super::rows::*;
use super::{OwnedEvent, SqliteStore, map_err};
use crate::messaging::{ABANDONED_NOTE, CANCELLED_NOTE, OPTED_OUT_RULE, RECOVERED_NOTE};
use crate::*;

const OUTBOX_COLUMNS: &str =
    "id, message_id, practice_id, patient_id, to_number, from_number, body,
    priority, state, attempts, next_attempt_at, claimed_until, claimed_by, recovered, carrier,
    carrier_sid, carrier_status, error_code, last_error, created_at, updated_at, sent_at,
    cancel_reason, opt_out_reply";

/// The configuration version ([`Messaging::config_version`]): the last change recorded by the
/// triggers of migration 0029.
fn read_config_version(conn: &Connection) -> StoreResult<i64> {
    conn.prepare_cached("SELECT COALESCE(max(id), 0) FROM config_changes")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(map_err)
}

pub(crate) const MESSAGE_COLUMNS: &str =
    "id, practice_id, patient_id, channel, direction, body, redacted,
    author_user_id, status, carrier, carrier_sid, from_number, to_number, error_code, num_segments,
    created_at, updated_at, flag, status_reason, recovered";

/// See the PostgreSQL backend; `?1` is now.
const DUE: &str = "((o.state = 'queued' AND o.next_attempt_at <= ?1)
                     OR (o.state = 'sending' AND o.claimed_until <= ?1))";

fn outbound_from_row(row: &Row) -> rusqlite::Result<Outbound> {
    let state: String = row.get(8)?;
    Ok(Outbound {
        id: row.get(0)?,
        message_id: row.get(1)?,
        practice_id: row.get(2)?,
        patient_id: row.get(3)?,
        to_number: row.get(4)?,
        from_number: row.get(5)?,
        body: row.get(6)?,
        priority: row.get(7)?,
        state: OutboxState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                8,
                rusqlite::types::Type::Text,
                "unknown outbox state".into(),
            )
        })?,
        attempts: row.get(9)?,
        next_attempt_at: time(row, 10)?,
        claimed_until: opt_time(row, 11)?,
        claimed_by: row.get(12)?,
        recovered: row.get(13)?,
        carrier: row.get(14)?,
        carrier_sid: row.get(15)?,
        carrier_status: row.get(16)?,
        error_code: row.get(17)?,
        last_error: row.get(18)?,
        created_at: time(row, 19)?,
        updated_at: time(row, 20)?,
        sent_at: opt_time(row, 21)?,
        cancel_reason: row.get(22)?,
        opt_out_reply: row.get(23)?,
    })
}

pub(crate) fn message_from_row(row: &Row) -> rusqlite::Result<Message> {
    Ok(Message {
        id: row.get(0)?,
        practice_id: row.get(1)?,
        patient_id: row.get(2)?,
        channel: row.get(3)?,
        direction: row.get(4)?,
        body: row.get(5)?,
        redacted: row.get(6)?,
        author_user_id: row.get(7)?,
        status: row.get(8)?,
        carrier: row.get(9)?,
        carrier_sid: row.get(10)?,
        from_number: row.get(11)?,
        to_number: row.get(12)?,
        error_code: row.get(13)?,
        num_segments: row.get(14)?,
        created_at: time(row, 15)?,
        updated_at: time(row, 16)?,
        flag: row.get(17)?,
        status_reason: row.get(18)?,
        recovered: row.get(19)?,
    })
}

/// Queues one text inside the caller's transaction (and its conversation message when asked).
/// The caller notifies the dispatcher after committing.
pub(crate) fn insert_outbox(
    conn: &Connection,
    new: &NewOutbound,
    now: DateTime<Utc>,
) -> StoreResult<Outbound> {
    let message_id = if new.record_message {
        let id = new_id();
        conn.prepare_cached(
            "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, author_user_id,
                                   status, from_number, to_number, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'sms', 'outbound', ?4, ?5, 'queued', ?6, ?7, ?8, ?8)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                id,
                new.practice_id,
                new.patient_id,
                new.body,
                new.author_user_id,
                new.from_number,
                new.to_number,
                micros(now)
            ])
        })
        .map_err(map_err)?;
        Some(id)
    } else {
        None
    };
    conn.prepare_cached(&format!(
        "INSERT INTO outbox (id, message_id, practice_id, patient_id, to_number, from_number, body,
                             priority, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?9)
         RETURNING {OUTBOX_COLUMNS}"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(
            params![
                new_id(),
                message_id,
                new.practice_id,
                new.patient_id,
                new.to_number,
                new.from_number,
                new.body,
                new.priority,
                micros(now)
            ],
            outbound_from_row,
        )
    })
    .map_err(map_err)
}

/// Opts out every patient of the practice whose number is `practice_number` with mobile phone
/// `patient_number`, inside the caller's transaction, with an audit row each.
pub(crate) fn opt_out(
    conn: &Connection,
    audit: &Audit,
    practice_number: &str,
    patient_number: &str,
) -> StoreResult<u64> {
    let changed: Vec<(Uuid, Uuid)> = conn
        .prepare_cached(
            "SELECT p.id, pr.customer_id FROM patients p JOIN practices pr ON pr.id = p.practice_id
             WHERE pr.sms_number = ?1 AND p.mobile_phone = ?2 AND p.texting_status <> 'opted_out'",
        )
        .and_then(|mut stmt| {
            stmt.query_map(params![practice_number, patient_number], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
        .map_err(map_err)?;
    for (patient_id, _) in &changed {
        conn.prepare_cached(
            "UPDATE patients
             SET texting_status = 'opted_out', texting_attempts_left = 0,
                 texting_expires_at = NULL, texting_updated_at = ?2
             WHERE id = ?1",
        )
        .and_then(|mut stmt| stmt.execute(params![patient_id, micros(audit.at)]))
        .map_err(map_err)?;
    }
    for (patient_id, customer_id) in &changed {
        OwnedEvent {
            customer_id: Some(*customer_id),
            action: "patient.texting.carrier_opt_out",
            target_type: "patient",
            target_id: Some(patient_id.to_string()),
            patient_id: Some(*patient_id),
        }
        .write(conn, audit)?;
    }
    cancel_queued(conn, practice_number, patient_number, audit.at)?;
    Ok(changed.len() as u64)
}

/// Cancels every text still queued to `patient_number` from `practice_number` (see the
/// PostgreSQL backend), inside the caller's transaction. Returns how many.
pub(crate) fn cancel_queued(
    conn: &Connection,
    practice_number: &str,
    patient_number: &str,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let ids: Vec<Uuid> = conn
        .prepare_cached(
            "UPDATE outbox
             SET state = 'cancelled', cancel_reason = ?3, last_error = ?4, updated_at = ?5
             WHERE to_number = ?2 AND from_number = ?1 AND state = 'queued' AND NOT opt_out_reply
             RETURNING id",
        )
        .and_then(|mut stmt| {
            stmt.query_map(
                params![
                    practice_number,
                    patient_number,
                    cancel_reason::OPTED_OUT,
                    CANCELLED_NOTE,
                    micros(now)
                ],
                |r| r.get(0),
            )?
            .collect()
        })
        .map_err(map_err)?;
    for id in &ids {
        sync_message(conn, *id, now)?;
    }
    Ok(ids.len() as u64)
}

/// Cancels a due row whose number opted out (see the PostgreSQL backend); 1 if it did.
fn cancel_opted_out(conn: &Connection, id: Uuid, now: DateTime<Utc>) -> StoreResult<u64> {
    let changed = conn
        .prepare_cached(&format!(
            "UPDATE outbox AS o
             SET state = 'cancelled', cancel_reason = ?3, claimed_until = NULL, last_error = ?4,
                 updated_at = ?1
             WHERE id = ?2 AND {DUE} AND {OPTED_OUT_RULE}"
        ))
        .and_then(|mut stmt| {
            stmt.execute(params![
                micros(now),
                id,
                cancel_reason::OPTED_OUT,
                CANCELLED_NOTE
            ])
        })
        .map_err(map_err)?;
    if changed > 0 {
        sync_message(conn, id, now)?;
    }
    Ok(changed as u64)
}

/// Makes the conversation message of an outbox row follow it (see the PostgreSQL backend).
fn sync_message(conn: &Connection, outbox_id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE messages
         SET status = COALESCE(o.carrier_status,
                               CASE WHEN o.state IN ('failed', 'cancelled') THEN o.state ELSE 'queued' END),
             status_reason = o.cancel_reason,
             error_code = o.error_code, carrier = o.carrier, carrier_sid = o.carrier_sid,
             recovered = o.recovered > 0, updated_at = ?2
         FROM outbox o
         WHERE o.id = ?1 AND messages.id = o.message_id",
    )
    .and_then(|mut stmt| stmt.execute(params![outbox_id, micros(now)]))
    .map_err(map_err)?;
    Ok(())
}

pub(crate) fn load_message(conn: &Connection, id: Uuid) -> StoreResult<Message> {
    conn.query_row(
        &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"),
        [id],
        message_from_row,
    )
    .map_err(map_err)
}

fn load_outbound(conn: &Connection, id: Uuid) -> StoreResult<Outbound> {
    conn.query_row(
        &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?1"),
        [id],
        outbound_from_row,
    )
    .map_err(map_err)
}

#[async_trait]
impl Messaging for SqliteStore {
    async fn enqueue_sms(&self, audit: &Audit, new: NewOutbound) -> StoreResult<Outbound> {
        let audit = audit.clone();
        self.write(move |tx| {
            let outbound = insert_outbox(tx, &new, audit.at)?;
            let customer_id: Option<Uuid> = match new.practice_id {
                Some(practice_id) => tx
                    .query_row(
                        "SELECT customer_id FROM practices WHERE id = ?1",
                        [practice_id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(map_err)?,
                None => None,
            };
            OwnedEvent {
                customer_id,
                action: "message.enqueue",
                target_type: "outbox",
                target_id: Some(outbound.id.to_string()),
                patient_id: new.patient_id,
            }
            .write(tx, &audit)?;
            Ok(outbound)
        })
        .await
    }

    async fn config_version(&self) -> StoreResult<i64> {
        self.call(|conn| read_config_version(conn)).await
    }

    async fn record_inbound_checked(
        &self,
        audit: &Audit,
        inbound: NewInbound,
        config_version: Option<i64>,
        decide: InboundDecider,
    ) -> StoreResult<InboundOutcome> {
        let audit = audit.clone();
        // A repeat writes nothing, so committing its (empty) transaction is harmless. The
        // statements are prepared once per connection (`prepare_cached`).
        self.write(move |tx| {
            let current_version = read_config_version(tx)?;
            if config_version.is_some_and(|expected| expected != current_version) {
                return Err(StoreError::Conflict {
                    constraint: CONFIG_CHANGED.into(),
                });
            }
            let practice = tx
                .prepare_cached(&format!(
                    "SELECT {PRACTICE_COLUMNS} FROM practices WHERE sms_number = ?1"
                ))
                .and_then(|mut s| s.query_row([&inbound.to_number], practice_from_row).optional())
                .map_err(map_err)?;
            let patient_id: Option<Uuid> = match &practice {
                Some(practice) => tx
                    .prepare_cached(
                        "SELECT id FROM patients WHERE practice_id = ?1 AND mobile_phone = ?2
                         ORDER BY texting_status IN ('pending', 'enabled') DESC, created_at DESC, id DESC
                         LIMIT 1",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![practice.id, inbound.from_number], |r| r.get(0))
                            .optional()
                    })
                    .map_err(map_err)?,
                None => None,
            };
            let message_id = new_id();
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, redacted,
                                           status, carrier, carrier_sid, from_number, to_number,
                                           num_segments, created_at, updated_at)
                     VALUES (?1, ?2, ?3, 'sms', 'inbound', NULL, 1, 'received', ?4, ?5, ?6, ?7, ?8, ?9, ?9)
                     ON CONFLICT (carrier, carrier_sid) DO NOTHING",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        message_id,
                        practice.as_ref().map(|p| p.id),
                        patient_id,
                        inbound.carrier,
                        inbound.carrier_sid,
                        inbound.from_number,
                        inbound.to_number,
                        inbound.num_segments,
                        micros(audit.at)
                    ])
                })
                .map_err(map_err)?;
            if inserted == 0 {
                let existing: Uuid = tx
                    .prepare_cached("SELECT id FROM messages WHERE carrier = ?1 AND carrier_sid = ?2")
                    .and_then(|mut s| {
                        s.query_row(params![inbound.carrier, inbound.carrier_sid], |r| r.get(0))
                    })
                    .map_err(map_err)?;
                return Ok(InboundOutcome::Duplicate {
                    message_id: existing,
                });
            }
            let patient = patient_id.map(|id| load_patient(tx, id)).transpose()?;
            // The practice's other patients with the number (a family phone).
            let sharing = match (&patient, &practice) {
                (Some(patient), Some(practice)) => {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT id FROM patients WHERE practice_id = ?1 AND mobile_phone = ?2
                             AND id <> ?3 ORDER BY id",
                        )
                        .map_err(map_err)?;
                    let ids = stmt
                        .query_map(params![practice.id, inbound.from_number, patient.id], |r| {
                            r.get::<_, Uuid>(0)
                        })
                        .map_err(map_err)?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(map_err)?;
                    ids.into_iter()
                        .map(|id| load_patient(tx, id))
                        .collect::<StoreResult<Vec<_>>>()?
                }
                _ => Vec::new(),
            };
            let throttle = match &inbound.throttle_key {
                Some(key) => super::throttle::read_throttle(tx, key)?,
                None => None,
            };
            let context = InboundContext {
                practice,
                patient,
                sharing,
                message_id,
                throttle,
            };
            let decision = decide(&context);
            if let (Some(key), Some(next)) = (&inbound.throttle_key, &decision.throttle) {
                super::throttle::store_throttle(tx, key, next)?;
            }
            if decision.keep_body || decision.flag.is_some() {
                tx.prepare_cached(
                    "UPDATE messages SET body = ?2, redacted = ?3, flag = ?4 WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        message_id,
                        decision.keep_body.then_some(inbound.body.as_str()),
                        !decision.keep_body,
                        decision.flag
                    ])
                })
                .map_err(map_err)?;
            }
            let routed = crate::messaging::routed_patient(&context, &decision)?;
            if routed != context.patient.as_ref().map(|p| p.id) {
                tx.execute(
                    "UPDATE messages SET patient_id = ?2 WHERE id = ?1",
                    params![message_id, routed],
                )
                .map_err(map_err)?;
            }
            let texting_changes = routed
                .zip(decision.texting.as_ref())
                .into_iter()
                .chain(decision.sharing_texting.iter().map(|(id, row)| (*id, row)));
            for (id, texting) in texting_changes {
                tx.execute(
                    "UPDATE patients SET texting_status = ?2, texting_attempts_left = ?3,
                         texting_expires_at = ?4, texting_updated_at = ?5
                     WHERE id = ?1",
                    params![
                        id,
                        texting.status,
                        texting.attempts_left,
                        texting.expires_at.map(micros),
                        micros(texting.updated_at)
                    ],
                )
                .map_err(map_err)?;
            }
            let mut enqueued = Vec::with_capacity(decision.replies.len());
            super::feed::insert_notifications(tx, audit.at, &decision.notifications)?;
            let opted_out_at = context
                .practice
                .as_ref()
                .filter(|_| decision.opted_out)
                .map(|p| p.sms_number.as_str());
            if let Some(practice_number) = opted_out_at {
                cancel_queued(tx, practice_number, &inbound.from_number, audit.at)?;
            }
            for reply in &decision.replies {
                let queued = insert_outbox(tx, reply, audit.at)?;
                if opted_out_at.is_some() && queued.to_number == inbound.from_number {
                    // The answer to this text (the STOP confirmation) may still go.
                    tx.execute(
                        "UPDATE outbox SET opt_out_reply = 1 WHERE id = ?1",
                        [queued.id],
                    )
                    .map_err(map_err)?;
                }
                enqueued.push(queued.id);
            }
            OwnedEvent {
                customer_id: context.practice.as_ref().map(|p| p.customer_id),
                action: "message.inbound",
                target_type: "message",
                target_id: Some(message_id.to_string()),
                patient_id: routed,
            }
            .write(tx, &audit)?;
            let message = tx
                .prepare_cached(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"))
                .and_then(|mut s| s.query_row([message_id], message_from_row))
                .map_err(map_err)?;
            Ok(InboundOutcome::Recorded {
                message: Box::new(message),
                enqueued,
            })
        })
        .await
    }

    async fn apply_carrier_status(
        &self,
        audit: &Audit,
        update: CarrierStatusUpdate,
        replaces: StatusRule,
    ) -> StoreResult<StatusOutcome> {
        let audit = audit.clone();
        self.write(move |tx| {
            let Some(outbound) = tx
                .query_row(
                    &format!(
                        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE carrier_sid = ?1
                         ORDER BY created_at LIMIT 1"
                    ),
                    [&update.carrier_sid],
                    outbound_from_row,
                )
                .optional()
                .map_err(map_err)?
            else {
                return Ok(StatusOutcome::Unknown);
            };
            let current = outbound.carrier_status.as_deref().unwrap_or("queued");
            let applied = replaces(current, &update.status);
            if applied {
                let failure_note = format!("the carrier reported the message {}", update.status);
                tx.execute(
                    "UPDATE outbox
                     SET carrier_status = ?2, error_code = COALESCE(?3, error_code),
                         state = CASE WHEN ?4 AND state <> 'sending' THEN 'failed' ELSE state END,
                         last_error = CASE WHEN ?4 THEN ?5 ELSE last_error END,
                         updated_at = ?6
                     WHERE id = ?1",
                    params![
                        outbound.id,
                        update.status,
                        update.error_code,
                        update.is_failure,
                        failure_note,
                        micros(audit.at)
                    ],
                )
                .map_err(map_err)?;
                sync_message(tx, outbound.id, audit.at)?;
            }
            let opted_out_patients = if update.opted_out {
                opt_out(tx, &audit, &outbound.from_number, &outbound.to_number)?
            } else {
                0
            };
            Ok(StatusOutcome::Known {
                outbox_id: outbound.id,
                applied,
                opted_out_patients,
            })
        })
        .await
    }

    async fn park_status(
        &self,
        update: &CarrierStatusUpdate,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let update = update.clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO early_statuses (carrier_sid, status, is_failure, error_code, opted_out, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    update.carrier_sid,
                    update.status,
                    update.is_failure,
                    update.error_code,
                    update.opted_out,
                    micros(at)
                ],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn parked_statuses(&self, carrier_sid: &str) -> StoreResult<Vec<CarrierStatusUpdate>> {
        let carrier_sid = carrier_sid.to_string();
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT carrier_sid, status, is_failure, error_code, opted_out FROM early_statuses
                     WHERE carrier_sid = ?1 ORDER BY received_at, status",
                )
                .map_err(map_err)?;
            stmt.query_map([carrier_sid], |r| {
                Ok(CarrierStatusUpdate {
                    carrier_sid: r.get(0)?,
                    status: r.get(1)?,
                    is_failure: r.get(2)?,
                    error_code: r.get(3)?,
                    opted_out: r.get(4)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(map_err)
        })
        .await
    }

    async fn unpark_status(&self, carrier_sid: &str, status: &str) -> StoreResult<()> {
        let (carrier_sid, status) = (carrier_sid.to_string(), status.to_string());
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM early_statuses WHERE carrier_sid = ?1 AND status = ?2",
                params![carrier_sid, status],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn take_unsettled_sends(
        &self,
        outcomes: &[String],
        sent_after: DateTime<Utc>,
        sent_before: DateTime<Utc>,
        checked_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(Uuid, String)>> {
        let outcomes = serde_json::to_string(outcomes)
            .map_err(|e| StoreError::Unexpected(format!("cannot encode statuses: {e}")))?;
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT id, carrier_sid FROM outbox
                     WHERE state = 'sent' AND carrier_sid IS NOT NULL
                       AND sent_at > ?2 AND sent_at < ?3
                       AND (carrier_status IS NULL
                            OR carrier_status NOT IN (SELECT value FROM json_each(?1)))
                       AND (status_checked_at IS NULL OR status_checked_at < ?4)
                     ORDER BY sent_at LIMIT ?5",
                )
                .map_err(map_err)?;
            let due = stmt
                .query_map(
                    params![
                        outcomes,
                        micros(sent_after),
                        micros(sent_before),
                        micros(checked_before),
                        i64::from(limit)
                    ],
                    |r| Ok((r.get::<_, Uuid>(0)?, r.get::<_, String>(1)?)),
                )
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(map_err)?;
            for (id, _) in &due {
                tx.execute(
                    "UPDATE outbox SET status_checked_at = ?2 WHERE id = ?1",
                    params![id, micros(now)],
                )
                .map_err(map_err)?;
            }
            Ok(due)
        })
        .await
    }

    async fn forget_parked_statuses(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |tx| {
            let n = tx
                .execute(
                    "DELETE FROM early_statuses WHERE received_at < ?1",
                    [micros(before)],
                )
                .map_err(map_err)?;
            Ok(n as u64)
        })
        .await
    }

    async fn opt_out_number(
        &self,
        audit: &Audit,
        practice_number: &str,
        patient_number: &str,
    ) -> StoreResult<u64> {
        let audit = audit.clone();
        let (practice_number, patient_number) =
            (practice_number.to_owned(), patient_number.to_owned());
        self.write(move |tx| opt_out(tx, &audit, &practice_number, &patient_number))
            .await
    }

    async fn claim_outbound(&self, request: ClaimRequest) -> StoreResult<Claim> {
        self.write(move |tx| {
            let now = request.now;
            let abandoned: Vec<Uuid> = tx
                .prepare_cached(
                    "UPDATE outbox
                     SET state = 'failed', claimed_until = NULL, last_error = ?2, updated_at = ?1
                     WHERE state = 'sending' AND claimed_until <= ?1 AND recovered >= 1
                     RETURNING id",
                )
                .and_then(|mut stmt| {
                    stmt.query_map(params![micros(now), ABANDONED_NOTE], |r| r.get(0))?
                        .collect()
                })
                .map_err(map_err)?;
            for id in &abandoned {
                sync_message(tx, *id, now)?;
            }

            let horizon_end = now + request.horizon;
            let candidates: Vec<(Uuid, String)> = tx
                .prepare_cached(&format!(
                    "WITH due AS (
                         SELECT o.id, row_number() OVER (
                                    PARTITION BY o.from_number
                                    ORDER BY o.priority DESC, o.next_attempt_at, o.id) AS rn
                         FROM outbox o
                         WHERE {DUE}
                           AND NOT EXISTS (SELECT 1 FROM outbox_senders s
                                           WHERE s.from_number = o.from_number AND s.next_slot_at >= ?2)
                     )
                     SELECT o.id, o.from_number FROM outbox o JOIN due ON due.id = o.id
                     WHERE due.rn <= ?3
                     ORDER BY o.priority DESC, o.next_attempt_at, o.id
                     LIMIT ?4"
                ))
                .and_then(|mut stmt| {
                    stmt.query_map(
                        params![
                            micros(now),
                            micros(horizon_end),
                            per_sender_cap(&request),
                            i64::from(request.limit)
                        ],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?
                    .collect()
                })
                .map_err(map_err)?;

            let mut sends = Vec::new();
            let mut cancelled = 0;
            for (sender, ids) in group_by_sender(&candidates) {
                tx.execute(
                    "INSERT INTO outbox_senders (from_number, next_slot_at) VALUES (?1, ?2)
                     ON CONFLICT (from_number) DO NOTHING",
                    params![sender, micros(now)],
                )
                .map_err(map_err)?;
                let next: i64 = tx
                    .query_row(
                        "SELECT next_slot_at FROM outbox_senders WHERE from_number = ?1",
                        [&sender],
                        |r| r.get(0),
                    )
                    .map_err(map_err)?;
                let mut slot = from_micros(next)?.max(now);
                for id in ids {
                    if slot >= horizon_end {
                        break;
                    }
                    let claimed = tx
                        .prepare_cached(&format!(
                            "UPDATE outbox AS o
                             SET state = 'sending', attempts = attempts + 1,
                                 claimed_until = ?3, claimed_by = ?4,
                                 recovered = recovered + CASE WHEN state = 'sending' THEN 1 ELSE 0 END,
                                 last_error = CASE WHEN state = 'sending' THEN ?5 ELSE last_error END,
                                 updated_at = ?1
                             WHERE id = ?2 AND {DUE} AND NOT {OPTED_OUT_RULE}
                             RETURNING {OUTBOX_COLUMNS}"
                        ))
                        .and_then(|mut stmt| {
                            stmt.query_row(
                                params![
                                    micros(now),
                                    id,
                                    micros(slot + request.lease),
                                    request.worker,
                                    RECOVERED_NOTE
                                ],
                                outbound_from_row,
                            )
                            .optional()
                        })
                        .map_err(map_err)?;
                    match claimed {
                        Some(outbound) => {
                            sends.push(ClaimedSend {
                                outbound,
                                send_at: slot,
                            });
                            slot += request.sender_interval;
                        }
                        None => cancelled += cancel_opted_out(tx, id, now)?,
                    }
                }
                tx.execute(
                    "UPDATE outbox_senders SET next_slot_at = ?2 WHERE from_number = ?1",
                    params![sender, micros(slot)],
                )
                .map_err(map_err)?;
            }
            sort_sends(&mut sends);
            Ok(Claim {
                sends,
                abandoned: abandoned.len() as u64,
                cancelled,
            })
        })
        .await
    }

    async fn record_send_accepted(
        &self,
        claimed: &Outbound,
        carrier: &str,
        sid: &str,
        status: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, attempts) = (claimed.id, claimed.attempts);
        let (carrier, sid, status) = (carrier.to_owned(), sid.to_owned(), status.to_owned());
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE outbox
                     SET state = 'sent', claimed_until = NULL, carrier = ?3, carrier_sid = ?4,
                         carrier_status = ?5, sent_at = ?6, updated_at = ?6
                     WHERE id = ?1 AND state = 'sending' AND attempts = ?2",
                    params![id, attempts, carrier, sid, status, micros(now)],
                )
                .map_err(map_err)?;
            if changed > 0 {
                sync_message(tx, id, now)?;
            }
            Ok(changed > 0)
        })
        .await
    }

    async fn record_send_retry(
        &self,
        claimed: &Outbound,
        failure: SendFailure,
        next_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, attempts) = (claimed.id, claimed.attempts);
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE outbox
                     SET state = 'queued', claimed_until = NULL, next_attempt_at = ?3,
                         error_code = ?4, last_error = ?5, updated_at = ?6
                     WHERE id = ?1 AND state = 'sending' AND attempts = ?2",
                    params![
                        id,
                        attempts,
                        micros(next_attempt_at),
                        failure.error_code,
                        failure.message,
                        micros(now)
                    ],
                )
                .map_err(map_err)?;
            Ok(changed > 0)
        })
        .await
    }

    async fn record_send_failed(
        &self,
        audit: &Audit,
        claimed: &Outbound,
        failure: SendFailure,
    ) -> StoreResult<bool> {
        let audit = audit.clone();
        let claimed = claimed.clone();
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE outbox
                     SET state = 'failed', claimed_until = NULL, error_code = ?3, last_error = ?4,
                         updated_at = ?5
                     WHERE id = ?1 AND state = 'sending' AND attempts = ?2",
                    params![
                        claimed.id,
                        claimed.attempts,
                        failure.error_code,
                        failure.message,
                        micros(audit.at)
                    ],
                )
                .map_err(map_err)?;
            if changed > 0 {
                sync_message(tx, claimed.id, audit.at)?;
                if failure.opted_out {
                    opt_out(tx, &audit, &claimed.from_number, &claimed.to_number)?;
                }
            }
            Ok(changed > 0)
        })
        .await
    }

    async fn outbox_next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.call(|conn| {
            let (queued, lease): (Option<i64>, Option<i64>) = conn
                .query_row(
                    "SELECT (SELECT min(next_attempt_at) FROM outbox WHERE state = 'queued'),
                            (SELECT min(claimed_until) FROM outbox WHERE state = 'sending')",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(map_err)?;
            let earliest = match (queued, lease) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            earliest.map(from_micros).transpose()
        })
        .await
    }

    async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        self.call(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT priority, count(*), min(created_at) FROM outbox
                     WHERE state IN ('queued', 'sending') GROUP BY priority",
                )
                .map_err(map_err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i16>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .map_err(map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err)?;
            let rows = rows
                .into_iter()
                .map(|(priority, depth, oldest)| Ok((priority, depth, Some(from_micros(oldest)?))))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(OutboxStats::from_priorities(rows))
        })
        .await
    }

    async fn get_outbound(&self, id: Uuid) -> StoreResult<Outbound> {
        self.call(move |conn| load_outbound(conn, id)).await
    }

    async fn list_outbox(&self, page: Page) -> StoreResult<Paged<Outbound>> {
        self.call(move |conn| {
            let items = conn
                .prepare_cached(&format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox
                     WHERE (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2"
                ))
                .and_then(|mut stmt| {
                    stmt.query_map(params![page.after, page.fetch_limit()], outbound_from_row)?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(map_err)?;
            Ok(Paged::from_rows(items, page, |o| o.id))
        })
        .await
    }

    async fn get_message(&self, id: Uuid) -> StoreResult<Message> {
        self.call(move |conn| load_message(conn, id)).await
    }

    async fn find_message_by_carrier_sid(&self, carrier: &str, sid: &str) -> StoreResult<Message> {
        let (carrier, sid) = (carrier.to_owned(), sid.to_owned());
        self.call(move |conn| {
            conn.query_row(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE carrier = ?1 AND carrier_sid = ?2"
                ),
                params![carrier, sid],
                message_from_row,
            )
            .map_err(map_err)
        })
        .await
    }
}
