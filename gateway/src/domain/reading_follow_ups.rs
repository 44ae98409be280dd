//! Who hears of a reading beyond its alert, and what must be worked out before the reading's
//! transaction for that to be decided inside it.
//!
//! A reading is decided inside its recording transaction with the patient locked, and may only
//! use what was prepared before it ([`Needs::covers`]): who an alert reaches, who hears of a
//! caution, how the patient wants to be told. When it needs more, nothing is written and the
//! caller prepares what it asked for and records again.

use crate::domain::readings::{Level, consecutive_out_of_range};

/// What telling people of a reading at some level needs prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// The alert a critical reading opens, with who it reaches first.
    pub alert: bool,
    /// Who on the care team hears of cautions, unchecked readings and out-of-range runs.
    pub care_team: bool,
    /// The patient's own notice settings and the notice's words.
    pub patient: bool,
}

impl Needs {
    /// Everything: what a reading needs at worst, whatever it is classified at.
    pub const ALL: Needs = Needs {
        alert: true,
        care_team: true,
        patient: true,
    };

    /// What either asks for.
    pub fn and(self, other: Needs) -> Needs {
        Needs {
            alert: self.alert || other.alert,
            care_team: self.care_team || other.care_team,
            patient: self.patient || other.patient,
        }
    }

    /// Whether what was prepared for `self` is enough for `other`.
    pub fn covers(self, other: Needs) -> bool {
        (self.alert || !other.alert)
            && (self.care_team || !other.care_team)
            && (self.patient || !other.patient)
    }
}

/// What a reading classified at `level` may need: a critical one its alert (unless it joins the
/// vital's open alert), and the care team and the patient for anything not normal.
pub fn needs(level: Level, has_open_alert: bool) -> Needs {
    match level {
        Level::Normal => Needs::default(),
        Level::Unclassified => Needs {
            care_team: true,
            ..Needs::default()
        },
        Level::Caution => Needs {
            care_team: true,
            patient: true,
            ..Needs::default()
        },
        Level::Critical => Needs {
            alert: !has_open_alert,
            care_team: true,
            patient: true,
        },
    }
}

/// How many of the vital's newest levels (the new reading's included) the follow-ups look at:
/// the one before it, and the `out_of_range_count + 1` the run rule needs.
pub fn levels_needed(out_of_range_count: u32) -> u32 {
    out_of_range_count.saturating_add(1).max(2)
}

/// A notice to the care team (per their "reading caution" settings) that a reading calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CareTeamNotice {
    /// The reading is a caution; `late`: taken more than 72 hours before it arrived.
    Caution { late: bool },
    /// The first of a run of readings of a vital that nothing can check (no ranges at all):
    /// once per run, so a device posting every minute is not a text a minute.
    UnclassifiedRun,
    /// The reading is the `n`th out-of-range one in a row (the practice's
    /// `out_of_range_count`); once per run.
    OutOfRangeRun { n: u32 },
}

/// What the care team hears of readings nothing can check.
pub const UNCLASSIFIED_SUMMARY: &str = "Readings arrive for a vital with no alert ranges, so they are not checked. Set ranges for the patient or the practice.";

impl CareTeamNotice {
    /// The notice's words in the feed and in emails (never a value).
    pub fn summary(self) -> String {
        match self {
            CareTeamNotice::Caution { late: false } => {
                "A patient reading is outside the normal range.".into()
            }
            CareTeamNotice::Caution { late: true } => "A patient reading outside the normal range arrived late (taken more than 72 hours ago).".into(),
            CareTeamNotice::UnclassifiedRun => UNCLASSIFIED_SUMMARY.into(),
            CareTeamNotice::OutOfRangeRun { n } => {
                format!("{n} readings in a row of one vital are out of range.")
            }
        }
    }
}

/// The care team's notices for a reading just written at `level`, from the levels of its vital's
/// newest readings (newest taken first, as [`levels_needed`] counts them; the new reading is the
/// first unless it was taken before others) and the practice's out-of-range count (0: off).
pub fn care_team_notices(
    level: Level,
    newest_levels: &[Level],
    out_of_range_count: u32,
    late: bool,
) -> Vec<CareTeamNotice> {
    let mut notices = Vec::new();
    match level {
        Level::Caution => notices.push(CareTeamNotice::Caution { late }),
        Level::Unclassified if newest_levels.get(1) != Some(&Level::Unclassified) => {
            notices.push(CareTeamNotice::UnclassifiedRun)
        }
        _ => {}
    }
    if level.is_out_of_range() && consecutive_out_of_range(newest_levels, out_of_range_count) {
        notices.push(CareTeamNotice::OutOfRangeRun {
            n: out_of_range_count,
        });
    }
    notices
}

#[cfg(test)]
mod tests {
    use super::*;
    use Level::*;

    #[test]
    fn needs_add_up_and_cover_what_they_hold() {
        let care_team = Needs {
            care_team: true,
            ..Needs::default()
        };
        let alert = Needs {
            alert: true,
            ..Needs::default()
        };
        let both = care_team.and(alert);
        assert_eq!(
            both,
            Needs {
                alert: true,
                care_team: true,
                patient: false
            }
        );
        assert!(both.covers(care_team) && both.covers(alert) && !both.covers(Needs::ALL));
        assert!(!care_team.covers(alert));
        assert_eq!(both.and(Needs::ALL), Needs::ALL);
        assert_eq!(Needs::default().and(Needs::default()), Needs::default());
    }

    #[test]
    fn what_each_level_needs_prepared() {
        let cases = [
            (Normal, false, Needs::default()),
            (Normal, true, Needs::default()),
            (
                Unclassified,
                false,
                Needs {
                    care_team: true,
                    ..Needs::default()
                },
            ),
            (
                Caution,
                false,
                Needs {
                    care_team: true,
                    patient: true,
                    alert: false,
                },
            ),
            (Critical, false, Needs::ALL),
            (
                Critical,
                true,
                Needs {
                    alert: false,
                    care_team: true,
                    patient: true,
                },
            ),
        ];
        for (level, open, expected) in cases {
            assert_eq!(needs(level, open), expected, "{level} open alert {open}");
        }
    }

    #[test]
    fn preparing_for_more_covers_less_but_never_the_reverse() {
        for level in Level::ALL {
            for open in [false, true] {
                let wanted = needs(level, open);
                assert!(Needs::ALL.covers(wanted));
                assert!(wanted.covers(wanted));
            }
        }
        let caution = needs(Caution, false);
        let critical = needs(Critical, false);
        assert!(critical.covers(caution));
        assert!(!caution.covers(critical), "a caution prepares no alert");
        assert!(!Needs::default().covers(needs(Unclassified, false)));
        assert!(needs(Critical, true).covers(caution));
        assert!(!needs(Critical, true).covers(critical));
    }

    #[test]
    fn the_follow_ups_look_at_the_previous_reading_and_the_whole_run() {
        assert_eq!(levels_needed(0), 2);
        assert_eq!(levels_needed(1), 2);
        assert_eq!(levels_needed(3), 4);
        assert_eq!(levels_needed(u32::MAX), u32::MAX);
    }

    /// A reading's level, its vital's newest levels, the run count, lateness, and the notices.
    type Case<'a> = (Level, &'a [Level], u32, bool, &'a [CareTeamNotice]);

    #[test]
    fn care_team_notices_per_level_and_history() {
        let cases: &[Case] = &[
            (Normal, &[Normal, Caution], 2, false, &[]),
            (
                Caution,
                &[Caution, Normal],
                0,
                false,
                &[CareTeamNotice::Caution { late: false }],
            ),
            (
                Caution,
                &[Caution, Normal],
                0,
                true,
                &[CareTeamNotice::Caution { late: true }],
            ),
            // The second out-of-range reading in a row with a count of 2: the caution and the run.
            (
                Caution,
                &[Caution, Critical, Normal],
                2,
                false,
                &[
                    CareTeamNotice::Caution { late: false },
                    CareTeamNotice::OutOfRangeRun { n: 2 },
                ],
            ),
            // The third in a row: the run was told already.
            (
                Caution,
                &[Caution, Caution, Caution],
                2,
                false,
                &[CareTeamNotice::Caution { late: false }],
            ),
            // A critical reading completes a run too (its alert is told elsewhere).
            (
                Critical,
                &[Critical, Caution, Normal],
                2,
                false,
                &[CareTeamNotice::OutOfRangeRun { n: 2 }],
            ),
            (Critical, &[Critical, Caution, Normal], 0, false, &[]),
            (
                Unclassified,
                &[Unclassified],
                3,
                false,
                &[CareTeamNotice::UnclassifiedRun],
            ),
            (
                Unclassified,
                &[Unclassified, Normal],
                3,
                false,
                &[CareTeamNotice::UnclassifiedRun],
            ),
            (Unclassified, &[Unclassified, Unclassified], 3, false, &[]),
        ];
        for (level, levels, n, late, expected) in cases {
            assert_eq!(
                care_team_notices(*level, levels, *n, *late),
                *expected,
                "{level} after {levels:?} with n = {n}"
            );
        }
    }

    #[test]
    fn summaries_never_hold_a_value_and_name_the_run() {
        assert_eq!(
            CareTeamNotice::OutOfRangeRun { n: 3 }.summary(),
            "3 readings in a row of one vital are out of range."
        );
        assert!(
            CareTeamNotice::Caution { late: true }
                .summary()
                .contains("late")
        );
        assert!(
            !CareTeamNotice::Caution { late: false }
                .summary()
                .contains("late")
        );
        assert_eq!(
            CareTeamNotice::UnclassifiedRun.summary(),
            UNCLASSIFIED_SUMMARY
        );
    }
}
