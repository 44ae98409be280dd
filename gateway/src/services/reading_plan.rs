//! What a reading may lead to, prepared before its transaction, and the decision run inside it.
//!
//! The store's transaction may not wait on anything but its own statements, and working out who
//! hears of a reading takes several reads (who is on call, the care team, their settings, which
//! numbers fail). Most readings are normal and need none of it, so a reading is first recorded
//! with nothing prepared: [`decider`] classifies it with the patient locked and writes it at
//! once. A reading whose level needs more than was prepared ([`domain::reading_follow_ups::needs`])
//! is refused with nothing written ([`store::Unprepared`]), the refusal says what it asked for
//! ([`Asked`]), and the service prepares that and records again, so a reading is never stored
//! without its alert and notices.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::Value;
use store::{
    DecideReading, FollowUps, NewAlert, Patient, Practice, ReadingContext, ReadingDecision,
    ReadingFollowUps, StoreError, Unprepared,
};
use uuid::Uuid;

use crate::app::App;
use crate::domain::reading_follow_ups::{self, Needs, care_team_notices, levels_needed};
use crate::domain::readings::{Level, is_late};
use crate::services::alerts::{self, AlertPatient};
use crate::services::notify;
use crate::services::patient_notices::{self, PatientNoticePlan};
use crate::services::readings::{IncomingReading, decide, reason_json};

/// Everything prepared for one reading of one patient.
pub struct Prepared {
    /// What was prepared for; the decision may need no more.
    covers: Needs,
    practice: Practice,
    patient_id: Uuid,
    late: bool,
    /// The practice's "notify after N consecutive out-of-range readings" (0: off).
    out_of_range_count: u32,
    alert: Option<NewAlert>,
    care_team: Option<notify::Audience>,
    patient: Option<PatientNoticePlan>,
}

/// What a decision refused as [`Unprepared`] needed: read after the store's refusal, to
/// prepare that for the next attempt.
#[derive(Debug, Clone, Default)]
pub struct Asked(Arc<OnceLock<Needs>>);

impl Asked {
    /// What the refused decision needed; `None` when it was not refused.
    pub fn needs(&self) -> Option<Needs> {
        self.0.get().copied()
    }
}

/// Works out what `needs` asks for, the independent reads side by side.
pub async fn prepare(
    state: &App,
    practice: &Practice,
    patient: &Patient,
    incoming: &IncomingReading,
    needs: Needs,
    now: DateTime<Utc>,
) -> Result<Prepared, StoreError> {
    let late = is_late(incoming.taken_at, now);
    // Read once, by whichever of the alert and the patient's notice asks first.
    let templates = tokio::sync::OnceCell::new();
    let templates = || {
        templates
            .get_or_try_init(|| crate::services::templates::practice_templates(state, practice.id))
    };
    let alert = async {
        if !needs.alert {
            return Ok(None);
        }
        let (told, templates) = tokio::try_join!(
            alerts::opening_audience(state, practice, patient, now),
            templates()
        )?;
        Ok(Some(alerts::opening(
            &told, practice, patient.id, templates, now, late,
        )))
    };
    let care_team = async {
        if needs.care_team {
            alerts::caution_audience(state, practice, AlertPatient::of(patient), now)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    };
    let patient_plan = async {
        if !needs.patient {
            return Ok(None);
        }
        let templates = templates().await?;
        patient_notices::plan(state, practice, patient, templates)
            .await
            .map(Some)
    };
    let out_of_range_count = async {
        if needs.care_team {
            let count = state.store.reading_frequency(practice.id).await?;
            // A negative count is as off as 0.
            Ok(u32::try_from(count.out_of_range_count).unwrap_or(0))
        } else {
            Ok(0)
        }
    };
    let (alert, care_team, patient_plan, out_of_range_count) =
        tokio::try_join!(alert, care_team, patient_plan, out_of_range_count)?;
    Ok(Prepared {
        covers: needs,
        practice: practice.clone(),
        patient_id: patient.id,
        late,
        out_of_range_count,
        alert,
        care_team,
        patient: patient_plan,
    })
}

/// The decision the store runs inside the recording transaction: classify from the locked
/// context, open (or join) the alert, and once the reading is written, tell the care team and
/// the patient from the prepared audiences. When the level needs more than was prepared, the
/// decision is [`Unprepared`] and the [`Asked`] answered with it says what it needed.
pub fn decider(incoming: &IncomingReading, mut prepared: Prepared) -> (DecideReading, Asked) {
    let (value, taken_at) = (incoming.value, incoming.taken_at);
    let asked = Asked::default();
    let refused = asked.clone();
    let decide = Box::new(move |context: &ReadingContext| {
        let classification = decide(value, taken_at, context);
        let level = classification.level;
        let wanted = reading_follow_ups::needs(level, context.open_alert.is_some());
        if !prepared.covers.covers(wanted) {
            let _ = refused.0.set(wanted);
            return Err(Unprepared);
        }
        let (alert, attach_to) = match (level, context.open_alert) {
            (Level::Critical, Some(open)) => (None, Some(open)),
            (Level::Critical, None) => (prepared.alert.take(), None),
            _ => (None, None),
        };
        let opened = alert.is_some();
        let follow_ups = (level != Level::Normal).then(|| FollowUps {
            levels: levels_needed(prepared.out_of_range_count),
            decide: Box::new(move |levels: &[String]| prepared.follow_ups(level, levels, opened)),
        });
        Ok(ReadingDecision {
            level: level.as_str(),
            reasons: Value::Array(classification.reasons.iter().map(reason_json).collect()),
            alert,
            attach_to,
            follow_ups,
        })
    });
    (decide, asked)
}

impl Prepared {
    /// The notices of a reading written at `level`, given its vital's newest levels.
    fn follow_ups(self, level: Level, newest: &[String], opened_alert: bool) -> ReadingFollowUps {
        let newest: Vec<Level> = newest.iter().map(|l| Level::parse_stored(l)).collect();
        let mut follow_ups = ReadingFollowUps::default();
        if let Some(audience) = &self.care_team {
            for notice in care_team_notices(level, &newest, self.out_of_range_count, self.late) {
                let (notes, texts) = alerts::caution_notice(
                    audience,
                    &self.practice,
                    self.patient_id,
                    &notice.summary(),
                );
                follow_ups.notifications.extend(notes);
                follow_ups.staff_texts.extend(texts);
            }
        }
        if let Some(plan) = &self.patient {
            let previous = newest.get(1).copied();
            follow_ups.patient_notice = plan.notice(level, previous, opened_alert);
        }
        follow_ups
    }
}

#[cfg(test)]
mod tests {
    use store::{EffectiveReadingAlert, ReadingAlertSource, ReadingSource};
    use types::{AlertSettings, Ranges, Vital};

    use super::*;
    use crate::domain::fixtures::{now, practice};

    const NURSE: Uuid = Uuid::from_u128(7);

    /// Prepared for `covers`, as `prepare` would have: the alert only when it covers one, the
    /// care team (a nurse in the feed) and a run count of 2.
    fn prepared(covers: Needs) -> Prepared {
        Prepared {
            covers,
            practice: practice(),
            patient_id: Uuid::from_u128(20),
            late: false,
            out_of_range_count: 2,
            alert: covers.alert.then(|| NewAlert {
                level: "critical",
                code: "ABCD".into(),
                next_step_at: now(),
                notifications: Vec::new(),
                texts: Vec::new(),
            }),
            care_team: covers.care_team.then(|| notify::Audience {
                push: vec![NURSE],
                ..notify::Audience::default()
            }),
            patient: None,
        }
    }

    /// A pulse of `value` against ranges whose critical high is 120.
    fn pulse(value: f64) -> IncomingReading {
        IncomingReading {
            patient_id: Uuid::from_u128(20),
            vital: Vital::Pulse,
            value,
            taken_at: now(),
            source: ReadingSource::System,
            sent: None,
        }
    }

    fn context(open_alert: Option<Uuid>) -> ReadingContext {
        ReadingContext {
            practice_id: Uuid::from_u128(10),
            settings: EffectiveReadingAlert {
                source: ReadingAlertSource::Practice,
                settings: Some(AlertSettings {
                    ranges: Ranges {
                        critical_low: 40.0,
                        normal_low: 60.0,
                        normal_high: 100.0,
                        critical_high: 120.0,
                    },
                    change: None,
                }),
            },
            nearby: Vec::new(),
            open_alert,
        }
    }

    /// Decides `reading` on `context` with `prepared`: the decision, or what it asked for.
    fn decided(
        reading: &IncomingReading,
        prepared: Prepared,
        context: &ReadingContext,
    ) -> Result<ReadingDecision, Needs> {
        let (decide, asked) = decider(reading, prepared);
        decide(context)
            .map_err(|Unprepared| asked.needs().expect("a refusal says what it asked for"))
    }

    #[test]
    fn a_reading_needing_more_than_was_prepared_is_refused_and_says_what_it_needs() {
        let critical = pulse(190.0);
        assert_eq!(
            decided(&critical, prepared(Needs::default()), &context(None)).err(),
            Some(Needs::ALL)
        );
        // What a caution needs is not enough for a critical reading: no alert was prepared.
        let caution = Needs {
            care_team: true,
            patient: true,
            ..Needs::default()
        };
        assert_eq!(
            decided(&pulse(110.0), prepared(Needs::default()), &context(None)).err(),
            Some(caution)
        );
        assert_eq!(
            decided(&critical, prepared(caution), &context(None)).err(),
            Some(Needs::ALL)
        );
        // A decision that is not refused asks for nothing.
        let (decide, asked) = decider(&pulse(80.0), prepared(Needs::default()));
        assert!(decide(&context(None)).is_ok());
        assert_eq!(asked.needs(), None);
    }

    #[test]
    fn a_critical_reading_opens_the_prepared_alert_and_tells_the_care_team_of_a_run() {
        let reading = pulse(190.0);
        let decision = decided(&reading, prepared(Needs::ALL), &context(None)).unwrap();
        assert_eq!(decision.level, "critical");
        assert_eq!(decision.alert.map(|a| a.code), Some("ABCD".into()));
        assert_eq!(decision.attach_to, None);
        let follow_ups = decision
            .follow_ups
            .expect("a critical reading has follow-ups");
        assert_eq!(follow_ups.levels, 3);
        let levels = ["critical", "caution", "normal"].map(String::from);
        let told = (follow_ups.decide)(&levels);
        let summaries: Vec<_> = told
            .notifications
            .iter()
            .map(|n| n.summary.clone())
            .collect();
        assert_eq!(
            summaries,
            ["2 readings in a row of one vital are out of range."]
        );
        assert!(told.notifications.iter().all(|n| n.user_id == NURSE));
        assert!(
            told.patient_notice.is_none(),
            "nothing prepared for the patient"
        );
    }

    #[test]
    fn a_critical_reading_joins_the_open_alert_without_an_alert_prepared() {
        let open = Uuid::from_u128(99);
        let reading = pulse(190.0);
        let needs = decided(&reading, prepared(Needs::default()), &context(Some(open)))
            .err()
            .expect("a critical reading needs its audiences");
        assert!(!needs.alert);
        let decision = decided(&reading, prepared(needs), &context(Some(open))).unwrap();
        assert_eq!(decision.attach_to, Some(open));
        assert!(decision.alert.is_none());
        // The alert was closed in between: a new one is needed and was not prepared.
        assert_eq!(
            decided(&reading, prepared(needs), &context(None)).err(),
            Some(Needs::ALL)
        );
    }

    #[test]
    fn a_normal_reading_needs_nothing_and_has_no_follow_ups() {
        let decision = decided(&pulse(80.0), prepared(Needs::default()), &context(None)).unwrap();
        assert_eq!(decision.level, "normal");
        assert!(decision.follow_ups.is_none() && decision.alert.is_none());
    }
}
