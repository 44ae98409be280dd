//! Row-to-model conversions for SQLite and the time encoding it uses (microseconds since the
//! Unix epoch, UTC), kept apart from the queries that select the columns in this order.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, Row};
use uuid::Uuid;

use super::map_err;
use crate::{IanaTimeZone, Patient, Practice, StoreError, StoreResult, TextingRow};

pub const PRACTICE_COLUMNS: &str = "id, customer_id, name, timezone, sms_number, practice_group_id, escalation_delay_minutes, created_at,
    texting_enabled, portal_enabled";

pub const PATIENT_COLUMNS: &str =
    "id, practice_id, first_name, last_name, dob, mobile_phone, texting_status,
    texting_attempts_left, texting_expires_at, texting_updated_at, created_at";

pub fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub fn from_micros(us: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Unexpected(format!("time out of range: {us}")))
}

/// For use inside rusqlite row closures, which must return rusqlite errors.
pub fn time(row: &Row, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let us: i64 = row.get(idx)?;
    DateTime::from_timestamp_micros(us).ok_or(rusqlite::Error::IntegralValueOutOfRange(idx, us))
}

pub fn opt_time(row: &Row, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let us: Option<i64> = row.get(idx)?;
    us.map(|us| {
        DateTime::from_timestamp_micros(us).ok_or(rusqlite::Error::IntegralValueOutOfRange(idx, us))
    })
    .transpose()
}

pub fn practice_from_row(row: &Row) -> rusqlite::Result<Practice> {
    Ok(Practice {
        id: row.get(0)?,
        customer_id: row.get(1)?,
        name: row.get(2)?,
        timezone: {
            let name: String = row.get(3)?;
            IanaTimeZone::parse(&name).map_err(|_| {
                let why = format!("stored practice time zone {name:?} does not parse");
                rusqlite::Error::FromSqlConversionFailure(
                    3,
                    rusqlite::types::Type::Text,
                    why.into(),
                )
            })?
        },
        sms_number: row.get(4)?,
        practice_group_id: row.get(5)?,
        escalation_delay_minutes: row.get(6)?,
        created_at: time(row, 7)?,
        texting_enabled: row.get(8)?,
        portal_enabled: row.get(9)?,
    })
}

pub fn load_patient(conn: &Connection, id: Uuid) -> StoreResult<Patient> {
    let mut patient = conn
        .query_row(
            &format!("SELECT {PATIENT_COLUMNS} FROM patients WHERE id = ?1"),
            [id],
            |row| {
                let dob: String = row.get(4)?;
                Ok(Patient {
                    id: row.get(0)?,
                    practice_id: row.get(1)?,
                    first_name: row.get(2)?,
                    last_name: row.get(3)?,
                    dob: NaiveDate::parse_from_str(&dob, "%Y-%m-%d").map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            4,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })?,
                    mobile_phone: row.get(5)?,
                    texting: TextingRow {
                        status: row.get(6)?,
                        attempts_left: row.get(7)?,
                        expires_at: opt_time(row, 8)?,
                        updated_at: time(row, 9)?,
                    },
                    created_at: time(row, 10)?,
                    programs: Vec::new(),
                })
            },
        )
        .map_err(map_err)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT program FROM patient_programs WHERE patient_id = ?1 ORDER BY program",
        )
        .map_err(map_err)?;
    patient.programs = stmt
        .query_map([id], |r| r.get(0))
        .map_err(map_err)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(map_err)?;
    Ok(patient)
}
