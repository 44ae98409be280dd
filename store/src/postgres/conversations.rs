//! Conversations on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::feed::insert_notifications;
use super::messaging::{MESSAGE_COLUMNS, insert_outbox, load_message, message_from_row};
use super::rows::{PATIENT_COLUMNS, patient_from_row};
use super::{PostgresStore, insert_audit, load_patient, map_err};
use crate::*;

/// The practice's texting and portal switches, its row share-locked so that a concurrent
/// `PATCH` of the practice is ordered before or after the transaction that decides on them.
pub(super) async fn practice_switches(
    client: &impl GenericClient,
    practice_id: Uuid,
) -> StoreResult<(bool, bool)> {
    let row = client
        .query_opt(
            "SELECT texting_enabled, portal_enabled FROM practices WHERE id = $1 FOR SHARE",
            &[&practice_id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    Ok((row.get(0), row.get(1)))
}

fn portal_disabled() -> StoreError {
    StoreError::Rule(crate::RuleRefusal::PortalDisabled)
}

/// The patient's care team with each member's program enrolments, in the order they joined.
pub(crate) async fn load_care_team(
    client: &impl GenericClient,
    patient_id: Uuid,
) -> StoreResult<Vec<CareTeamMember>> {
    let rows = client
        .query(
            "SELECT c.user_id, ARRAY(SELECT s.program FROM program_staff s
                                     WHERE s.patient_id = c.patient_id AND s.user_id = c.user_id ORDER BY s.program)
             FROM care_team c WHERE c.patient_id = $1 ORDER BY c.added_at, c.user_id",
            &[&patient_id],
        )
        .await
        .map_err(map_err)?;
    Ok(rows
        .iter()
        .map(|r| CareTeamMember {
            user_id: r.get(0),
            programs: r.get(1),
        })
        .collect())
}

/// Puts `user_id` on the patient's care team and every program enrolment the patient has.
pub(crate) async fn assign_care_team(
    client: &impl GenericClient,
    patient_id: Uuid,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    client
        .execute(
            "INSERT INTO care_team (patient_id, user_id, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&patient_id, &user_id, &at],
        )
        .await
        .map_err(map_err)?;
    client
        .execute(
            "INSERT INTO program_staff (patient_id, program, user_id)
             SELECT patient_id, program, $2 FROM patient_programs WHERE patient_id = $1
             ON CONFLICT DO NOTHING",
            &[&patient_id, &user_id],
        )
        .await
        .map_err(map_err)?;
    Ok(())
}

async fn customer_of_patient(client: &impl GenericClient, patient_id: Uuid) -> StoreResult<Uuid> {
    Ok(client
        .query_opt(
            "SELECT pr.customer_id FROM patients p JOIN practices pr ON pr.id = p.practice_id WHERE p.id = $1",
            &[&patient_id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?
        .get(0))
}

async fn audit_patient(
    client: &impl GenericClient,
    audit: &Audit,
    patient_id: Uuid,
    action: &'static str,
    target: String,
) -> StoreResult<()> {
    let customer_id = customer_of_patient(client, patient_id).await?;
    let event = AuditEvent {
        customer_id: Some(customer_id),
        action,
        target_type: "patient",
        target_id: Some(target),
        patient_id: Some(patient_id),
    };
    insert_audit(client, audit, &event).await
}

/// Runs `statements` (each with the patient and user ids as $1 and $2) and an audit row in one
/// transaction.
async fn membership_change(
    store: &PostgresStore,
    audit: &Audit,
    patient_id: Uuid,
    user_id: Uuid,
    statements: &[&str],
    action: &'static str,
) -> StoreResult<()> {
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(map_err)?;
    for sql in statements {
        tx.execute(*sql, &[&patient_id, &user_id, &audit.at])
            .await
            .map_err(map_err)?;
    }
    audit_patient(
        &tx,
        audit,
        patient_id,
        action,
        format!("{patient_id}/{user_id}"),
    )
    .await?;
    tx.commit().await.map_err(map_err)
}

/// The message a stored idempotency key answers with, if the key is stored; a conflict when it
/// was stored with another request's fingerprint (keys from before fingerprints replay).
async fn replayed_message(
    client: &impl GenericClient,
    user_id: Uuid,
    key: &IdempotencyKey,
) -> StoreResult<Option<Uuid>> {
    let Some(row) = client
        .query_opt(
            "SELECT message_id, fingerprint FROM idempotency_keys WHERE user_id = $1 AND key = $2",
            &[&user_id, &key.key],
        )
        .await
        .map_err(map_err)?
    else {
        return Ok(None);
    };
    match row.get::<_, Option<String>>(1) {
        Some(stored) if stored != key.fingerprint => {
            Err(StoreError::Rule(RuleRefusal::IdempotencyKeyReused))
        }
        _ => Ok(Some(row.get(0))),
    }
}

#[async_trait]
impl Conversations for PostgresStore {
    async fn add_to_care_team(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<()> {
        membership_change(
            self,
            audit,
            patient_id,
            user_id,
            &["INSERT INTO care_team (patient_id, user_id, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"],
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
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // The patient's row is locked so its programs cannot change between the read and the
        // assignment.
        tx.query_opt(
            "SELECT 1 FROM patients WHERE id = $1 FOR NO KEY UPDATE",
            &[&patient_id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        assign_care_team(&tx, patient_id, user_id, audit.at).await?;
        audit_patient(
            &tx,
            audit,
            patient_id,
            "care_team.assign",
            format!("{patient_id}/{user_id}"),
        )
        .await?;
        tx.commit().await.map_err(map_err)
    }

    async fn remove_from_care_team(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<()> {
        membership_change(
            self,
            audit,
            patient_id,
            user_id,
            &[
                "DELETE FROM program_staff WHERE patient_id = $1 AND user_id = $2 AND $3::timestamptz IS NOT NULL",
                "DELETE FROM care_team WHERE patient_id = $1 AND user_id = $2 AND $3::timestamptz IS NOT NULL",
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
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        tx.execute(
            "INSERT INTO program_staff (patient_id, program, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&patient_id, &program, &user_id],
        )
        .await
        .map_err(map_err)?;
        tx.execute(
            "INSERT INTO care_team (patient_id, user_id, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&patient_id, &user_id, &audit.at],
        )
        .await
        .map_err(map_err)?;
        audit_patient(
            &tx,
            audit,
            patient_id,
            "program_staff.add",
            format!("{patient_id}/{program}/{user_id}"),
        )
        .await?;
        tx.commit().await.map_err(map_err)
    }

    async fn remove_program_staff(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        program: &str,
        user_id: Uuid,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        tx.execute(
            "DELETE FROM program_staff WHERE patient_id = $1 AND program = $2 AND user_id = $3",
            &[&patient_id, &program, &user_id],
        )
        .await
        .map_err(map_err)?;
        audit_patient(
            &tx,
            audit,
            patient_id,
            "program_staff.remove",
            format!("{patient_id}/{program}/{user_id}"),
        )
        .await?;
        tx.commit().await.map_err(map_err)
    }

    async fn care_team(&self, patient_id: Uuid) -> StoreResult<Vec<CareTeamMember>> {
        let client = self.client().await?;
        load_care_team(&client, patient_id).await
    }

    async fn subscribe(&self, audit: &Audit, patient_id: Uuid, user_id: Uuid) -> StoreResult<()> {
        membership_change(
            self,
            audit,
            patient_id,
            user_id,
            &["INSERT INTO patient_subscriptions (patient_id, user_id, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"],
            "subscription.add",
        )
        .await
    }

    async fn unsubscribe(&self, audit: &Audit, patient_id: Uuid, user_id: Uuid) -> StoreResult<()> {
        membership_change(
            self,
            audit,
            patient_id,
            user_id,
            &["DELETE FROM patient_subscriptions WHERE patient_id = $1 AND user_id = $2 AND $3::timestamptz IS NOT NULL"],
            "subscription.remove",
        )
        .await
    }

    async fn subscribers(&self, patient_id: Uuid) -> StoreResult<Vec<Uuid>> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT user_id FROM patient_subscriptions WHERE patient_id = $1 ORDER BY added_at, user_id", &[&patient_id])
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn patients_with_number(
        &self,
        practice_id: Uuid,
        number: &str,
    ) -> StoreResult<Vec<Uuid>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id FROM patients WHERE practice_id = $1 AND mobile_phone = $2",
                &[&practice_id, &number],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn list_conversations(
        &self,
        user_id: Uuid,
        restricted_programs: Vec<String>,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<ConversationItem>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "WITH mine AS (
                     SELECT patient_id FROM care_team WHERE user_id = $1
                     UNION SELECT patient_id FROM patient_subscriptions WHERE user_id = $1
                 ), activity AS (
                     SELECT p.id, p.practice_id, p.first_name || ' ' || p.last_name AS name,
                            (SELECT m.created_at FROM messages m WHERE m.patient_id = p.id ORDER BY m.id DESC LIMIT 1) AS last_at,
                            EXISTS (SELECT 1 FROM messages m
                                    WHERE m.patient_id = p.id AND m.direction = 'inbound' AND m.body IS NOT NULL
                                      AND m.id > COALESCE((SELECT r.read_through FROM conversation_reads r
                                                           WHERE r.user_id = $1 AND r.patient_id = p.id),
                                                          '00000000-0000-0000-0000-000000000000'::uuid)) AS unread
                     FROM mine JOIN patients p ON p.id = mine.patient_id
                     WHERE NOT (EXISTS (SELECT 1 FROM patient_programs pp WHERE pp.patient_id = p.id)
                                AND NOT EXISTS (SELECT 1 FROM patient_programs pp
                                                WHERE pp.patient_id = p.id AND NOT (pp.program = ANY($2))))
                 )
                 SELECT id, practice_id, name, last_at, unread FROM activity
                 ORDER BY last_at DESC NULLS LAST, id DESC LIMIT $3 OFFSET $4",
                &[&user_id, &restricted_programs, &i64::from(limit), &i64::from(offset)],
            )
            .await
            .map_err(map_err)?;
        Ok(rows
            .iter()
            .map(|r| ConversationItem {
                patient_id: r.get(0),
                practice_id: r.get(1),
                patient_name: r.get(2),
                last_message_at: r.get(3),
                unread: r.get(4),
            })
            .collect())
    }

    async fn list_messages(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Paged<Message>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let page = Page {
            after: before,
            limit,
        };
        let rows = tx
            .query(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE patient_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
                ),
                &[&patient_id, &before, &page.fetch_limit()],
            )
            .await
            .map_err(map_err)?;
        let messages = rows.iter().map(message_from_row).collect();
        audit_patient(
            &tx,
            audit,
            patient_id,
            "conversation.read",
            patient_id.to_string(),
        )
        .await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Paged::from_rows(messages, page, |m| m.id))
    }

    async fn post_staff_message(
        &self,
        audit: &Audit,
        new: NewStaffMessage,
    ) -> StoreResult<StaffMessageOutcome> {
        let mut client = self.client().await?;
        if let Some(key) = &new.idempotency
            && let Some(message_id) = replayed_message(&client, new.author_user_id, key).await?
        {
            return Ok(StaffMessageOutcome::Replayed {
                message: Box::new(load_message(&client, message_id).await?),
            });
        }
        let tx = client.transaction().await.map_err(map_err)?;
        // The same lock as inbound texts take: a conversation's messages are written one at a
        // time, and the channel is chosen from the patient as a STOP may just have left it.
        tx.query_opt(
            "SELECT 1 FROM patients WHERE id = $1 FOR NO KEY UPDATE",
            &[&new.patient_id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        let patient = load_patient(&tx, new.patient_id).await?;
        let has_portal: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM portal_tokens WHERE patient_id = $1 AND revoked_at IS NULL)",
                &[&new.patient_id],
            )
            .await
            .map_err(map_err)?
            .get(0);
        let (texting_enabled, portal_enabled) = practice_switches(&tx, patient.practice_id).await?;
        let choice = (new.choose)(&StaffSendContext {
            patient: patient.clone(),
            has_portal,
            texting_enabled,
            portal_enabled,
        });
        let (message_id, enqueued) = match choice {
            StaffSendChoice::Refused { code, reason } => {
                tx.rollback().await.map_err(map_err)?;
                return Ok(StaffMessageOutcome::Refused { code, reason });
            }
            StaffSendChoice::Sms(outbound) => {
                let queued = insert_outbox(&tx, &outbound, audit.at).await?;
                let message_id = queued.message_id.ok_or_else(|| {
                    StoreError::Unexpected(
                        "a staff SMS must be recorded as a conversation message".into(),
                    )
                })?;
                (message_id, Some(queued.id))
            }
            StaffSendChoice::Portal => {
                let id = new_id();
                tx.execute(
                    "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, author_user_id,
                                           status, created_at, updated_at)
                     VALUES ($1, $2, $3, 'portal', 'outbound', $4, $5, 'delivered', $6, $6)",
                    &[&id, &patient.practice_id, &new.patient_id, &new.body, &new.author_user_id, &audit.at],
                )
                .await
                .map_err(map_err)?;
                (id, None)
            }
        };
        if let Some(key) = &new.idempotency {
            let inserted = tx
                .execute(
                    "INSERT INTO idempotency_keys (user_id, key, patient_id, message_id, created_at, fingerprint)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    &[
                        &new.author_user_id,
                        &key.key,
                        &new.patient_id,
                        &message_id,
                        &audit.at,
                        &key.fingerprint,
                    ],
                )
                .await
                .map_err(map_err)?;
            if inserted == 0 {
                // A concurrent request with the same key won: answer as to a retry, keep nothing.
                tx.rollback().await.map_err(map_err)?;
                let message_id = replayed_message(&client, new.author_user_id, key)
                    .await?
                    .ok_or_else(|| StoreError::Unexpected("an idempotency key vanished".into()))?;
                return Ok(StaffMessageOutcome::Replayed {
                    message: Box::new(load_message(&client, message_id).await?),
                });
            }
        }
        audit_patient(
            &tx,
            audit,
            new.patient_id,
            "message.send",
            message_id.to_string(),
        )
        .await?;
        let message = load_message(&tx, message_id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(StaffMessageOutcome::Created {
            message: Box::new(message),
            enqueued,
        })
    }

    async fn post_patient_notice(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        body: &str,
        decide: PatientNoticeDecider,
    ) -> StoreResult<Vec<Message>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // The lock inbound texts and staff sends take: a STOP being recorded is seen, or waits.
        tx.query_opt(
            "SELECT 1 FROM patients WHERE id = $1 FOR NO KEY UPDATE",
            &[&patient_id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        let patient = load_patient(&tx, patient_id).await?;
        let has_portal: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM portal_tokens WHERE patient_id = $1 AND revoked_at IS NULL)",
                &[&patient_id],
            )
            .await
            .map_err(map_err)?
            .get(0);
        let (texting_enabled, portal_enabled) = practice_switches(&tx, patient.practice_id).await?;
        let choice = decide(&StaffSendContext {
            patient: patient.clone(),
            has_portal,
            texting_enabled,
            portal_enabled,
        });
        let mut ids = Vec::new();
        if let Some(outbound) = &choice.sms {
            let queued = insert_outbox(&tx, outbound, audit.at).await?;
            ids.extend(queued.message_id);
        }
        if choice.portal {
            let id = new_id();
            tx.execute(
                "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, author_user_id,
                                       status, created_at, updated_at)
                 VALUES ($1, $2, $3, 'portal', 'outbound', $4, NULL, 'delivered', $5, $5)",
                &[&id, &patient.practice_id, &patient_id, &body, &audit.at],
            )
            .await
            .map_err(map_err)?;
            ids.push(id);
        }
        let mut messages = Vec::with_capacity(ids.len());
        for id in ids {
            audit_patient(&tx, audit, patient_id, "message.send", id.to_string()).await?;
            messages.push(load_message(&tx, id).await?);
        }
        tx.commit().await.map_err(map_err)?;
        Ok(messages)
    }

    async fn post_portal_message(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        body: &str,
        notifications: Vec<NewNotification>,
        texts: Vec<NewOutbound>,
    ) -> StoreResult<Message> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let practice_id: Uuid = tx
            .query_opt(
                "SELECT practice_id FROM patients WHERE id = $1 FOR NO KEY UPDATE",
                &[&patient_id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?
            .get(0);
        if !practice_switches(&tx, practice_id).await?.1 {
            return Err(portal_disabled());
        }
        let id = new_id();
        tx.execute(
            "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, status, created_at, updated_at)
             VALUES ($1, $2, $3, 'portal', 'inbound', $4, 'received', $5, $5)",
            &[&id, &practice_id, &patient_id, &body, &audit.at],
        )
        .await
        .map_err(map_err)?;
        insert_notifications(&tx, audit.at, &notifications).await?;
        for text in &texts {
            insert_outbox(&tx, text, audit.at).await?;
        }
        audit_patient(
            &tx,
            audit,
            patient_id,
            "message.portal_inbound",
            id.to_string(),
        )
        .await?;
        let message = load_message(&tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(message)
    }

    async fn mark_read(
        &self,
        user_id: Uuid,
        patient_id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO conversation_reads (user_id, patient_id, read_through, read_at)
                 SELECT $1, $2, m.id, $3 FROM messages m WHERE m.patient_id = $2 ORDER BY m.id DESC LIMIT 1
                 ON CONFLICT (user_id, patient_id) DO UPDATE
                     SET read_through = GREATEST(conversation_reads.read_through, excluded.read_through),
                         read_at = excluded.read_at",
                &[&user_id, &patient_id, &at],
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn enroll_portal(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        token_hash: &str,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let patient = load_patient(&tx, patient_id).await?;
        if !practice_switches(&tx, patient.practice_id).await?.1 {
            return Err(portal_disabled());
        }
        tx.execute(
            "UPDATE portal_tokens SET revoked_at = $2 WHERE patient_id = $1 AND revoked_at IS NULL",
            &[&patient_id, &audit.at],
        )
        .await
        .map_err(map_err)?;
        tx.execute(
            "INSERT INTO portal_tokens (token_hash, patient_id, created_at) VALUES ($1, $2, $3)",
            &[&token_hash, &patient_id, &audit.at],
        )
        .await
        .map_err(map_err)?;
        audit_patient(
            &tx,
            audit,
            patient_id,
            "portal.enroll",
            patient_id.to_string(),
        )
        .await?;
        tx.commit().await.map_err(map_err)
    }

    async fn portal_patient(&self, token_hash: &str) -> StoreResult<Patient> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {PATIENT_COLUMNS} FROM portal_tokens t JOIN patients p ON p.id = t.patient_id
                     WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
                ),
                &[&token_hash],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        patient_from_row(&row)
    }

    async fn has_portal(&self, patient_id: Uuid) -> StoreResult<bool> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM portal_tokens WHERE patient_id = $1 AND revoked_at IS NULL)",
                &[&patient_id],
            )
            .await
            .map_err(map_err)?;
        Ok(row.get(0))
    }

    async fn patient_messages_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE direction = 'inbound' AND patient_id IS NOT NULL AND body IS NOT NULL
                       AND created_at >= $1 AND created_at <= $2
                     ORDER BY created_at, id LIMIT $3"
                ),
                &[&from, &until, &i64::from(limit)],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(message_from_row).collect())
    }

    async fn remind_unread(
        &self,
        at: DateTime<Utc>,
        message: &Message,
        reminders: &[UnreadReminder],
    ) -> StoreResult<Vec<Uuid>> {
        let patient_id = message.patient_id.ok_or(StoreError::NotFound)?;
        let users: Vec<Uuid> = reminders.iter().map(|r| r.notification.user_id).collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let rows = tx
            .query(
                "INSERT INTO unread_reminders (message_id, user_id, sent_at)
                 SELECT $1, u.id, $4 FROM unnest($3::uuid[]) AS u(id)
                 WHERE NOT EXISTS (SELECT 1 FROM conversation_reads r
                                   WHERE r.user_id = u.id AND r.patient_id = $2 AND r.read_through >= $1)
                 ON CONFLICT DO NOTHING
                 RETURNING user_id",
                &[&message.id, &patient_id, &users, &at],
            )
            .await
            .map_err(map_err)?;
        let reminded: Vec<Uuid> = rows.iter().map(|r| r.get(0)).collect();
        for reminder in reminders
            .iter()
            .filter(|r| reminded.contains(&r.notification.user_id))
        {
            insert_notifications(&tx, at, std::slice::from_ref(&reminder.notification)).await?;
            if let Some(text) = &reminder.text {
                super::messaging::insert_outbox(&tx, text, at).await?;
            }
        }
        tx.commit().await.map_err(map_err)?;
        Ok(reminded)
    }

    async fn conversations_of(
        &self,
        user_id: Uuid,
        patient_ids: Vec<Uuid>,
    ) -> StoreResult<Vec<ConversationItem>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT p.id, p.practice_id, p.first_name || ' ' || p.last_name,
                        (SELECT m.created_at FROM messages m WHERE m.patient_id = p.id ORDER BY m.id DESC LIMIT 1) AS last_at,
                        EXISTS (SELECT 1 FROM messages m
                                WHERE m.patient_id = p.id AND m.direction = 'inbound' AND m.body IS NOT NULL
                                  AND m.id > COALESCE((SELECT r.read_through FROM conversation_reads r
                                                       WHERE r.user_id = $1 AND r.patient_id = p.id),
                                                      '00000000-0000-0000-0000-000000000000'::uuid))
                 FROM patients p WHERE p.id = ANY($2)
                 ORDER BY last_at DESC NULLS LAST, p.id DESC",
                &[&user_id, &patient_ids],
            )
            .await
            .map_err(map_err)?;
        Ok(rows
            .iter()
            .map(|r| ConversationItem {
                patient_id: r.get(0),
                practice_id: r.get(1),
                patient_name: r.get(2),
                last_message_at: r.get(3),
                unread: r.get(4),
            })
            .collect())
    }
}
