//! Rows both backends read alike: the column lists of the shared entities, their mapping to the
//! model, and the loaders and audit insert every use case needs (see [`crate::sql`]).

use uuid::Uuid;

use crate::sql::{Row, ToArg, Tx};
use crate::*;

pub(crate) const PRACTICE_COLUMNS: &str = "id, customer_id, name, timezone, sms_number, practice_group_id, escalation_delay_minutes, created_at,
    texting_enabled, portal_enabled";

/// `u` is the users table alias. PostgreSQL aggregates the practice ids and restricted programs
/// so that a user is one row; SQLite reads them with two more statements.
const USER_COLUMNS_PG: &str = "u.id, u.customer_id, u.username, u.password_hash, u.role, u.email,
    u.first_name, u.last_name, u.title, u.mobile_phone, u.auto_logout_minutes, u.locked_at, u.created_at,
    u.supervisor_id,
    ARRAY(SELECT up.practice_id FROM user_practices up WHERE up.user_id = u.id ORDER BY up.practice_id),
    ARRAY(SELECT rp.program FROM user_restricted_programs rp WHERE rp.user_id = u.id ORDER BY rp.program)";
const USER_COLUMNS_LITE: &str = "u.id, u.customer_id, u.username, u.password_hash, u.role, u.email,
    u.first_name, u.last_name, u.title, u.mobile_phone, u.auto_logout_minutes, u.locked_at, u.created_at,
    u.supervisor_id";

/// `p` is the patients table alias; PostgreSQL aggregates the programs, SQLite reads them apart.
pub(crate) const PATIENT_COLUMNS_PG: &str = "p.id, p.practice_id, p.first_name, p.last_name, p.dob, p.mobile_phone,
    p.texting_status, p.texting_attempts_left, p.texting_expires_at, p.texting_updated_at, p.created_at,
    ARRAY(SELECT pp.program FROM patient_programs pp WHERE pp.patient_id = p.id ORDER BY pp.program)";
const PATIENT_COLUMNS_LITE: &str = "p.id, p.practice_id, p.first_name, p.last_name, p.dob, p.mobile_phone,
    p.texting_status, p.texting_attempts_left, p.texting_expires_at, p.texting_updated_at, p.created_at";

pub(crate) fn customer_from_row(row: &Row) -> StoreResult<Customer> {
    Ok(Customer {
        id: row.get(0)?,
        name: row.get(1)?,
        created_at: row.get(2)?,
    })
}

/// A practice row; its time zone goes through the same parse as the API's input, so a zone that
/// does not parse is an error rather than some default.
pub(crate) fn practice_from_row(row: &Row) -> StoreResult<Practice> {
    let timezone: String = row.get(3)?;
    Ok(Practice {
        id: row.get(0)?,
        customer_id: row.get(1)?,
        name: row.get(2)?,
        timezone: IanaTimeZone::parse(&timezone).map_err(|_| {
            StoreError::Unexpected(format!(
                "stored practice time zone {timezone:?} does not parse"
            ))
        })?,
        sms_number: row.get(4)?,
        practice_group_id: row.get(5)?,
        escalation_delay_minutes: row.get(6)?,
        created_at: row.get(7)?,
        texting_enabled: row.get(8)?,
        portal_enabled: row.get(9)?,
    })
}

pub(crate) async fn load_practice(tx: &Tx<'_>, id: Uuid) -> StoreResult<Practice> {
    let sql = format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = $1");
    practice_from_row(&tx.query_one(&sql, &[id.arg()]).await?)
}

/// The users matching `filter` (SQL after `FROM users u`, e.g. `WHERE u.id = $1`), in its order.
pub(crate) async fn users_where(
    tx: &Tx<'_>,
    filter: &str,
    args: &[crate::sql::Arg<'_>],
) -> StoreResult<Vec<User>> {
    let rows = tx
        .query(
            &format!("SELECT {} FROM users u {filter}", user_columns(tx)),
            args,
        )
        .await?;
    let mut users = Vec::with_capacity(rows.len());
    for row in &rows {
        users.push(user_from_row(tx, row, 0).await?);
    }
    Ok(users)
}

/// The user columns of the users table alias `u`, for [`user_from_row`].
pub(crate) fn user_columns(tx: &Tx<'_>) -> &'static str {
    tx.pick(USER_COLUMNS_PG, USER_COLUMNS_LITE)
}

/// The user whose [`user_columns`] start at column `at` of `row`; on SQLite its practices and
/// restricted programs are read with two more statements.
pub(crate) async fn user_from_row(tx: &Tx<'_>, row: &Row, at: usize) -> StoreResult<User> {
    let role: String = row.get(at + 4)?;
    let mut user = User {
        id: row.get(at)?,
        customer_id: row.get(at + 1)?,
        username: row.get(at + 2)?,
        password_hash: row.get(at + 3)?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Unexpected(format!("unknown role {role:?}")))?,
        email: row.get(at + 5)?,
        first_name: row.get(at + 6)?,
        last_name: row.get(at + 7)?,
        title: row.get(at + 8)?,
        mobile_phone: row.get(at + 9)?,
        auto_logout_minutes: row.get(at + 10)?,
        locked_at: row.get(at + 11)?,
        created_at: row.get(at + 12)?,
        practice_ids: Vec::new(),
        restricted_programs: Vec::new(),
        supervisor_id: row.get(at + 13)?,
    };
    if let Row::Pg(_) = row {
        user.practice_ids = row.get(at + 14)?;
        user.restricted_programs = row.get(at + 15)?;
    } else {
        user.practice_ids = tx
            .column(
                "SELECT practice_id FROM user_practices WHERE user_id = $1 ORDER BY practice_id",
                &[user.id.arg()],
            )
            .await?;
        user.restricted_programs = tx
            .column(
                "SELECT program FROM user_restricted_programs WHERE user_id = $1 ORDER BY program",
                &[user.id.arg()],
            )
            .await?;
    }
    Ok(user)
}

pub(crate) async fn load_user(tx: &Tx<'_>, id: Uuid) -> StoreResult<User> {
    users_where(tx, "WHERE u.id = $1", &[id.arg()])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

/// The user with this id as stored now, or `None` when there is none.
pub(crate) async fn user_if_any(tx: &Tx<'_>, id: Uuid) -> StoreResult<Option<User>> {
    Ok(users_where(tx, "WHERE u.id = $1", &[id.arg()]).await?.pop())
}

/// The patients matching `filter` (SQL after `FROM patients p`), in its order.
pub(crate) async fn patients_where(
    tx: &Tx<'_>,
    filter: &str,
    args: &[crate::sql::Arg<'_>],
) -> StoreResult<Vec<Patient>> {
    let columns = tx.pick(PATIENT_COLUMNS_PG, PATIENT_COLUMNS_LITE);
    let rows = tx
        .query(&format!("SELECT {columns} FROM patients p {filter}"), args)
        .await?;
    let mut patients = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut patient = patient_from_row(row)?;
        if let Row::Lite(_) = row {
            patient.programs = tx
                .column(
                    "SELECT program FROM patient_programs WHERE patient_id = $1 ORDER BY program",
                    &[patient.id.arg()],
                )
                .await?;
        }
        patients.push(patient);
    }
    Ok(patients)
}

/// A patient row of the patient columns; SQLite rows come without their programs.
pub(crate) fn patient_from_row(row: &Row) -> StoreResult<Patient> {
    Ok(Patient {
        id: row.get(0)?,
        practice_id: row.get(1)?,
        first_name: row.get(2)?,
        last_name: row.get(3)?,
        dob: row.get(4)?,
        mobile_phone: row.get(5)?,
        texting: TextingRow {
            status: row.get(6)?,
            attempts_left: row.get(7)?,
            expires_at: row.get(8)?,
            updated_at: row.get(9)?,
        },
        created_at: row.get(10)?,
        programs: match row {
            Row::Pg(_) => row.get(11)?,
            Row::Lite(_) => Vec::new(),
        },
    })
}

pub(crate) async fn load_patient(tx: &Tx<'_>, id: Uuid) -> StoreResult<Patient> {
    patients_where(tx, "WHERE p.id = $1", &[id.arg()])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

pub(crate) fn audit_from_row(row: &Row) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: row.get(0)?,
        at: row.get(1)?,
        user_id: row.get(2)?,
        customer_id: row.get(3)?,
        action: row.get(4)?,
        target_type: row.get(5)?,
        target_id: row.get(6)?,
        patient_id: row.get(7)?,
        client_addr: row.get(8)?,
    })
}

/// The audit row's insert ([`insert_audit`]), which PostgreSQL's inbound path prepares ahead.
pub(crate) const AUDIT_INSERT_SQL: &str = "INSERT INTO audit_log (at, user_id, customer_id, action,
    target_type, target_id, patient_id, client_addr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The audit row of a change, in the change's transaction.
pub(crate) async fn insert_audit(
    tx: &Tx<'_>,
    audit: &Audit,
    event: &AuditEvent<'_>,
) -> StoreResult<()> {
    let args = [
        audit.at.arg(),
        audit.user_id.arg(),
        event.customer_id.arg(),
        event.action.arg(),
        event.target_type.arg(),
        event.target_id.arg(),
        event.patient_id.arg(),
        audit.client_addr.arg(),
    ];
    tx.execute(AUDIT_INSERT_SQL, &args).await?;
    Ok(())
}

/// The audit event of a change to one entity without a patient.
pub(crate) fn event<'a>(
    customer_id: Option<Uuid>,
    action: &'a str,
    target_type: &'a str,
    target_id: impl ToString,
) -> AuditEvent<'a> {
    AuditEvent {
        customer_id,
        action,
        target_type,
        target_id: Some(target_id.to_string()),
        patient_id: None,
    }
}

/// The audit event of a change to, or a read of, one patient's data.
pub(crate) fn patient_event(customer_id: Uuid, action: &str, patient_id: Uuid) -> AuditEvent<'_> {
    AuditEvent {
        customer_id: Some(customer_id),
        action,
        target_type: "patient",
        target_id: Some(patient_id.to_string()),
        patient_id: Some(patient_id),
    }
}

/// `AND` the condition that keeps the patient whose id is `patient` (an SQL expression) visible
/// to a user with these restricted programs: a patient is hidden when it has programs and all of
/// them are restricted. Empty when nothing is restricted, so the query carries no filter.
pub(crate) fn visible_despite_programs<'v>(
    tx: &Tx<'_>,
    patient: &str,
    restricted: &'v [String],
    args: &mut Vec<crate::sql::Arg<'v>>,
) -> String {
    if restricted.is_empty() {
        return String::new();
    }
    let list = tx.in_list(restricted, args);
    format!(
        "AND NOT (EXISTS (SELECT 1 FROM patient_programs pp WHERE pp.patient_id = {patient})
                  AND NOT EXISTS (SELECT 1 FROM patient_programs pp
                                  WHERE pp.patient_id = {patient} AND NOT (pp.program {list})))"
    )
}
