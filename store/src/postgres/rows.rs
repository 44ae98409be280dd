//! Row-to-model conversions for PostgreSQL, kept apart from the queries that select the columns
//! in the order these functions read them.

use tokio_postgres::Row;

use crate::{IanaTimeZone, Patient, Practice, StoreError, StoreResult, TextingRow};

pub const PRACTICE_COLUMNS: &str = "id, customer_id, name, timezone, sms_number, practice_group_id, escalation_delay_minutes, created_at,
    texting_enabled, portal_enabled";

/// `p` is the patients table alias.
pub const PATIENT_COLUMNS: &str = "p.id, p.practice_id, p.first_name, p.last_name, p.dob, p.mobile_phone,
    p.texting_status, p.texting_attempts_left, p.texting_expires_at, p.texting_updated_at, p.created_at,
    ARRAY(SELECT pp.program FROM patient_programs pp WHERE pp.patient_id = p.id ORDER BY pp.program)";

/// A practice row; its time zone goes through the same parse as the API's input, so a zone that
/// does not parse is an error rather than some default.
pub fn practice_from_row(row: &Row) -> StoreResult<Practice> {
    let timezone: String = row.get(3);
    Ok(Practice {
        id: row.get(0),
        customer_id: row.get(1),
        name: row.get(2),
        timezone: IanaTimeZone::parse(&timezone).map_err(|_| {
            StoreError::Unexpected(format!(
                "stored practice time zone {timezone:?} does not parse"
            ))
        })?,
        sms_number: row.get(4),
        practice_group_id: row.get(5),
        escalation_delay_minutes: row.get(6),
        created_at: row.get(7),
        texting_enabled: row.get(8),
        portal_enabled: row.get(9),
    })
}

pub fn patient_from_row(row: &Row) -> StoreResult<Patient> {
    Ok(Patient {
        id: row.get(0),
        practice_id: row.get(1),
        first_name: row.get(2),
        last_name: row.get(3),
        dob: row.get(4),
        mobile_phone: row.get(5),
        texting: TextingRow {
            status: row.get(6),
            attempts_left: row.get(7),
            expires_at: row.get(8),
            updated_at: row.get(9),
        },
        created_at: row.get(10),
        programs: row.get(11),
    })
}
