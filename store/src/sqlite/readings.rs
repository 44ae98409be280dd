//! Readings and ReadingSettings on sqlite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use super::rows::{micros, time};
use super::{OwnedEvent, SqliteStore, map_err};
use crate::readings::AlertOwner;
use crate::readings::{alert_row, window};
use crate::*;

const READING_COLUMNS: &str = "r.id, r.patient_id, r.practice_id, r.vital, r.value, r.taken_at, \
     r.received_at, r.level, r.reasons, r.source_user_id, r.source_api_token_id, r.sent_value, \
     r.sent_unit";

fn reading_from_row(row: &Row) -> rusqlite::Result<StoredReading> {
    let reasons: String = row.get(8)?;
    Ok(StoredReading {
        id: row.get(0)?,
        patient_id: row.get(1)?,
        practice_id: row.get(2)?,
        vital: row.get(3)?,
        value: row.get(4)?,
        taken_at: time(row, 5)?,
        received_at: time(row, 6)?,
        level: row.get(7)?,
        reasons: serde_json::from_str(&reasons).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, Box::new(e))
        })?,
        source_user_id: row.get(9)?,
        source_api_token_id: row.get(10)?,
        sent_value: row.get(11)?,
        sent_unit: row.get(12)?,
    })
}

/// The stored reading with the same patient, vital, time and value, if there is one.
fn same_reading(conn: &Connection, new: &NewReading) -> StoreResult<Option<StoredReading>> {
    conn.prepare_cached(&format!(
        "SELECT {READING_COLUMNS} FROM readings r
         WHERE r.patient_id = ?1 AND r.vital = ?2 AND r.taken_at = ?3 AND r.value = ?4"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(
            params![new.patient_id, new.vital, micros(new.taken_at), new.value],
            reading_from_row,
        )
        .optional()
    })
    .map_err(map_err)
}

/// The raw settings columns `first..first+7`, turned into a row by [`alert_row`] outside the
/// rusqlite closure.
type RawSettings = ([Option<f64>; 4], Option<f64>, Option<String>, Option<i32>);

fn raw_settings(row: &Row, first: usize) -> rusqlite::Result<RawSettings> {
    Ok((
        [
            row.get(first)?,
            row.get(first + 1)?,
            row.get(first + 2)?,
            row.get(first + 3)?,
        ],
        row.get(first + 4)?,
        row.get(first + 5)?,
        row.get(first + 6)?,
    ))
}

fn to_settings(raw: RawSettings) -> StoreResult<Option<ReadingAlertRow>> {
    alert_row(raw.0, raw.1, raw.2, raw.3)
}

/// The patient's practice and its customer; `NotFound` when there is no such patient. (Write
/// transactions are `BEGIN IMMEDIATE` on the single connection, so readings are serialised.)
pub(super) fn patient_practice(conn: &Connection, patient_id: Uuid) -> StoreResult<(Uuid, Uuid)> {
    conn.query_row(
        "SELECT p.practice_id, pr.customer_id FROM patients p JOIN practices pr ON pr.id = p.practice_id
         WHERE p.id = ?1",
        [patient_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}

fn practice_customer(conn: &Connection, practice_id: Uuid) -> StoreResult<Uuid> {
    conn.query_row(
        "SELECT customer_id FROM practices WHERE id = ?1",
        [practice_id],
        |r| r.get(0),
    )
    .optional()
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}

fn load_effective(
    conn: &Connection,
    patient_id: Uuid,
    practice_id: Uuid,
    vital: &str,
) -> StoreResult<EffectiveReadingAlert> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT 1, critical_low, normal_low, normal_high, critical_high,
                    change_amount, change_unit, change_within_hours
             FROM patient_reading_alert_settings WHERE patient_id = ?1 AND vital = ?3
             UNION ALL
             SELECT 2, critical_low, normal_low, normal_high, critical_high,
                    change_amount, change_unit, change_within_hours
             FROM practice_reading_alert_defaults WHERE practice_id = ?2 AND vital = ?3
             ORDER BY 1 LIMIT 1",
        )
        .map_err(map_err)?;
    let found = stmt
        .query_row(params![patient_id, practice_id, vital], |row| {
            Ok((row.get::<_, i64>(0)?, raw_settings(row, 1)?))
        })
        .optional()
        .map_err(map_err)?;
    Ok(match found {
        None => EffectiveReadingAlert {
            source: ReadingAlertSource::None,
            settings: None,
        },
        Some((layer, raw)) => EffectiveReadingAlert {
            source: if layer == 1 {
                ReadingAlertSource::Patient
            } else {
                ReadingAlertSource::Practice
            },
            settings: to_settings(raw)?,
        },
    })
}

fn load_practice_default(
    conn: &Connection,
    practice_id: Uuid,
    vital: &str,
) -> StoreResult<Option<ReadingAlertRow>> {
    let raw = conn
        .query_row(
            "SELECT critical_low, normal_low, normal_high, critical_high,
                    change_amount, change_unit, change_within_hours
             FROM practice_reading_alert_defaults WHERE practice_id = ?1 AND vital = ?2",
            params![practice_id, vital],
            |row| raw_settings(row, 0),
        )
        .optional()
        .map_err(map_err)?;
    match raw {
        Some(raw) => to_settings(raw),
        None => Ok(None),
    }
}

fn between(
    conn: &Connection,
    patient_id: Uuid,
    vital: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<(DateTime<Utc>, f64)>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT taken_at, value FROM readings
             WHERE patient_id = ?1 AND vital = ?2 AND taken_at >= ?3 AND taken_at <= ?4
             ORDER BY taken_at, id",
        )
        .map_err(map_err)?;
    stmt.query_map(params![patient_id, vital, micros(from), micros(to)], |r| {
        Ok((time(r, 0)?, r.get(1)?))
    })
    .map_err(map_err)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(map_err)
}

fn load_frequency(conn: &Connection, practice_id: Uuid) -> StoreResult<ReadingFrequency> {
    let mut frequency = ReadingFrequency::default();
    if let Some((warn, count, at)) = conn
        .query_row(
            "SELECT warn_after_days, out_of_range_count, updated_at FROM practice_reading_rules
             WHERE practice_id = ?1",
            [practice_id],
            |r| Ok((r.get(0)?, r.get(1)?, time(r, 2)?)),
        )
        .optional()
        .map_err(map_err)?
    {
        frequency.warn_after_days = warn;
        frequency.out_of_range_count = count;
        frequency.updated_at = Some(at);
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT vital, readings, per_days FROM practice_reading_frequency
             WHERE practice_id = ?1 ORDER BY vital",
        )
        .map_err(map_err)?;
    frequency.vitals = stmt
        .query_map([practice_id], |r| {
            Ok(VitalFrequency {
                vital: r.get(0)?,
                readings: r.get(1)?,
                per_days: r.get(2)?,
            })
        })
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    Ok(frequency)
}

fn load_patient_frequency(
    conn: &Connection,
    patient_id: Uuid,
) -> StoreResult<Vec<PatientVitalFrequency>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT vital, readings, per_days, set_at FROM patient_reading_frequency
             WHERE patient_id = ?1 ORDER BY vital",
        )
        .map_err(map_err)?;
    stmt.query_map([patient_id], |r| {
        Ok(PatientVitalFrequency {
            vital: r.get(0)?,
            readings: r.get(1)?,
            per_days: r.get(2)?,
            set_at: time(r, 3)?,
        })
    })
    .map_err(map_err)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(map_err)
}

/// Copies the practice's vital frequencies to every patient of the practice: a patient's rows
/// that differ from the practice's (or that the practice no longer has) are replaced, rows that
/// are the same keep their `set_at`.
fn apply_frequency_to_all_patients(
    conn: &Connection,
    practice_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    conn.execute(
        "DELETE FROM patient_reading_frequency
         WHERE patient_id IN (SELECT id FROM patients WHERE practice_id = ?1)
           AND NOT EXISTS (SELECT 1 FROM practice_reading_frequency f
                           WHERE f.practice_id = ?1
                             AND f.vital = patient_reading_frequency.vital
                             AND f.readings = patient_reading_frequency.readings
                             AND f.per_days = patient_reading_frequency.per_days)",
        [practice_id],
    )
    .map_err(map_err)?;
    conn.execute(
        "INSERT INTO patient_reading_frequency (patient_id, vital, readings, per_days, set_at)
         SELECT p.id, f.vital, f.readings, f.per_days, ?2
         FROM patients p JOIN practice_reading_frequency f ON f.practice_id = p.practice_id
         WHERE p.practice_id = ?1
         ON CONFLICT (patient_id, vital) DO NOTHING",
        params![practice_id, micros(at)],
    )
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
fn upsert_alert_settings(
    conn: &Connection,
    owner: AlertOwner,
    owner_id: Uuid,
    vital: &str,
    settings: &ReadingAlertRow,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let (table, column) = (owner.table(), owner.column());
    let (bounds, amount, unit, hours) = setting_params(Some(settings));
    conn.execute(
        &format!(
            "INSERT INTO {table}
                 ({column}, vital, critical_low, normal_low, normal_high, critical_high,
                  change_amount, change_unit, change_within_hours, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT ({column}, vital) DO UPDATE
             SET critical_low = excluded.critical_low, normal_low = excluded.normal_low,
                 normal_high = excluded.normal_high, critical_high = excluded.critical_high,
                 change_amount = excluded.change_amount, change_unit = excluded.change_unit,
                 change_within_hours = excluded.change_within_hours,
                 updated_at = excluded.updated_at"
        ),
        params![
            owner_id,
            vital,
            bounds[0],
            bounds[1],
            bounds[2],
            bounds[3],
            amount,
            unit,
            hours,
            micros(at)
        ],
    )
    .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl Readings for SqliteStore {
    async fn record_reading(
        &self,
        audit: &Audit,
        new: NewReading,
        decide: DecideReading,
    ) -> StoreResult<RecordedReading> {
        let audit = audit.clone();
        self.write(move |tx| {
            let (practice_id, customer_id) = patient_practice(tx, new.patient_id)?;
            if let Some(reading) = same_reading(tx, &new)? {
                return Ok(RecordedReading {
                    reading,
                    context: None,
                    alert: None,
                    attached_to: None,
                    repeat: true,
                });
            }
            let settings = load_effective(tx, new.patient_id, practice_id, &new.vital)?;
            let nearby = match settings.settings.and_then(|s| s.change) {
                Some(change) => {
                    let (from, to) = window(new.taken_at, change.within_hours);
                    between(tx, new.patient_id, &new.vital, from, to)?
                }
                None => Vec::new(),
            };
            let open_alert = super::alerts::open_alert_of_vital(tx, new.patient_id, &new.vital)?;
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
                Some((value, unit)) => (Some(*value), Some(unit.clone())),
                None => (None, None),
            };
            let id = new_id();
            let reasons = serde_json::to_string(&decision.reasons)
                .map_err(|e| StoreError::Unexpected(format!("cannot encode reasons: {e}")))?;
            tx.prepare_cached(
                "INSERT INTO readings (id, patient_id, practice_id, vital, value, taken_at,
                     received_at, level, reasons, source_user_id, source_api_token_id,
                     sent_value, sent_unit)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    id,
                    new.patient_id,
                    practice_id,
                    new.vital,
                    new.value,
                    micros(new.taken_at),
                    micros(audit.at),
                    decision.level,
                    reasons,
                    source_user_id,
                    source_api_token_id,
                    sent_value,
                    sent_unit,
                ])
            })
            .map_err(map_err)?;
            let reading = tx
                .query_row(
                    &format!("SELECT {READING_COLUMNS} FROM readings r WHERE r.id = ?1"),
                    [id],
                    reading_from_row,
                )
                .map_err(map_err)?;
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "reading.create",
                target_type: "reading",
                target_id: Some(id.to_string()),
                patient_id: Some(new.patient_id),
            }
            .write(tx, &audit)?;
            let alert = match &decision.alert {
                Some(new) => Some(super::alerts::open_alert(
                    tx,
                    audit.at,
                    practice_id,
                    &reading,
                    new,
                )?),
                None => None,
            };
            if let Some(alert_id) = decision.attach_to {
                super::alerts::attach_reading(tx, alert_id, reading.id)?;
            }
            Ok(RecordedReading {
                reading,
                context: Some(context),
                alert,
                attached_to: decision.attach_to,
                repeat: false,
            })
        })
        .await
    }

    async fn list_readings(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        vital: Option<String>,
        page: Page,
    ) -> StoreResult<Paged<StoredReading>> {
        let audit = audit.clone();
        self.write(move |tx| {
            let (_, customer_id) = patient_practice(tx, patient_id)?;
            let mut stmt = tx
                .prepare_cached(&format!(
                    "SELECT {READING_COLUMNS} FROM readings r
                     WHERE r.patient_id = ?1 AND (?2 IS NULL OR r.vital = ?2)
                       AND (?3 IS NULL OR (r.taken_at, r.id) <
                            (SELECT c.taken_at, c.id FROM readings c WHERE c.id = ?3 AND c.patient_id = ?1))
                     ORDER BY r.taken_at DESC, r.id DESC LIMIT ?4"
                ))
                .map_err(map_err)?;
            let rows = stmt
                .query_map(
                    params![patient_id, vital, page.after, page.fetch_limit()],
                    reading_from_row,
                )
                .map_err(map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err)?;
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "patient.readings.read",
                target_type: "patient",
                target_id: Some(patient_id.to_string()),
                patient_id: Some(patient_id),
            }
            .write(tx, &audit)?;
            Ok(Paged::from_rows(rows, page, |r| r.id))
        })
        .await
    }

    async fn readings_between(
        &self,
        patient_id: Uuid,
        vital: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<(DateTime<Utc>, f64)>> {
        let vital = vital.to_string();
        self.call(move |conn| between(conn, patient_id, &vital, from, to))
            .await
    }
}

#[async_trait]
impl ReadingSettings for SqliteStore {
    async fn practice_reading_alert(
        &self,
        practice_id: Uuid,
        vital: &str,
    ) -> StoreResult<Option<ReadingAlertRow>> {
        let vital = vital.to_string();
        self.call(move |conn| load_practice_default(conn, practice_id, &vital))
            .await
    }

    async fn save_practice_reading_alert(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        vital: &str,
        settings: ReadingAlertRow,
        apply_to: ApplyReadingDefaultsTo,
    ) -> StoreResult<ReadingAlertRow> {
        let audit = audit.clone();
        let vital = vital.to_string();
        self.write(move |tx| {
            let customer_id = practice_customer(tx, practice_id)?;
            let action = match apply_to {
                ApplyReadingDefaultsTo::NewPatients => {
                    // Existing patients keep what they had: the previous default (or an
                    // explicit "none") becomes their own row where they have none.
                    let previous = load_practice_default(tx, practice_id, &vital)?;
                    let (bounds, amount, unit, hours) = setting_params(previous.as_ref());
                    tx.execute(
                        "INSERT INTO patient_reading_alert_settings
                             (patient_id, vital, critical_low, normal_low, normal_high, critical_high,
                              change_amount, change_unit, change_within_hours, updated_at)
                         SELECT p.id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
                         FROM patients p WHERE p.practice_id = ?1
                         ON CONFLICT (patient_id, vital) DO NOTHING",
                        params![
                            practice_id,
                            vital,
                            bounds[0],
                            bounds[1],
                            bounds[2],
                            bounds[3],
                            amount,
                            unit,
                            hours,
                            micros(audit.at),
                        ],
                    )
                    .map_err(map_err)?;
                    "practice.reading_alert_defaults.set_for_new_patients"
                }
                ApplyReadingDefaultsTo::AllPatients => {
                    tx.execute(
                        "DELETE FROM patient_reading_alert_settings
                         WHERE vital = ?2
                           AND patient_id IN (SELECT id FROM patients WHERE practice_id = ?1)",
                        params![practice_id, vital],
                    )
                    .map_err(map_err)?;
                    "practice.reading_alert_defaults.set_for_all_patients"
                }
            };
            upsert_alert_settings(tx, AlertOwner::Practice, practice_id, &vital, &settings, audit.at)?;
            OwnedEvent {
                customer_id: Some(customer_id),
                action,
                target_type: "practice",
                target_id: Some(practice_id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            load_practice_default(tx, practice_id, &vital)?
                .ok_or_else(|| StoreError::Unexpected("the saved default is gone".into()))
        })
        .await
    }

    async fn patient_reading_alert(
        &self,
        patient_id: Uuid,
        vital: &str,
    ) -> StoreResult<EffectiveReadingAlert> {
        let vital = vital.to_string();
        self.call(move |conn| {
            let (practice_id, _) = patient_practice(conn, patient_id)?;
            load_effective(conn, patient_id, practice_id, &vital)
        })
        .await
    }

    async fn save_patient_reading_alert(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        vital: &str,
        settings: ReadingAlertRow,
    ) -> StoreResult<EffectiveReadingAlert> {
        let audit = audit.clone();
        let vital = vital.to_string();
        self.write(move |tx| {
            let (practice_id, customer_id) = patient_practice(tx, patient_id)?;
            upsert_alert_settings(
                tx,
                AlertOwner::Patient,
                patient_id,
                &vital,
                &settings,
                audit.at,
            )?;
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "patient.reading_alerts.update",
                target_type: "patient",
                target_id: Some(patient_id.to_string()),
                patient_id: Some(patient_id),
            }
            .write(tx, &audit)?;
            load_effective(tx, patient_id, practice_id, &vital)
        })
        .await
    }

    async fn reading_frequency(&self, practice_id: Uuid) -> StoreResult<ReadingFrequency> {
        self.call(move |conn| load_frequency(conn, practice_id))
            .await
    }

    async fn save_reading_frequency(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        frequency: ReadingFrequency,
        apply_to: ApplyReadingDefaultsTo,
    ) -> StoreResult<ReadingFrequency> {
        let audit = audit.clone();
        self.write(move |tx| {
            let customer_id = practice_customer(tx, practice_id)?;
            tx.execute(
                "INSERT INTO practice_reading_rules (practice_id, warn_after_days, out_of_range_count, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (practice_id) DO UPDATE
                 SET warn_after_days = excluded.warn_after_days,
                     out_of_range_count = excluded.out_of_range_count, updated_at = excluded.updated_at",
                params![
                    practice_id,
                    frequency.warn_after_days,
                    frequency.out_of_range_count,
                    micros(audit.at),
                ],
            )
            .map_err(map_err)?;
            tx.execute(
                "DELETE FROM practice_reading_frequency WHERE practice_id = ?1",
                [practice_id],
            )
            .map_err(map_err)?;
            for vital in &frequency.vitals {
                tx.execute(
                    "INSERT INTO practice_reading_frequency (practice_id, vital, readings, per_days)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![practice_id, vital.vital, vital.readings, vital.per_days],
                )
                .map_err(map_err)?;
            }
            let action = match apply_to {
                ApplyReadingDefaultsTo::NewPatients => "practice.reading_frequency.update",
                ApplyReadingDefaultsTo::AllPatients => {
                    apply_frequency_to_all_patients(tx, practice_id, audit.at)?;
                    "practice.reading_frequency.set_for_all_patients"
                }
            };
            OwnedEvent {
                customer_id: Some(customer_id),
                action,
                target_type: "practice",
                target_id: Some(practice_id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            load_frequency(tx, practice_id)
        })
        .await
    }

    async fn patient_reading_frequency(
        &self,
        patient_id: Uuid,
    ) -> StoreResult<Vec<PatientVitalFrequency>> {
        self.call(move |conn| {
            patient_practice(conn, patient_id)?;
            load_patient_frequency(conn, patient_id)
        })
        .await
    }

    async fn save_patient_reading_frequency(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        vitals: Vec<VitalFrequency>,
    ) -> StoreResult<Vec<PatientVitalFrequency>> {
        let audit = audit.clone();
        self.write(move |tx| {
            let (_, customer_id) = patient_practice(tx, patient_id)?;
            let current = load_patient_frequency(tx, patient_id)?;
            tx.execute(
                "DELETE FROM patient_reading_frequency WHERE patient_id = ?1",
                [patient_id],
            )
            .map_err(map_err)?;
            for vital in &vitals {
                let set_at = crate::readings::kept_set_at(&current, vital).unwrap_or(audit.at);
                tx.execute(
                    "INSERT INTO patient_reading_frequency (patient_id, vital, readings, per_days, set_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![patient_id, vital.vital, vital.readings, vital.per_days, micros(set_at)],
                )
                .map_err(map_err)?;
            }
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "patient.reading_frequency.update",
                target_type: "patient",
                target_id: Some(patient_id.to_string()),
                patient_id: Some(patient_id),
            }
            .write(tx, &audit)?;
            load_patient_frequency(tx, patient_id)
        })
        .await
    }

    async fn recent_levels(
        &self,
        patient_id: Uuid,
        vital: &str,
        n: u32,
    ) -> StoreResult<Vec<String>> {
        let vital = vital.to_string();
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT level FROM readings WHERE patient_id = ?1 AND vital = ?2 ORDER BY taken_at DESC, id DESC LIMIT ?3",
                )
                .map_err(map_err)?;
            stmt.query_map(params![patient_id, vital, i64::from(n)], |r| r.get(0))
                .map_err(map_err)?
                .collect::<Result<Vec<String>, _>>()
                .map_err(map_err)
        })
        .await
    }

    async fn overdue_candidates(&self, now: DateTime<Utc>) -> StoreResult<Vec<OverdueCandidate>> {
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT c.patient_id, c.practice_id, c.vital, c.readings, c.per_days,
                            c.warn_after_days, c.created_at, c.set_at, c.newest,
                            (SELECT taken_at FROM
                                (SELECT taken_at, row_number() OVER (ORDER BY taken_at DESC, id DESC) AS n
                                 FROM readings x WHERE x.patient_id = c.patient_id AND x.vital = c.vital)
                             WHERE n = c.readings),
                            w.warned_for
                     FROM (SELECT p.id AS patient_id, p.practice_id, f.vital, f.readings, f.per_days,
                                  r.warn_after_days, p.created_at, f.set_at,
                                  max(p.created_at, f.set_at) AS counted_from,
                                  (SELECT max(taken_at) FROM readings x
                                   WHERE x.patient_id = p.id AND x.vital = f.vital) AS newest
                           FROM practice_reading_rules r
                           JOIN patients p ON p.practice_id = r.practice_id
                           JOIN patient_reading_frequency f ON f.patient_id = p.id
                           WHERE r.warn_after_days > 0) c
                     LEFT JOIN overdue_vital_warnings w
                            ON w.patient_id = c.patient_id AND w.vital = c.vital
                     WHERE max(c.counted_from, coalesce(c.newest, c.counted_from))
                               + c.warn_after_days * 86400000000 <= ?1
                       AND c.counted_from + (c.per_days + c.warn_after_days) * 86400000000 <= ?1",
                )
                .map_err(map_err)?;
            stmt.query_map([micros(now)], |r| {
                Ok(OverdueCandidate {
                    patient_id: r.get(0)?,
                    practice_id: r.get(1)?,
                    vital: r.get(2)?,
                    readings: r.get(3)?,
                    per_days: r.get(4)?,
                    warn_after_days: r.get(5)?,
                    enrolled_at: time(r, 6)?,
                    set_at: time(r, 7)?,
                    newest_at: r
                        .get::<_, Option<i64>>(8)?
                        .and_then(DateTime::from_timestamp_micros),
                    nth_newest_at: r
                        .get::<_, Option<i64>>(9)?
                        .and_then(DateTime::from_timestamp_micros),
                    warned_for: r
                        .get::<_, Option<i64>>(10)?
                        .and_then(DateTime::from_timestamp_micros),
                })
            })
            .map_err(map_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err)
        })
        .await
    }

    async fn record_overdue_warning(
        &self,
        at: DateTime<Utc>,
        patient_id: Uuid,
        vital: &str,
        warned_for: DateTime<Utc>,
        notifications: Vec<NewNotification>,
    ) -> StoreResult<bool> {
        let vital = vital.to_string();
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "INSERT INTO overdue_vital_warnings (patient_id, vital, warned_for, warned_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (patient_id, vital) DO UPDATE
                     SET warned_for = excluded.warned_for, warned_at = excluded.warned_at
                     WHERE overdue_vital_warnings.warned_for <> excluded.warned_for",
                    params![patient_id, vital, micros(warned_for), micros(at)],
                )
                .map_err(map_err)?;
            if changed == 0 {
                return Ok(false);
            }
            super::feed::insert_notifications(tx, at, &notifications)?;
            Ok(true)
        })
        .await
    }
}
