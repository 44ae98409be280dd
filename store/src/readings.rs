//! Vital-sign readings and the settings that classify them: the practice's default alert
//! settings per vital, a patient's own, the practice's reading frequency rules.
//!
//! The store keeps vitals, levels and change units as the API's snake_case strings and a
//! reading's reasons as the JSON the API answered; which vitals exist, how a reading is
//! classified and what the rules mean are the gateway's domain (`domain::readings`). The store
//! must never classify a reading itself: [`Readings::record_reading`] hands the stored context to
//! the caller's decision and writes what it answers, all in one transaction.
//!
//! Effective alert settings of a patient for one vital: the patient's own row, else the
//! practice's default row, else none. A patient row may be an explicit "none" (`settings` is
//! `None` with source [`ReadingAlertSource::Patient`]): "for new patients" saves write it for
//! existing patients who had no settings, so their effective settings stay as they were.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::*;

/// A change rule as stored: `amount` in `unit` (`percent` or `units`) within `within_hours`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadingChangeRow {
    pub amount: f64,
    /// `percent` or `units`.
    pub unit: &'static str,
    pub within_hours: i32,
}

/// A vital's alert settings as stored: the four bounds and an optional change rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadingAlertRow {
    pub critical_low: f64,
    pub normal_low: f64,
    pub normal_high: f64,
    pub critical_high: f64,
    pub change: Option<ReadingChangeRow>,
}

/// Where a patient's effective settings of a vital come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadingAlertSource {
    /// The patient's own row (which may be an explicit "none").
    Patient,
    /// The practice's default, the patient having no row.
    Practice,
    /// Neither exists.
    None,
}

impl ReadingAlertSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadingAlertSource::Patient => "patient",
            ReadingAlertSource::Practice => "practice",
            ReadingAlertSource::None => "none",
        }
    }
}

/// A patient's effective alert settings of one vital.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectiveReadingAlert {
    pub source: ReadingAlertSource,
    /// `None`: no alert settings; readings are then normal.
    pub settings: Option<ReadingAlertRow>,
}

/// Whose settings a save of practice defaults changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyReadingDefaultsTo {
    /// Patients created later. Existing patients without their own row of the vital get one
    /// holding their previous effective settings (the previous default, or an explicit "none").
    NewPatients,
    /// Every patient of the practice: their own rows of the vital are removed.
    AllPatients,
}

/// How often the practice expects readings of one vital: `readings` every `per_days` days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VitalFrequency {
    pub vital: String,
    pub readings: i32,
    pub per_days: i32,
}

/// A patient's own copy of a vital's required frequency (copied from the practice at creation,
/// replaced when the practice saves "for all patients", or changed for this patient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientVitalFrequency {
    pub vital: String,
    pub readings: i32,
    pub per_days: i32,
    /// When this vital's frequency last changed for the patient; a vital not yet read is
    /// counted from then.
    pub set_at: DateTime<Utc>,
}

/// The practice's reading frequency rules. Never saved: both rules off (0), no vital required.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadingFrequency {
    /// Warn when a patient has sent no reading for this many days; 0 is off.
    pub warn_after_days: i32,
    /// Notify after this many consecutive out-of-range readings; 0 is off.
    pub out_of_range_count: i32,
    /// By vital name; vitals not listed have no required frequency.
    pub vitals: Vec<VitalFrequency>,
    /// When last saved; `None` when never.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Who sent a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadingSource {
    User(Uuid),
    ApiToken(Uuid),
    /// The gateway itself (demo data).
    System,
}

#[derive(Debug, Clone)]
pub struct NewReading {
    pub patient_id: Uuid,
    /// A vital's API name, e.g. `pulse`.
    pub vital: String,
    /// Finite (the schema refuses others), in the vital's canonical unit.
    pub value: f64,
    pub taken_at: DateTime<Utc>,
    pub source: ReadingSource,
    /// The value and unit as sent, when the device used another unit than the canonical one.
    pub sent: Option<(f64, String)>,
}

/// What the caller's decision sees, read inside the recording transaction after the patient
/// row is locked, so two readings of one patient are classified one after the other.
#[derive(Debug, Clone)]
pub struct ReadingContext {
    pub practice_id: Uuid,
    pub settings: EffectiveReadingAlert,
    /// Other readings of the vital as `(taken_at, value)`, taken in the change rule's window
    /// around the new reading (`taken_at - within_hours` to `taken_at + within_hours`, both ends
    /// included: devices may upload newer readings first); empty without a change rule.
    pub nearby: Vec<(DateTime<Utc>, f64)>,
    /// The patient's open alert of this vital, if there is one: a critical reading attaches to it.
    pub open_alert: Option<Uuid>,
}

/// What the caller decided about a new reading; written with it.
#[derive(Debug, Clone)]
pub struct ReadingDecision {
    /// `normal`, `caution` or `critical`.
    pub level: &'static str,
    /// The reasons as the API answers them (a JSON array).
    pub reasons: Value,
    /// An alert to open with the reading, in the same transaction.
    pub alert: Option<NewAlert>,
    /// The open alert (the context's `open_alert`) this reading joins instead of opening one.
    pub attach_to: Option<Uuid>,
}

/// A decider's answer for a critical reading when the caller prepared no alert for it: the store
/// writes nothing and answers `Rule(RuleRefusal::ReadingNeedsAlert)`, and the caller
/// works out the alert's audience and records again. Most readings are not critical, so most
/// are recorded without that work, and still no critical reading is stored without its alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertNeeded;

/// The decision a caller passes to [`Readings::record_reading`].
pub type DecideReading =
    Box<dyn FnOnce(&ReadingContext) -> Result<ReadingDecision, AlertNeeded> + Send>;

#[derive(Debug, Clone, PartialEq)]
pub struct StoredReading {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub practice_id: Uuid,
    pub vital: String,
    pub value: f64,
    pub taken_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub level: String,
    pub reasons: Value,
    pub source_user_id: Option<Uuid>,
    pub source_api_token_id: Option<Uuid>,
    /// The value as sent, when it was sent in another unit than the canonical one.
    pub sent_value: Option<f64>,
    /// That unit.
    pub sent_unit: Option<String>,
}

/// One vital of one patient that may be overdue for readings: the patient's frequency of the
/// vital, the practice's `warn_after_days`, and the readings the rule looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct OverdueCandidate {
    pub patient_id: Uuid,
    pub practice_id: Uuid,
    pub vital: String,
    pub readings: i32,
    pub per_days: i32,
    pub warn_after_days: i32,
    /// When the patient was created (enrolled).
    pub enrolled_at: DateTime<Utc>,
    /// When the patient's frequency of this vital was last set.
    pub set_at: DateTime<Utc>,
    /// The vital's newest reading, if any.
    pub newest_at: Option<DateTime<Utc>>,
    /// Its `readings`-th newest reading, if it has that many.
    pub nth_newest_at: Option<DateTime<Utc>>,
    /// The key of the episode of this vital already warned about.
    pub warned_for: Option<DateTime<Utc>>,
}

/// A stored reading and the context it was classified in.
#[derive(Debug, Clone)]
pub struct RecordedReading {
    pub reading: StoredReading,
    /// What the decision saw; `None` for a repeat, which is not decided again.
    pub context: Option<ReadingContext>,
    /// The alert opened with the reading, if the decision opened one.
    pub alert: Option<Alert>,
    /// The open alert the reading was attached to, if the decision attached it.
    pub attached_to: Option<Uuid>,
    /// The same reading (patient, vital, `taken_at`, value) was stored before: nothing was
    /// written and `reading` is the stored one.
    pub repeat: bool,
}

#[async_trait]
pub trait Readings: Send + Sync {
    /// In one transaction: locks the patient row; when the same reading (patient, vital,
    /// `taken_at`, value) is stored already, answers it as a repeat and writes nothing; else reads
    /// the [`ReadingContext`] (effective settings of the vital, other readings in the change
    /// window, the vital's open alert), asks `decide`, writes the reading with its decision
    /// (received at `audit.at`), the alert it opens or the link to the alert it joins, and the
    /// audit row (`reading.create`). `NotFound` when the patient does not exist.
    async fn record_reading(
        &self,
        audit: &Audit,
        new: NewReading,
        decide: DecideReading,
    ) -> StoreResult<RecordedReading>;

    /// A patient's readings, newest `taken_at` first (ties newest id first), optionally of one
    /// vital; `page.after` is the id of the last reading of the previous page. Audited as one
    /// read of the patient's data (`patient.readings.read`).
    async fn list_readings(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        vital: Option<String>,
        page: Page,
    ) -> StoreResult<Paged<StoredReading>>;

    /// Readings of one vital of a patient taken from `from` to `to` (both included) as
    /// `(taken_at, value)`, oldest first: the earlier readings the change rule looks at.
    async fn readings_between(
        &self,
        patient_id: Uuid,
        vital: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<(DateTime<Utc>, f64)>>;
}

#[async_trait]
pub trait ReadingSettings: Send + Sync {
    /// The practice's default alert settings of a vital; `None` when never saved.
    async fn practice_reading_alert(
        &self,
        practice_id: Uuid,
        vital: &str,
    ) -> StoreResult<Option<ReadingAlertRow>>;

    /// Saves the practice's default of a vital and applies it per `apply_to`, with the audit
    /// row, in one transaction serialised per practice. `NotFound` when the practice does not
    /// exist.
    async fn save_practice_reading_alert(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        vital: &str,
        settings: ReadingAlertRow,
        apply_to: ApplyReadingDefaultsTo,
    ) -> StoreResult<ReadingAlertRow>;

    /// A patient's effective alert settings of a vital. `NotFound` when the patient does not
    /// exist.
    async fn patient_reading_alert(
        &self,
        patient_id: Uuid,
        vital: &str,
    ) -> StoreResult<EffectiveReadingAlert>;

    /// Writes the patient's own settings of a vital with the audit row; answers the effective
    /// settings after the write. `NotFound` when the patient does not exist.
    async fn save_patient_reading_alert(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        vital: &str,
        settings: ReadingAlertRow,
    ) -> StoreResult<EffectiveReadingAlert>;

    /// The practice's reading frequency rules (the defaults when never saved).
    async fn reading_frequency(&self, practice_id: Uuid) -> StoreResult<ReadingFrequency>;
    /// The vitals with a frequency of patients of practices with an overdue warning
    /// (`warn_after_days > 0`) that may be due for it at `now`: neither the vital's newest
    /// reading nor the start of counting (the later of enrolment and `set_at`) is within the
    /// last `warn_after_days` days, and counting started at least `per_days + warn_after_days`
    /// days ago. The gateway's domain decides; this only leaves out what cannot be due.
    async fn overdue_candidates(&self, now: DateTime<Utc>) -> StoreResult<Vec<OverdueCandidate>>;
    /// Records that the episode of the patient's vital keyed `warned_for` was warned about and
    /// adds the notifications, unless that episode was already warned about. `true` when
    /// recorded now.
    async fn record_overdue_warning(
        &self,
        at: DateTime<Utc>,
        patient_id: Uuid,
        vital: &str,
        warned_for: DateTime<Utc>,
        notifications: Vec<NewNotification>,
    ) -> StoreResult<bool>;
    /// The levels of the patient's newest `n` readings of the vital, newest taken first.
    async fn recent_levels(
        &self,
        patient_id: Uuid,
        vital: &str,
        n: u32,
    ) -> StoreResult<Vec<String>>;

    /// Replaces the practice's reading frequency rules (vitals not listed lose theirs), with the
    /// audit row, in one transaction serialised per practice. Patients keep their own copies of
    /// the vitals' frequencies, unless `apply_to` is [`ApplyReadingDefaultsTo::AllPatients`]:
    /// then every patient of the practice gets the practice's vitals (a vital whose readings
    /// and days do not change keeps its `set_at`; others are set at `audit.at`). `NotFound`
    /// when the practice does not exist.
    async fn save_reading_frequency(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        frequency: ReadingFrequency,
        apply_to: ApplyReadingDefaultsTo,
    ) -> StoreResult<ReadingFrequency>;

    /// The patient's own frequency of each vital that has one, by vital name. `NotFound` when
    /// the patient does not exist.
    async fn patient_reading_frequency(
        &self,
        patient_id: Uuid,
    ) -> StoreResult<Vec<PatientVitalFrequency>>;

    /// Replaces the patient's own frequencies (vitals not listed lose theirs; a vital whose
    /// readings and days do not change keeps its `set_at`), with the audit row
    /// (`patient.reading_frequency.update`); answers them after the save. `NotFound` when the
    /// patient does not exist.
    async fn save_patient_reading_frequency(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        vitals: Vec<VitalFrequency>,
    ) -> StoreResult<Vec<PatientVitalFrequency>>;
}

/// The `set_at` a patient's vital keeps when it is saved again unchanged (same readings and
/// days); `None` when it is new or changed.
pub(crate) fn kept_set_at(
    current: &[PatientVitalFrequency],
    saved: &VitalFrequency,
) -> Option<DateTime<Utc>> {
    current
        .iter()
        .find(|c| {
            c.vital == saved.vital && c.readings == saved.readings && c.per_days == saved.per_days
        })
        .map(|c| c.set_at)
}

/// The change rule's window around `taken_at`: `within_hours` either side.
pub(crate) fn window(taken_at: DateTime<Utc>, within_hours: i32) -> (DateTime<Utc>, DateTime<Utc>) {
    let hours = TimeDelta::hours(i64::from(within_hours));
    (
        taken_at
            .checked_sub_signed(hours)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
        taken_at
            .checked_add_signed(hours)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    )
}

/// The stored change unit as the static string the row type holds.
pub(crate) fn change_unit(unit: &str) -> StoreResult<&'static str> {
    match unit {
        "percent" => Ok("percent"),
        "units" => Ok("units"),
        other => Err(StoreError::Unexpected(format!(
            "unknown change unit in the store: {other}"
        ))),
    }
}

/// Builds a row from nullable columns; `None` when the bounds are NULL ("no settings").
pub(crate) fn alert_row(
    bounds: [Option<f64>; 4],
    amount: Option<f64>,
    unit: Option<String>,
    within_hours: Option<i32>,
) -> StoreResult<Option<ReadingAlertRow>> {
    let [
        Some(critical_low),
        Some(normal_low),
        Some(normal_high),
        Some(critical_high),
    ] = bounds
    else {
        return Ok(None);
    };
    let change = match (amount, unit, within_hours) {
        (Some(amount), Some(unit), Some(within_hours)) => Some(ReadingChangeRow {
            amount,
            unit: change_unit(&unit)?,
            within_hours,
        }),
        _ => None,
    };
    Ok(Some(ReadingAlertRow {
        critical_low,
        normal_low,
        normal_high,
        critical_high,
        change,
    }))
}

/// Scopes are stored space-separated.
pub(crate) fn join_scopes(scopes: &[String]) -> String {
    scopes.join(" ")
}

pub(crate) fn split_scopes(stored: &str) -> Vec<String> {
    stored.split_whitespace().map(str::to_string).collect()
}

/// Whose alert settings a row holds: a practice's defaults or a patient's own. Both tables have
/// the same columns but the owner's.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AlertOwner {
    Practice,
    Patient,
}

impl AlertOwner {
    pub(crate) fn table(self) -> &'static str {
        match self {
            AlertOwner::Practice => "practice_reading_alert_defaults",
            AlertOwner::Patient => "patient_reading_alert_settings",
        }
    }

    pub(crate) fn column(self) -> &'static str {
        match self {
            AlertOwner::Practice => "practice_id",
            AlertOwner::Patient => "patient_id",
        }
    }
}
