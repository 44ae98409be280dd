//! Alerts on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use uuid::Uuid;

use super::feed::insert_notifications;
use super::messaging::insert_outbox;
use super::rows::{from_micros, load_user, micros};
use super::{OwnedEvent, SqliteStore, map_err};
use crate::*;

const ALERT_COLUMNS: &str =
    "id, practice_id, patient_id, reading_id, level, state, code, opened_at, step, next_step_at,
    acknowledged_by, acknowledged_at";

type RawAlert = (Alert, i64, i64, Option<i64>);

fn raw_alert(row: &Row) -> rusqlite::Result<RawAlert> {
    Ok((
        Alert {
            id: row.get(0)?,
            practice_id: row.get(1)?,
            patient_id: row.get(2)?,
            reading_id: row.get(3)?,
            level: row.get(4)?,
            state: row.get(5)?,
            code: row.get(6)?,
            opened_at: DateTime::<Utc>::UNIX_EPOCH,
            step: row.get(8)?,
            next_step_at: DateTime::<Utc>::UNIX_EPOCH,
            acknowledged_by: row.get(10)?,
            acknowledged_at: None,
        },
        row.get(7)?,
        row.get(9)?,
        row.get(11)?,
    ))
}

fn finish((mut alert, opened, next, acked): RawAlert) -> StoreResult<Alert> {
    alert.opened_at = from_micros(opened)?;
    alert.next_step_at = from_micros(next)?;
    alert.acknowledged_at = acked.map(from_micros).transpose()?;
    Ok(alert)
}

fn load_alert(conn: &Connection, id: Uuid) -> StoreResult<Alert> {
    finish(
        conn.query_row(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"),
            [id],
            raw_alert,
        )
        .map_err(map_err)?,
    )
}

/// Opens an alert inside the reading's transaction, with its first notifications and texts.
pub(crate) fn open_alert(
    conn: &Connection,
    at: DateTime<Utc>,
    practice_id: Uuid,
    patient_id: Uuid,
    reading_id: Uuid,
    new: &NewAlert,
) -> StoreResult<Alert> {
    let id = new_id();
    conn.execute(
        "INSERT INTO alerts (id, practice_id, patient_id, reading_id, level, state, code, opened_at, next_step_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?8)",
        params![id, practice_id, patient_id, reading_id, new.level, new.code, micros(at), micros(new.next_step_at)],
    )
    .map_err(map_err)?;
    insert_notifications(conn, at, &new.notifications)?;
    for text in &new.texts {
        insert_outbox(conn, text, at)?;
    }
    load_alert(conn, id)
}

fn collect(rows: Vec<RawAlert>) -> StoreResult<Vec<Alert>> {
    rows.into_iter().map(finish).collect()
}

#[async_trait]
impl Alerts for SqliteStore {
    async fn get_alert(&self, id: Uuid) -> StoreResult<Alert> {
        self.call(move |conn| load_alert(conn, id)).await
    }

    async fn list_alerts(
        &self,
        practice_ids: Vec<Uuid>,
        state: Option<String>,
        page: Page,
    ) -> StoreResult<Paged<Alert>> {
        self.call(move |conn| {
            if practice_ids.is_empty() {
                return Ok(Paged {
                    items: Vec::new(),
                    next_cursor: None,
                });
            }
            let mut values: Vec<Value> = Vec::new();
            let mut numbers = Vec::new();
            for id in &practice_ids {
                values.push(Value::Blob(id.as_bytes().to_vec()));
                numbers.push(format!("?{}", values.len()));
            }
            let mut sql = format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE practice_id IN ({})",
                numbers.join(", ")
            );
            if let Some(state) = &state {
                values.push(Value::Text(state.clone()));
                sql.push_str(&format!(" AND state = ?{}", values.len()));
            }
            if let Some(after) = page.after {
                values.push(Value::Blob(after.as_bytes().to_vec()));
                sql.push_str(&format!(" AND id < ?{}", values.len()));
            }
            values.push(Value::Integer(page.fetch_limit()));
            sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", values.len()));
            let mut stmt = conn.prepare(&sql).map_err(map_err)?;
            let rows = stmt
                .query_map(params_from_iter(values), raw_alert)
                .map_err(map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err)?;
            Ok(Paged::from_rows(collect(rows)?, page, |a| a.id))
        })
        .await
    }

    async fn acknowledge_alert(
        &self,
        audit: &Audit,
        id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Alert> {
        let audit = audit.clone();
        self.write(move |tx| {
            let updated = tx
                .execute(
                    "UPDATE alerts SET state = 'acknowledged', acknowledged_by = ?2, acknowledged_at = ?3
                     WHERE id = ?1 AND state = 'open'",
                    params![id, user_id, micros(audit.at)],
                )
                .map_err(map_err)?;
            let alert = load_alert(tx, id)?;
            if updated == 1 {
                let customer_id: Uuid = tx
                    .query_row("SELECT customer_id FROM practices WHERE id = ?1", [alert.practice_id], |r| r.get(0))
                    .map_err(map_err)?;
                OwnedEvent {
                    customer_id: Some(customer_id),
                    action: "alert.acknowledge",
                    target_type: "alert",
                    target_id: Some(id.to_string()),
                    patient_id: Some(alert.patient_id),
                }
                .write(tx, &audit)?;
            }
            Ok(alert)
        })
        .await
    }

    async fn open_alert_by_code(
        &self,
        practice_id: Uuid,
        code: &str,
    ) -> StoreResult<Option<Alert>> {
        let code = code.to_string();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE practice_id = ?1 AND code = ?2 AND state = 'open'"),
                params![practice_id, code],
                raw_alert,
            )
            .optional()
            .map_err(map_err)?
            .map(finish)
            .transpose()
        })
        .await
    }

    async fn due_alerts(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Alert>> {
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'open' AND next_step_at <= ?1
                     ORDER BY next_step_at, id LIMIT ?2"
                ))
                .map_err(map_err)?;
            let rows = stmt
                .query_map(params![micros(now), i64::from(limit)], raw_alert)
                .map_err(map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err)?;
            collect(rows)
        })
        .await
    }

    async fn escalate(
        &self,
        at: DateTime<Utc>,
        id: Uuid,
        step: EscalationStep,
    ) -> StoreResult<bool> {
        self.write(move |tx| {
            let updated = tx
                .execute(
                    "UPDATE alerts SET step = ?3, next_step_at = ?4 WHERE id = ?1 AND state = 'open' AND step = ?2",
                    params![id, step.from_step, step.to_step, micros(step.next_step_at)],
                )
                .map_err(map_err)?;
            if updated == 0 {
                return Ok(false);
            }
            insert_notifications(tx, at, &step.notifications)?;
            for text in &step.texts {
                insert_outbox(tx, text, at)?;
            }
            Ok(true)
        })
        .await
    }

    async fn customer_admin_ids(&self, customer_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id FROM users WHERE customer_id = ?1 AND role = 'customer_admin' AND locked_at IS NULL ORDER BY id",
                )
                .map_err(map_err)?;
            stmt.query_map([customer_id], |r| r.get(0))
                .map_err(map_err)?
                .collect::<Result<Vec<Uuid>, _>>()
                .map_err(map_err)
        })
        .await
    }

    async fn users_with_mobile(&self, number: &str) -> StoreResult<Vec<User>> {
        let number = number.to_string();
        self.call(move |conn| {
            let ids: Vec<Uuid> = {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT id FROM users WHERE mobile_phone = ?1 AND locked_at IS NULL",
                    )
                    .map_err(map_err)?;
                stmt.query_map([number], |r| r.get(0))
                    .map_err(map_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(map_err)?
            };
            ids.into_iter().map(|id| load_user(conn, id)).collect()
        })
        .await
    }

    async fn open_alert_stats(&self) -> StoreResult<OpenAlertStats> {
        self.call(|conn| {
            let (open, oldest): (i64, Option<i64>) = conn
                .query_row(
                    "SELECT count(*), min(opened_at) FROM alerts WHERE state = 'open'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(map_err)?;
            Ok(OpenAlertStats {
                open,
                oldest_opened_at: oldest.map(from_micros).transpose()?,
            })
        })
        .await
    }
}
