//! Alerts on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use uuid::Uuid;

use super::feed::insert_notifications;
use super::messaging::insert_outbox;
use super::rows::{PRACTICE_COLUMNS, from_micros, load_user, micros, practice_from_row};
use super::throttle::{read_throttle, store_throttle};
use super::{OwnedEvent, SqliteStore, map_err};
use crate::*;

const ALERT_COLUMNS: &str =
    "id, practice_id, patient_id, reading_id, vital, level, state, code, opened_at, step,
    next_step_at, acknowledged_by, acknowledged_at";

type RawAlert = (Alert, i64, i64, Option<i64>);

fn raw_alert(row: &Row) -> rusqlite::Result<RawAlert> {
    Ok((
        Alert {
            id: row.get(0)?,
            practice_id: row.get(1)?,
            patient_id: row.get(2)?,
            reading_id: row.get(3)?,
            vital: row.get(4)?,
            level: row.get(5)?,
            state: row.get(6)?,
            code: row.get(7)?,
            opened_at: DateTime::<Utc>::UNIX_EPOCH,
            step: row.get(9)?,
            next_step_at: DateTime::<Utc>::UNIX_EPOCH,
            acknowledged_by: row.get(11)?,
            acknowledged_at: None,
            reading_ids: Vec::new(),
            patient_programs: Vec::new(),
        },
        row.get(8)?,
        row.get(10)?,
        row.get(12)?,
    ))
}

/// Converts the times and loads the alert's readings and its patient's programs.
fn finish(conn: &Connection, (mut alert, opened, next, acked): RawAlert) -> StoreResult<Alert> {
    alert.opened_at = from_micros(opened)?;
    alert.next_step_at = from_micros(next)?;
    alert.acknowledged_at = acked.map(from_micros).transpose()?;
    alert.reading_ids = column_of(
        conn,
        "SELECT reading_id FROM alert_readings WHERE alert_id = ?1 ORDER BY reading_id",
        alert.id,
    )?;
    alert.patient_programs = column_of(
        conn,
        "SELECT program FROM patient_programs WHERE patient_id = ?1 ORDER BY program",
        alert.patient_id,
    )?;
    Ok(alert)
}

fn column_of<T: rusqlite::types::FromSql>(
    conn: &Connection,
    sql: &str,
    id: Uuid,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    stmt.query_map([id], |r| r.get(0))
        .map_err(map_err)?
        .collect::<Result<Vec<T>, _>>()
        .map_err(map_err)
}

fn load_alert(conn: &Connection, id: Uuid) -> StoreResult<Alert> {
    let raw = conn
        .query_row(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"),
            [id],
            raw_alert,
        )
        .map_err(map_err)?;
    finish(conn, raw)
}

/// Queues an alert's texts and remembers whom each went to at `step`.
fn insert_alert_texts(
    conn: &Connection,
    at: DateTime<Utc>,
    alert_id: Uuid,
    step: i32,
    texts: &[AlertText],
) -> StoreResult<()> {
    for text in texts {
        let queued = insert_outbox(conn, &text.text, at)?;
        conn.execute(
            "INSERT INTO alert_texts (outbox_id, alert_id, step, user_id, to_number)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![queued.id, alert_id, step, text.user_id, text.text.to_number],
        )
        .map_err(map_err)?;
    }
    Ok(())
}

/// Opens an alert inside the reading's transaction, with its first notifications and texts.
pub(crate) fn open_alert(
    conn: &Connection,
    at: DateTime<Utc>,
    practice_id: Uuid,
    reading: &StoredReading,
    new: &NewAlert,
) -> StoreResult<Alert> {
    let id = new_id();
    conn.execute(
        "INSERT INTO alerts (id, practice_id, patient_id, reading_id, vital, level, state, code,
                             opened_at, next_step_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7, ?8, ?9)",
        params![
            id,
            practice_id,
            reading.patient_id,
            reading.id,
            reading.vital,
            new.level,
            new.code,
            micros(at),
            micros(new.next_step_at)
        ],
    )
    .map_err(map_err)?;
    attach_reading(conn, id, reading.id)?;
    insert_notifications(conn, at, &new.notifications)?;
    insert_alert_texts(conn, at, id, 0, &new.texts)?;
    load_alert(conn, id)
}

/// Adds a critical reading to an alert.
fn attach_reading(conn: &Connection, alert_id: Uuid, reading_id: Uuid) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO alert_readings (alert_id, reading_id) VALUES (?1, ?2)",
        params![alert_id, reading_id],
    )
    .map_err(map_err)?;
    Ok(())
}

/// Acknowledges the alert if it is open, with its audit row. `true` when it was open.
fn acknowledge(
    conn: &Connection,
    audit: &Audit,
    alert: &Alert,
    user_id: Uuid,
) -> StoreResult<bool> {
    let updated = conn
        .execute(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_by = ?2, acknowledged_at = ?3
             WHERE id = ?1 AND state = 'open'",
            params![alert.id, user_id, micros(audit.at)],
        )
        .map_err(map_err)?;
    if updated == 1 {
        let customer_id: Uuid = conn
            .query_row(
                "SELECT customer_id FROM practices WHERE id = ?1",
                [alert.practice_id],
                |r| r.get(0),
            )
            .map_err(map_err)?;
        OwnedEvent {
            customer_id: Some(customer_id),
            action: "alert.acknowledge",
            target_type: "alert",
            target_id: Some(alert.id.to_string()),
            patient_id: Some(alert.patient_id),
        }
        .write(conn, audit)?;
    }
    Ok(updated == 1)
}

fn alerts_where(conn: &Connection, sql: &str, values: Vec<Value>) -> StoreResult<Vec<Alert>> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let rows = stmt
        .query_map(params_from_iter(values), raw_alert)
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    rows.into_iter().map(|raw| finish(conn, raw)).collect()
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
            Ok(Paged::from_rows(
                alerts_where(conn, &sql, values)?,
                page,
                |a| a.id,
            ))
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
            let alert = load_alert(tx, id)?;
            acknowledge(tx, &audit, &alert, user_id)?;
            load_alert(tx, id)
        })
        .await
    }

    async fn acknowledge_by_text(
        &self,
        audit: &Audit,
        ack: TextAck,
        decide: DecideTextAck,
    ) -> StoreResult<TextAckOutcome> {
        let audit = audit.clone();
        self.write(move |tx| {
            let practice = tx
                .query_row(
                    &format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = ?1"),
                    [ack.practice_id],
                    practice_from_row,
                )
                .map_err(map_err)?;
            let alert_id: Option<Uuid> = tx
                .query_row(
                    "SELECT id FROM alerts WHERE practice_id = ?1 AND code = ?2
                     ORDER BY opened_at DESC LIMIT 1",
                    params![ack.practice_id, ack.code],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?;
            let alert = alert_id.map(|id| load_alert(tx, id)).transpose()?;
            let sent_to_number = match &alert {
                Some(alert) => tx
                    .query_row(
                        "SELECT 1 FROM alert_texts WHERE alert_id = ?1 AND to_number = ?2 LIMIT 1",
                        params![alert.id, ack.from_number],
                        |_| Ok(()),
                    )
                    .optional()
                    .map_err(map_err)?
                    .is_some(),
                None => false,
            };
            let sender_ids: Vec<Uuid> = {
                let mut stmt = tx
                    .prepare_cached("SELECT id FROM users WHERE mobile_phone = ?1 ORDER BY id")
                    .map_err(map_err)?;
                stmt.query_map([&ack.from_number], |r| r.get(0))
                    .map_err(map_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(map_err)?
            };
            let senders = sender_ids
                .into_iter()
                .map(|id| load_user(tx, id))
                .collect::<StoreResult<Vec<_>>>()?;
            let acknowledged_by = alert
                .as_ref()
                .and_then(|a| a.acknowledged_by)
                .map(|id| load_user(tx, id))
                .transpose()?;
            let throttle_key = ack_miss_key(&ack.from_number);
            let miss_throttle = read_throttle(tx, &throttle_key)?;
            let care_team = match &alert {
                Some(alert) => super::conversations::load_care_team(tx, alert.patient_id)?,
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
                acknowledged_now = acknowledge(tx, &audit, alert, user_id)?;
            }
            if let Some(reply) = &decision.reply {
                insert_outbox(tx, reply, audit.at)?;
            }
            if let Some(next) = &decision.miss_throttle {
                store_throttle(tx, &throttle_key, next)?;
            }
            let alert = context
                .alert
                .as_ref()
                .map(|a| load_alert(tx, a.id))
                .transpose()?;
            Ok(TextAckOutcome {
                alert,
                acknowledged_now,
                replied: decision.reply.is_some(),
            })
        })
        .await
    }

    async fn due_alerts(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Alert>> {
        self.call(move |conn| {
            alerts_where(
                conn,
                &format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'open' AND next_step_at <= ?1
                     ORDER BY next_step_at, id LIMIT ?2"
                ),
                vec![
                    Value::Integer(micros(now)),
                    Value::Integer(i64::from(limit)),
                ],
            )
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
            insert_alert_texts(tx, at, id, step.to_step, &step.texts)?;
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

    async fn note_text_outcome(
        &self,
        outbox_id: Uuid,
        evidence: NumberEvidence,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.write(move |tx| {
            let Some((from, to, to_staff, state)) = tx
                .query_row(
                    "SELECT from_number, to_number, patient_id IS NULL, state FROM outbox WHERE id = ?1",
                    [outbox_id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, bool>(2)?,
                            r.get::<_, String>(3)?,
                        ))
                    },
                )
                .optional()
                .map_err(map_err)?
            else {
                return Ok(false);
            };
            match evidence {
                NumberEvidence::Fails { code } if to_staff => {
                    upsert_failing(tx, &from, &to, code, at)?;
                }
                NumberEvidence::Works => delete_failing(tx, &from, &to)?,
                _ => {}
            }
            if state != "failed" {
                return Ok(false);
            }
            // Due at once when this was a text of the alert's current step and no other text of
            // that step is still on its way or arrived.
            let made_due = tx
                .execute(
                    "UPDATE alerts SET next_step_at = ?2
                     WHERE state = 'open' AND next_step_at > ?2
                       AND EXISTS (SELECT 1 FROM alert_texts t
                                   WHERE t.outbox_id = ?1 AND t.alert_id = alerts.id
                                     AND t.step = alerts.step)
                       AND NOT EXISTS (
                           SELECT 1 FROM alert_texts o JOIN outbox x ON x.id = o.outbox_id
                           WHERE o.alert_id = alerts.id AND o.step = alerts.step
                             AND o.outbox_id <> ?1 AND x.state IN ('queued', 'sending', 'sent'))",
                    params![outbox_id, micros(at)],
                )
                .map_err(map_err)?;
            Ok(made_due > 0)
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

    async fn failing_numbers(
        &self,
        from_number: &str,
        numbers: &[String],
    ) -> StoreResult<Vec<String>> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let (from_number, numbers) = (from_number.to_string(), numbers.to_vec());
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT 1 FROM failing_numbers WHERE from_number = ?1 AND to_number = ?2",
                )
                .map_err(map_err)?;
            let mut failing = Vec::new();
            for number in numbers {
                if stmt.exists(params![from_number, number]).map_err(map_err)? {
                    failing.push(number);
                }
            }
            failing.sort();
            Ok(failing)
        })
        .await
    }

    async fn record_failing_number(
        &self,
        from_number: &str,
        to_number: &str,
        code: i32,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (from, to) = (from_number.to_string(), to_number.to_string());
        self.write(move |tx| upsert_failing(tx, &from, &to, code, at))
            .await
    }

    async fn clear_failing_number(&self, from_number: &str, to_number: &str) -> StoreResult<()> {
        let (from, to) = (from_number.to_string(), to_number.to_string());
        self.write(move |tx| delete_failing(tx, &from, &to)).await
    }
}

/// The throttle key of "code not recognised" answers to a number.
fn ack_miss_key(number: &str) -> String {
    format!("ack-miss:{number}")
}

fn upsert_failing(
    conn: &Connection,
    from: &str,
    to: &str,
    code: i32,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO failing_numbers (from_number, to_number, code, failed_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (from_number, to_number) DO UPDATE SET code = ?3, failed_at = ?4",
        params![from, to, code, micros(at)],
    )
    .map_err(map_err)?;
    Ok(())
}

fn delete_failing(conn: &Connection, from: &str, to: &str) -> StoreResult<()> {
    conn.execute(
        "DELETE FROM failing_numbers WHERE from_number = ?1 AND to_number = ?2",
        params![from, to],
    )
    .map_err(map_err)?;
    Ok(())
}
