//! Alerts on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::feed::insert_notifications;
use super::messaging::insert_outbox;
use super::rows::{PRACTICE_COLUMNS, USER_COLUMNS, practice_from_row, user_from_row};
use super::throttle::{lock_throttle, store_throttle};
use super::{PostgresStore, insert_audit, map_err};
use crate::*;

/// The alert's columns, its readings and its patient's programs (`a` is the alert).
const ALERT_COLUMNS: &str = "a.id, a.practice_id, a.patient_id, a.reading_id, a.vital, a.level,
    a.state, a.code, a.opened_at, a.step, a.next_step_at, a.acknowledged_by, a.acknowledged_at,
    ARRAY(SELECT ar.reading_id FROM alert_readings ar WHERE ar.alert_id = a.id ORDER BY ar.reading_id),
    ARRAY(SELECT pp.program FROM patient_programs pp WHERE pp.patient_id = a.patient_id ORDER BY pp.program)";

fn alert_from_row(row: &Row) -> Alert {
    Alert {
        id: row.get(0),
        practice_id: row.get(1),
        patient_id: row.get(2),
        reading_id: row.get(3),
        vital: row.get(4),
        level: row.get(5),
        state: row.get(6),
        code: row.get(7),
        opened_at: row.get(8),
        step: row.get(9),
        next_step_at: row.get(10),
        acknowledged_by: row.get(11),
        acknowledged_at: row.get(12),
        reading_ids: row.get(13),
        patient_programs: row.get(14),
    }
}

/// Queues an alert's texts and remembers whom each went to at `step`.
async fn insert_alert_texts(
    tx: &impl GenericClient,
    at: DateTime<Utc>,
    alert_id: Uuid,
    step: i32,
    texts: &[AlertText],
) -> StoreResult<()> {
    for text in texts {
        let queued = insert_outbox(tx, &text.text, at).await?;
        tx.execute(
            "INSERT INTO alert_texts (outbox_id, alert_id, step, user_id, to_number)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &queued.id,
                &alert_id,
                &step,
                &text.user_id,
                &text.text.to_number,
            ],
        )
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

/// Opens an alert inside the reading's transaction, with its first notifications and texts.
pub(crate) async fn open_alert(
    tx: &impl GenericClient,
    at: DateTime<Utc>,
    practice_id: Uuid,
    reading: &StoredReading,
    new: &NewAlert,
) -> StoreResult<Alert> {
    let id = new_id();
    tx.execute(
        "INSERT INTO alerts (id, practice_id, patient_id, reading_id, vital, level, state, code,
                             opened_at, next_step_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9)",
        &[
            &id,
            &practice_id,
            &reading.patient_id,
            &reading.id,
            &reading.vital,
            &new.level,
            &new.code,
            &at,
            &new.next_step_at,
        ],
    )
    .await
    .map_err(map_err)?;
    attach_reading(tx, id, reading.id).await?;
    insert_notifications(tx, at, &new.notifications).await?;
    insert_alert_texts(tx, at, id, 0, &new.texts).await?;
    load_alert(tx, id).await
}

/// Adds a critical reading to an alert.
async fn attach_reading(
    tx: &impl GenericClient,
    alert_id: Uuid,
    reading_id: Uuid,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO alert_readings (alert_id, reading_id) VALUES ($1, $2)",
        &[&alert_id, &reading_id],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

async fn load_alert(client: &impl GenericClient, id: Uuid) -> StoreResult<Alert> {
    let row = client
        .query_opt(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.id = $1"),
            &[&id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    Ok(alert_from_row(&row))
}

/// Acknowledges the alert if it is open, with its audit row. `true` when it was open.
async fn acknowledge(
    tx: &impl GenericClient,
    audit: &Audit,
    alert: &Alert,
    user_id: Uuid,
) -> StoreResult<bool> {
    let updated = tx
        .execute(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_by = $2, acknowledged_at = $3
             WHERE id = $1 AND state = 'open'",
            &[&alert.id, &user_id, &audit.at],
        )
        .await
        .map_err(map_err)?;
    if updated == 1 {
        let customer_id: Uuid = tx
            .query_one(
                "SELECT customer_id FROM practices WHERE id = $1",
                &[&alert.practice_id],
            )
            .await
            .map_err(map_err)?
            .get(0);
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "alert.acknowledge",
            target_type: "alert",
            target_id: Some(alert.id.to_string()),
            patient_id: Some(alert.patient_id),
        };
        insert_audit(tx, audit, &event).await?;
    }
    Ok(updated == 1)
}

#[async_trait]
impl Alerts for PostgresStore {
    async fn get_alert(&self, id: Uuid) -> StoreResult<Alert> {
        let client = self.client().await?;
        load_alert(&client, id).await
    }

    async fn list_alerts(
        &self,
        practice_ids: Vec<Uuid>,
        state: Option<String>,
        page: Page,
    ) -> StoreResult<Paged<Alert>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts a
                     WHERE a.practice_id = ANY($1) AND ($2::text IS NULL OR a.state = $2)
                       AND ($3::uuid IS NULL OR a.id < $3)
                     ORDER BY a.id DESC LIMIT $4"
                ),
                &[&practice_ids, &state, &page.after, &page.fetch_limit()],
            )
            .await
            .map_err(map_err)?;
        Ok(Paged::from_rows(
            rows.iter().map(alert_from_row).collect(),
            page,
            |a| a.id,
        ))
    }

    async fn acknowledge_alert(
        &self,
        audit: &Audit,
        id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Alert> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let alert = load_alert(&tx, id).await?;
        acknowledge(&tx, audit, &alert, user_id).await?;
        let alert = load_alert(&tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(alert)
    }

    async fn acknowledge_by_text(
        &self,
        audit: &Audit,
        ack: TextAck,
        decide: DecideTextAck,
    ) -> StoreResult<TextAckOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let practice = tx
            .query_opt(
                &format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = $1"),
                &[&ack.practice_id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        let practice = practice_from_row(&practice)?;
        // The newest alert with the code, locked so an acknowledgement and an escalation step
        // (or two replies) are decided one after the other.
        let alert_id: Option<Uuid> = tx
            .query_opt(
                "SELECT id FROM alerts WHERE practice_id = $1 AND code = $2
                 ORDER BY opened_at DESC LIMIT 1 FOR UPDATE",
                &[&ack.practice_id, &ack.code],
            )
            .await
            .map_err(map_err)?
            .map(|r| r.get(0));
        let alert = match alert_id {
            Some(id) => Some(load_alert(&tx, id).await?),
            None => None,
        };
        let sent_to_number = match &alert {
            Some(alert) => tx
                .query_opt(
                    "SELECT 1 FROM alert_texts WHERE alert_id = $1 AND to_number = $2 LIMIT 1",
                    &[&alert.id, &ack.from_number],
                )
                .await
                .map_err(map_err)?
                .is_some(),
            None => false,
        };
        let senders = tx
            .query(
                &format!(
                    "SELECT {USER_COLUMNS} FROM users u WHERE u.mobile_phone = $1 ORDER BY u.id"
                ),
                &[&ack.from_number],
            )
            .await
            .map_err(map_err)?
            .iter()
            .map(user_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let acknowledged_by = match alert.as_ref().and_then(|a| a.acknowledged_by) {
            Some(user_id) => tx
                .query_opt(
                    &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"),
                    &[&user_id],
                )
                .await
                .map_err(map_err)?
                .map(|r| user_from_row(&r))
                .transpose()?,
            None => None,
        };
        let throttle_key = ack_miss_key(&ack.from_number);
        let miss_throttle = lock_throttle(&tx, &throttle_key).await?;
        let care_team = match &alert {
            Some(alert) => super::conversations::load_care_team(&tx, alert.patient_id).await?,
            None => Vec::new(),
        };
        let context = TextAckContext {
            practice,
            alert,
            sent_to_number,
            senders,
            care_team,
            acknowledged_by,
            miss_throttle,
        };
        let decision = decide(&context);
        let mut acknowledged_now = false;
        if let (Some(user_id), Some(alert)) = (decision.acknowledge_by, &context.alert) {
            let audit = Audit {
                user_id: Some(user_id),
                ..audit.clone()
            };
            acknowledged_now = acknowledge(&tx, &audit, alert, user_id).await?;
        }
        if let Some(reply) = &decision.reply {
            insert_outbox(&tx, reply, audit.at).await?;
        }
        if let Some(next) = &decision.miss_throttle {
            store_throttle(&tx, &throttle_key, next).await?;
        }
        let alert = match &context.alert {
            Some(alert) => Some(load_alert(&tx, alert.id).await?),
            None => None,
        };
        tx.commit().await.map_err(map_err)?;
        Ok(TextAckOutcome {
            alert,
            acknowledged_now,
            replied: decision.reply.is_some(),
        })
    }

    async fn due_alerts(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Alert>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.state = 'open' AND a.next_step_at <= $1
                     ORDER BY a.next_step_at, a.id LIMIT $2"
                ),
                &[&now, &i64::from(limit)],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(alert_from_row).collect())
    }

    async fn escalate(
        &self,
        at: DateTime<Utc>,
        id: Uuid,
        step: EscalationStep,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // The step number is the version: only one gateway moves it on.
        let updated = tx
            .execute(
                "UPDATE alerts SET step = $3, next_step_at = $4 WHERE id = $1 AND state = 'open' AND step = $2",
                &[&id, &step.from_step, &step.to_step, &step.next_step_at],
            )
            .await
            .map_err(map_err)?;
        if updated == 0 {
            tx.rollback().await.map_err(map_err)?;
            return Ok(false);
        }
        insert_notifications(&tx, at, &step.notifications).await?;
        insert_alert_texts(&tx, at, id, step.to_step, &step.texts).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn customer_admin_ids(&self, customer_id: Uuid) -> StoreResult<Vec<Uuid>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id FROM users WHERE customer_id = $1 AND role = 'customer_admin' AND locked_at IS NULL ORDER BY id",
                &[&customer_id],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn note_text_outcome(
        &self,
        outbox_id: Uuid,
        evidence: NumberEvidence,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let Some(row) = tx
            .query_opt(
                "SELECT from_number, to_number, patient_id IS NULL, state FROM outbox WHERE id = $1",
                &[&outbox_id],
            )
            .await
            .map_err(map_err)?
        else {
            return Ok(false);
        };
        let (from, to, to_staff, state): (String, String, bool, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        match evidence {
            NumberEvidence::Fails { code } if to_staff => {
                upsert_failing(&tx, &from, &to, code, at).await?;
            }
            NumberEvidence::Works => {
                delete_failing(&tx, &from, &to).await?;
            }
            _ => {}
        }
        let made_due = if state == "failed" {
            // Due at once when this was a text of the alert's current step and no other text of
            // that step is still on its way or arrived.
            tx.execute(
                "UPDATE alerts a SET next_step_at = $2
                 FROM alert_texts t
                 WHERE t.outbox_id = $1 AND a.id = t.alert_id AND a.state = 'open'
                   AND a.step = t.step AND a.next_step_at > $2
                   AND NOT EXISTS (
                       SELECT 1 FROM alert_texts o JOIN outbox x ON x.id = o.outbox_id
                       WHERE o.alert_id = a.id AND o.step = a.step AND o.outbox_id <> $1
                         AND x.state IN ('queued', 'sending', 'sent'))",
                &[&outbox_id, &at],
            )
            .await
            .map_err(map_err)?
                > 0
        } else {
            false
        };
        tx.commit().await.map_err(map_err)?;
        Ok(made_due)
    }

    async fn failing_numbers(
        &self,
        from_number: &str,
        numbers: &[String],
    ) -> StoreResult<Vec<String>> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT to_number FROM failing_numbers WHERE from_number = $1 AND to_number = ANY($2)
                 ORDER BY to_number",
                &[&from_number, &numbers],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn record_failing_number(
        &self,
        from_number: &str,
        to_number: &str,
        code: i32,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        upsert_failing(&client, from_number, to_number, code, at).await
    }

    async fn clear_failing_number(&self, from_number: &str, to_number: &str) -> StoreResult<()> {
        let client = self.client().await?;
        delete_failing(&client, from_number, to_number).await
    }

    async fn open_alert_stats(&self) -> StoreResult<OpenAlertStats> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*), min(opened_at) FROM alerts WHERE state = 'open'",
                &[],
            )
            .await
            .map_err(map_err)?;
        Ok(OpenAlertStats {
            open: row.get(0),
            oldest_opened_at: row.get(1),
        })
    }
}

/// The throttle key of "code not recognised" answers to a number.
fn ack_miss_key(number: &str) -> String {
    format!("ack-miss:{number}")
}

async fn upsert_failing(
    client: &impl GenericClient,
    from: &str,
    to: &str,
    code: i32,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    client
        .execute(
            "INSERT INTO failing_numbers (from_number, to_number, code, failed_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (from_number, to_number) DO UPDATE SET code = $3, failed_at = $4",
            &[&from, &to, &code, &at],
        )
        .await
        .map_err(map_err)?;
    Ok(())
}

async fn delete_failing(client: &impl GenericClient, from: &str, to: &str) -> StoreResult<()> {
    client
        .execute(
            "DELETE FROM failing_numbers WHERE from_number = $1 AND to_number = $2",
            &[&from, &to],
        )
        .await
        .map_err(map_err)?;
    Ok(())
}
