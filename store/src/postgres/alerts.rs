//! Alerts on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::feed::insert_notifications;
use super::messaging::insert_outbox;
use super::rows::{USER_COLUMNS, user_from_row};
use super::{PostgresStore, insert_audit, map_err};
use crate::*;

const ALERT_COLUMNS: &str =
    "id, practice_id, patient_id, reading_id, level, state, code, opened_at, step, next_step_at,
    acknowledged_by, acknowledged_at";

fn alert_from_row(row: &Row) -> Alert {
    Alert {
        id: row.get(0),
        practice_id: row.get(1),
        patient_id: row.get(2),
        reading_id: row.get(3),
        level: row.get(4),
        state: row.get(5),
        code: row.get(6),
        opened_at: row.get(7),
        step: row.get(8),
        next_step_at: row.get(9),
        acknowledged_by: row.get(10),
        acknowledged_at: row.get(11),
    }
}

/// Opens an alert inside the reading's transaction, with its first notifications and texts.
pub(crate) async fn open_alert(
    tx: &impl GenericClient,
    at: DateTime<Utc>,
    practice_id: Uuid,
    patient_id: Uuid,
    reading_id: Uuid,
    new: &NewAlert,
) -> StoreResult<Alert> {
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO alerts (id, practice_id, patient_id, reading_id, level, state, code, opened_at, next_step_at)
                 VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8) RETURNING {ALERT_COLUMNS}"
            ),
            &[&new_id(), &practice_id, &patient_id, &reading_id, &new.level, &new.code, &at, &new.next_step_at],
        )
        .await
        .map_err(map_err)?;
    insert_notifications(tx, at, &new.notifications).await?;
    for text in &new.texts {
        insert_outbox(tx, text, at).await?;
    }
    Ok(alert_from_row(&row))
}

async fn load_alert(client: &impl GenericClient, id: Uuid) -> StoreResult<Alert> {
    let row = client
        .query_opt(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    Ok(alert_from_row(&row))
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
                    "SELECT {ALERT_COLUMNS} FROM alerts
                     WHERE practice_id = ANY($1) AND ($2::text IS NULL OR state = $2) AND ($3::uuid IS NULL OR id < $3)
                     ORDER BY id DESC LIMIT $4"
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
        let updated = tx
            .execute(
                "UPDATE alerts SET state = 'acknowledged', acknowledged_by = $2, acknowledged_at = $3
                 WHERE id = $1 AND state = 'open'",
                &[&id, &user_id, &audit.at],
            )
            .await
            .map_err(map_err)?;
        let alert = load_alert(&tx, id).await?;
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
                target_id: Some(id.to_string()),
                patient_id: Some(alert.patient_id),
            };
            insert_audit(&tx, audit, &event).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(alert)
    }

    async fn open_alert_by_code(
        &self,
        practice_id: Uuid,
        code: &str,
    ) -> StoreResult<Option<Alert>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE practice_id = $1 AND code = $2 AND state = 'open'"),
                &[&practice_id, &code],
            )
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| alert_from_row(&r)))
    }

    async fn due_alerts(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Alert>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'open' AND next_step_at <= $1
                     ORDER BY next_step_at, id LIMIT $2"
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
        for text in &step.texts {
            insert_outbox(&tx, text, at).await?;
        }
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

    async fn users_with_mobile(&self, number: &str) -> StoreResult<Vec<User>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.mobile_phone = $1 AND u.locked_at IS NULL"),
                &[&number],
            )
            .await
            .map_err(map_err)?;
        rows.iter().map(user_from_row).collect()
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
