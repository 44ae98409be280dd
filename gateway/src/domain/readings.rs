//! Vital-sign readings: what a reading means for the patient.
//!
//! Owns the classification of one reading as normal, caution or critical with the reasons why,
//! and the two practice-level rules that look at a series of readings: "notify after N
//! consecutive out-of-range readings" and "warn after N days overdue" (per vital, against the
//! patient's own reading frequency), each built so a worker raises it once per episode. The
//! vitals and their alert settings (`{ranges, change}`, API.md) with their validation are the
//! shared vocabulary of `types` (`types::vitals`, `types::alert_settings`).
//!
//! Must never do I/O, read the clock (`taken_at` and `now` are arguments), load readings (the
//! caller passes the earlier readings that matter), or decide who is told: alerts, on-call lookup
//! and notification settings live elsewhere.
//!
//! # Classification
//!
//! By range: below `critical_low` or above `critical_high` is critical; from `normal_low` to
//! `normal_high` (both inclusive) is normal; anything else is caution. So a value exactly on a
//! critical bound is caution, and exactly on a normal bound is normal. Equal bounds leave a band
//! empty (`critical_low == normal_low` means there is no low caution band).
//!
//! By change: with a change rule, a reading is also critical when it differs from any other
//! reading of the same vital taken within `within_hours` of it, before or after, by at least
//! `amount` units, or by at least `amount` percent of the value taken first of the two. Readings
//! taken after this one are there when a device uploads newest first after being offline: the
//! change between two readings is the same whichever arrives first. The window is closed at both
//! ends: a reading exactly `within_hours` away counts, as does one taken at the same instant. A
//! change of zero never counts; from a value of 0, any change counts as a percentage change. The
//! comparison at exactly `amount` tolerates binary rounding (a relative 1e-9), so 100.1 → 120.3
//! is a change of 20.2.
//!
//! Values must be finite: callers refuse others with [`validate_value`]. Should one slip through,
//! it is classified critical, never normal.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use types::{AlertSettings, AlertSettingsError, ChangeRule, ChangeUnit, Ranges};

// ---- settings -------------------------------------------------------------------------------

/// Checks a reading's value: it must be a finite number (field `value`).
pub fn validate_value(value: f64) -> Result<(), AlertSettingsError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(AlertSettingsError::NotFinite { field: "value" })
    }
}

/// The level of `value` by `ranges` alone, with the reason when it is not normal.
pub fn range_level(ranges: &Ranges, value: f64) -> (Level, Option<Reason>) {
    // NaN fails safe: critical, never normal.
    if value.is_nan() || value < ranges.critical_low {
        (Level::Critical, Some(Reason::CriticalLow))
    } else if value > ranges.critical_high {
        (Level::Critical, Some(Reason::CriticalHigh))
    } else if ranges.normal_low <= value && value <= ranges.normal_high {
        (Level::Normal, None)
    } else if value < ranges.normal_low {
        (Level::Caution, Some(Reason::CautionLow))
    } else {
        (Level::Caution, Some(Reason::CautionHigh))
    }
}

/// Whether going from `earlier` to `value` is a change of at least `rule`'s amount.
pub fn change_is_met(rule: &ChangeRule, earlier: f64, value: f64) -> bool {
    let change = (value - earlier).abs();
    if change == 0.0 || change.is_nan() {
        return false;
    }
    // Percent compares change * 100 with amount * |earlier|, avoiding a division.
    let (measured, threshold) = match rule.unit {
        ChangeUnit::Units => (change, rule.amount),
        ChangeUnit::Percent => (change * 100.0, rule.amount * earlier.abs()),
    };
    let tolerance = 1e-9 * measured.max(threshold).max(1.0);
    measured >= threshold - tolerance
}

/// The reason `rule` makes `value` critical, if it does: among the other readings in the window
/// (before or after `taken_at`) that meet the rule with this one, the one with the largest
/// change (the latest taken on a tie).
pub fn rapid_change(
    rule: &ChangeRule,
    value: f64,
    nearby: &[(DateTime<Utc>, f64)],
    taken_at: DateTime<Utc>,
) -> Option<Reason> {
    let (start, end) = rule.window(taken_at);
    let mut best: Option<(DateTime<Utc>, f64)> = None;
    for &(at, other) in nearby {
        if at < start || at > end || !other.is_finite() {
            continue;
        }
        // The percentage is of whichever value was taken first.
        let met = if at <= taken_at {
            change_is_met(rule, other, value)
        } else {
            change_is_met(rule, value, other)
        };
        if !met {
            continue;
        }
        let better = match best {
            None => true,
            Some((best_at, best_other)) => {
                let (size, best_size) = ((value - other).abs(), (value - best_other).abs());
                size > best_size || (size == best_size && at > best_at)
            }
        };
        if better {
            best = Some((at, other));
        }
    }
    best.map(|(at, other)| Reason::RapidChange {
        from_value: other,
        change: round_noise(value - other),
        within_hours: rule.within_hours,
        later: at > taken_at,
    })
}

// ---- classification -------------------------------------------------------------------------

/// How worrying a reading is; ordered `Unclassified < Normal < Caution < Critical`. Serialized
/// in snake_case, which is also the API's reading `status` and alert `level`. `Unclassified`: the
/// patient has no ranges for the vital at any level, so nothing says whether it is normal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Unclassified,
    Normal,
    Caution,
    Critical,
}

impl Level {
    /// Every level, least worrying first.
    pub const ALL: [Level; 4] = [
        Level::Unclassified,
        Level::Normal,
        Level::Caution,
        Level::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Unclassified => "unclassified",
            Level::Normal => "normal",
            Level::Caution => "caution",
            Level::Critical => "critical",
        }
    }

    /// The level of a stored status; an unknown one reads as critical, so it is looked at.
    pub fn parse_stored(status: &str) -> Level {
        match status {
            "unclassified" => Level::Unclassified,
            "normal" => Level::Normal,
            "caution" => Level::Caution,
            _ => Level::Critical,
        }
    }

    /// Caution or critical: what "out of range" means for the consecutive-readings rule.
    pub fn is_out_of_range(self) -> bool {
        matches!(self, Level::Caution | Level::Critical)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a reading is not normal. Serialized with a `code` tag:
/// `{"code": "critical_low"}`, `{"code": "rapid_change", "from_value": 80.0, "change": 25.0,
/// "within_hours": 24}`. `change` is signed: the new value minus `from_value`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    CriticalLow,
    CautionLow,
    CautionHigh,
    CriticalHigh,
    RapidChange {
        /// The other reading's value.
        from_value: f64,
        /// This reading's value minus `from_value`.
        change: f64,
        within_hours: u32,
        /// The other reading was taken after this one (it arrived first).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        later: bool,
    },
}

impl Reason {
    /// The stable machine code, e.g. `caution_high`.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::CriticalLow => "critical_low",
            Reason::CautionLow => "caution_low",
            Reason::CautionHigh => "caution_high",
            Reason::CriticalHigh => "critical_high",
            Reason::RapidChange { .. } => "rapid_change",
        }
    }

    /// A sentence fragment for people, e.g. "rose by 25 from 80 within 24 hours".
    pub fn human(&self) -> String {
        match *self {
            Reason::CriticalLow => "below the critical low limit".to_owned(),
            Reason::CautionLow => "below the normal range".to_owned(),
            Reason::CautionHigh => "above the normal range".to_owned(),
            Reason::CriticalHigh => "above the critical high limit".to_owned(),
            Reason::RapidChange {
                from_value,
                change,
                within_hours,
                later,
            } => {
                let hours = if within_hours == 1 { "hour" } else { "hours" };
                if later {
                    let side = if change < 0.0 { "lower" } else { "higher" };
                    format!(
                        "{} {side} than the {} taken within {within_hours} {hours} after it",
                        human_number(change.abs()),
                        human_number(from_value)
                    )
                } else {
                    let direction = if change < 0.0 { "fell" } else { "rose" };
                    format!(
                        "{direction} by {} from {} within {within_hours} {hours}",
                        human_number(change.abs()),
                        human_number(from_value)
                    )
                }
            }
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.human())
    }
}

/// The outcome for one reading: its level and every reason it is not normal (range reason
/// first, then the change reason). `reasons` is empty exactly when `level` is normal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub level: Level,
    pub reasons: Vec<Reason>,
}

/// Classifies a reading of `value` taken at `taken_at`, given the vital's settings and other
/// readings of the same vital for the same patient as `(taken_at, value)` in any order. Only
/// readings inside the change rule's window matter (see the module docs), so a caller need load
/// no more than `within_hours` either side; passing the reading itself is harmless.
pub fn classify(
    value: f64,
    settings: &AlertSettings,
    nearby: &[(DateTime<Utc>, f64)],
    taken_at: DateTime<Utc>,
) -> Classification {
    let (mut level, range_reason) = range_level(&settings.ranges, value);
    let mut reasons: Vec<Reason> = range_reason.into_iter().collect();
    if let Some(rule) = &settings.change
        && let Some(reason) = rapid_change(rule, value, nearby, taken_at)
    {
        level = Level::Critical;
        reasons.push(reason);
    }
    Classification { level, reasons }
}

/// A reading taken longer than this before it arrived is late: it is stored and classified as
/// any other, and its notifications say it is late, so nobody takes a three-day-old reading for
/// the patient's state now.
pub const LATE_AFTER: TimeDelta = TimeDelta::hours(72);

/// Whether a reading taken at `taken_at` and received at `received_at` is late.
pub fn is_late(taken_at: DateTime<Utc>, received_at: DateTime<Utc>) -> bool {
    received_at - taken_at > LATE_AFTER
}

// ---- series rules ---------------------------------------------------------------------------

/// "Notify after N consecutive out-of-range readings", evaluated when a reading arrives.
///
/// `levels_newest_first` are the levels of one series (one patient's readings of one vital),
/// newest first, the new reading at index 0. Pass at least the newest `n + 1` (fewer only when
/// the series is shorter). True exactly when the newest `n` are all out of range (caution or
/// critical) and the one before them, if any, was normal: the new reading is the Nth of its
/// episode. The (N+1)th and later out-of-range readings do not fire again; a normal reading ends
/// the episode and the next run of N fires anew. So the rule is stateless: a worker or service
/// raises it at most once per episode without storing anything. `n == 0` means the rule is off.
/// With fewer than `n + 1` levels, a series of exactly `n` out-of-range levels counts as the
/// start of the series and fires.
pub fn consecutive_out_of_range(levels_newest_first: &[Level], n: u32) -> bool {
    let Ok(n) = usize::try_from(n) else {
        return false;
    };
    if n == 0 || levels_newest_first.len() < n {
        return false;
    }
    levels_newest_first[..n]
        .iter()
        .all(|level| level.is_out_of_range())
        && levels_newest_first
            .get(n)
            .is_none_or(|level| !level.is_out_of_range())
}

/// How often a patient is expected to read one vital: `readings` readings in any `per_days` days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frequency {
    /// At least 1.
    pub readings: u32,
    /// At least 1.
    pub per_days: u32,
}

/// What the overdue rule needs to know of one vital of one patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VitalHistory {
    /// When counting may start: the later of the patient's enrolment and the day this vital's
    /// frequency was set for them. Nothing is expected of the patient before it.
    pub counted_from: DateTime<Utc>,
    /// The vital's newest reading (`taken_at`), if any.
    pub newest: Option<DateTime<Utc>>,
    /// Its `readings`-th newest reading (the newest when `readings` is 1), if it has that many.
    pub nth_newest: Option<DateTime<Utc>>,
}

/// When the vital falls (or fell) behind its frequency: the first instant at which the last
/// `per_days` days hold fewer than `readings` of its readings. A reading counts while it is less
/// than `per_days` × 24 hours old (elapsed time, so DST does not matter), so this is
/// `per_days` days after the `readings`-th newest reading; never before `per_days` days after
/// [`VitalHistory::counted_from`] (a patient just enrolled, or given a new frequency, has a
/// full period to comply). `None` only when the sum overflows.
pub fn behind_since(frequency: Frequency, history: &VitalHistory) -> Option<DateTime<Utc>> {
    let start = history
        .nth_newest
        .map_or(history.counted_from, |nth| nth.max(history.counted_from));
    start.checked_add_signed(TimeDelta::try_days(i64::from(frequency.per_days))?)
}

/// One overdue episode of one vital: the silence after its newest reading (or after
/// [`VitalHistory::counted_from`], when that is later) while the vital is behind its frequency.
/// A reading of the vital ends the episode; readings of other vitals do not touch it.
///
/// How a worker warns once per episode: store, per patient and vital, the `key` of the episode
/// last warned about; each run compute [`overdue_to_warn`], and when it answers, send the warning
/// and store its key in one transaction. Restarts and several instances then never warn twice
/// for one silence, and a vital that is read again and falls silent again is warned about
/// again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OverdueEpisode {
    /// The episode's key: when the silence began.
    pub key: DateTime<Utc>,
    /// When the vital fell behind its frequency (see [`behind_since`]).
    pub behind_since: DateTime<Utc>,
    /// When the care team is to be warned: `warn_after_days` × 24 hours after the later of
    /// `behind_since` and `key`, so a reading that does not catch the vital up postpones the
    /// next warning by the same delay.
    pub warn_at: DateTime<Utc>,
}

/// The vital's current overdue episode and when it is to be warned about; `None` when the
/// vital is not behind at `now`, when `warn_after_days` is 0 (the practice's warning is off)
/// or on overflow.
pub fn overdue_episode(
    frequency: Frequency,
    history: &VitalHistory,
    warn_after_days: u32,
    now: DateTime<Utc>,
) -> Option<OverdueEpisode> {
    if warn_after_days == 0 {
        return None;
    }
    let behind = behind_since(frequency, history)?;
    if now < behind {
        return None;
    }
    let key = history.newest.map_or(history.counted_from, |newest| {
        newest.max(history.counted_from)
    });
    let warn_at = behind
        .max(key)
        .checked_add_signed(TimeDelta::try_days(i64::from(warn_after_days))?)?;
    Some(OverdueEpisode {
        key,
        behind_since: behind,
        warn_at,
    })
}

/// The episode to warn the care team about now, if any: the current episode once its
/// `warn_at` has come, unless `warned_for` (the stored key of the episode already warned
/// about) is its key.
pub fn overdue_to_warn(
    frequency: Frequency,
    history: &VitalHistory,
    warn_after_days: u32,
    warned_for: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<OverdueEpisode> {
    overdue_episode(frequency, history, warn_after_days, now)
        .filter(|episode| now >= episode.warn_at && warned_for != Some(episode.key))
}

// ---- number formatting ----------------------------------------------------------------------

/// Rounds away binary noise (20.199999999999996 → 20.2) by keeping six decimals.
fn round_noise(x: f64) -> f64 {
    if x.is_finite() && x.abs() < 1e9 {
        (x * 1e6).round() / 1e6
    } else {
        x
    }
}

/// At most two decimals, trailing zeros dropped: 25 → "25", 12.5 → "12.5", 1/3 → "0.33".
fn human_number(x: f64) -> String {
    let text = format!("{x:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn hours(n: i64) -> TimeDelta {
        TimeDelta::hours(n)
    }

    /// Pulse-like ranges: critical < 40 <= caution < 60 <= normal <= 100 < caution <= 120 < critical.
    fn ranges() -> Ranges {
        Ranges {
            critical_low: 40.0,
            normal_low: 60.0,
            normal_high: 100.0,
            critical_high: 120.0,
        }
    }

    fn settings(change: Option<ChangeRule>) -> AlertSettings {
        AlertSettings {
            ranges: ranges(),
            change,
        }
    }

    fn rule(amount: f64, unit: ChangeUnit, within_hours: u32) -> ChangeRule {
        ChangeRule {
            amount,
            unit,
            within_hours,
        }
    }

    /// Ranges wide enough that every value below is normal, to isolate the change rule.
    fn wide(change: ChangeRule) -> AlertSettings {
        AlertSettings {
            ranges: Ranges {
                critical_low: -1e6,
                normal_low: -1e6,
                normal_high: 1e6,
                critical_high: 1e6,
            },
            change: Some(change),
        }
    }

    const NOW: &str = "2026-05-10T12:00:00Z";

    // ---- settings validation ---------------------------------------------------------------

    #[test]
    fn validate_value_refuses_non_finite_readings() {
        assert_eq!(validate_value(72.0), Ok(()));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(validate_value(bad).unwrap_err().field(), "value");
        }
    }

    // ---- serde shapes ----------------------------------------------------------------------

    #[test]
    fn a_classification_serializes_its_level_and_coded_reasons() {
        let classification = Classification {
            level: Level::Critical,
            reasons: vec![
                Reason::CautionHigh,
                Reason::RapidChange {
                    from_value: 80.0,
                    change: 25.0,
                    within_hours: 24,
                    later: false,
                },
            ],
        };
        assert_eq!(
            serde_json::to_value(&classification).unwrap(),
            serde_json::json!({
                "level": "critical",
                "reasons": [
                    {"code": "caution_high"},
                    {"code": "rapid_change", "from_value": 80.0, "change": 25.0, "within_hours": 24},
                ],
            })
        );
    }

    #[test]
    fn reasons_have_stable_codes_and_human_sentences() {
        let table = [
            (
                Reason::CriticalLow,
                "critical_low",
                "below the critical low limit",
            ),
            (Reason::CautionLow, "caution_low", "below the normal range"),
            (
                Reason::CautionHigh,
                "caution_high",
                "above the normal range",
            ),
            (
                Reason::CriticalHigh,
                "critical_high",
                "above the critical high limit",
            ),
            (
                Reason::RapidChange {
                    from_value: 80.0,
                    change: 25.0,
                    within_hours: 24,
                    later: false,
                },
                "rapid_change",
                "rose by 25 from 80 within 24 hours",
            ),
            (
                Reason::RapidChange {
                    from_value: 98.6,
                    change: -12.25,
                    within_hours: 1,
                    later: false,
                },
                "rapid_change",
                "fell by 12.25 from 98.6 within 1 hour",
            ),
            (
                Reason::RapidChange {
                    from_value: 1.0 / 3.0,
                    change: 0.5,
                    within_hours: 2,
                    later: false,
                },
                "rapid_change",
                "rose by 0.5 from 0.33 within 2 hours",
            ),
        ];
        for (reason, code, human) in table {
            assert_eq!(reason.code(), code);
            assert_eq!(reason.human(), human);
            assert_eq!(reason.to_string(), human);
            assert_eq!(serde_json::to_value(reason).unwrap()["code"], code);
        }
    }

    #[test]
    fn levels_are_ordered_normal_caution_critical() {
        assert!(Level::Normal < Level::Caution && Level::Caution < Level::Critical);
        assert_eq!(
            serde_json::to_value(Level::Caution).unwrap(),
            serde_json::json!("caution")
        );
        assert_eq!(Level::Critical.to_string(), "critical");
    }

    // ---- classification by range -----------------------------------------------------------

    #[test]
    fn a_value_on_each_bound_and_either_side_of_it_gets_the_documented_level() {
        use Level::*;
        let table = [
            (-1000.0, Critical, Some(Reason::CriticalLow)),
            (39.99, Critical, Some(Reason::CriticalLow)),
            (40.0, Caution, Some(Reason::CautionLow)),
            (40.01, Caution, Some(Reason::CautionLow)),
            (59.99, Caution, Some(Reason::CautionLow)),
            (60.0, Normal, None),
            (80.0, Normal, None),
            (100.0, Normal, None),
            (100.01, Caution, Some(Reason::CautionHigh)),
            (119.99, Caution, Some(Reason::CautionHigh)),
            (120.0, Caution, Some(Reason::CautionHigh)),
            (120.01, Critical, Some(Reason::CriticalHigh)),
            (1000.0, Critical, Some(Reason::CriticalHigh)),
        ];
        for (value, level, reason) in table {
            let got = classify(value, &settings(None), &[], utc(NOW));
            assert_eq!(got.level, level, "{value}");
            assert_eq!(
                got.reasons,
                reason.into_iter().collect::<Vec<_>>(),
                "{value}"
            );
        }
    }

    #[test]
    fn equal_bounds_leave_the_band_between_them_empty() {
        use Level::*;
        // (critical_low, normal_low, normal_high, critical_high, value, level)
        let table = [
            // No low caution band: just below normal is critical.
            (60.0, 60.0, 100.0, 120.0, 59.99, Critical),
            (60.0, 60.0, 100.0, 120.0, 60.0, Normal),
            // No high caution band.
            (40.0, 60.0, 120.0, 120.0, 120.0, Normal),
            (40.0, 60.0, 120.0, 120.0, 120.01, Critical),
            // A single normal value.
            (40.0, 80.0, 80.0, 120.0, 80.0, Normal),
            (40.0, 80.0, 80.0, 120.0, 80.01, Caution),
            (40.0, 80.0, 80.0, 120.0, 79.99, Caution),
            // Everything collapsed: only the one value is normal, the rest critical.
            (70.0, 70.0, 70.0, 70.0, 70.0, Normal),
            (70.0, 70.0, 70.0, 70.0, 70.5, Critical),
            (70.0, 70.0, 70.0, 70.0, 69.5, Critical),
        ];
        for (cl, nl, nh, ch, value, level) in table {
            let settings = AlertSettings {
                ranges: Ranges {
                    critical_low: cl,
                    normal_low: nl,
                    normal_high: nh,
                    critical_high: ch,
                },
                change: None,
            };
            assert_eq!(
                classify(value, &settings, &[], utc(NOW)).level,
                level,
                "{cl}/{nl}/{nh}/{ch} at {value}"
            );
        }
    }

    #[test]
    fn a_non_finite_value_that_slips_through_is_critical_never_normal() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(
                classify(value, &settings(None), &[], utc(NOW)).level,
                Level::Critical
            );
        }
    }

    // ---- classification by change ----------------------------------------------------------

    #[test]
    fn a_change_of_exactly_the_amount_is_critical_and_just_less_is_not() {
        let now = utc(NOW);
        let before = now - hours(2);
        // (rule, earlier value, new value, critical)
        let table = [
            (rule(20.0, ChangeUnit::Units, 24), 80.0, 100.0, true),
            (rule(20.0, ChangeUnit::Units, 24), 80.0, 99.99, false),
            (rule(20.0, ChangeUnit::Units, 24), 80.0, 60.0, true),
            (rule(20.0, ChangeUnit::Units, 24), 80.0, 60.01, false),
            (rule(20.2, ChangeUnit::Units, 24), 100.1, 120.3, true),
            (rule(0.1, ChangeUnit::Units, 24), 0.2, 0.3, true),
            (rule(25.0, ChangeUnit::Percent, 24), 80.0, 100.0, true),
            (rule(25.0, ChangeUnit::Percent, 24), 80.0, 99.99, false),
            (rule(25.0, ChangeUnit::Percent, 24), 80.0, 60.0, true),
            (rule(25.0, ChangeUnit::Percent, 24), 80.0, 60.01, false),
            (rule(10.0, ChangeUnit::Percent, 24), 110.0, 121.0, true),
            (rule(10.0, ChangeUnit::Percent, 24), 110.0, 99.0, true),
            (rule(10.0, ChangeUnit::Percent, 24), 98.6, 108.46, true),
            (rule(10.0, ChangeUnit::Percent, 24), 98.6, 108.45, false),
            (rule(150.0, ChangeUnit::Percent, 24), 40.0, 100.0, true),
            (rule(10.0, ChangeUnit::Percent, 24), -50.0, -55.0, true),
            // From 0 any change is an infinite percentage; no change is none.
            (rule(10.0, ChangeUnit::Percent, 24), 0.0, 0.01, true),
            (rule(10.0, ChangeUnit::Percent, 24), 0.0, 0.0, false),
            (rule(5.0, ChangeUnit::Units, 24), 70.0, 70.0, false),
        ];
        for (rule, earlier, value, critical) in table {
            let got = classify(value, &wide(rule), &[(before, earlier)], now);
            assert_eq!(
                got.level == Level::Critical,
                critical,
                "{rule:?}: {earlier} -> {value}"
            );
            assert_eq!(got.reasons.len(), usize::from(critical));
        }
    }

    #[test]
    fn a_reading_exactly_at_either_window_edge_counts_and_one_second_further_does_not() {
        let now = utc(NOW);
        let settings = wide(rule(10.0, ChangeUnit::Units, 24));
        let (start, end) = (now - hours(24), now + hours(24));
        let table = [
            (start, true),
            (start - TimeDelta::seconds(1), false),
            (start + TimeDelta::seconds(1), true),
            (now, true),
            (now + TimeDelta::seconds(1), true),
            (now + hours(3), true),
            (end, true),
            (end + TimeDelta::seconds(1), false),
        ];
        for (at, critical) in table {
            let got = classify(100.0, &settings, &[(at, 80.0)], now);
            assert_eq!(got.level == Level::Critical, critical, "other at {at}");
        }
    }

    #[test]
    fn a_reading_uploaded_after_a_later_one_is_compared_with_it() {
        // A device offline overnight uploads newest first: 140 (taken 06:00) arrives before
        // 80 (taken 02:00). The older reading is critical by the change between them.
        let taken = utc("2026-05-10T02:00:00Z");
        let later = [(utc("2026-05-10T06:00:00Z"), 140.0)];
        let got = classify(
            80.0,
            &wide(rule(50.0, ChangeUnit::Percent, 24)),
            &later,
            taken,
        );
        assert_eq!(got.level, Level::Critical);
        let reason = got.reasons[0];
        assert_eq!(
            reason,
            Reason::RapidChange {
                from_value: 140.0,
                change: -60.0,
                within_hours: 24,
                later: true,
            }
        );
        assert_eq!(
            reason.human(),
            "60 lower than the 140 taken within 24 hours after it"
        );
        let json = serde_json::to_value(reason).unwrap();
        assert_eq!(json["later"], true);
    }

    #[test]
    fn the_percentage_is_of_the_value_taken_first_whichever_arrived_first() {
        // 80 then 100 is a rise of 25% of 80; 100 then 80 a fall of 20% of 100.
        let (first, second) = (utc("2026-05-10T02:00:00Z"), utc("2026-05-10T06:00:00Z"));
        let rule = wide(rule(25.0, ChangeUnit::Percent, 24));
        // (value, taken at, the other reading's value, taken at, level)
        let table = [
            // In order: the second (100) compared with the earlier first (80): 25%, critical.
            (100.0, second, 80.0, first, Level::Critical),
            // Out of order: the first (80) compared with the later second (100): still 25% of 80.
            (80.0, first, 100.0, second, Level::Critical),
            // 100 then 80 is only 20% of 100, whichever arrives first.
            (80.0, second, 100.0, first, Level::Normal),
            (100.0, first, 80.0, second, Level::Normal),
        ];
        for (value, at, other, other_at, level) in table {
            assert_eq!(
                classify(value, &rule, &[(other_at, other)], at).level,
                level,
                "{value} at {at} against {other} at {other_at}"
            );
        }
    }

    #[test]
    fn earlier_reasons_keep_their_shape_on_the_wire() {
        let reason = Reason::RapidChange {
            from_value: 80.0,
            change: 25.0,
            within_hours: 24,
            later: false,
        };
        let json = serde_json::to_value(reason).unwrap();
        assert!(json.get("later").is_none(), "{json}");
        assert_eq!(serde_json::from_value::<Reason>(json).unwrap(), reason);
    }

    #[test]
    fn the_largest_qualifying_change_is_reported_and_the_latest_wins_a_tie() {
        let now = utc(NOW);
        let settings = wide(rule(10.0, ChangeUnit::Units, 24));
        let earlier = [
            (now - hours(20), 85.0),
            (now - hours(30), 10.0), // outside the window
            (now - hours(10), 70.0),
            (now - hours(1), 95.0), // too small a change
            (now - hours(5), 125.0),
            (now + hours(25), 0.0), // later but outside the window
        ];
        // 70 → 100 in both: the largest change, and on the tie with 130 the latest taken.
        let expected = [Reason::RapidChange {
            from_value: 70.0,
            change: 30.0,
            within_hours: 24,
            later: false,
        }];
        assert_eq!(classify(100.0, &settings, &earlier, now).reasons, expected);

        let tie = [(now - hours(9), 130.0), (now - hours(2), 70.0)];
        assert_eq!(classify(100.0, &settings, &tie, now).reasons, expected);
    }

    #[test]
    fn a_rapid_change_makes_a_normal_value_critical_and_follows_the_range_reason() {
        let now = utc(NOW);
        let settings = settings(Some(rule(20.0, ChangeUnit::Percent, 48)));
        let got = classify(90.0, &settings, &[(now - hours(40), 65.0)], now);
        assert_eq!(got.level, Level::Critical);
        assert_eq!(got.reasons.len(), 1);

        let got = classify(110.0, &settings, &[(now - hours(40), 65.0)], now);
        assert_eq!(got.level, Level::Critical);
        assert_eq!(got.reasons[0], Reason::CautionHigh);
        assert_eq!(got.reasons[1].code(), "rapid_change");
    }

    #[test]
    fn without_a_change_rule_earlier_readings_do_not_matter() {
        let now = utc(NOW);
        let got = classify(80.0, &settings(None), &[(now - hours(1), 1.0)], now);
        assert_eq!(
            got,
            Classification {
                level: Level::Normal,
                reasons: vec![]
            }
        );
    }

    #[test]
    fn reported_changes_drop_binary_noise() {
        let now = utc(NOW);
        let got = classify(
            120.3,
            &wide(rule(20.2, ChangeUnit::Units, 24)),
            &[(now - hours(1), 100.1)],
            now,
        );
        assert_eq!(
            got.reasons,
            [Reason::RapidChange {
                from_value: 100.1,
                change: 20.2,
                within_hours: 24,
                later: false,
            }]
        );
    }

    #[test]
    fn non_finite_earlier_values_are_ignored() {
        let now = utc(NOW);
        let earlier = [(now - hours(1), f64::NAN), (now - hours(1), f64::INFINITY)];
        let got = classify(80.0, &wide(rule(1.0, ChangeUnit::Units, 24)), &earlier, now);
        assert_eq!(got.level, Level::Normal);
    }

    #[test]
    fn a_reading_is_late_only_beyond_seventy_two_hours() {
        let now = utc(NOW);
        assert!(!is_late(now - hours(72), now));
        assert!(is_late(now - hours(72) - TimeDelta::seconds(1), now));
        assert!(!is_late(now + TimeDelta::minutes(4), now));
    }

    #[test]
    fn unclassified_readings_are_not_out_of_range() {
        assert!(!Level::Unclassified.is_out_of_range());
        for level in [
            Level::Unclassified,
            Level::Normal,
            Level::Caution,
            Level::Critical,
        ] {
            assert_eq!(Level::parse_stored(level.as_str()), level);
        }
        assert_eq!(Level::parse_stored("garbage"), Level::Critical);
    }

    // ---- consecutive out-of-range ----------------------------------------------------------

    #[test]
    fn consecutive_out_of_range_fires_only_on_the_nth_of_an_episode() {
        use Level::*;
        // (newest first, n, fires)
        let table: [(&[Level], u32, bool); 14] = [
            (&[Caution, Caution, Normal], 2, true),
            (&[Critical, Caution, Normal], 2, true),
            (&[Caution, Caution, Caution, Normal], 2, false),
            (&[Caution, Normal, Caution], 2, false),
            (&[Normal, Caution, Caution], 2, false),
            (&[Caution, Caution], 2, true),
            (&[Caution], 2, false),
            (&[], 2, false),
            (&[Caution, Normal], 1, true),
            (&[Caution], 1, true),
            (&[Caution, Caution], 1, false),
            (&[Normal], 1, false),
            (&[Caution, Caution, Normal], 0, false),
            (&[], 0, false),
        ];
        for (levels, n, fires) in table {
            assert_eq!(
                consecutive_out_of_range(levels, n),
                fires,
                "{levels:?} n={n}"
            );
        }
    }

    // ---- overdue ---------------------------------------------------------------------------

    fn history(counted_from: &str, newest: Option<&str>, nth_newest: Option<&str>) -> VitalHistory {
        VitalHistory {
            counted_from: utc(counted_from),
            newest: newest.map(utc),
            nth_newest: nth_newest.map(utc),
        }
    }

    #[test]
    fn a_vital_falls_behind_per_days_after_its_nth_newest_reading_never_before_counting_starts() {
        let enrolled = "2026-03-01T00:00:00Z";
        let once_a_day = Frequency {
            readings: 1,
            per_days: 1,
        };
        let twice_a_week = Frequency {
            readings: 2,
            per_days: 7,
        };
        // (frequency, history, behind since)
        let table = [
            // No reading: a full period from enrolment (or from when the frequency was set).
            (
                once_a_day,
                history(enrolled, None, None),
                "2026-03-02T00:00:00Z",
            ),
            (
                twice_a_week,
                history(enrolled, None, None),
                "2026-03-08T00:00:00Z",
            ),
            // One reading where two are expected: still counted from enrolment.
            (
                twice_a_week,
                history(enrolled, Some("2026-03-05T10:00:00Z"), None),
                "2026-03-08T00:00:00Z",
            ),
            // Two readings: a week after the older of the two.
            (
                twice_a_week,
                history(
                    enrolled,
                    Some("2026-03-20T10:00:00Z"),
                    Some("2026-03-10T09:30:00Z"),
                ),
                "2026-03-17T09:30:00Z",
            ),
            // Readings older than counting's start (a new frequency) do not count against it.
            (
                once_a_day,
                history(
                    "2026-04-01T12:00:00Z",
                    Some("2026-03-02T00:00:00Z"),
                    Some("2026-03-02T00:00:00Z"),
                ),
                "2026-04-02T12:00:00Z",
            ),
        ];
        for (frequency, history, expected) in table {
            assert_eq!(
                behind_since(frequency, &history),
                Some(utc(expected)),
                "{frequency:?} {history:?}"
            );
        }
    }

    #[test]
    fn the_warning_comes_exactly_warn_after_days_after_the_vital_fell_behind() {
        let frequency = Frequency {
            readings: 1,
            per_days: 2,
        };
        let last = "2026-03-07T12:00:00Z";
        let h = history("2026-03-01T00:00:00Z", Some(last), Some(last));
        // Behind from 03-09 12:00 (inclusive), warned 3 days later, 03-12 12:00 (inclusive).
        // (warn_after_days, now, behind, warned)
        let table = [
            (3, "2026-03-09T11:59:59Z", false, false),
            (3, "2026-03-09T12:00:00Z", true, false),
            (3, "2026-03-12T11:59:59Z", true, false),
            (3, "2026-03-12T12:00:00Z", true, true),
            (3, "2026-06-01T00:00:00Z", true, true),
            (1, "2026-03-10T12:00:00Z", true, true),
            // 0 turns the warning off.
            (0, "2027-01-01T00:00:00Z", false, false),
            // Before the period has run out: nothing.
            (3, "2026-03-01T00:00:00Z", false, false),
            (u32::MAX, "2026-03-12T12:00:00Z", false, false),
        ];
        for (days, now, behind, warned) in table {
            let now = utc(now);
            assert_eq!(
                overdue_episode(frequency, &h, days, now).is_some(),
                behind,
                "{days} {now}"
            );
            assert_eq!(
                overdue_to_warn(frequency, &h, days, None, now).is_some(),
                warned,
                "{days} {now}"
            );
        }
        let episode = overdue_episode(frequency, &h, 3, utc("2026-03-10T00:00:00Z")).unwrap();
        assert_eq!(
            episode,
            OverdueEpisode {
                key: utc(last),
                behind_since: utc("2026-03-09T12:00:00Z"),
                warn_at: utc("2026-03-12T12:00:00Z"),
            }
        );
    }

    #[test]
    fn an_overdue_vital_is_warned_about_once_per_silence_and_again_after_a_new_reading() {
        let frequency = Frequency {
            readings: 1,
            per_days: 1,
        };
        let days = 2;
        let first = "2026-03-01T08:00:00Z";
        let h = history("2026-02-01T00:00:00Z", Some(first), Some(first));
        let now = utc("2026-03-04T08:00:00Z");
        let episode = overdue_to_warn(frequency, &h, days, None, now).unwrap();
        assert_eq!(episode.key, utc(first));
        // The worker stored the key; later runs of the same silence warn of nothing.
        let stored = Some(episode.key);
        assert_eq!(overdue_to_warn(frequency, &h, days, stored, now), None);
        assert_eq!(
            overdue_to_warn(frequency, &h, days, stored, now + hours(100)),
            None
        );
        // A new reading of the vital, then another silence: a new episode.
        let second = "2026-03-05T09:00:00Z";
        let h = history("2026-02-01T00:00:00Z", Some(second), Some(second));
        assert_eq!(
            overdue_to_warn(frequency, &h, days, stored, utc("2026-03-08T08:59:59Z")),
            None
        );
        let again = overdue_to_warn(frequency, &h, days, stored, utc("2026-03-08T09:00:00Z"));
        assert_eq!(again.map(|e| e.key), Some(utc(second)));
    }

    #[test]
    fn a_reading_that_does_not_catch_up_postpones_the_next_warning_by_the_delay() {
        // Three a week expected; readings on the 1st, 2nd and 3rd, then one on the 20th.
        let frequency = Frequency {
            readings: 3,
            per_days: 7,
        };
        let h = history(
            "2026-02-01T00:00:00Z",
            Some("2026-03-20T00:00:00Z"),
            Some("2026-03-02T00:00:00Z"),
        );
        let episode = overdue_episode(frequency, &h, 2, utc("2026-03-20T01:00:00Z")).unwrap();
        assert_eq!(episode.behind_since, utc("2026-03-09T00:00:00Z"));
        assert_eq!(episode.key, utc("2026-03-20T00:00:00Z"));
        assert_eq!(episode.warn_at, utc("2026-03-22T00:00:00Z"));
        assert_eq!(
            overdue_to_warn(frequency, &h, 2, None, utc("2026-03-21T23:59:59Z")),
            None
        );
    }

    // ---- properties ------------------------------------------------------------------------

    fn valid_ranges() -> impl Strategy<Value = Ranges> {
        (
            -500.0..500.0f64,
            prop_oneof![Just(0.0), 0.0..100.0f64],
            prop_oneof![Just(0.0), 0.0..100.0f64],
            prop_oneof![Just(0.0), 0.0..100.0f64],
        )
            .prop_map(|(cl, a, b, c)| Ranges {
                critical_low: cl,
                normal_low: cl + a,
                normal_high: cl + a + b,
                critical_high: cl + a + b + c,
            })
    }

    fn levels() -> impl Strategy<Value = Vec<Level>> {
        prop::collection::vec(
            prop::sample::select(vec![Level::Normal, Level::Caution, Level::Critical]),
            0..40,
        )
    }

    proptest! {
        #[test]
        fn range_classification_matches_the_bands(ranges in valid_ranges(), value in -700.0..700.0f64) {
            prop_assert_eq!(ranges.validate(), Ok(()));
            let settings = AlertSettings { ranges, change: None };
            let got = classify(value, &settings, &[], utc(NOW));
            let expected = if value < ranges.critical_low || value > ranges.critical_high {
                Level::Critical
            } else if ranges.normal_low <= value && value <= ranges.normal_high {
                Level::Normal
            } else {
                Level::Caution
            };
            prop_assert_eq!(got.level, expected);
            prop_assert_eq!(got.reasons.is_empty(), expected == Level::Normal);
        }

        #[test]
        fn other_readings_never_lower_a_level(
            ranges in valid_ranges(),
            value in -700.0..700.0f64,
            amount in 0.1..50.0f64,
            percent in any::<bool>(),
            earlier in prop::collection::vec((-48i64..48, -700.0..700.0f64), 0..6),
        ) {
            let now = utc(NOW);
            let unit = if percent { ChangeUnit::Percent } else { ChangeUnit::Units };
            let settings = AlertSettings { ranges, change: Some(rule(amount, unit, 24)) };
            let earlier: Vec<_> = earlier.into_iter().map(|(h, v)| (now + hours(h), v)).collect();
            let alone = classify(value, &settings, &[], now);
            let with = classify(value, &settings, &earlier, now);
            prop_assert!(with.level >= alone.level);
            prop_assert_eq!(&with.reasons[..alone.reasons.len()], &alone.reasons[..]);
            let in_window_and_met = earlier.iter().any(|&(at, v)| {
                let rule = rule(amount, unit, 24);
                if at <= now {
                    at >= now - hours(24) && change_is_met(&rule, v, value)
                } else {
                    at <= now + hours(24) && change_is_met(&rule, value, v)
                }
            });
            prop_assert_eq!(with.reasons.len() > alone.reasons.len(), in_window_and_met);
        }

        #[test]
        fn consecutive_out_of_range_fires_once_per_long_enough_episode(
            series in levels(), n in 1u32..5
        ) {
            // Feed the readings oldest first, as they arrive.
            let mut newest_first: Vec<Level> = Vec::new();
            let mut fired = 0;
            for &level in &series {
                newest_first.insert(0, level);
                let window = &newest_first[..newest_first.len().min(n as usize + 1)];
                if consecutive_out_of_range(window, n) {
                    fired += 1;
                }
            }
            let long_runs = series
                .split(|l| *l == Level::Normal)
                .filter(|run| run.len() >= n as usize)
                .count();
            prop_assert_eq!(fired, long_runs);
        }
    }
}
