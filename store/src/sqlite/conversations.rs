//! Conversations on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use uuid::Uuid;

use super::feed::insert_notifications;
use super::messaging::{MESSAGE_COLUMNS, insert_outbox, load_message, message_from_row};
use super::rows::{column_list, from_micros, load_patient, micros};
use super::{OwnedEvent, SqliteStore, map_err};
use crate::*;

/// The practice's texting and portal switches (the write transaction holds the database, so a
/// concurrent `PATCH` of the practice is ordered before or after it).
pub(super) fn practice_switches(conn: &Connection, practice_id: Uuid) -> StoreResult<(bool, bool)> {
    conn.query_row(
        "SELECT texting_enabled, portal_enabled FROM practices WHERE id = ?1",
        [practice_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .map_err(map_err)
}

fn portal_disabled() -> StoreError {
    StoreError::Rule(crate::RuleRefusal::PortalDisabled)
}

/// The patient's care team with each member's program enrolments, in the order they joined.
pub(crate) fn load_care_team(
    conn: &Connection,
    patient_id: Uuid,
) -> StoreResult<Vec<CareTeamMember>> {
    let users: Vec<Uuid> = column_list(
        conn,
        "SELECT user_id FROM care_team WHERE patient_id = ?1 ORDER BY added_at, user_id",
        patient_id,
    )?;
    users
        .into_iter()
        .map(|user_id| {
            let mut stmt = conn
                .prepare_cached("SELECT program FROM program_staff WHERE patient_id = ?1 AND user_id = ?2 ORDER BY program")
                .map_err(map_err)?;
            let programs = stmt
                .query_map(params![patient_id, user_id], |r| r.get(0))
                .map_err(map_err)?
                .collect::<Result<Vec<String>, _>>()
                .map_err(map_err)?;
            Ok(CareTeamMember { user_id, programs })
        })
        .collect()
}

/// Puts `user_id` on the patient's care team and every program enrolment the patient has.
pub(crate) fn assign_care_team(
    conn: &Connection,
    patient_id: Uuid,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO care_team (patient_id, user_id, added_at) VALUES (?1, ?2, ?3)",
        params![patient_id, user_id, micros(at)],
    )
    .map_err(map_err)?;
    conn.execute(
        "INSERT OR IGNORE INTO program_staff (patient_id, program, user_id)
         SELECT patient_id, program, ?2 FROM patient_programs WHERE patient_id = ?1",
        params![patient_id, user_id],
    )
    .map_err(map_err)?;
    Ok(())
}

fn audit_patient(
    conn: &Connection,
    audit: &Audit,
    patient_id: Uuid,
    action: &'static str,
    target: String,
) -> StoreResult<()> {
    let customer_id: Uuid = conn
        .query_row(
            "SELECT pr.customer_id FROM patients p JOIN practices pr ON pr.id = p.practice_id WHERE p.id = ?1",
            [patient_id],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    OwnedEvent {
        customer_id: Some(customer_id),
        action,
        target_type: "patient",
        target_id: Some(target),
        patient_id: Some(patient_id),
    }
    .write(conn, audit)
}

impl SqliteStore {
    /// Runs `statements` (patient id ?1, user id ?2, time ?3) and an audit row in one transaction.
    async fn membership_change(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        user_id: Uuid,
        statements: &'static [&'static str],
        action: &'static str,
    ) -> StoreResult<()> {
        let audit = audit.clone();
        self.write(move |tx| {
            for sql in statements {
                let mut stmt = tx.prepare_cached(sql).map_err(map_err)?;
                let wanted = stmt.parameter_count();
                let all = [
                    Value::Blob(patient_id.as_bytes().to_vec()),
                    Value::Blob(user_id.as_bytes().to_vec()),
                    Value::Integer(micros(audit.at)),
                ];
                stmt.execute(params_from_iter(all.into_iter().take(wanted)))
                    .map_err(map_err)?;
            }
            audit_patient(
                tx,
                &audit,
                patient_id,
                action,
                format!("{patient_id}/{user_id}"),
            )
        })
        .await
    }
}

/// The message a stored idempotency key answers with (see the PostgreSQL backend).
fn replayed_message(
    conn: &Connection,
    user_id: Uuid,
    key: &IdempotencyKey,
) -> StoreResult<Option<Uuid>> {
    let Some((message_id, stored)) = conn
        .query_row(
            "SELECT message_id, fingerprint FROM idempotency_keys WHERE user_id = ?1 AND key = ?2",
            params![user_id, key.key],
            |r| Ok((r.get::<_, Uuid>(0)?, r.get::<_, Option<String>>(1)?)),
        )
        .optional()
        .map_err(map_err)?
    else {
        return Ok(None);
    };
    match stored {
        Some(stored) if stored != key.fingerprint => {
            Err(StoreError::Rule(RuleRefusal::IdempotencyKeyReused))
        }
        _ => Ok(Some(message_id)),
    }
}

#[async_trait]
impl Conversations for SqliteStore {
    async fn add_to_care_team(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<()> {
        self.membership_change(
            audit,
            patient_id,
            user_id,
            &["INSERT OR IGNORE INTO care_team (patient_id, user_id, added_at) VALUES (?1, ?2, ?3)"],
            "care_team.add",
        )
        .await
    }

    async fn assign_to_patient(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<()> {
        let audit = audit.clone();
        self.write(move |tx| {
            load_patient(tx, patient_id)?;
            assign_care_team(tx, patient_id, user_id, audit.at)?;
            audit_patient(
                tx,
                &audit,
                patient_id,
                "care_team.assign",
                format!("{patient_id}/{user_id}"),
            )
        })
        .await
    }

    async fn remove_from_care_team(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<()> {
        self.membership_change(
            audit,
            patient_id,
            user_id,
            &[
                "DELETE FROM program_staff WHERE patient_id = ?1 AND user_id = ?2",
                "DELETE FROM care_team WHERE patient_id = ?1 AND user_id = ?2",
            ],
            "care_team.remove",
        )
        .await
    }

    async fn add_program_staff(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        program: &str,
        user_id: Uuid,
    ) -> StoreResult<()> {
        let audit = audit.clone();
        let program = program.to_string();
        self.write(move |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO program_staff (patient_id, program, user_id) VALUES (?1, ?2, ?3)",
                params![patient_id, program, user_id],
            )
            .map_err(map_err)?;
            tx.execute(
                "INSERT OR IGNORE INTO care_team (patient_id, user_id, added_at) VALUES (?1, ?2, ?3)",
                params![patient_id, user_id, micros(audit.at)],
            )
            .map_err(map_err)?;
            audit_patient(tx, &audit, patient_id, "program_staff.add", format!("{patient_id}/{program}/{user_id}"))
        })
        .await
    }

    async fn remove_program_staff(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        program: &str,
        user_id: Uuid,
    ) -> StoreResult<()> {
        let audit = audit.clone();
        let program = program.to_string();
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM program_staff WHERE patient_id = ?1 AND program = ?2 AND user_id = ?3",
                params![patient_id, program, user_id],
            )
            .map_err(map_err)?;
            audit_patient(
                tx,
                &audit,
                patient_id,
                "program_staff.remove",
                format!("{patient_id}/{program}/{user_id}"),
            )
        })
        .await
    }

    async fn care_team(&self, patient_id: Uuid) -> StoreResult<Vec<CareTeamMember>> {
        self.call(move |conn| load_care_team(conn, patient_id))
            .await
    }

    async fn subscribe(&self, audit: &Audit, patient_id: Uuid, user_id: Uuid) -> StoreResult<()> {
        self.membership_change(
            audit,
            patient_id,
            user_id,
            &["INSERT OR IGNORE INTO patient_subscriptions (patient_id, user_id, added_at) VALUES (?1, ?2, ?3)"],
            "subscription.add",
        )
        .await
    }

    async fn unsubscribe(&self, audit: &Audit, patient_id: Uuid, user_id: Uuid) -> StoreResult<()> {
        self.membership_change(
            audit,
            patient_id,
            user_id,
            &["DELETE FROM patient_subscriptions WHERE patient_id = ?1 AND user_id = ?2"],
            "subscription.remove",
        )
        .await
    }

    async fn subscribers(&self, patient_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.call(move |conn| {
            column_list(conn, "SELECT user_id FROM patient_subscriptions WHERE patient_id = ?1 ORDER BY added_at, user_id", patient_id)
        })
        .await
    }

    async fn patients_with_number(
        &self,
        practice_id: Uuid,
        number: &str,
    ) -> StoreResult<Vec<Uuid>> {
        let number = number.to_string();
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id FROM patients WHERE practice_id = ?1 AND mobile_phone = ?2",
                )
                .map_err(map_err)?;
            stmt.query_map(params![practice_id, number], |r| r.get(0))
                .map_err(map_err)?
                .collect::<Result<Vec<Uuid>, _>>()
                .map_err(map_err)
        })
        .await
    }

    async fn list_conversations(
        &self,
        user_id: Uuid,
        restricted_programs: Vec<String>,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<ConversationItem>> {
        self.call(move |conn| {
            let mut values: Vec<Value> = vec![Value::Blob(user_id.as_bytes().to_vec())];
            // An empty list hides nobody (see the same rule in the patient search).
            let restriction = if restricted_programs.is_empty() {
                String::new()
            } else {
                let mut numbers = Vec::new();
                for program in &restricted_programs {
                    values.push(Value::Text(program.clone()));
                    numbers.push(format!("?{}", values.len()));
                }
                format!(
                    "AND NOT (EXISTS (SELECT 1 FROM patient_programs pp WHERE pp.patient_id = p.id)
                              AND NOT EXISTS (SELECT 1 FROM patient_programs pp
                                              WHERE pp.patient_id = p.id AND pp.program NOT IN ({})))",
                    numbers.join(", ")
                )
            };
            values.push(Value::Integer(i64::from(limit)));
            let limit_at = values.len();
            values.push(Value::Integer(i64::from(offset)));
            let offset_at = values.len();
            let sql = format!(
                "WITH mine AS (
                     SELECT patient_id FROM care_team WHERE user_id = ?1
                     UNION SELECT patient_id FROM patient_subscriptions WHERE user_id = ?1
                 ), activity AS (
                     SELECT p.id AS id, p.practice_id AS practice_id, p.first_name || ' ' || p.last_name AS name,
                            (SELECT m.created_at FROM messages m WHERE m.patient_id = p.id ORDER BY m.id DESC LIMIT 1) AS last_at,
                            EXISTS (SELECT 1 FROM messages m
                                    WHERE m.patient_id = p.id AND m.direction = 'inbound' AND m.body IS NOT NULL
                                      AND m.id > COALESCE((SELECT r.read_through FROM conversation_reads r
                                                           WHERE r.user_id = ?1 AND r.patient_id = p.id),
                                                          zeroblob(16))) AS unread
                     FROM mine JOIN patients p ON p.id = mine.patient_id
                     WHERE 1 = 1 {restriction}
                 )
                 SELECT id, practice_id, name, last_at, unread FROM activity
                 ORDER BY last_at IS NULL, last_at DESC, id DESC LIMIT ?{limit_at} OFFSET ?{offset_at}"
            );
            let mut stmt = conn.prepare(&sql).map_err(map_err)?;
            let rows = stmt
                .query_map(params_from_iter(values), |r| {
                    Ok((r.get::<_, Uuid>(0)?, r.get::<_, Uuid>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<i64>>(3)?, r.get::<_, bool>(4)?))
                })
                .map_err(map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err)?;
            rows.into_iter()
                .map(|(patient_id, practice_id, patient_name, last, unread)| {
                    Ok(ConversationItem {
                        patient_id,
                        practice_id,
                        patient_name,
                        last_message_at: last.map(from_micros).transpose()?,
                        unread,
                    })
                })
                .collect()
        })
        .await
    }

    async fn list_messages(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Paged<Message>> {
        let audit = audit.clone();
        self.write(move |tx| {
            let page = Page { after: before, limit };
            let messages = {
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "SELECT {MESSAGE_COLUMNS} FROM messages
                         WHERE patient_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3"
                    ))
                    .map_err(map_err)?;
                stmt.query_map(params![patient_id, before, page.fetch_limit()], message_from_row)
                    .map_err(map_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(map_err)?
            };
            audit_patient(tx, &audit, patient_id, "conversation.read", patient_id.to_string())?;
            Ok(Paged::from_rows(messages, page, |m| m.id))
        })
        .await
    }

    async fn post_staff_message(
        &self,
        audit: &Audit,
        new: NewStaffMessage,
    ) -> StoreResult<StaffMessageOutcome> {
        let audit = audit.clone();
        self.write(move |tx| {
            if let Some(key) = &new.idempotency
                && let Some(existing) = replayed_message(tx, new.author_user_id, key)?
            {
                return Ok(StaffMessageOutcome::Replayed { message: Box::new(load_message(tx, existing)?) });
            }
            let patient = load_patient(tx, new.patient_id)?;
            let has_portal: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM portal_tokens WHERE patient_id = ?1 AND revoked_at IS NULL)",
                    [new.patient_id],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            let (texting_enabled, portal_enabled) = practice_switches(tx, patient.practice_id)?;
            let choice = (new.choose)(&StaffSendContext {
                patient: patient.clone(),
                has_portal,
                texting_enabled,
                portal_enabled,
            });
            let (message_id, enqueued) = match choice {
                // Nothing was written yet, so committing the empty transaction is harmless.
                StaffSendChoice::Refused { code, reason } => {
                    return Ok(StaffMessageOutcome::Refused { code, reason });
                }
                StaffSendChoice::Sms(outbound) => {
                    let queued = insert_outbox(tx, &outbound, audit.at)?;
                    let message_id = queued.message_id.ok_or_else(|| {
                        StoreError::Unexpected("a staff SMS must be recorded as a conversation message".into())
                    })?;
                    (message_id, Some(queued.id))
                }
                StaffSendChoice::Portal => {
                    let id = new_id();
                    tx.execute(
                        "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, author_user_id,
                                               status, created_at, updated_at)
                         VALUES (?1, ?2, ?3, 'portal', 'outbound', ?4, ?5, 'delivered', ?6, ?6)",
                        params![id, patient.practice_id, new.patient_id, new.body, new.author_user_id, micros(audit.at)],
                    )
                    .map_err(map_err)?;
                    (id, None)
                }
            };
            if let Some(key) = &new.idempotency {
                tx.execute(
                    "INSERT INTO idempotency_keys (user_id, key, patient_id, message_id, created_at, fingerprint)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![new.author_user_id, key.key, new.patient_id, message_id, micros(audit.at), key.fingerprint],
                )
                .map_err(map_err)?;
            }
            audit_patient(tx, &audit, new.patient_id, "message.send", message_id.to_string())?;
            Ok(StaffMessageOutcome::Created { message: Box::new(load_message(tx, message_id)?), enqueued })
        })
        .await
    }

    async fn post_patient_notice(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        body: &str,
        decide: PatientNoticeDecider,
    ) -> StoreResult<Vec<Message>> {
        let audit = audit.clone();
        let body = body.to_string();
        self.write(move |tx| {
            let patient = load_patient(tx, patient_id)?;
            let has_portal: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM portal_tokens WHERE patient_id = ?1 AND revoked_at IS NULL)",
                    [patient_id],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            let (texting_enabled, portal_enabled) = practice_switches(tx, patient.practice_id)?;
            let choice = decide(&StaffSendContext {
                patient: patient.clone(),
                has_portal,
                texting_enabled,
                portal_enabled,
            });
            let mut ids = Vec::new();
            if let Some(outbound) = &choice.sms {
                let queued = insert_outbox(tx, outbound, audit.at)?;
                ids.extend(queued.message_id);
            }
            if choice.portal {
                let id = new_id();
                tx.execute(
                    "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, author_user_id,
                                           status, created_at, updated_at)
                     VALUES (?1, ?2, ?3, 'portal', 'outbound', ?4, NULL, 'delivered', ?5, ?5)",
                    params![id, patient.practice_id, patient_id, body, micros(audit.at)],
                )
                .map_err(map_err)?;
                ids.push(id);
            }
            let mut messages = Vec::with_capacity(ids.len());
            for id in ids {
                audit_patient(tx, &audit, patient_id, "message.send", id.to_string())?;
                messages.push(load_message(tx, id)?);
            }
            Ok(messages)
        })
        .await
    }

    async fn post_portal_message(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        body: &str,
        notifications: Vec<NewNotification>,
        texts: Vec<NewOutbound>,
    ) -> StoreResult<Message> {
        let audit = audit.clone();
        let body = body.to_string();
        self.write(move |tx| {
            let practice_id: Uuid = tx
                .query_row("SELECT practice_id FROM patients WHERE id = ?1", [patient_id], |r| r.get(0))
                .map_err(map_err)?;
            if !practice_switches(tx, practice_id)?.1 {
                return Err(portal_disabled());
            }
            let id = new_id();
            tx.execute(
                "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'portal', 'inbound', ?4, 'received', ?5, ?5)",
                params![id, practice_id, patient_id, body, micros(audit.at)],
            )
            .map_err(map_err)?;
            insert_notifications(tx, audit.at, &notifications)?;
            for text in &texts {
                insert_outbox(tx, text, audit.at)?;
            }
            audit_patient(tx, &audit, patient_id, "message.portal_inbound", id.to_string())?;
            load_message(tx, id)
        })
        .await
    }

    async fn mark_read(
        &self,
        user_id: Uuid,
        patient_id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO conversation_reads (user_id, patient_id, read_through, read_at)
                 SELECT ?1, ?2, m.id, ?3 FROM messages m WHERE m.patient_id = ?2 ORDER BY m.id DESC LIMIT 1
                 ON CONFLICT (user_id, patient_id) DO UPDATE
                     SET read_through = max(read_through, excluded.read_through), read_at = excluded.read_at",
                params![user_id, patient_id, micros(at)],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn enroll_portal(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        token_hash: &str,
    ) -> StoreResult<()> {
        let audit = audit.clone();
        let token_hash = token_hash.to_string();
        self.write(move |tx| {
            let patient = load_patient(tx, patient_id)?;
            if !practice_switches(tx, patient.practice_id)?.1 {
                return Err(portal_disabled());
            }
            tx.execute(
                "UPDATE portal_tokens SET revoked_at = ?2 WHERE patient_id = ?1 AND revoked_at IS NULL",
                params![patient_id, micros(audit.at)],
            )
            .map_err(map_err)?;
            tx.execute(
                "INSERT INTO portal_tokens (token_hash, patient_id, created_at) VALUES (?1, ?2, ?3)",
                params![token_hash, patient_id, micros(audit.at)],
            )
            .map_err(map_err)?;
            audit_patient(tx, &audit, patient_id, "portal.enroll", patient_id.to_string())
        })
        .await
    }

    async fn portal_patient(&self, token_hash: &str) -> StoreResult<Patient> {
        let token_hash = token_hash.to_string();
        self.call(move |conn| {
            let patient_id: Uuid = conn
                .query_row(
                    "SELECT patient_id FROM portal_tokens WHERE token_hash = ?1 AND revoked_at IS NULL",
                    [token_hash],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            load_patient(conn, patient_id)
        })
        .await
    }

    async fn has_portal(&self, patient_id: Uuid) -> StoreResult<bool> {
        self.call(move |conn| {
            conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM portal_tokens WHERE patient_id = ?1 AND revoked_at IS NULL)",
                [patient_id],
                |r| r.get(0),
            )
            .map_err(map_err)
        })
        .await
    }

    async fn patient_messages_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE direction = 'inbound' AND patient_id IS NOT NULL AND body IS NOT NULL
                       AND created_at >= ?1 AND created_at <= ?2
                     ORDER BY created_at, id LIMIT ?3"
                ))
                .map_err(map_err)?;
            stmt.query_map(
                params![micros(from), micros(until), i64::from(limit)],
                message_from_row,
            )
            .map_err(map_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err)
        })
        .await
    }

    async fn remind_unread(
        &self,
        at: DateTime<Utc>,
        message: &Message,
        reminders: &[UnreadReminder],
    ) -> StoreResult<Vec<Uuid>> {
        let patient_id = message.patient_id.ok_or(StoreError::NotFound)?;
        let message_id = message.id;
        let reminders = reminders.to_vec();
        self.write(move |tx| {
            let mut reminded = Vec::new();
            for reminder in reminders {
                let user_id = reminder.notification.user_id;
                let read: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM conversation_reads
                                        WHERE user_id = ?1 AND patient_id = ?2 AND read_through >= ?3)",
                        params![user_id, patient_id, message_id],
                        |r| r.get(0),
                    )
                    .map_err(map_err)?;
                if read {
                    continue;
                }
                let inserted = tx
                    .execute(
                        "INSERT OR IGNORE INTO unread_reminders (message_id, user_id, sent_at) VALUES (?1, ?2, ?3)",
                        params![message_id, user_id, micros(at)],
                    )
                    .map_err(map_err)?;
                if inserted == 1 {
                    insert_notifications(tx, at, std::slice::from_ref(&reminder.notification))?;
                    if let Some(text) = &reminder.text {
                        super::messaging::insert_outbox(tx, text, at)?;
                    }
                    reminded.push(user_id);
                }
            }
            Ok(reminded)
        })
        .await
    }

    async fn conversations_of(
        &self,
        user_id: Uuid,
        patient_ids: Vec<Uuid>,
    ) -> StoreResult<Vec<ConversationItem>> {
        self.call(move |conn| {
            let mut items = Vec::with_capacity(patient_ids.len());
            for patient_id in patient_ids {
                let item = conn
                    .query_row(
                        "SELECT p.id, p.practice_id, p.first_name || ' ' || p.last_name,
                                (SELECT m.created_at FROM messages m WHERE m.patient_id = p.id ORDER BY m.id DESC LIMIT 1),
                                EXISTS (SELECT 1 FROM messages m
                                        WHERE m.patient_id = p.id AND m.direction = 'inbound' AND m.body IS NOT NULL
                                          AND m.id > COALESCE((SELECT r.read_through FROM conversation_reads r
                                                               WHERE r.user_id = ?1 AND r.patient_id = p.id), zeroblob(16)))
                         FROM patients p WHERE p.id = ?2",
                        params![user_id, patient_id],
                        |r| Ok((r.get::<_, Uuid>(0)?, r.get::<_, Uuid>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<i64>>(3)?, r.get::<_, bool>(4)?)),
                    )
                    .optional()
                    .map_err(map_err)?;
                if let Some((patient_id, practice_id, patient_name, last, unread)) = item {
                    items.push(ConversationItem {
                        patient_id,
                        practice_id,
                        patient_name,
                        last_message_at: last.map(from_micros).transpose()?,
                        unread,
                    });
                }
            }
            items.sort_by(|a, b| b.last_message_at.cmp(&a.last_message_at).then(b.patient_id.cmp(&a.patient_id)));
            Ok(items)
        })
        .await
    }
}
