//! Vital-sign readings and the settings that classify them: the practice's default alert
//! settings per vital, a patient's own, the practice's reading frequency rules.
//!
//! The store keeps vitals, levels and change units as the API's snake_case strings and a
//! reading's reasons as the JSON the API answered; alert settings are stored and answered as the
//! shared [`types::AlertSettings`]. Which vitals exist, how a reading is classified and what the
//! rules mean are the gateway's domain (`domain::readings`). The store
//! must never classify a reading itself: [`Readings::record_reading`] hands the stored context to
//! the caller's decision and writes what it answers, all in one transaction.
//!
//! Effective alert settings of a patient for one vital: the patient's own row, else the
//! practice's default row, else none. A patient row may be an explicit "none" (`settings` is
//! `None` with source [`ReadingAlertSource::Patient`]): "for new patients" saves write it for
//! existing patients who had no settings, so their effective settings stay as they were.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use types::{AlertSettings, ChangeRule, ChangeUnit, Ranges};
use uuid::Uuid;

use crate::rows::{event, insert_audit, patient_event};
use crate::sql::{Arg, Db, Row, ToArg, Tx};
use crate::*;

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
    pub settings: Option<AlertSettings>,
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
pub struct ReadingDecision {
    /// `normal`, `caution` or `critical`.
    pub level: &'static str,
    /// The reasons as the API answers them (a JSON array).
    pub reasons: Value,
    /// An alert to open with the reading, in the same transaction.
    pub alert: Option<NewAlert>,
    /// The open alert (the context's `open_alert`) this reading joins instead of opening one.
    pub attach_to: Option<Uuid>,
    /// What else the reading leads to, decided once it is written; `None`: nothing.
    pub follow_ups: Option<FollowUps>,
}

/// The second half of a reading's decision: run inside the same transaction once the reading
/// and its alert are written, with the levels of the vital's newest readings.
pub struct FollowUps {
    /// How many of the vital's newest levels (newest taken first, this reading's included) the
    /// decision needs.
    pub levels: u32,
    pub decide: DecideFollowUps,
}

/// Decides a reading's follow-ups from the levels [`FollowUps::levels`] asked for; run inside
/// the transaction, it must not block or do I/O.
pub type DecideFollowUps = Box<dyn FnOnce(&[String]) -> ReadingFollowUps + Send>;

/// Who else hears of a reading, written in its transaction. Staff texts and the patient's
/// notice are queued as the system (the reading's poster did not write them).
#[derive(Default)]
pub struct ReadingFollowUps {
    /// Feed and email notices to staff.
    pub notifications: Vec<NewNotification>,
    /// Texts to staff.
    pub staff_texts: Vec<NewOutbound>,
    /// A notice to the patient: its words and the choice of its channels, made with the
    /// patient's row locked (as [`Conversations::post_patient_notice`] makes it).
    pub patient_notice: Option<(String, PatientNoticeDecider)>,
}

/// A decider's answer when the reading, classified with the patient locked, needs something the
/// caller did not prepare (who an alert reaches, who hears of a caution): the store writes
/// nothing and answers `Rule(RuleRefusal::ReadingUnprepared)`, and the caller prepares more and
/// records again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unprepared;

/// The decision a caller passes to [`Readings::record_reading`]; run inside the transaction, it
/// must not block or do I/O.
pub type DecideReading =
    Box<dyn FnOnce(&ReadingContext) -> Result<ReadingDecision, Unprepared> + Send>;

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
    /// The patient's programs (who has case access to it depends on them).
    pub programs: Vec<String>,
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
    /// How many texts the alert it opened queued (none: it reaches nobody by text).
    pub alert_texts: usize,
    /// How many staff notices and staff texts its follow-ups wrote.
    pub staff_notified: usize,
    pub staff_texted: usize,
    /// The messages of its notice to the patient.
    pub patient_notice: Vec<Message>,
}

#[async_trait]
pub trait Readings: Send + Sync {
    /// In one transaction: locks the patient row; when the same reading (patient, vital,
    /// `taken_at`, value) is stored already, answers it as a repeat and writes nothing; else reads
    /// the [`ReadingContext`] (effective settings of the vital, other readings in the change
    /// window, the vital's open alert), asks `decide`, writes the reading with its decision
    /// (received at `audit.at`), the alert it opens or the link to the alert it joins, and the
    /// audit row (`reading.create`); then reads the levels the decision's follow-ups ask for and
    /// writes the notices they answer. `NotFound` when the patient does not exist;
    /// `Rule(ReadingUnprepared)`, with nothing written, when `decide` answers [`Unprepared`].
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
    ) -> StoreResult<Option<AlertSettings>>;

    /// Saves the practice's default of a vital and applies it per `apply_to`, with the audit
    /// row, in one transaction serialised per practice. `NotFound` when the practice does not
    /// exist.
    async fn save_practice_reading_alert(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        vital: &str,
        settings: AlertSettings,
        apply_to: ApplyReadingDefaultsTo,
    ) -> StoreResult<AlertSettings>;

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
        settings: AlertSettings,
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

/// Settings from nullable columns; `None` when the bounds are NULL ("no settings"). The schema
/// keeps the change columns all NULL or all set, the unit one of the API's and the window
/// positive; anything else is `Unexpected`.
pub(crate) fn alert_settings(
    bounds: [Option<f64>; 4],
    amount: Option<f64>,
    unit: Option<String>,
    within_hours: Option<i32>,
) -> StoreResult<Option<AlertSettings>> {
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
        (Some(amount), Some(unit), Some(within_hours)) => Some(ChangeRule {
            amount,
            unit: ChangeUnit::parse(&unit).ok_or_else(|| {
                StoreError::Unexpected(format!("unknown change unit in the store: {unit}"))
            })?,
            within_hours: u32::try_from(within_hours).map_err(|_| {
                StoreError::Unexpected(format!("stored change window {within_hours}"))
            })?,
        }),
        _ => None,
    };
    Ok(Some(AlertSettings {
        ranges: Ranges {
            critical_low,
            normal_low,
            normal_high,
            critical_high,
        },
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

/// A reading's columns, unqualified so that an `INSERT … RETURNING` can name them too (SQLite
/// allows no table alias there); a query over `readings r` with a subquery resolves them to `r`.
const READING_COLUMNS: &str = "id, patient_id, practice_id, vital, value, taken_at, received_at, \
     level, reasons, source_user_id, source_api_token_id, sent_value, sent_unit";

fn reading_from_row(row: &Row) -> StoreResult<StoredReading> {
    Ok(StoredReading {
        id: row.get(0)?,
        patient_id: row.get(1)?,
        practice_id: row.get(2)?,
        vital: row.get(3)?,
        value: row.get(4)?,
        taken_at: row.get(5)?,
        received_at: row.get(6)?,
        level: row.get(7)?,
        reasons: row.get(8)?,
        source_user_id: row.get(9)?,
        source_api_token_id: row.get(10)?,
        sent_value: row.get(11)?,
        sent_unit: row.get(12)?,
    })
}

/// Columns `first..first+7` of a settings row: the four bounds and the change rule.
fn settings_from_row(row: &Row, first: usize) -> StoreResult<Option<AlertSettings>> {
    alert_settings(
        [
            row.get(first)?,
            row.get(first + 1)?,
            row.get(first + 2)?,
            row.get(first + 3)?,
        ],
        row.get(first + 4)?,
        row.get(first + 5)?,
        row.get(first + 6)?,
    )
}

/// A settings row's columns as arguments: four bounds, then amount, unit, hours (all NULL for
/// an explicit "none").
fn settings_args(settings: Option<&AlertSettings>) -> [Arg<'static>; 7] {
    let bound = |f: fn(&Ranges) -> f64| Arg::F64(settings.map(|s| f(&s.ranges)));
    let change = settings.and_then(|s| s.change);
    [
        bound(|r| r.critical_low),
        bound(|r| r.normal_low),
        bound(|r| r.normal_high),
        bound(|r| r.critical_high),
        Arg::F64(change.map(|c| c.amount)),
        Arg::Text(change.map(|c| c.unit.as_str())),
        // Windows are at most 720 hours (validated before they are saved).
        Arg::I32(change.map(|c| i32::try_from(c.within_hours).unwrap_or(i32::MAX))),
    ]
}

/// The patient's practice and its customer; `NotFound` when there is no such patient. `lock`
/// takes the patient row (PostgreSQL `FOR NO KEY UPDATE`, which still lets rows referencing the
/// patient be written; SQLite write transactions are serialised already) so that readings of
/// one patient are decided one at a time.
pub(crate) async fn patient_practice(
    tx: &Tx<'_>,
    patient_id: Uuid,
    lock: bool,
) -> StoreResult<(Uuid, Uuid)> {
    let sql = "SELECT p.practice_id, pr.customer_id FROM patients p JOIN practices pr ON pr.id = p.practice_id
         WHERE p.id = $1";
    let locked = format!("{sql} FOR NO KEY UPDATE OF p");
    let sql = if lock { tx.pick(&locked, sql) } else { sql };
    let row = tx.query_one(sql, &[patient_id.arg()]).await?;
    Ok((row.get(0)?, row.get(1)?))
}

/// The practice's customer; `NotFound` when there is no such practice. `lock` serialises saves
/// of the practice's settings.
pub(crate) async fn practice_customer(
    tx: &Tx<'_>,
    practice_id: Uuid,
    lock: bool,
) -> StoreResult<Uuid> {
    let sql = "SELECT customer_id FROM practices WHERE id = $1";
    let locked = format!("{sql} FOR NO KEY UPDATE");
    let sql = if lock { tx.pick(&locked, sql) } else { sql };
    tx.query_one(sql, &[practice_id.arg()]).await?.get(0)
}

/// The stored reading with the same patient, vital, time and value, if there is one.
async fn same_reading(tx: &Tx<'_>, new: &NewReading) -> StoreResult<Option<StoredReading>> {
    let sql = format!(
        "SELECT {READING_COLUMNS} FROM readings r
         WHERE r.patient_id = $1 AND r.vital = $2 AND r.taken_at = $3 AND r.value = $4"
    );
    let args = [
        new.patient_id.arg(),
        new.vital.arg(),
        new.taken_at.arg(),
        new.value.arg(),
    ];
    let row = tx.query_opt(&sql, &args).await?;
    row.as_ref().map(reading_from_row).transpose()
}

async fn load_effective(
    tx: &Tx<'_>,
    patient_id: Uuid,
    practice_id: Uuid,
    vital: &str,
) -> StoreResult<EffectiveReadingAlert> {
    let row = tx
        .query_opt(
            "SELECT 1, critical_low, normal_low, normal_high, critical_high,
                    change_amount, change_unit, change_within_hours
             FROM patient_reading_alert_settings WHERE patient_id = $1 AND vital = $3
             UNION ALL
             SELECT 2, critical_low, normal_low, normal_high, critical_high,
                    change_amount, change_unit, change_within_hours
             FROM practice_reading_alert_defaults WHERE practice_id = $2 AND vital = $3
             ORDER BY 1 LIMIT 1",
            &[patient_id.arg(), practice_id.arg(), vital.arg()],
        )
        .await?;
    Ok(match row {
        None => EffectiveReadingAlert {
            source: ReadingAlertSource::None,
            settings: None,
        },
        Some(row) => EffectiveReadingAlert {
            source: if row.get::<i32>(0)? == 1 {
                ReadingAlertSource::Patient
            } else {
                ReadingAlertSource::Practice
            },
            settings: settings_from_row(&row, 1)?,
        },
    })
}

async fn load_practice_default(
    tx: &Tx<'_>,
    practice_id: Uuid,
    vital: &str,
) -> StoreResult<Option<AlertSettings>> {
    let row = tx
        .query_opt(
            "SELECT critical_low, normal_low, normal_high, critical_high,
                    change_amount, change_unit, change_within_hours
             FROM practice_reading_alert_defaults WHERE practice_id = $1 AND vital = $2",
            &[practice_id.arg(), vital.arg()],
        )
        .await?;
    match row {
        Some(row) => settings_from_row(&row, 0),
        None => Ok(None),
    }
}

async fn between(
    tx: &Tx<'_>,
    patient_id: Uuid,
    vital: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<(DateTime<Utc>, f64)>> {
    let rows = tx
        .query(
            "SELECT taken_at, value FROM readings
             WHERE patient_id = $1 AND vital = $2 AND taken_at >= $3 AND taken_at <= $4
             ORDER BY taken_at, id",
            &[patient_id.arg(), vital.arg(), from.arg(), to.arg()],
        )
        .await?;
    rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect()
}

async fn load_frequency(tx: &Tx<'_>, practice_id: Uuid) -> StoreResult<ReadingFrequency> {
    let mut frequency = ReadingFrequency::default();
    if let Some(row) = tx
        .query_opt(
            "SELECT warn_after_days, out_of_range_count, updated_at FROM practice_reading_rules
             WHERE practice_id = $1",
            &[practice_id.arg()],
        )
        .await?
    {
        frequency.warn_after_days = row.get(0)?;
        frequency.out_of_range_count = row.get(1)?;
        frequency.updated_at = Some(row.get(2)?);
    }
    let rows = tx
        .query(
            "SELECT vital, readings, per_days FROM practice_reading_frequency
             WHERE practice_id = $1 ORDER BY vital",
            &[practice_id.arg()],
        )
        .await?;
    frequency.vitals = rows
        .iter()
        .map(|r| {
            Ok(VitalFrequency {
                vital: r.get(0)?,
                readings: r.get(1)?,
                per_days: r.get(2)?,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(frequency)
}

async fn load_patient_frequency(
    tx: &Tx<'_>,
    patient_id: Uuid,
) -> StoreResult<Vec<PatientVitalFrequency>> {
    let rows = tx
        .query(
            "SELECT vital, readings, per_days, set_at FROM patient_reading_frequency
             WHERE patient_id = $1 ORDER BY vital",
            &[patient_id.arg()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(PatientVitalFrequency {
                vital: r.get(0)?,
                readings: r.get(1)?,
                per_days: r.get(2)?,
                set_at: r.get(3)?,
            })
        })
        .collect()
}

/// Copies the practice's vital frequencies to every patient of the practice: a patient's rows
/// that differ from the practice's (or that the practice no longer has) are replaced, rows that
/// are the same keep their `set_at`.
async fn apply_frequency_to_all_patients(
    tx: &Tx<'_>,
    practice_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM patient_reading_frequency
         WHERE patient_id IN (SELECT id FROM patients WHERE practice_id = $1)
           AND NOT EXISTS (SELECT 1 FROM practice_reading_frequency f
                           WHERE f.practice_id = $1
                             AND f.vital = patient_reading_frequency.vital
                             AND f.readings = patient_reading_frequency.readings
                             AND f.per_days = patient_reading_frequency.per_days)",
        &[practice_id.arg()],
    )
    .await?;
    tx.execute(
        "INSERT INTO patient_reading_frequency (patient_id, vital, readings, per_days, set_at)
         SELECT p.id, f.vital, f.readings, f.per_days, $2
         FROM patients p JOIN practice_reading_frequency f ON f.practice_id = p.practice_id
         WHERE p.practice_id = $1
         ON CONFLICT (patient_id, vital) DO NOTHING",
        &[practice_id.arg(), at.arg()],
    )
    .await?;
    Ok(())
}

/// Saves a practice's default or a patient's own settings of a vital (insert or replace).
async fn upsert_alert_settings(
    tx: &Tx<'_>,
    owner: AlertOwner,
    owner_id: Uuid,
    vital: &str,
    settings: &AlertSettings,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let (table, column) = (owner.table(), owner.column());
    let mut args = vec![owner_id.arg(), vital.arg()];
    args.extend(settings_args(Some(settings)));
    args.push(at.arg());
    tx.execute(
        &format!(
            "INSERT INTO {table}
                 ({column}, vital, critical_low, normal_low, normal_high, critical_high,
                  change_amount, change_unit, change_within_hours, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT ({column}, vital) DO UPDATE
             SET critical_low = excluded.critical_low, normal_low = excluded.normal_low,
                 normal_high = excluded.normal_high, critical_high = excluded.critical_high,
                 change_amount = excluded.change_amount, change_unit = excluded.change_unit,
                 change_within_hours = excluded.change_within_hours,
                 updated_at = excluded.updated_at"
        ),
        &args,
    )
    .await?;
    Ok(())
}

#[async_trait]
impl<D: Db> Readings for D {
    async fn record_reading(
        &self,
        audit: &Audit,
        new: NewReading,
        decide: DecideReading,
    ) -> StoreResult<RecordedReading> {
        let audit = audit.clone();
        self.transaction(move |tx| Box::pin(record_reading(tx, audit, new, decide)))
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
        self.transaction(move |tx| {
            Box::pin(async move {
                let (_, customer_id) = patient_practice(tx, patient_id, false).await?;
                let sql = format!(
                    "SELECT {READING_COLUMNS} FROM readings r
                     WHERE r.patient_id = $1 AND (r.vital = $2 OR $2 IS NULL)
                       AND ((r.taken_at, r.id) <
                            (SELECT c.taken_at, c.id FROM readings c WHERE c.id = $3 AND c.patient_id = $1)
                            OR $3 IS NULL)
                     ORDER BY r.taken_at DESC, r.id DESC LIMIT $4"
                );
                let limit = page.fetch_limit();
                let args = [patient_id.arg(), vital.arg(), page.after.arg(), limit.arg()];
                let rows = tx.query(&sql, &args).await?;
                let event = patient_event(customer_id, "patient.readings.read", patient_id);
                insert_audit(tx, &audit, &event).await?;
                let readings = rows
                    .iter()
                    .map(reading_from_row)
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(Paged::from_rows(readings, page, |r| r.id))
            })
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
        self.autocommit(move |tx| {
            Box::pin(async move { between(tx, patient_id, &vital, from, to).await })
        })
        .await
    }
}

/// What a reading of `new`'s vital is decided on: the effective settings, the readings in the
/// change rule's window and the vital's open alert.
async fn reading_context(
    tx: &Tx<'_>,
    new: &NewReading,
    practice_id: Uuid,
) -> StoreResult<ReadingContext> {
    // Independent reads, sent together (pipelined on PostgreSQL).
    let (settings, open_alert) = tokio::try_join!(
        load_effective(tx, new.patient_id, practice_id, &new.vital),
        crate::alerts::open_alert_of_vital(tx, new.patient_id, &new.vital),
    )?;
    let nearby = match settings.settings.and_then(|s| s.change) {
        Some(change) => {
            let (from, to) = change.window(new.taken_at);
            between(tx, new.patient_id, &new.vital, from, to).await?
        }
        None => Vec::new(),
    };
    Ok(ReadingContext {
        practice_id,
        settings,
        nearby,
        open_alert,
    })
}

async fn record_reading(
    tx: &Tx<'_>,
    audit: Audit,
    new: NewReading,
    decide: DecideReading,
) -> StoreResult<RecordedReading> {
    let (practice_id, customer_id) = patient_practice(tx, new.patient_id, true).await?;
    // With the patient locked, everything the decision reads is read at once.
    let (same, context) = tokio::try_join!(
        same_reading(tx, &new),
        reading_context(tx, &new, practice_id)
    )?;
    if let Some(reading) = same {
        return Ok(RecordedReading {
            reading,
            context: None,
            alert: None,
            attached_to: None,
            repeat: true,
            alert_texts: 0,
            staff_notified: 0,
            staff_texted: 0,
            patient_notice: Vec::new(),
        });
    }
    let ReadingDecision {
        level,
        reasons,
        alert,
        attach_to,
        follow_ups,
    } = decide(&context).map_err(|Unprepared| StoreError::Rule(RuleRefusal::ReadingUnprepared))?;
    let written = (practice_id, customer_id);
    let reading = insert_reading(tx, &audit, &new, written, level, &reasons).await?;
    let alert_texts = alert.as_ref().map_or(0, |a| a.texts.len());
    let alert = match &alert {
        Some(new) => {
            Some(crate::alerts::open_alert(tx, audit.at, practice_id, &reading, new).await?)
        }
        None => None,
    };
    if let Some(alert_id) = attach_to {
        crate::alerts::attach_reading(tx, alert_id, reading.id).await?;
    }
    let follow_ups = match follow_ups {
        Some(follow_ups) => {
            let levels = newest_levels(tx, new.patient_id, &new.vital, follow_ups.levels).await?;
            (follow_ups.decide)(&levels)
        }
        None => ReadingFollowUps::default(),
    };
    let (staff_notified, staff_texted, patient_notice) =
        write_follow_ups(tx, audit.at, new.patient_id, follow_ups).await?;
    Ok(RecordedReading {
        reading,
        context: Some(context),
        alert,
        attached_to: attach_to,
        repeat: false,
        alert_texts,
        staff_notified,
        staff_texted,
        patient_notice,
    })
}

/// Writes the reading of the patient's `(practice, customer)` with its decided level and
/// reasons, and its audit row; answers it as stored.
async fn insert_reading(
    tx: &Tx<'_>,
    audit: &Audit,
    new: &NewReading,
    (practice_id, customer_id): (Uuid, Uuid),
    level: &str,
    reasons: &Value,
) -> StoreResult<StoredReading> {
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
    let insert = format!(
        "INSERT INTO readings (id, patient_id, practice_id, vital, value, taken_at,
             received_at, level, reasons, source_user_id, source_api_token_id,
             sent_value, sent_unit)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         RETURNING {READING_COLUMNS}"
    );
    let args = [
        id.arg(),
        new.patient_id.arg(),
        practice_id.arg(),
        new.vital.arg(),
        new.value.arg(),
        new.taken_at.arg(),
        audit.at.arg(),
        level.arg(),
        reasons.arg(),
        source_user_id.arg(),
        source_api_token_id.arg(),
        sent_value.arg(),
        sent_unit.arg(),
    ];
    let event = AuditEvent {
        customer_id: Some(customer_id),
        action: "reading.create",
        target_type: "reading",
        target_id: Some(id.to_string()),
        patient_id: Some(new.patient_id),
    };
    // The reading and its audit row go out together (pipelined on PostgreSQL).
    let (row, ()) = tokio::try_join!(
        tx.query_one(&insert, &args),
        insert_audit(tx, audit, &event)
    )?;
    reading_from_row(&row)
}

/// Writes a reading's notices to staff and to the patient, as the system; answers how many
/// staff notices and texts were written and the patient's notice messages.
async fn write_follow_ups(
    tx: &Tx<'_>,
    at: DateTime<Utc>,
    patient_id: Uuid,
    follow_ups: ReadingFollowUps,
) -> StoreResult<(usize, usize, Vec<Message>)> {
    let system = Audit::system(at);
    crate::feed::insert_notifications(tx, at, &follow_ups.notifications).await?;
    let staff_texted = follow_ups.staff_texts.len();
    for text in follow_ups.staff_texts {
        crate::messaging::enqueue_sms(tx, system.clone(), text).await?;
    }
    let patient_notice = match follow_ups.patient_notice {
        Some((body, decide)) => {
            crate::conversations::post_patient_notice(tx, system, patient_id, body, decide).await?
        }
        None => Vec::new(),
    };
    Ok((follow_ups.notifications.len(), staff_texted, patient_notice))
}

/// The levels of the patient's newest `n` readings of the vital, newest taken first.
async fn newest_levels(
    tx: &Tx<'_>,
    patient_id: Uuid,
    vital: &str,
    n: u32,
) -> StoreResult<Vec<String>> {
    tx.column(
        "SELECT level FROM readings WHERE patient_id = $1 AND vital = $2
         ORDER BY taken_at DESC, id DESC LIMIT $3",
        &[patient_id.arg(), vital.arg(), i64::from(n).arg()],
    )
    .await
}

#[async_trait]
impl<D: Db> ReadingSettings for D {
    async fn practice_reading_alert(
        &self,
        practice_id: Uuid,
        vital: &str,
    ) -> StoreResult<Option<AlertSettings>> {
        let vital = vital.to_string();
        self.autocommit(move |tx| {
            Box::pin(async move { load_practice_default(tx, practice_id, &vital).await })
        })
        .await
    }

    async fn save_practice_reading_alert(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        vital: &str,
        settings: AlertSettings,
        apply_to: ApplyReadingDefaultsTo,
    ) -> StoreResult<AlertSettings> {
        let audit = audit.clone();
        let vital = vital.to_string();
        self.transaction(move |tx| {
            Box::pin(save_practice_reading_alert(
                tx,
                audit,
                practice_id,
                vital,
                settings,
                apply_to,
            ))
        })
        .await
    }

    async fn patient_reading_alert(
        &self,
        patient_id: Uuid,
        vital: &str,
    ) -> StoreResult<EffectiveReadingAlert> {
        let vital = vital.to_string();
        self.autocommit(move |tx| {
            Box::pin(async move {
                let (practice_id, _) = patient_practice(tx, patient_id, false).await?;
                load_effective(tx, patient_id, practice_id, &vital).await
            })
        })
        .await
    }

    async fn save_patient_reading_alert(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        vital: &str,
        settings: AlertSettings,
    ) -> StoreResult<EffectiveReadingAlert> {
        let audit = audit.clone();
        let vital = vital.to_string();
        self.transaction(move |tx| {
            Box::pin(async move {
                let (practice_id, customer_id) = patient_practice(tx, patient_id, false).await?;
                let owner = AlertOwner::Patient;
                upsert_alert_settings(tx, owner, patient_id, &vital, &settings, audit.at).await?;
                let event = patient_event(customer_id, "patient.reading_alerts.update", patient_id);
                insert_audit(tx, &audit, &event).await?;
                load_effective(tx, patient_id, practice_id, &vital).await
            })
        })
        .await
    }

    async fn reading_frequency(&self, practice_id: Uuid) -> StoreResult<ReadingFrequency> {
        self.autocommit(move |tx| Box::pin(load_frequency(tx, practice_id)))
            .await
    }

    async fn overdue_candidates(&self, now: DateTime<Utc>) -> StoreResult<Vec<OverdueCandidate>> {
        self.autocommit(move |tx| Box::pin(overdue_candidates(tx, now)))
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
        self.transaction(move |tx| {
            Box::pin(async move {
                let changed = tx
                    .execute(
                        "INSERT INTO overdue_vital_warnings (patient_id, vital, warned_for, warned_at)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (patient_id, vital) DO UPDATE
                         SET warned_for = excluded.warned_for, warned_at = excluded.warned_at
                         WHERE overdue_vital_warnings.warned_for <> excluded.warned_for",
                        &[patient_id.arg(), vital.arg(), warned_for.arg(), at.arg()],
                    )
                    .await?;
                if changed == 0 {
                    return Ok(false);
                }
                crate::feed::insert_notifications(tx, at, &notifications).await?;
                Ok(true)
            })
        })
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
        self.transaction(move |tx| {
            Box::pin(save_reading_frequency(
                tx,
                audit,
                practice_id,
                frequency,
                apply_to,
            ))
        })
        .await
    }

    async fn patient_reading_frequency(
        &self,
        patient_id: Uuid,
    ) -> StoreResult<Vec<PatientVitalFrequency>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                patient_practice(tx, patient_id, false).await?;
                load_patient_frequency(tx, patient_id).await
            })
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
        self.transaction(move |tx| {
            Box::pin(async move {
                let (_, customer_id) = patient_practice(tx, patient_id, true).await?;
                let current = load_patient_frequency(tx, patient_id).await?;
                tx.execute(
                    "DELETE FROM patient_reading_frequency WHERE patient_id = $1",
                    &[patient_id.arg()],
                )
                .await?;
                for vital in &vitals {
                    let set_at = kept_set_at(&current, vital).unwrap_or(audit.at);
                    tx.execute(
                        "INSERT INTO patient_reading_frequency (patient_id, vital, readings, per_days, set_at)
                         VALUES ($1, $2, $3, $4, $5)",
                        &[
                            patient_id.arg(),
                            vital.vital.arg(),
                            vital.readings.arg(),
                            vital.per_days.arg(),
                            set_at.arg(),
                        ],
                    )
                    .await?;
                }
                let event = patient_event(customer_id, "patient.reading_frequency.update", patient_id);
                insert_audit(tx, &audit, &event).await?;
                load_patient_frequency(tx, patient_id).await
            })
        })
        .await
    }
}

async fn save_practice_reading_alert(
    tx: &Tx<'_>,
    audit: Audit,
    practice_id: Uuid,
    vital: String,
    settings: AlertSettings,
    apply_to: ApplyReadingDefaultsTo,
) -> StoreResult<AlertSettings> {
    let customer_id = practice_customer(tx, practice_id, true).await?;
    let action = match apply_to {
        ApplyReadingDefaultsTo::NewPatients => {
            // Existing patients keep what they had: the previous default (or an explicit
            // "none") becomes their own row where they have none.
            let previous = load_practice_default(tx, practice_id, &vital).await?;
            let mut args = vec![practice_id.arg(), vital.arg()];
            args.extend(settings_args(previous.as_ref()));
            args.push(audit.at.arg());
            tx.execute(
                "INSERT INTO patient_reading_alert_settings
                     (patient_id, vital, critical_low, normal_low, normal_high, critical_high,
                      change_amount, change_unit, change_within_hours, updated_at)
                 SELECT p.id, CAST($2 AS TEXT), CAST($3 AS DOUBLE PRECISION),
                        CAST($4 AS DOUBLE PRECISION), CAST($5 AS DOUBLE PRECISION),
                        CAST($6 AS DOUBLE PRECISION), CAST($7 AS DOUBLE PRECISION),
                        CAST($8 AS TEXT), CAST($9 AS INTEGER), $10
                 FROM patients p WHERE p.practice_id = $1
                 ON CONFLICT (patient_id, vital) DO NOTHING",
                &args,
            )
            .await?;
            "practice.reading_alert_defaults.set_for_new_patients"
        }
        ApplyReadingDefaultsTo::AllPatients => {
            tx.execute(
                "DELETE FROM patient_reading_alert_settings
                 WHERE vital = $2
                   AND patient_id IN (SELECT id FROM patients WHERE practice_id = $1)",
                &[practice_id.arg(), vital.arg()],
            )
            .await?;
            "practice.reading_alert_defaults.set_for_all_patients"
        }
    };
    let owner = AlertOwner::Practice;
    upsert_alert_settings(tx, owner, practice_id, &vital, &settings, audit.at).await?;
    let event = event(Some(customer_id), action, "practice", practice_id);
    insert_audit(tx, &audit, &event).await?;
    load_practice_default(tx, practice_id, &vital)
        .await?
        .ok_or_else(|| StoreError::Unexpected("the saved default is gone".into()))
}

async fn save_reading_frequency(
    tx: &Tx<'_>,
    audit: Audit,
    practice_id: Uuid,
    frequency: ReadingFrequency,
    apply_to: ApplyReadingDefaultsTo,
) -> StoreResult<ReadingFrequency> {
    let customer_id = practice_customer(tx, practice_id, true).await?;
    tx.execute(
        "INSERT INTO practice_reading_rules (practice_id, warn_after_days, out_of_range_count, updated_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (practice_id) DO UPDATE
         SET warn_after_days = excluded.warn_after_days,
             out_of_range_count = excluded.out_of_range_count, updated_at = excluded.updated_at",
        &[
            practice_id.arg(),
            frequency.warn_after_days.arg(),
            frequency.out_of_range_count.arg(),
            audit.at.arg(),
        ],
    )
    .await?;
    tx.execute(
        "DELETE FROM practice_reading_frequency WHERE practice_id = $1",
        &[practice_id.arg()],
    )
    .await?;
    for vital in &frequency.vitals {
        tx.execute(
            "INSERT INTO practice_reading_frequency (practice_id, vital, readings, per_days)
             VALUES ($1, $2, $3, $4)",
            &[
                practice_id.arg(),
                vital.vital.arg(),
                vital.readings.arg(),
                vital.per_days.arg(),
            ],
        )
        .await?;
    }
    let action = match apply_to {
        ApplyReadingDefaultsTo::NewPatients => "practice.reading_frequency.update",
        ApplyReadingDefaultsTo::AllPatients => {
            apply_frequency_to_all_patients(tx, practice_id, audit.at).await?;
            "practice.reading_frequency.set_for_all_patients"
        }
    };
    let event = event(Some(customer_id), action, "practice", practice_id);
    insert_audit(tx, &audit, &event).await?;
    load_frequency(tx, practice_id).await
}

/// The overdue candidates: interval arithmetic and "the n-th newest" differ between the
/// dialects (SQLite times are microseconds and it has no `OFFSET` expression per row).
async fn overdue_candidates(tx: &Tx<'_>, now: DateTime<Utc>) -> StoreResult<Vec<OverdueCandidate>> {
    let sql = tx.pick(
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
                   + c.warn_after_days * 86400000000 <= $1
           AND c.counted_from + (c.per_days + c.warn_after_days) * 86400000000 <= $1",
    );
    let rows = tx.query(sql, &[now.arg()]).await?;
    let mut candidates = rows
        .iter()
        .map(|r| {
            Ok(OverdueCandidate {
                patient_id: r.get(0)?,
                practice_id: r.get(1)?,
                vital: r.get(2)?,
                readings: r.get(3)?,
                per_days: r.get(4)?,
                warn_after_days: r.get(5)?,
                enrolled_at: r.get(6)?,
                set_at: r.get(7)?,
                newest_at: r.get(8)?,
                nth_newest_at: r.get(9)?,
                warned_for: r.get(10)?,
                programs: Vec::new(),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    // The candidates' programs in one query, not one patient read per candidate.
    let mut patients: Vec<Uuid> = candidates.iter().map(|c| c.patient_id).collect();
    patients.sort_unstable();
    patients.dedup();
    if patients.is_empty() {
        return Ok(candidates);
    }
    let mut args = Vec::new();
    let sql = format!(
        "SELECT patient_id, program FROM patient_programs WHERE patient_id {} ORDER BY program",
        tx.in_list(&patients, &mut args)
    );
    for row in tx.query(&sql, &args).await? {
        let patient_id: Uuid = row.get(0)?;
        let program: String = row.get(1)?;
        for candidate in candidates.iter_mut().filter(|c| c.patient_id == patient_id) {
            candidate.programs.push(program.clone());
        }
    }
    Ok(candidates)
}
