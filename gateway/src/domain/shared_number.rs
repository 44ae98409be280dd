//! One number, several patients of a practice (a family phone): whose text an inbound text is,
//! and what it does to each patient on the number.
//!
//! Built on the per-patient state machine ([`super::texting::decide`]), which still decides each
//! patient's own transition; this module decides which patients an event reaches and merges what
//! goes back to the one phone:
//!
//! - An opt-out (STOP or a clear revocation phrase) belongs to the number: every patient on it
//!   is opted out, and the phone gets one confirmation.
//! - START (or UNSTOP, YES) re-opts the number in: the patient the text belongs to and every
//!   opted-out patient on it go to `pending` (identity is verified again, per patient); a
//!   patient for whom texting was never started, or failed, is not started by it. A plain "yes"
//!   from an enabled patient stays their conversation message and touches nobody else.
//! - A text that is a date of birth while patients on the number are verifying is theirs: it
//!   verifies the pending patient whose date it is; a date that is nobody's costs each pending
//!   patient an attempt. Any other text while nobody is enabled is an attempt for each pending
//!   patient (as for one patient: every non-keyword text while pending is an attempt).
//! - Otherwise the text belongs to the enabled patient, the one verified last when several are;
//!   with none enabled or pending, to the store's choice (the most recently created patient).
//!
//! With one patient on the number this is exactly [`super::texting::decide`].
//!
//! Must never do I/O, read a clock or log (a body may hold a date of birth).

use chrono::{DateTime, NaiveDate, Utc};

use super::dob::parse_texted_dob;
use super::keywords::{Classification, Keyword, classify};
use super::texting::{Decision, Event, InboundHandling, Reply, TextingState, TextingStatus};

/// One patient on the number, as the decision sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub state: TextingState,
    pub dob: NaiveDate,
}

/// What an inbound text does on a shared number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberDecision {
    /// The index of the patient the text belongs to.
    pub routed: usize,
    /// The routed patient's own decision, with `replies` replaced by what goes back to the phone
    /// for everyone (merged, each reply once).
    pub decision: Decision,
    /// Other patients the text changes: their index and their own decision (whose replies are
    /// already merged into `decision.replies`).
    pub others: Vec<(usize, Decision)>,
}

/// The status a patient is really in at `now` (a lapsed verification is failed).
fn live(holder: &Holder, now: DateTime<Utc>) -> TextingStatus {
    if holder.state.is_expired(now) {
        TextingStatus::Failed
    } else {
        holder.state.status
    }
}

/// The patient an inbound text belongs to: see the module's rules. `default` is the store's
/// choice (an index into `holders`).
pub fn route(holders: &[Holder], default: usize, body: &str, now: DateTime<Utc>) -> usize {
    let with = |status: TextingStatus| {
        holders
            .iter()
            .enumerate()
            .filter(move |(_, h)| live(h, now) == status)
    };
    let prefer_default = |mut candidates: Vec<usize>| -> Option<usize> {
        if candidates.contains(&default) {
            return Some(default);
        }
        candidates.sort_unstable();
        candidates.first().copied()
    };
    let class = classify(body);
    let is_text = matches!(
        class,
        Classification::Ordinary | Classification::PossibleOptOut
    );
    let pending: Vec<usize> = with(TextingStatus::Pending).map(|(i, _)| i).collect();
    // A date of birth while someone verifies: the pending patient it is the date of, else an
    // attempt for every pending patient.
    if is_text
        && !pending.is_empty()
        && let Some(date) = parse_texted_dob(body)
    {
        let matching: Vec<usize> = pending
            .iter()
            .copied()
            .filter(|&i| holders[i].dob == date)
            .collect();
        return prefer_default(matching)
            .or_else(|| prefer_default(pending.clone()))
            .unwrap_or(default);
    }
    // The enabled patient, the last verified of several (ties: the store's choice, then the
    // first).
    let enabled: Vec<(usize, DateTime<Utc>)> = with(TextingStatus::Enabled)
        .map(|(i, h)| (i, h.state.updated_at))
        .collect();
    if let Some(latest) = enabled.iter().map(|(_, at)| *at).max() {
        let last: Vec<usize> = enabled
            .iter()
            .filter(|(_, at)| *at == latest)
            .map(|(i, _)| *i)
            .collect();
        return prefer_default(last).unwrap_or(default);
    }
    if is_text && let Some(i) = prefer_default(pending) {
        return i;
    }
    default.min(holders.len().saturating_sub(1))
}

/// Decides an inbound text on a number held by `holders` (at least one; `default` is the
/// store's choice of patient). `None` when the state machine refuses the event for the routed
/// patient (it never refuses inbound texts).
pub fn decide_inbound(
    holders: &[Holder],
    default: usize,
    body: &str,
    may_restart: bool,
    now: DateTime<Utc>,
) -> Option<NumberDecision> {
    let routed = route(holders, default, body, now);
    let event = Event::Inbound { body, may_restart };
    let decide = |holder: &Holder| super::texting::decide(&holder.state, event, holder.dob, now);
    let mut decision = decide(holders.get(routed)?).ok()?;
    let reaches_others = |i: usize, holder: &Holder| -> bool {
        if i == routed {
            return false;
        }
        let status = live(holder, now);
        match classify(body) {
            Classification::Keyword(Keyword::OptOut) | Classification::RevocationPhrase => true,
            Classification::Keyword(Keyword::OptIn) => {
                decision.inbound != InboundHandling::Conversation
                    && status == TextingStatus::OptedOut
            }
            Classification::Keyword(Keyword::Help) => false,
            Classification::Ordinary | Classification::PossibleOptOut => {
                // A wrong date (or any text) while verifying costs every pending patient an
                // attempt; a match verifies only its patient.
                decision.inbound == InboundHandling::Redacted
                    && decision.new_state.status != TextingStatus::Enabled
                    && status == TextingStatus::Pending
            }
        }
    };
    let others: Vec<(usize, Decision)> = holders
        .iter()
        .enumerate()
        .filter(|(i, h)| reaches_others(*i, h))
        .filter_map(|(i, h)| decide(h).ok().map(|d| (i, d)))
        .filter(|(i, d)| d.new_state != holders[*i].state || d.status_changed)
        .collect();
    let mut all: Vec<Reply> = decision.replies.clone();
    for (_, other) in &others {
        all.extend(other.replies.iter().copied());
    }
    decision.replies = merge_replies(&all);
    Some(NumberDecision {
        routed,
        decision,
        others,
    })
}

/// What goes back to one phone for several patients' replies: each reply once, in order; one
/// retry prompt with the most attempts anyone has left; and no "verification failed" while
/// someone on the number may still verify.
pub fn merge_replies(replies: &[Reply]) -> Vec<Reply> {
    let mut out: Vec<Reply> = Vec::with_capacity(replies.len());
    for &reply in replies {
        match reply {
            Reply::OptInRetry { attempts_left } => {
                if let Some(Reply::OptInRetry {
                    attempts_left: kept,
                }) = out
                    .iter_mut()
                    .find(|r| matches!(r, Reply::OptInRetry { .. }))
                {
                    *kept = (*kept).max(attempts_left);
                } else {
                    out.push(reply);
                }
            }
            other if !out.contains(&other) => out.push(other),
            _ => {}
        }
    }
    if out.iter().any(|r| matches!(r, Reply::OptInRetry { .. })) {
        out.retain(|r| *r != Reply::OptInFailed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::texting::{MAX_ATTEMPTS, VERIFICATION_WINDOW};
    use TextingStatus::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn now() -> DateTime<Utc> {
        at("2026-03-10T12:00:00Z")
    }

    fn dob(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn holder(status: TextingStatus, born: NaiveDate, updated: &str) -> Holder {
        let updated_at = at(updated);
        let state = match status {
            Pending => TextingState {
                status,
                attempts_left: MAX_ATTEMPTS,
                expires_at: Some(updated_at + VERIFICATION_WINDOW),
                updated_at,
            },
            _ => TextingState {
                status,
                attempts_left: 0,
                expires_at: None,
                updated_at,
            },
        };
        Holder { state, dob: born }
    }

    const MOM: (i32, u32, u32) = (1961, 7, 4);
    const KID: (i32, u32, u32) = (2010, 2, 3);

    fn family(mom: TextingStatus, kid: TextingStatus) -> Vec<Holder> {
        vec![
            holder(mom, dob(MOM.0, MOM.1, MOM.2), "2026-03-09T08:00:00Z"),
            holder(kid, dob(KID.0, KID.1, KID.2), "2026-03-09T09:00:00Z"),
        ]
    }

    fn statuses(holders: &[Holder], d: &NumberDecision) -> Vec<TextingStatus> {
        (0..holders.len())
            .map(|i| {
                if i == d.routed {
                    d.decision.new_state.status
                } else {
                    d.others
                        .iter()
                        .find(|(j, _)| *j == i)
                        .map_or(holders[i].state.status, |(_, o)| o.new_state.status)
                }
            })
            .collect()
    }

    /// (mother, kid, the store's choice, body, routed to, statuses after, replies)
    type Row = (
        TextingStatus,
        TextingStatus,
        usize,
        &'static str,
        usize,
        [TextingStatus; 2],
        Vec<Reply>,
    );

    #[test]
    fn each_text_on_a_family_number_reaches_the_patients_the_rules_say() {
        let table: Vec<Row> = vec![
            // STOP belongs to the number: both opted out, one confirmation.
            (
                Enabled,
                Pending,
                0,
                "STOP",
                0,
                [OptedOut, OptedOut],
                vec![Reply::OptOutConfirmation],
            ),
            (
                NotEnabled,
                Enabled,
                0,
                "unsubscribe me",
                1,
                [OptedOut, OptedOut],
                vec![Reply::OptOutConfirmation],
            ),
            // START re-opts every opted-out patient into pending, one restart prompt.
            (
                OptedOut,
                OptedOut,
                1,
                "START",
                1,
                [Pending, Pending],
                vec![Reply::OptInRestarted, Reply::OptInRequest],
            ),
            // ...but does not start texting for a patient it was never started for.
            (
                NotEnabled,
                OptedOut,
                1,
                "START",
                1,
                [NotEnabled, Pending],
                vec![Reply::OptInRestarted, Reply::OptInRequest],
            ),
            // A plain yes from the enabled patient is their message, nobody else's change.
            (Enabled, OptedOut, 0, "yes", 0, [Enabled, OptedOut], vec![]),
            // The date of birth picks the pending patient it matches.
            (
                Pending,
                Pending,
                0,
                "02/03/2010",
                1,
                [Pending, Enabled],
                vec![Reply::OptInConfirmed],
            ),
            (
                Pending,
                Pending,
                1,
                "7/4/1961",
                0,
                [Enabled, Pending],
                vec![Reply::OptInConfirmed],
            ),
            // A date that is nobody's costs each pending patient an attempt; one retry prompt.
            (
                Pending,
                Pending,
                1,
                "01/01/1999",
                1,
                [Pending, Pending],
                vec![Reply::OptInRetry { attempts_left: 2 }],
            ),
            // With the kid enabled, the mother's date still verifies the mother.
            (
                Pending,
                Enabled,
                1,
                "07/04/1961",
                0,
                [Enabled, Enabled],
                vec![Reply::OptInConfirmed],
            ),
            // An ordinary text goes to the enabled patient.
            (
                Pending,
                Enabled,
                0,
                "see you tomorrow",
                1,
                [Pending, Enabled],
                vec![],
            ),
            // HELP answers once, changes nobody.
            (
                Pending,
                Pending,
                0,
                "HELP",
                0,
                [Pending, Pending],
                vec![Reply::Help],
            ),
        ];
        for (mom, kid, default, body, routed, after, replies) in table {
            let holders = family(mom, kid);
            let d = decide_inbound(&holders, default, body, true, now()).unwrap();
            assert_eq!(d.routed, routed, "{mom:?}/{kid:?} {body:?}: routed");
            assert_eq!(
                statuses(&holders, &d),
                after,
                "{mom:?}/{kid:?} {body:?}: statuses"
            );
            assert_eq!(
                d.decision.replies, replies,
                "{mom:?}/{kid:?} {body:?}: replies"
            );
        }
    }

    #[test]
    fn an_enabled_numbers_texts_go_to_the_patient_verified_last() {
        let holders = vec![
            holder(Enabled, dob(1961, 7, 4), "2026-03-09T10:00:00Z"),
            holder(Enabled, dob(2010, 2, 3), "2026-03-09T11:00:00Z"),
            holder(NotEnabled, dob(1990, 1, 1), "2026-03-09T12:00:00Z"),
        ];
        for default in 0..3 {
            assert_eq!(route(&holders, default, "hello", now()), 1);
        }
        // Verified at the same instant: the store's choice when it is one of them.
        let mut tied = holders.clone();
        tied[1].state.updated_at = tied[0].state.updated_at;
        assert_eq!(route(&tied, 1, "hello", now()), 1);
        assert_eq!(route(&tied, 2, "hello", now()), 0);
    }

    #[test]
    fn with_one_patient_the_number_decides_as_the_patient_does() {
        for status in TextingStatus::ALL {
            for body in [
                "STOP",
                "START",
                "yes",
                "HELP",
                "07/04/1961",
                "01/01/2000",
                "hi",
            ] {
                let holders = vec![holder(status, dob(1961, 7, 4), "2026-03-09T08:00:00Z")];
                let d = decide_inbound(&holders, 0, body, true, now()).unwrap();
                let alone = crate::domain::texting::decide(
                    &holders[0].state,
                    Event::Inbound {
                        body,
                        may_restart: true,
                    },
                    holders[0].dob,
                    now(),
                )
                .unwrap();
                assert_eq!((d.routed, &d.decision), (0, &alone), "{status:?} {body:?}");
                assert!(d.others.is_empty());
            }
        }
    }

    #[test]
    fn a_lapsed_verification_is_not_pending_for_the_number() {
        let mut holders = family(Pending, Pending);
        holders[0].state.expires_at = Some(now());
        // Mother's window closed: her date no longer verifies her; the kid's attempt is used.
        let d = decide_inbound(&holders, 0, "07/04/1961", true, now()).unwrap();
        assert_eq!(d.routed, 1);
        assert_eq!(d.decision.new_state.attempts_left, MAX_ATTEMPTS - 1);
    }

    #[test]
    fn replies_for_one_phone_are_merged() {
        use Reply::*;
        let table = [
            (
                vec![OptOutConfirmation, OptOutConfirmation],
                vec![OptOutConfirmation],
            ),
            (
                vec![
                    OptInRetry { attempts_left: 1 },
                    OptInRetry { attempts_left: 2 },
                ],
                vec![OptInRetry { attempts_left: 2 }],
            ),
            (
                vec![OptInFailed, OptInRetry { attempts_left: 1 }],
                vec![OptInRetry { attempts_left: 1 }],
            ),
            (vec![OptInFailed, OptInFailed], vec![OptInFailed]),
            (
                vec![OptInRestarted, OptInRequest, OptInRestarted, OptInRequest],
                vec![OptInRestarted, OptInRequest],
            ),
        ];
        for (replies, merged) in table {
            assert_eq!(merge_replies(&replies), merged, "{replies:?}");
        }
    }
}
