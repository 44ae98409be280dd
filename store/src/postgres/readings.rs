//! Readings and ReadingSettings on postgres.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{PostgresStore, insert_audit, map_err};
use crate::readings::AlertOwner;
use crate::readings::{alert_row, window};
use crate::*;

const READING_COLUMNS: &str = "r.id, r.patient_id, r.practice_id, r.vital, r.value, r.taken_at, \
     r.received_at, r.level, r.reasons, r.source_user_id, r.source_api_token_id, r.sent_value, \
     r.sent_unit";

fn reading_from_row(row: &Row) -> StoredReading {
    StoredReading {
        id: row.get(0),
        patient_id: row.get(1),
        practice_id: row.get(2),
        vital: row.get(3),
        value: row.get(4),
        taken_at: row.get(5),
        received_at: row.get(6),
        level: row.get(7),
        reasons: row.get(8),
        source_user_id: row.get(9),
        source_api_token_id: row.get(10),
        sent_value: row.get(11),
        sent_unit: row.get(12),
    }
}

/// The stored reading with the same patient, vital, time and value, if there is one.
async fn same_reading(
    client: &impl GenericClient,
    new: &NewReading,
) -> StoreResult<Option<StoredReading>> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {READING_COLUMNS} FROM readings r
             WHERE r.patient_id = $1 AND r.vital = $2 AND r.taken_at = $3 AND r.value = $4"
        ))
        .await
        .map_err(map_err)?;
    let row = client
        .query_opt(
            &statement,
            &[&new.patient_id, &new.vital, &new.taken_at, &new.value],
        )
        .await
        .map_err(map_err)?;
    Ok(row.as_ref().map(reading_from_row))
}

/// Columns `first..first+7` of a settings row: the four bounds and the change rule.
fn settings_from_row(row: &Row, first: usize) -> StoreResult<Option<ReadingAlertRow>> {
    alert_row(
        [
            row.get(first),
            row.get(first + 1),
            row.get(first + 2),
            row.get(first + 3),
        ],
        row.get(first + 4),
        row.get(first + 5),
        row.get(first + 6),
    )
}

/// The patient's practice and its customer; `NotFound` when there is no such patient. `lock`
/// takes the patient row (`FOR NO KEY UPDATE`, which still lets rows referencing the patient be
/// written) so that readings of one patient are decided one at a time.
pub(super) async fn patient_practice(
    client: &impl GenericClient,
    patient_id: Uuid,
    lock: bool,
) -> StoreResult<(Uuid, Uuid)> {
    let sql = if lock {
        "SELECT p.practice_id, pr.customer_id FROM patients p JOIN practices pr ON pr.id = p.practice_id
         WHERE p.id = $1 FOR NO KEY UPDATE OF p"
    } else {
        "SELECT p.practice_id, pr.customer_id FROM patients p JOIN practices pr ON pr.id = p.practice_id
         WHERE p.id = $1"
    };
    let row = client
        .query_opt(sql, &[&patient_id])
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    Ok((row.get(0), row.get(1)))
}

/// The practice's customer; `NotFound` when there is no such practice. `lock` serialises saves
/// of the practice's settings.
async fn practice_customer(
    client: &impl GenericClient,
    practice_id: Uuid,
    lock: bool,
) -> StoreResult<Uuid> {
    let sql = if lock {
        "SELECT customer_id FROM practices WHERE id = $1 FOR NO KEY UPDATE"
    } else {
        "SELECT customer_id FROM practices WHERE id = $1"
    };
    let row = client
        .query_opt(sql, &[&practice_id])
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    Ok(row.get(0))
}

async fn load_effective(
    client: &impl GenericClient,
    patient_id: Uuid,
    practice_id: Uuid,
    vital: &str,
) -> StoreResult<EffectiveReadingAlert> {
    let statement = client
        .prepare_cached(
            "SELECT 1, critical_low, normal_low, normal_high, critical_high,
                    change_amount, change_unit, change_within_hours
             FROM patient_reading_alert_settings WHERE patient_id = $1 AND vital = $3
             UNION ALL
             SELECT 2, critical_low, normal_low, normal_high, critical_high,
                    change_amount, change_unit, change_within_hours
             FROM practice_reading_alert_defaults WHERE practice_id = $2 AND vital = $3
             ORDER BY 1 LIMIT 1",
        )
        .await
        .map_err(map_err)?;
    let row = client
        .query_opt(&statement, &[&patient_id, &practice_id, &vital])
        .await
        .map_err(map_err)?;
    Ok(match row {
        None => EffectiveReadingAlert {
            source: ReadingAlertSource::None,
            settings: None,
        },
        Some(row) => EffectiveReadingAlert {
            source: if row.get::<_, i32>(0) == 1 {
                ReadingAlertSource::Patient
            } else {
                ReadingAlertSource::Practice
            },
            settings: settings_from_row(&row, 1)?,
        },
    })
}

async fn load_practice_default(
    client: &impl GenericClient,
    practice_id: Uuid,
    vital: &str,
) -> StoreResult<Option<ReadingAlertRow>> {
    let row = client
        .query_opt(
            "SELECT critical_low, normal_low, normal_high, critical_high,
                    change_amount, change_unit, change_within_hours
             FROM practice_reading_alert_defaults WHERE practice_id = $1 AND vital = $2",
            &[&practice_id, &vital],
        )
        .await
        .map_err(map_err)?;
    match row {
        Some(row) => settings_from_row(&row, 0),
        None => Ok(None),
    }
}

async fn between(
    client: &impl GenericClient,
    patient_id: Uuid,
    vital: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<(DateTime<Utc>, f64)>> {
    let statement = client
        .prepare_cached(
            "SELECT taken_at, value FROM readings
             WHERE patient_id = $1 AND vital = $2 AND taken_at >= $3 AND taken_at <= $4
             ORDER BY taken_at, id",
        )
        .await
        .map_err(map_err)?;
    let rows = client
        .query(&statement, &[&patient_id, &vital, &from, &to])
        .await
        .map_err(map_err)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn load_frequency(
    client: &impl GenericClient,
    practice_id: Uuid,
) -> StoreResult<ReadingFrequency> {
    let mut frequency = ReadingFrequency::default();
    if let Some(row) = client
        .query_opt(
            "SELECT warn_after_days, out_of_range_count, updated_at FROM practice_reading_rules
             WHERE practice_id = $1",
            &[&practice_id],
        )
        .await
        .map_err(map_err)?
    {
        frequency.warn_after_days = row.get(0);
        frequency.out_of_range_count = row.get(1);
        frequency.updated_at = Some(row.get(2));
    }
    let rows = client
        .query(
            "SELECT vital, readings, per_days FROM practice_reading_frequency
             WHERE practice_id = $1 ORDER BY vital",
            &[&practice_id],
        )
        .await
        .map_err(map_err)?;
    frequency.vitals = rows
        .iter()
        .map(|r| VitalFrequency {
            vital: r.get(0),
            readings: r.get(1),
            per_days: r.get(2),
        })
        .collect();
    Ok(frequency)
}

async fn load_patient_frequency(
    client: &impl GenericClient,
    patient_id: Uuid,
) -> StoreResult<Vec<PatientVitalFrequency>> {
    let rows = client
        .query(
            "SELECT vital, readings, per_days, set_at FROM patient_reading_frequency
             WHERE patient_id = $1 ORDER BY vital",
            &[&patient_id],
        )
        .await
        .map_err(map_err)?;
    Ok(rows
        .iter()
        .map(|r| PatientVitalFrequency {
            vital: r.get(0),
            readings: r.get(1),
            per_days: r.get(2),
            set_at: r.get(3),
        })
        .collect())
}

/// Copies the practice's vital frequencies to every patient of the practice: a patient's rows
/// that differ from the practice's (or that the practice no longer has) are replaced, rows that
/// are the same keep their `set_at`.
async fn apply_frequency_to_all_patients(
    client: &impl GenericClient,
    practice_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    client
        .execute(
            "DELETE FROM patient_reading_frequency pf
             USING patients p
             WHERE pf.patient_id = p.id AND p.practice_id = $1
               AND NOT EXISTS (SELECT 1 FROM practice_reading_frequency f
                               WHERE f.practice_id = $1 AND f.vital = pf.vital
                                 AND f.readings = pf.readings AND f.per_days = pf.per_days)",
            &[&practice_id],
        )
        .await
        .map_err(map_err)?;
    client
        .execute(
            "INSERT INTO patient_reading_frequency (patient_id, vital, readings, per_days, set_at)
             SELECT p.id, f.vital, f.readings, f.per_days, $2
             FROM patients p JOIN practice_reading_frequency f ON f.practice_id = p.practice_id
             WHERE p.practice_id = $1
             ON CONFLICT (patient_id, vital) DO NOTHING",
            &[&practice_id, &at],
        )
        .await
        .map_err(map_err)?;
    Ok(())
}

/// The row's columns as SQL parameters: four bounds, then amount, unit, hours (NULL for none).
type SettingParams = (
    [Option<f64>; 4],
    Option<f64>,
    Option<&'static str>,
    Option<i32>,
);

fn setting_params(settings: Option<&ReadingAlertRow>) -> SettingParams {
    match settings {
        None => ([None; 4], None, None, None),
        Some(s) => (
            [
                Some(s.critical_low),
                Some(s.normal_low),
                Some(s.normal_high),
                Some(s.critical_high),
            ],
            s.change.map(|c| c.amount),
            s.change.map(|c| c.unit),
            s.change.map(|c| c.within_hours),
        ),
    }
}

/// Saves a practice's default or a patient's own settings of a vital (insert or replace).
async fn upsert_alert_settings(
    tx: &impl GenericClient,
    owner: AlertOwner,
    owner_id: Uuid,
    vital: &str,
    settings: &ReadingAlertRow,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let (table, column) = (owner.table(), owner.column());
    let (bounds, amount, unit, hours) = setting_params(Some(settings));
    tx.execute(
        &format!(
            "INSERT INTO {table}
                 ({column}, vital, critical_low, normal_low, normal_high, critical_high,
                  change_amount, change_unit, change_within_hours, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT ({column}, vital) DO UPDATE
             SET critical_low = EXCLUDED.critical_low, normal_low = EXCLUDED.normal_low,
                 normal_high = EXCLUDED.normal_high, critical_high = EXCLUDED.critical_high,
                 change_amount = EXCLUDED.change_amount, change_unit = EXCLUDED.change_unit,
                 change_within_hours = EXCLUDED.change_within_hours,
                 updated_at = EXCLUDED.updated_at"
        ),
        &[
            &owner_id, &vital, &bounds[0], &bounds[1], &bounds[2], &bounds[3], &amount, &unit,
            &hours, &at,
        ],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl Readings for PostgresStore {
    async fn record_reading(
        &self,
        audit: &Audit,
        new: NewReading,
        decide: DecideReading,
    ) -> StoreResult<RecordedReading> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let (practice_id, customer_id) = patient_practice(&tx, new.patient_id, true).await?;
        if let Some(reading) = same_reading(&tx, &new).await? {
            tx.rollback().await.map_err(map_err)?;
            return Ok(RecordedReading {
                reading,
                context: None,
                alert: None,
                attached_to: None,
                repeat: true,
            });
        }
        let settings = load_effective(&tx, new.patient_id, practice_id, &new.vital).await?;
        let nearby = match settings.settings.and_then(|s| s.change) {
            Some(change) => {
                let (from, to) = window(new.taken_at, change.within_hours);
                between(&tx, new.patient_id, &new.vital, from, to).await?
            }
            None => Vec::new(),
        };
        let open_alert =
            super::alerts::open_alert_of_vital(&tx, new.patient_id, &new.vital).await?;
        let context = ReadingContext {
            practice_id,
            settings,
            nearby,
            open_alert,
        };
        let decision = decide(&context)
            .map_err(|AlertNeeded| StoreError::Rule(RuleRefusal::ReadingNeedsAlert))?;
        let (source_user_id, source_api_token_id) = match new.source {
            ReadingSource::User(id) => (Some(id), None),
            ReadingSource::ApiToken(id) => (None, Some(id)),
            ReadingSource::System => (None, None),
        };
        let (sent_value, sent_unit) = match &new.sent {
            Some((value, unit)) => (Some(*value), Some(unit.as_str())),
            None => (None, None),
        };
        let id = new_id();
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO readings AS r (id, patient_id, practice_id, vital, value, taken_at,
                         received_at, level, reasons, source_user_id, source_api_token_id,
                         sent_value, sent_unit)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                     RETURNING {READING_COLUMNS}"
                ),
                &[
                    &id,
                    &new.patient_id,
                    &practice_id,
                    &new.vital,
                    &new.value,
                    &new.taken_at,
                    &audit.at,
                    &decision.level,
                    &decision.reasons,
                    &source_user_id,
                    &source_api_token_id,
                    &sent_value,
                    &sent_unit,
                ],
            )
            .await
            .map_err(map_err)?;
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "reading.create",
            target_type: "reading",
            target_id: Some(id.to_string()),
            patient_id: Some(new.patient_id),
        };
        insert_audit(&tx, audit, &event).await?;
        let reading = reading_from_row(&row);
        let alert = match &decision.alert {
            Some(new) => {
                Some(super::alerts::open_alert(&tx, audit.at, practice_id, &reading, new).await?)
            }
            None => None,
        };
        if let Some(alert_id) = decision.attach_to {
            super::alerts::attach_reading(&tx, alert_id, reading.id).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(RecordedReading {
            reading,
            context: Some(context),
            alert,
            attached_to: decision.attach_to,
            repeat: false,
        })
    }

    async fn list_readings(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        vital: Option<String>,
        page: Page,
    ) -> StoreResult<Paged<StoredReading>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let (_, customer_id) = patient_practice(&tx, patient_id, false).await?;
        let statement = tx
            .prepare_cached(&format!(
                "SELECT {READING_COLUMNS} FROM readings r
                 WHERE r.patient_id = $1 AND ($2::text IS NULL OR r.vital = $2)
                   AND ($3::uuid IS NULL OR (r.taken_at, r.id) <
                        (SELECT c.taken_at, c.id FROM readings c WHERE c.id = $3 AND c.patient_id = $1))
                 ORDER BY r.taken_at DESC, r.id DESC LIMIT $4"
            ))
            .await
            .map_err(map_err)?;
        let rows = tx
            .query(
                &statement,
                &[&patient_id, &vital, &page.after, &page.fetch_limit()],
            )
            .await
            .map_err(map_err)?;
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "patient.readings.read",
            target_type: "patient",
            target_id: Some(patient_id.to_string()),
            patient_id: Some(patient_id),
        };
        insert_audit(&tx, audit, &event).await?;
        tx.commit().await.map_err(map_err)?;
        let readings = rows.iter().map(reading_from_row).collect();
        Ok(Paged::from_rows(readings, page, |r| r.id))
    }

    async fn readings_between(
        &self,
        patient_id: Uuid,
        vital: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<(DateTime<Utc>, f64)>> {
        let client = self.client().await?;
        between(&client, patient_id, vital, from, to).await
    }
}

#[async_trait]
impl ReadingSettings for PostgresStore {
    async fn practice_reading_alert(
        &self,
        practice_id: Uuid,
        vital: &str,
    ) -> StoreResult<Option<ReadingAlertRow>> {
        let client = self.client().await?;
        load_practice_default(&client, practice_id, vital).await
    }

    async fn save_practice_reading_alert(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        vital: &str,
        settings: ReadingAlertRow,
        apply_to: ApplyReadingDefaultsTo,
    ) -> StoreResult<ReadingAlertRow> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let customer_id = practice_customer(&tx, practice_id, true).await?;
        let action = match apply_to {
            ApplyReadingDefaultsTo::NewPatients => {
                // Existing patients keep what they had: the previous default (or an explicit
                // "none") becomes their own row where they have none.
                let previous = load_practice_default(&tx, practice_id, vital).await?;
                let (bounds, amount, unit, hours) = setting_params(previous.as_ref());
                tx.execute(
                    "INSERT INTO patient_reading_alert_settings
                         (patient_id, vital, critical_low, normal_low, normal_high, critical_high,
                          change_amount, change_unit, change_within_hours, updated_at)
                     SELECT p.id, $2::text, $3::float8, $4::float8, $5::float8, $6::float8,
                            $7::float8, $8::text, $9::int4, $10::timestamptz
                     FROM patients p WHERE p.practice_id = $1
                     ON CONFLICT (patient_id, vital) DO NOTHING",
                    &[
                        &practice_id,
                        &vital,
                        &bounds[0],
                        &bounds[1],
                        &bounds[2],
                        &bounds[3],
                        &amount,
                        &unit,
                        &hours,
                        &audit.at,
                    ],
                )
                .await
                .map_err(map_err)?;
                "practice.reading_alert_defaults.set_for_new_patients"
            }
            ApplyReadingDefaultsTo::AllPatients => {
                tx.execute(
                    "DELETE FROM patient_reading_alert_settings s USING patients p
                     WHERE s.patient_id = p.id AND p.practice_id = $1 AND s.vital = $2",
                    &[&practice_id, &vital],
                )
                .await
                .map_err(map_err)?;
                "practice.reading_alert_defaults.set_for_all_patients"
            }
        };
        upsert_alert_settings(
            &tx,
            AlertOwner::Practice,
            practice_id,
            vital,
            &settings,
            audit.at,
        )
        .await?;
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action,
            target_type: "practice",
            target_id: Some(practice_id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        let saved = load_practice_default(&tx, practice_id, vital)
            .await?
            .ok_or_else(|| StoreError::Unexpected("the saved default is gone".into()))?;
        tx.commit().await.map_err(map_err)?;
        Ok(saved)
    }

    async fn patient_reading_alert(
        &self,
        patient_id: Uuid,
        vital: &str,
    ) -> StoreResult<EffectiveReadingAlert> {
        let client = self.client().await?;
        let (practice_id, _) = patient_practice(&client, patient_id, false).await?;
        load_effective(&client, patient_id, practice_id, vital).await
    }

    async fn save_patient_reading_alert(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        vital: &str,
        settings: ReadingAlertRow,
    ) -> StoreResult<EffectiveReadingAlert> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let (practice_id, customer_id) = patient_practice(&tx, patient_id, false).await?;
        upsert_alert_settings(
            &tx,
            AlertOwner::Patient,
            patient_id,
            vital,
            &settings,
            audit.at,
        )
        .await?;
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "patient.reading_alerts.update",
            target_type: "patient",
            target_id: Some(patient_id.to_string()),
            patient_id: Some(patient_id),
        };
        insert_audit(&tx, audit, &event).await?;
        let effective = load_effective(&tx, patient_id, practice_id, vital).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(effective)
    }

    async fn reading_frequency(&self, practice_id: Uuid) -> StoreResult<ReadingFrequency> {
        let client = self.client().await?;
        load_frequency(&client, practice_id).await
    }

    async fn save_reading_frequency(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        frequency: ReadingFrequency,
        apply_to: ApplyReadingDefaultsTo,
    ) -> StoreResult<ReadingFrequency> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let customer_id = practice_customer(&tx, practice_id, true).await?;
        tx.execute(
            "INSERT INTO practice_reading_rules (practice_id, warn_after_days, out_of_range_count, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (practice_id) DO UPDATE
             SET warn_after_days = EXCLUDED.warn_after_days,
                 out_of_range_count = EXCLUDED.out_of_range_count, updated_at = EXCLUDED.updated_at",
            &[
                &practice_id,
                &frequency.warn_after_days,
                &frequency.out_of_range_count,
                &audit.at,
            ],
        )
        .await
        .map_err(map_err)?;
        tx.execute(
            "DELETE FROM practice_reading_frequency WHERE practice_id = $1",
            &[&practice_id],
        )
        .await
        .map_err(map_err)?;
        for vital in &frequency.vitals {
            tx.execute(
                "INSERT INTO practice_reading_frequency (practice_id, vital, readings, per_days)
                 VALUES ($1, $2, $3, $4)",
                &[&practice_id, &vital.vital, &vital.readings, &vital.per_days],
            )
            .await
            .map_err(map_err)?;
        }
        let action = match apply_to {
            ApplyReadingDefaultsTo::NewPatients => "practice.reading_frequency.update",
            ApplyReadingDefaultsTo::AllPatients => {
                apply_frequency_to_all_patients(&tx, practice_id, audit.at).await?;
                "practice.reading_frequency.set_for_all_patients"
            }
        };
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action,
            target_type: "practice",
            target_id: Some(practice_id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        let saved = load_frequency(&tx, practice_id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(saved)
    }

    async fn patient_reading_frequency(
        &self,
        patient_id: Uuid,
    ) -> StoreResult<Vec<PatientVitalFrequency>> {
        let client = self.client().await?;
        patient_practice(&client, patient_id, false).await?;
        load_patient_frequency(&client, patient_id).await
    }

    async fn save_patient_reading_frequency(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        vitals: Vec<VitalFrequency>,
    ) -> StoreResult<Vec<PatientVitalFrequency>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let (_, customer_id) = patient_practice(&tx, patient_id, true).await?;
        let current = load_patient_frequency(&tx, patient_id).await?;
        tx.execute(
            "DELETE FROM patient_reading_frequency WHERE patient_id = $1",
            &[&patient_id],
        )
        .await
        .map_err(map_err)?;
        for vital in &vitals {
            let set_at = crate::readings::kept_set_at(&current, vital).unwrap_or(audit.at);
            tx.execute(
                "INSERT INTO patient_reading_frequency (patient_id, vital, readings, per_days, set_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&patient_id, &vital.vital, &vital.readings, &vital.per_days, &set_at],
            )
            .await
            .map_err(map_err)?;
        }
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "patient.reading_frequency.update",
            target_type: "patient",
            target_id: Some(patient_id.to_string()),
            patient_id: Some(patient_id),
        };
        insert_audit(&tx, audit, &event).await?;
        let saved = load_patient_frequency(&tx, patient_id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(saved)
    }

    async fn recent_levels(
        &self,
        patient_id: Uuid,
        vital: &str,
        n: u32,
    ) -> StoreResult<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT level FROM readings WHERE patient_id = $1 AND vital = $2 ORDER BY taken_at DESC, id DESC LIMIT $3",
                &[&patient_id, &vital, &i64::from(n)],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn overdue_candidates(&self, now: DateTime<Utc>) -> StoreResult<Vec<OverdueCandidate>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT c.patient_id, c.practice_id, c.vital, c.readings, c.per_days,
                        c.warn_after_days, c.created_at, c.set_at, c.newest,
                        (SELECT taken_at FROM readings x
                         WHERE x.patient_id = c.patient_id AND x.vital = c.vital
                         ORDER BY taken_at DESC, id DESC OFFSET c.readings - 1 LIMIT 1),
                        w.warned_for
                 FROM (SELECT p.id AS patient_id, p.practice_id, f.vital, f.readings, f.per_days,
                              r.warn_after_days, p.created_at, f.set_at,
                              greatest(p.created_at, f.set_at) AS counted_from,
                              (SELECT max(taken_at) FROM readings x
                               WHERE x.patient_id = p.id AND x.vital = f.vital) AS newest
                       FROM practice_reading_rules r
                       JOIN patients p ON p.practice_id = r.practice_id
                       JOIN patient_reading_frequency f ON f.patient_id = p.id
                       WHERE r.warn_after_days > 0) c
                 LEFT JOIN overdue_vital_warnings w
                        ON w.patient_id = c.patient_id AND w.vital = c.vital
                 WHERE greatest(c.counted_from, c.newest) + make_interval(days => c.warn_after_days) <= $1
                   AND c.counted_from + make_interval(days => c.per_days + c.warn_after_days) <= $1",
                &[&now],
            )
            .await
            .map_err(map_err)?;
        Ok(rows
            .iter()
            .map(|r| OverdueCandidate {
                patient_id: r.get(0),
                practice_id: r.get(1),
                vital: r.get(2),
                readings: r.get(3),
                per_days: r.get(4),
                warn_after_days: r.get(5),
                enrolled_at: r.get(6),
                set_at: r.get(7),
                newest_at: r.get(8),
                nth_newest_at: r.get(9),
                warned_for: r.get(10),
            })
            .collect())
    }

    async fn record_overdue_warning(
        &self,
        at: DateTime<Utc>,
        patient_id: Uuid,
        vital: &str,
        warned_for: DateTime<Utc>,
        notifications: Vec<NewNotification>,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let changed = tx
            .execute(
                "INSERT INTO overdue_vital_warnings (patient_id, vital, warned_for, warned_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (patient_id, vital) DO UPDATE
                 SET warned_for = excluded.warned_for, warned_at = excluded.warned_at
                 WHERE overdue_vital_warnings.warned_for <> excluded.warned_for",
                &[&patient_id, &vital, &warned_for, &at],
            )
            .await
            .map_err(map_err)?;
        if changed == 0 {
            tx.rollback().await.map_err(map_err)?;
            return Ok(false);
        }
        super::feed::insert_notifications(&tx, at, &notifications).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }
}
