//! Plain data the store reads and writes. No behaviour lives here beyond conversions; rules
//! belong to the gateway's domain. Values are already validated by the caller's newtypes; the
//! store keeps them as plain strings so it needs no dependency on the wire-format crates. The
//! exceptions are values whose stored form could otherwise be read back as something else
//! ([`Role`], [`IanaTimeZone`], and the statuses and states named by the `types` crate, such as
//! [`TextingStatus`]): they are parsed on every read, and a row that does not parse is an error,
//! never a default.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize, Serializer};
use types::TextingStatus;
use uuid::Uuid;

/// Which backend a store runs on; exposed for diagnostics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SuperAdmin,
    CustomerAdmin,
    Staff,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::CustomerAdmin => "customer_admin",
            Role::Staff => "staff",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "super_admin" => Some(Role::SuperAdmin),
            "customer_admin" => Some(Role::CustomerAdmin),
            "staff" => Some(Role::Staff),
            _ => None,
        }
    }
}

/// Who did something, from where, and when. Every change and every read of patient data
/// passes one of these to the store, which writes the audit row in the same transaction.
#[derive(Debug, Clone)]
pub struct Audit {
    pub user_id: Option<Uuid>,
    pub client_addr: Option<String>,
    pub at: DateTime<Utc>,
}

impl Audit {
    /// An action taken by the system itself (CLI, workers), not by a logged-in user.
    pub fn system(at: DateTime<Utc>) -> Audit {
        Audit {
            user_id: None,
            client_addr: None,
            at,
        }
    }
}

/// A page request: rows strictly after `after` (by id, which is time-ordered UUIDv7).
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub after: Option<Uuid>,
    pub limit: u32,
}

impl Page {
    pub const MAX_LIMIT: u32 = 200;

    pub fn first(limit: u32) -> Page {
        Page {
            after: None,
            limit: limit.clamp(1, Self::MAX_LIMIT),
        }
    }

    /// Fetch one more than asked so the caller can tell whether a next page exists.
    pub(crate) fn fetch_limit(self) -> i64 {
        i64::from(self.limit.clamp(1, Self::MAX_LIMIT)) + 1
    }
}

/// One page of rows and the cursor of the next page, if any.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<Uuid>,
}

impl<T> Paged<T> {
    /// Trims the extra row fetched by `Page::fetch_limit` and derives the cursor from it.
    pub(crate) fn from_rows(mut rows: Vec<T>, page: Page, id_of: impl Fn(&T) -> Uuid) -> Paged<T> {
        let limit = page.limit.clamp(1, Page::MAX_LIMIT) as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(id_of) } else { None };
        Paged {
            items: rows,
            next_cursor,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub name: String,
}

/// An IANA time zone the time-zone database knows, such as `America/New_York`. The only ways to
/// make one are [`IanaTimeZone::parse`] (used by the API on input and by the store on every row it
/// reads) and a [`chrono_tz::Tz`] constant, so a practice's zone can never silently become UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IanaTimeZone(chrono_tz::Tz);

/// A time zone name the time-zone database does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IANA time zone such as America/New_York")]
pub struct UnknownTimeZone;

impl IanaTimeZone {
    /// The zone named exactly `name` (case and spelling as in the time-zone database).
    pub fn parse(name: &str) -> Result<IanaTimeZone, UnknownTimeZone> {
        name.parse::<chrono_tz::Tz>()
            .map(IanaTimeZone)
            .map_err(|_| UnknownTimeZone)
    }

    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl From<chrono_tz::Tz> for IanaTimeZone {
    fn from(tz: chrono_tz::Tz) -> IanaTimeZone {
        IanaTimeZone(tz)
    }
}

impl FromStr for IanaTimeZone {
    type Err = UnknownTimeZone;

    fn from_str(name: &str) -> Result<IanaTimeZone, UnknownTimeZone> {
        IanaTimeZone::parse(name)
    }
}

impl fmt::Display for IanaTimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq<&str> for IanaTimeZone {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

impl Serialize for IanaTimeZone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Practice {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub timezone: IanaTimeZone,
    pub sms_number: String,
    pub practice_group_id: Option<Uuid>,
    pub escalation_delay_minutes: i32,
    pub created_at: DateTime<Utc>,
    /// Whether staff may text the practice's patients (opt-in and conversation texts).
    pub texting_enabled: bool,
    /// Whether the practice's patients may use the portal.
    pub portal_enabled: bool,
}

/// Changes to a practice; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PracticePatch {
    pub name: Option<String>,
    pub timezone: Option<IanaTimeZone>,
    pub sms_number: Option<String>,
    pub escalation_delay_minutes: Option<i32>,
    pub texting_enabled: Option<bool>,
    pub portal_enabled: Option<bool>,
    /// `Some(None)` takes the practice out of its group; `Some(Some(id))` moves it into `id`.
    pub practice_group_id: Option<Option<Uuid>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PracticeGroup {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub default_user_ids: Vec<Uuid>,
    pub practice_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewPracticeGroup {
    pub customer_id: Uuid,
    pub name: String,
    pub default_user_ids: Vec<Uuid>,
    pub practice_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Default)]
pub struct PracticeGroupPatch {
    pub name: Option<String>,
    pub default_user_ids: Option<Vec<Uuid>>,
    pub practice_ids: Option<Vec<Uuid>>,
}

/// A customer may group its practices only from this many practices on.
pub const MIN_PRACTICES_FOR_GROUPS: i64 = 10;

#[derive(Debug, Clone)]
pub struct NewPractice {
    pub customer_id: Uuid,
    pub name: String,
    pub timezone: IanaTimeZone,
    pub sms_number: String,
    /// A group of the same customer: the practice joins it and receives the group's default
    /// users instead of the customer's.
    pub practice_group_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub username: String,
    /// Argon2id PHC string; never leaves the gateway.
    pub password_hash: String,
    pub role: Role,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub title: String,
    pub mobile_phone: Option<String>,
    pub auto_logout_minutes: i32,
    pub locked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub practice_ids: Vec<Uuid>,
    /// Programs whose patients this user may not see (when all of a patient's programs are here).
    pub restricted_programs: Vec<String>,
    /// A user of the same customer who joins the care team (and programs) of the patients this
    /// user creates (seed 003).
    pub supervisor_id: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub customer_id: Option<Uuid>,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub title: String,
    pub mobile_phone: Option<String>,
    pub auto_logout_minutes: i32,
    pub practice_ids: Vec<Uuid>,
    pub restricted_programs: Vec<String>,
    pub supervisor_id: Option<Uuid>,
}

/// Changes to a user; `None` leaves a field as it is. Lists replace the whole list.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub role: Option<Role>,
    pub mobile_phone: Option<Option<String>>,
    pub auto_logout_minutes: Option<i32>,
    pub practice_ids: Option<Vec<Uuid>>,
    pub restricted_programs: Option<Vec<String>>,
    /// `Some(None)` clears the supervisor.
    pub supervisor_id: Option<Option<Uuid>>,
    /// A new password: every session of the user ends in the same transaction, except
    /// `keep_session`.
    pub password_hash: Option<String>,
    /// With a new password, the session (token hash) that stays: the one that changed it.
    pub keep_session: Option<String>,
}

/// What a user is responsible for that someone else must take over before the user is locked.
/// Later features add their own lists (open alerts, on-call windows, care-team places, unread
/// patient messages only they would see).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outstanding {
    /// Customers whose default users include this user.
    pub customer_default_user_of: Vec<Uuid>,
    /// Practice groups whose default users include this user.
    pub practice_group_default_user_of: Vec<Uuid>,
    /// Patients on whose care team this user is (with their program enrolments).
    pub care_team_of: Vec<Uuid>,
    /// Practices where this user has on-call windows.
    pub on_call_at: Vec<Uuid>,
    /// Practices where this user has on-call overrides that have not ended.
    pub on_call_overrides_at: Vec<Uuid>,
    /// Patients this user follows as a notification user, with patient messages unread by them,
    /// whom no other unlocked user follows: locked, nobody would see those messages.
    pub unread_only_theirs: Vec<Uuid>,
    /// Open alerts this user was notified of in the feed.
    pub open_alerts: Vec<Uuid>,
}

impl Outstanding {
    pub fn is_empty(&self) -> bool {
        self.customer_default_user_of.is_empty()
            && self.practice_group_default_user_of.is_empty()
            && self.care_team_of.is_empty()
            && self.on_call_at.is_empty()
            && self.on_call_overrides_at.is_empty()
            && self.unread_only_theirs.is_empty()
            && self.open_alerts.is_empty()
    }
}

/// What the successor's feed says of each open alert handed over to them.
pub const HANDED_OVER_ALERT_SUMMARY: &str =
    "A critical reading handed over to you needs urgent review.";

/// The result of a lock request.
#[derive(Debug, Clone)]
pub enum LockOutcome {
    Locked(Box<User>),
    /// Nothing changed: the user has outstanding items and no one to hand them to.
    Outstanding(Outstanding),
    /// Nothing changed: the successor may not take over the user's on-call duty.
    Refused(crate::OnCallRefusal),
}

/// A live session joined with its user, as the authentication middleware needs it.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: User,
    pub created_at: DateTime<Utc>,
    /// When the session ends unless used again before then (idle timeout).
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Patient {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub dob: NaiveDate,
    pub mobile_phone: Option<String>,
    pub programs: Vec<String>,
    pub texting: TextingRow,
    pub created_at: DateTime<Utc>,
}

/// The stored texting opt-in state of a patient; its rules live in the gateway's domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextingRow {
    pub status: TextingStatus,
    pub attempts_left: i16,
    pub expires_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewPatient {
    pub practice_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub dob: NaiveDate,
    pub mobile_phone: Option<String>,
    pub programs: Vec<String>,
    /// Users put on the care team and every program enrolment of the new patient in its
    /// transaction (seed 003: the staff user who creates it and their supervisor).
    pub care_team: Vec<Uuid>,
}

/// Changes to a patient; `None` leaves a field as it is. A changed mobile number ends texting
/// (the new number has not proved whose it is): the texting state returns to `not_enabled`.
#[derive(Debug, Clone, Default)]
pub struct PatientPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub dob: Option<NaiveDate>,
    pub mobile_phone: Option<Option<String>>,
    pub programs: Option<Vec<String>>,
    /// Users assigned (with a care-team place) to each program this change adds: seed 003,
    /// "when creating a new case, only the staff creating the case (and assigned staff
    /// supervisor) will be added". Enrolments in programs the change removes end with them.
    pub new_program_staff: Vec<Uuid>,
}

/// A name search over some practices' patients.
#[derive(Debug, Clone)]
pub struct PatientSearch {
    pub practice_ids: Vec<Uuid>,
    /// Matches the start of the first or last name, or of "first last", ignoring case.
    pub query: String,
    /// Patients all of whose programs are in this list are left out (they do not exist for the
    /// searching user). Patients without programs are never left out.
    pub restricted_programs: Vec<String>,
    pub page: Page,
}

impl PatientSearch {
    /// The query as a LIKE prefix pattern with `\`, `%` and `_` escaped (ESCAPE '\').
    pub(crate) fn like_prefix(&self) -> String {
        let mut pattern = String::with_capacity(self.query.len() + 1);
        for c in self.query.trim().to_lowercase().chars() {
            if matches!(c, '\\' | '%' | '_') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }
}

/// A practice's saved text for one template.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateOverride {
    pub name: String,
    pub body: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<Uuid>,
}

/// One row of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub patient_id: Option<Uuid>,
    pub client_addr: Option<String>,
}

/// What an audit row records beyond the `Audit` context.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub customer_id: Option<Uuid>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<String>,
    pub patient_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub customer_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
    /// Rows with an id greater than this (the cursor).
    pub after_id: Option<i64>,
    pub limit: u32,
}
