//! The per-patient texting opt-in state machine: `not_enabled`, `pending`, `failed`, `opted_out`,
//! `enabled`.
//!
//! Owns every rule about how staff actions, inbound texts, carrier opt-outs and the passing of time
//! move a patient between those statuses, which replies go out, and what the service may do with an
//! inbound body. [`decide`] is a pure function of the current state, the event, the patient's date
//! of birth and `now`: it never reads a clock, never touches the store, never sends, and never logs
//! (a body may hold a date of birth). The service persists the returned state, the replies (via the
//! outbox) and the inbound message in one transaction.
//!
//! Invariants kept by every decision:
//! - `attempts_left` and `expires_at` describe an open verification: outside `pending` they are
//!   `0` and `None`.
//! - A `pending` state whose window has closed (or that has no window or no attempts, which only a
//!   corrupt row could hold) is `failed` before any event is applied: failing closed is the only
//!   safe reading of a verification that cannot succeed any more.
//! - Nothing is sent to an `opted_out` number except what the patient's own START or a staff Start
//!   begins; the one opt-out confirmation goes out on the transition into `opted_out`.
//! - While verifying, an inbound body is never a conversation message.

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::dob::parse_texted_dob;
use super::keywords::{Classification, Keyword, classify, is_plain_yes};

/// Wrong dates of birth a patient may text before verification fails.
pub const MAX_ATTEMPTS: u8 = 3;

/// How long a patient has to text their date of birth once the opt-in message goes out.
pub const VERIFICATION_WINDOW: TimeDelta = TimeDelta::days(14);

pub use types::TextingStatus;

/// What the store keeps per patient (and practice: opt-out is per sending number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextingState {
    pub status: TextingStatus,
    /// Wrong dates of birth still allowed; `0` outside `pending`.
    pub attempts_left: u8,
    /// When the verification window closes; `Some` only in `pending`.
    pub expires_at: Option<DateTime<Utc>>,
    /// The last time any field changed.
    pub updated_at: DateTime<Utc>,
}

impl TextingState {
    /// A patient for whom texting was never started.
    pub const fn not_enabled(now: DateTime<Utc>) -> TextingState {
        TextingState::settled(TextingStatus::NotEnabled, now)
    }

    /// Whether this is a `pending` verification that can no longer succeed at `now`: its window
    /// closed (the close itself included: 14 days after the start, 14 days have passed), or it
    /// has no window or no attempts left. The expiry worker selects on the same rule.
    #[must_use]
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.status == TextingStatus::Pending
            && (self.attempts_left == 0 || self.expires_at.is_none_or(|closes| now >= closes))
    }

    /// A fresh verification: full attempts and a new window.
    fn pending(now: DateTime<Utc>) -> TextingState {
        TextingState {
            status: TextingStatus::Pending,
            attempts_left: MAX_ATTEMPTS,
            // Saturate rather than panic on a clock at the end of time.
            expires_at: Some(
                now.checked_add_signed(VERIFICATION_WINDOW)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            ),
            updated_at: now,
        }
    }

    /// Any status other than `pending`: no attempts, no window.
    const fn settled(status: TextingStatus, now: DateTime<Utc>) -> TextingState {
        TextingState {
            status,
            attempts_left: 0,
            expires_at: None,
            updated_at: now,
        }
    }
}

/// Something that may change a patient's texting state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Staff start texting (`POST …/texting/start`).
    StaffStart { has_valid_mobile: bool },
    /// Staff resend the opt-in message (`POST …/texting/resend`): a repeat while `pending`; from
    /// `failed` a fresh verification, as a Start (seed 001: "a user can resend the opt-in message
    /// at any time"), which needs a valid mobile number.
    StaffResend { has_valid_mobile: bool },
    /// Staff opt the patient out (`POST …/texting/opt-out`).
    StaffOptOut,
    /// The patient texted the practice's number. `may_restart`: whether a START or UNSTOP may
    /// begin a new verification now (the service limits how often a number may, see
    /// `domain::throttle::PATIENT_RESTARTS`).
    Inbound { body: &'a str, may_restart: bool },
    /// The carrier refused a send or reported a status with error 21610: the number opted out at
    /// the carrier (it replied STOP there).
    CarrierOptedOut,
    /// The expiry worker looks at the patient.
    ExpiryCheck,
}

/// A text to send to the patient; the gateway renders each with the practice's template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reply {
    /// The opt-in message asking for the date of birth.
    OptInRequest,
    /// Identity confirmed: texting is enabled.
    OptInConfirmed,
    /// That was not the date of birth; `attempts_left` more tries.
    OptInRetry { attempts_left: u8 },
    /// No more tries: call the practice.
    OptInFailed,
    /// The one confirmation after opting out; nothing more is sent.
    OptOutConfirmation,
    /// Opted back in: identity is verified again. Always followed by `OptInRequest`.
    OptInRestarted,
    /// The help text.
    Help,
}

/// What the service may do with an inbound body. Only `Conversation` and
/// `ConversationFlaggedPossibleOptOut` make it a patient message in the conversation; only
/// `Redacted` forbids keeping the text at all. See the methods for the exact rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InboundHandling {
    /// The event was not an inbound text.
    NotInbound,
    /// `enabled`, an ordinary text: a patient message. Store the body, show it in the
    /// conversation, notify the care team.
    Conversation,
    /// As `Conversation`, and flag it to staff as a possible opt-out request ("I can't stop …").
    ConversationFlaggedPossibleOptOut,
    /// A keyword or a clear revocation phrase. The body is nothing but that keyword or phrase
    /// (never a digit in it), so it may be stored and shown to staff as a record of what the
    /// patient sent; it is not a patient message (no notification, no unread) and is answered
    /// only by the decision's replies.
    Keyword,
    /// A verification attempt, or a text outside `enabled` that contains a digit: it may hold a
    /// date of birth. Never store, show or log the body; record only that a text arrived.
    Redacted,
    /// A text without digits while `not_enabled`, `failed` or `opted_out`: not answered, not a
    /// patient message; the body may be stored for staff to review.
    Ignored,
}

impl InboundHandling {
    /// Whether the body may be kept (stored, and shown to staff). False for `Redacted`, where the
    /// body must be dropped, and for `NotInbound`, which has none.
    #[must_use]
    pub const fn may_store_body(self) -> bool {
        matches!(
            self,
            InboundHandling::Conversation
                | InboundHandling::ConversationFlaggedPossibleOptOut
                | InboundHandling::Keyword
                | InboundHandling::Ignored
        )
    }

    /// Whether the text is a patient message in the conversation (notifies, counts as unread).
    #[must_use]
    pub const fn is_conversation_message(self) -> bool {
        matches!(
            self,
            InboundHandling::Conversation | InboundHandling::ConversationFlaggedPossibleOptOut
        )
    }

    /// Whether staff should be told the text may be an opt-out request.
    #[must_use]
    pub const fn flags_possible_opt_out(self) -> bool {
        matches!(self, InboundHandling::ConversationFlaggedPossibleOptOut)
    }
}

/// What to do about an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The state to store (equal to the old one when nothing changed).
    pub new_state: TextingState,
    /// Texts to send, in order.
    pub replies: Vec<Reply>,
    /// What to do with the inbound body, if the event was one.
    pub inbound: InboundHandling,
    /// Whether the status changed (including `pending` lapsing to `failed` on the way): users
    /// who asked for "Two-Way Texting" notifications hear of it.
    pub status_changed: bool,
}

/// A staff action that can be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StaffAction {
    Start,
    Resend,
}

impl StaffAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            StaffAction::Start => "start",
            StaffAction::Resend => "resend",
        }
    }
}

impl fmt::Display for StaffAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a staff action was refused. Nothing is stored or sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The action does not apply to the current status (409). `from` is the status after any
    /// lapse: resending to a `pending` patient whose window closed is refused `from: Failed`.
    #[error("{}", invalid_transition_message(*from, *action))]
    InvalidTransition {
        from: TextingStatus,
        action: StaffAction,
    },
    /// Texting cannot start without a valid mobile phone number (422).
    #[error("mobile_phone: the patient needs a valid mobile phone number before texting can start")]
    NoValidMobile,
    /// A resend to a patient who is already verified (409 `already_enabled`).
    #[error("the patient has already verified and texting is enabled; there is nothing to resend")]
    AlreadyEnabled,
}

fn invalid_transition_message(from: TextingStatus, action: StaffAction) -> String {
    match action {
        StaffAction::Start => format!(
            "texting cannot be started while it is {from}; resend the opt-in message while it is \
             pending, or opt the patient out first to start over"
        ),
        StaffAction::Resend => format!(
            "the opt-in message can be resent while texting is pending or failed, and it is \
             {from}; start texting instead"
        ),
    }
}

/// Decides what `event` does to a patient in `state` at `now`. `patient_dob` is compared with a
/// texted date of birth while verifying.
///
/// A `pending` state that has lapsed (see [`TextingState::is_expired`]) is first failed, silently,
/// and the event is applied to that: so a DOB arriving after the window fails rather than enables,
/// and staff may Start again without waiting for the expiry worker.
///
/// # Errors
///
/// [`Refusal::InvalidTransition`] for a staff Start while `pending` or `enabled`, or a Resend
/// from `not_enabled` or `opted_out`; [`Refusal::AlreadyEnabled`] for a Resend while `enabled`;
/// [`Refusal::NoValidMobile`] for a Start (or a Resend from `failed`) without a valid mobile
/// number.
/// Patient texts, carrier opt-outs and the expiry check are never refused.
pub fn decide(
    state: &TextingState,
    event: Event<'_>,
    patient_dob: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    let lapsed = state.is_expired(now);
    let current = if lapsed {
        TextingState::settled(TextingStatus::Failed, now)
    } else {
        *state
    };
    let (new_state, replies, inbound) = apply(current, event, patient_dob, now)?;
    Ok(Decision {
        status_changed: lapsed || new_state.status != current.status,
        new_state,
        replies,
        inbound,
    })
}

type Outcome = (TextingState, Vec<Reply>, InboundHandling);

fn apply(
    current: TextingState,
    event: Event<'_>,
    patient_dob: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Outcome, Refusal> {
    use TextingStatus::*;
    let outcome = match event {
        Event::StaffStart { has_valid_mobile } => match current.status {
            // The conflict comes first: with texting under way, the mobile number is not the
            // problem, and fixing it would not make the Start succeed.
            Pending | Enabled => {
                return Err(Refusal::InvalidTransition {
                    from: current.status,
                    action: StaffAction::Start,
                });
            }
            NotEnabled | Failed | OptedOut if !has_valid_mobile => {
                return Err(Refusal::NoValidMobile);
            }
            NotEnabled | Failed | OptedOut => (
                TextingState::pending(now),
                vec![Reply::OptInRequest],
                InboundHandling::NotInbound,
            ),
        },
        // Resend is only a repeat: the window and the attempts stay as they were, so resending
        // cannot be used to stretch a verification.
        Event::StaffResend { .. } if current.status == Pending => (
            current,
            vec![Reply::OptInRequest],
            InboundHandling::NotInbound,
        ),
        // From `failed` (a lapsed window included) a resend starts verification again, with fresh
        // attempts and window, as a Start does.
        Event::StaffResend { has_valid_mobile } if current.status == Failed => {
            return apply(
                current,
                Event::StaffStart { has_valid_mobile },
                patient_dob,
                now,
            );
        }
        Event::StaffResend { .. } if current.status == Enabled => {
            return Err(Refusal::AlreadyEnabled);
        }
        Event::StaffResend { .. } => {
            return Err(Refusal::InvalidTransition {
                from: current.status,
                action: StaffAction::Resend,
            });
        }
        // Staff opt-out sends nothing: the patient did not text us (they asked by phone or in
        // person, or the number is wrong or changed hands), and from `not_enabled` or `failed`
        // there was never consent to text at all. An already opted-out patient is left as is:
        // the request's goal already holds, and a double click or a race with the patient's STOP
        // is not an error anyone could fix.
        // The carrier's 21610 means the carrier already confirmed to the patient.
        Event::StaffOptOut | Event::CarrierOptedOut => (
            opt_out(current, now),
            Vec::new(),
            InboundHandling::NotInbound,
        ),
        // The lapse, if any, was applied above; that is all the worker asks for.
        Event::ExpiryCheck => (current, Vec::new(), InboundHandling::NotInbound),
        Event::Inbound { body, may_restart } => {
            inbound(current, body, may_restart, patient_dob, now)
        }
    };
    Ok(outcome)
}

fn opt_out(current: TextingState, now: DateTime<Utc>) -> TextingState {
    if current.status == TextingStatus::OptedOut {
        current
    } else {
        TextingState::settled(TextingStatus::OptedOut, now)
    }
}

fn inbound(
    current: TextingState,
    body: &str,
    may_restart: bool,
    patient_dob: NaiveDate,
    now: DateTime<Utc>,
) -> Outcome {
    use TextingStatus::*;
    let class = classify(body);
    match class {
        // One confirmation on the way into `opted_out`, then silence: a repeated STOP is not
        // answered.
        Classification::Keyword(Keyword::OptOut) | Classification::RevocationPhrase => {
            let replies = if current.status == OptedOut {
                Vec::new()
            } else {
                vec![Reply::OptOutConfirmation]
            };
            (opt_out(current, now), replies, InboundHandling::Keyword)
        }
        // A bare "yes" from a verified patient is almost always an answer to a question from the
        // care team; dropping them back to verification for it would cut the conversation off.
        // START and UNSTOP still restart verification from `enabled`.
        Classification::Keyword(Keyword::OptIn)
            if current.status == Enabled && is_plain_yes(body) =>
        {
            (current, Vec::new(), InboundHandling::Conversation)
        }
        // Too many restarts from this number lately: nothing changes (no fresh attempts); the
        // patient is told to call the practice, whose staff can start texting again. Said once:
        // a `failed` patient is not answered again.
        Classification::Keyword(Keyword::OptIn) if !may_restart => {
            let replies = if current.status == Failed {
                Vec::new()
            } else {
                vec![Reply::OptInFailed]
            };
            (current, replies, InboundHandling::Keyword)
        }
        // From any other state, and START/UNSTOP from `enabled`: the number may have changed
        // hands, so whoever holds it now proves who they are again.
        Classification::Keyword(Keyword::OptIn) => (
            TextingState::pending(now),
            vec![Reply::OptInRestarted, Reply::OptInRequest],
            InboundHandling::Keyword,
        ),
        Classification::Keyword(Keyword::Help) => {
            let replies = if current.status == OptedOut {
                Vec::new()
            } else {
                vec![Reply::Help]
            };
            (current, replies, InboundHandling::Keyword)
        }
        Classification::PossibleOptOut | Classification::Ordinary => match current.status {
            Pending => verification_attempt(current, body, patient_dob, now),
            Enabled if class == Classification::PossibleOptOut => (
                current,
                Vec::new(),
                InboundHandling::ConversationFlaggedPossibleOptOut,
            ),
            Enabled => (current, Vec::new(), InboundHandling::Conversation),
            // A late or unprompted reply may still be a date of birth in some format: any digit
            // is enough to withhold it. Hiding a phone number from staff costs little; showing a
            // date of birth is the leak DESIGN.md forbids.
            NotEnabled | Failed | OptedOut => {
                let handling = if body.chars().any(char::is_numeric) {
                    InboundHandling::Redacted
                } else {
                    InboundHandling::Ignored
                };
                (current, Vec::new(), handling)
            }
        },
    }
}

/// Every non-keyword text while `pending` is an attempt, whatever it says.
fn verification_attempt(
    current: TextingState,
    body: &str,
    patient_dob: NaiveDate,
    now: DateTime<Utc>,
) -> Outcome {
    if parse_texted_dob(body) == Some(patient_dob) {
        return (
            TextingState::settled(TextingStatus::Enabled, now),
            vec![Reply::OptInConfirmed],
            InboundHandling::Redacted,
        );
    }
    let attempts_left = current.attempts_left.saturating_sub(1);
    if attempts_left == 0 {
        return (
            TextingState::settled(TextingStatus::Failed, now),
            vec![Reply::OptInFailed],
            InboundHandling::Redacted,
        );
    }
    (
        TextingState {
            attempts_left,
            updated_at: now,
            ..current
        },
        vec![Reply::OptInRetry { attempts_left }],
        InboundHandling::Redacted,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::keywords::{HELP_KEYWORDS, OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS};
    use chrono::{Datelike, TimeZone};
    use proptest::prelude::*;

    const RESEND: Event<'static> = Event::StaffResend {
        has_valid_mobile: true,
    };

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
    }

    fn dob() -> NaiveDate {
        NaiveDate::from_ymd_opt(1950, 1, 5).unwrap()
    }

    const DOB_TEXT: &str = "1/5/1950";
    const WRONG_DOB_TEXT: &str = "01/06/1950";

    /// The states a patient can be found in, the lapsed `pending` included.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Origin {
        NotEnabled,
        Pending,
        LapsedPending,
        Failed,
        OptedOut,
        Enabled,
    }

    const FROM_ALL: [Origin; 6] = [
        Origin::NotEnabled,
        Origin::Pending,
        Origin::LapsedPending,
        Origin::Failed,
        Origin::OptedOut,
        Origin::Enabled,
    ];

    /// A state last changed a day before `t0()`; `pending` started then, with one attempt used.
    fn state(from: Origin) -> TextingState {
        let changed = t0() - TimeDelta::days(1);
        let settled = |status| TextingState {
            status,
            attempts_left: 0,
            expires_at: None,
            updated_at: changed,
        };
        match from {
            Origin::NotEnabled => settled(TextingStatus::NotEnabled),
            Origin::Failed => settled(TextingStatus::Failed),
            Origin::OptedOut => settled(TextingStatus::OptedOut),
            Origin::Enabled => settled(TextingStatus::Enabled),
            Origin::Pending => TextingState {
                status: TextingStatus::Pending,
                attempts_left: 2,
                expires_at: Some(changed + VERIFICATION_WINDOW),
                updated_at: changed,
            },
            Origin::LapsedPending => TextingState {
                status: TextingStatus::Pending,
                attempts_left: 2,
                expires_at: Some(t0()),
                updated_at: t0() - VERIFICATION_WINDOW,
            },
        }
    }

    fn run(from: Origin, event: Event<'_>) -> Result<Decision, Refusal> {
        decide(&state(from), event, dob(), t0())
    }

    fn inbound(body: &str) -> Event<'_> {
        Event::Inbound {
            body,
            may_restart: true,
        }
    }

    /// What one cell of the table expects.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Expect {
        Refused(Refusal),
        To(TextingStatus, Vec<Reply>, InboundHandling),
    }

    fn to(status: TextingStatus, replies: &[Reply], inbound: InboundHandling) -> Expect {
        Expect::To(status, replies.to_vec(), inbound)
    }

    /// A row whose every column (every state the event may come in) expects the same.
    fn from_every_state(expect: Expect) -> [Expect; 6] {
        std::array::from_fn(|_| expect.clone())
    }

    fn conflict(from: TextingStatus, action: StaffAction) -> Expect {
        Expect::Refused(Refusal::InvalidTransition { from, action })
    }

    /// Checks a cell, and the invariants every decision keeps.
    fn check(from: Origin, event: Event<'_>, expected: &Expect) {
        let before = state(from);
        let outcome = decide(&before, event, dob(), t0());
        let context = format!("{event:?} from {from:?}");
        let decision = match (expected, outcome) {
            (Expect::Refused(want), Err(got)) => {
                assert_eq!(&got, want, "{context}");
                return;
            }
            (Expect::Refused(want), Ok(got)) => panic!("{context}: wanted {want:?}, got {got:?}"),
            (Expect::To(..), Err(got)) => panic!("{context}: refused {got:?}"),
            (Expect::To(status, replies, handling), Ok(decision)) => {
                assert_eq!(decision.new_state.status, *status, "{context}");
                assert_eq!(&decision.replies, replies, "{context}");
                assert_eq!(decision.inbound, *handling, "{context}");
                decision
            }
        };
        let status_changed =
            from == Origin::LapsedPending || decision.new_state.status != before.status;
        assert_eq!(decision.status_changed, status_changed, "{context}");
        if decision.new_state != before {
            assert_eq!(decision.new_state.updated_at, t0(), "{context}");
        }
        if decision.new_state.status == TextingStatus::Pending {
            assert!(decision.new_state.attempts_left > 0, "{context}");
            assert!(decision.new_state.expires_at.is_some(), "{context}");
        } else {
            assert_eq!(decision.new_state.attempts_left, 0, "{context}");
            assert_eq!(decision.new_state.expires_at, None, "{context}");
        }
    }

    #[test]
    fn a_start_beyond_the_restart_limit_gives_no_fresh_attempts_and_is_answered_once() {
        for from in FROM_ALL {
            for body in ["START", "unstop"] {
                let decision = run(
                    from,
                    Event::Inbound {
                        body,
                        may_restart: false,
                    },
                )
                .unwrap();
                // A lapsed verification has failed before the text is looked at.
                let before = match from {
                    Origin::LapsedPending => TextingStatus::Failed,
                    _ => state(from).status,
                };
                assert_eq!(decision.new_state.status, before, "{from:?} {body}");
                if before == TextingStatus::Pending {
                    assert_eq!(
                        decision.new_state.attempts_left,
                        state(from).attempts_left,
                        "no fresh attempts"
                    );
                }
                let expected: &[Reply] = if before == TextingStatus::Failed {
                    &[]
                } else {
                    &[Reply::OptInFailed]
                };
                assert_eq!(decision.replies, expected, "{from:?} {body}");
                assert!(!decision.inbound.is_conversation_message());
            }
        }
    }

    #[test]
    fn every_event_from_every_state_does_what_the_table_says() {
        use InboundHandling as H;
        use Reply as R;
        use TextingStatus::*;
        let none = H::NotInbound;
        let request = [R::OptInRequest];
        let restart = [R::OptInRestarted, R::OptInRequest];
        let stop = [R::OptOutConfirmation];
        let help = [R::Help];
        // Columns: not_enabled, pending, lapsed pending, failed, opted_out, enabled.
        let table: Vec<(Event<'_>, [Expect; 6])> = vec![
            (
                Event::StaffStart {
                    has_valid_mobile: true,
                },
                [
                    to(Pending, &request, none),
                    conflict(Pending, StaffAction::Start),
                    to(Pending, &request, none),
                    to(Pending, &request, none),
                    to(Pending, &request, none),
                    conflict(Enabled, StaffAction::Start),
                ],
            ),
            (
                Event::StaffStart {
                    has_valid_mobile: false,
                },
                [
                    Expect::Refused(Refusal::NoValidMobile),
                    conflict(Pending, StaffAction::Start),
                    Expect::Refused(Refusal::NoValidMobile),
                    Expect::Refused(Refusal::NoValidMobile),
                    Expect::Refused(Refusal::NoValidMobile),
                    conflict(Enabled, StaffAction::Start),
                ],
            ),
            (
                Event::StaffResend {
                    has_valid_mobile: true,
                },
                [
                    conflict(NotEnabled, StaffAction::Resend),
                    to(Pending, &request, none),
                    to(Pending, &request, none),
                    to(Pending, &request, none),
                    conflict(OptedOut, StaffAction::Resend),
                    Expect::Refused(Refusal::AlreadyEnabled),
                ],
            ),
            (
                Event::StaffResend {
                    has_valid_mobile: false,
                },
                [
                    conflict(NotEnabled, StaffAction::Resend),
                    to(Pending, &request, none),
                    Expect::Refused(Refusal::NoValidMobile),
                    Expect::Refused(Refusal::NoValidMobile),
                    conflict(OptedOut, StaffAction::Resend),
                    Expect::Refused(Refusal::AlreadyEnabled),
                ],
            ),
            (
                Event::StaffOptOut,
                from_every_state(to(OptedOut, &[], none)),
            ),
            (
                Event::CarrierOptedOut,
                from_every_state(to(OptedOut, &[], none)),
            ),
            (
                Event::ExpiryCheck,
                [
                    to(NotEnabled, &[], none),
                    to(Pending, &[], none),
                    to(Failed, &[], none),
                    to(Failed, &[], none),
                    to(OptedOut, &[], none),
                    to(Enabled, &[], none),
                ],
            ),
            (
                inbound("STOP"),
                [
                    to(OptedOut, &stop, H::Keyword),
                    to(OptedOut, &stop, H::Keyword),
                    to(OptedOut, &stop, H::Keyword),
                    to(OptedOut, &stop, H::Keyword),
                    to(OptedOut, &[], H::Keyword),
                    to(OptedOut, &stop, H::Keyword),
                ],
            ),
            (
                inbound("Please stop texting me."),
                [
                    to(OptedOut, &stop, H::Keyword),
                    to(OptedOut, &stop, H::Keyword),
                    to(OptedOut, &stop, H::Keyword),
                    to(OptedOut, &stop, H::Keyword),
                    to(OptedOut, &[], H::Keyword),
                    to(OptedOut, &stop, H::Keyword),
                ],
            ),
            (
                inbound("START"),
                from_every_state(to(Pending, &restart, H::Keyword)),
            ),
            (
                inbound("HELP"),
                [
                    to(NotEnabled, &help, H::Keyword),
                    to(Pending, &help, H::Keyword),
                    to(Failed, &help, H::Keyword),
                    to(Failed, &help, H::Keyword),
                    to(OptedOut, &[], H::Keyword),
                    to(Enabled, &help, H::Keyword),
                ],
            ),
            (
                inbound(DOB_TEXT),
                [
                    to(NotEnabled, &[], H::Redacted),
                    to(Enabled, &[R::OptInConfirmed], H::Redacted),
                    to(Failed, &[], H::Redacted),
                    to(Failed, &[], H::Redacted),
                    to(OptedOut, &[], H::Redacted),
                    to(Enabled, &[], H::Conversation),
                ],
            ),
            (
                inbound(WRONG_DOB_TEXT),
                [
                    to(NotEnabled, &[], H::Redacted),
                    to(Pending, &[R::OptInRetry { attempts_left: 1 }], H::Redacted),
                    to(Failed, &[], H::Redacted),
                    to(Failed, &[], H::Redacted),
                    to(OptedOut, &[], H::Redacted),
                    to(Enabled, &[], H::Conversation),
                ],
            ),
            (
                inbound("I can't stop coughing"),
                [
                    to(NotEnabled, &[], H::Ignored),
                    to(Pending, &[R::OptInRetry { attempts_left: 1 }], H::Redacted),
                    to(Failed, &[], H::Ignored),
                    to(Failed, &[], H::Ignored),
                    to(OptedOut, &[], H::Ignored),
                    to(Enabled, &[], H::ConversationFlaggedPossibleOptOut),
                ],
            ),
            (
                inbound("Hello, who is this?"),
                [
                    to(NotEnabled, &[], H::Ignored),
                    to(Pending, &[R::OptInRetry { attempts_left: 1 }], H::Redacted),
                    to(Failed, &[], H::Ignored),
                    to(Failed, &[], H::Ignored),
                    to(OptedOut, &[], H::Ignored),
                    to(Enabled, &[], H::Conversation),
                ],
            ),
            (
                inbound("Call me at 555 0100"),
                [
                    to(NotEnabled, &[], H::Redacted),
                    to(Pending, &[R::OptInRetry { attempts_left: 1 }], H::Redacted),
                    to(Failed, &[], H::Redacted),
                    to(Failed, &[], H::Redacted),
                    to(OptedOut, &[], H::Redacted),
                    to(Enabled, &[], H::Conversation),
                ],
            ),
        ];
        for (event, row) in &table {
            for (from, expected) in FROM_ALL.iter().zip(row) {
                check(*from, *event, expected);
            }
        }
        assert_eq!(table.len() * FROM_ALL.len(), 96);
    }

    /// Every casing a patient may use, with white space and trailing punctuation.
    fn keyword_bodies(word: &str) -> Vec<String> {
        let lower = word.to_string();
        let upper = word.to_uppercase();
        let title = format!("{}{}", &upper[..1], &lower[1..]);
        let mut out = Vec::new();
        for cased in [lower, upper, title] {
            for (before, after) in [("", ""), (" ", "."), ("\n", "!"), ("  ", "?!  ")] {
                out.push(format!("{before}{cased}{after}"));
            }
        }
        out
    }

    #[test]
    fn every_opt_out_keyword_from_every_state_opts_out_with_one_confirmation() {
        for word in OPT_OUT_KEYWORDS {
            for body in keyword_bodies(word) {
                for from in FROM_ALL {
                    let expected = if from == Origin::OptedOut {
                        vec![]
                    } else {
                        vec![Reply::OptOutConfirmation]
                    };
                    check(
                        from,
                        inbound(&body),
                        &Expect::To(TextingStatus::OptedOut, expected, InboundHandling::Keyword),
                    );
                }
            }
        }
    }

    #[test]
    fn every_opt_in_keyword_from_every_state_restarts_verification() {
        for word in OPT_IN_KEYWORDS {
            for body in keyword_bodies(word) {
                for from in FROM_ALL {
                    // A verified patient's "yes" is a conversation answer (tested on its own).
                    if word == "yes" && from == Origin::Enabled {
                        continue;
                    }
                    check(
                        from,
                        inbound(&body),
                        &Expect::To(
                            TextingStatus::Pending,
                            vec![Reply::OptInRestarted, Reply::OptInRequest],
                            InboundHandling::Keyword,
                        ),
                    );
                    let decision = run(from, inbound(&body)).unwrap();
                    assert_eq!(decision.new_state.attempts_left, MAX_ATTEMPTS);
                    assert_eq!(
                        decision.new_state.expires_at,
                        Some(t0() + VERIFICATION_WINDOW)
                    );
                }
            }
        }
    }

    #[test]
    fn every_help_keyword_gets_help_except_while_opted_out() {
        for word in HELP_KEYWORDS {
            for body in keyword_bodies(word) {
                for from in FROM_ALL {
                    let decision = run(from, inbound(&body)).unwrap();
                    let expected = if from == Origin::OptedOut {
                        vec![]
                    } else {
                        vec![Reply::Help]
                    };
                    assert_eq!(decision.replies, expected, "{body:?} from {from:?}");
                    assert_eq!(decision.inbound, InboundHandling::Keyword);
                    if from != Origin::LapsedPending {
                        assert_eq!(decision.new_state, state(from), "{body:?} from {from:?}");
                        assert!(!decision.status_changed);
                    }
                }
            }
        }
    }

    #[test]
    fn staff_start_opens_a_fresh_fourteen_day_window_with_three_attempts() {
        for from in [Origin::NotEnabled, Origin::Failed, Origin::OptedOut] {
            let decision = run(
                from,
                Event::StaffStart {
                    has_valid_mobile: true,
                },
            )
            .unwrap();
            assert_eq!(
                decision.new_state,
                TextingState {
                    status: TextingStatus::Pending,
                    attempts_left: 3,
                    expires_at: Some(t0() + TimeDelta::days(14)),
                    updated_at: t0(),
                }
            );
            assert!(decision.status_changed);
        }
    }

    #[test]
    fn resend_repeats_the_request_and_changes_nothing_else() {
        let before = state(Origin::Pending);
        let later = t0() + TimeDelta::days(3);
        let decision = decide(&before, RESEND, dob(), later).unwrap();
        assert_eq!(decision.new_state, before);
        assert_eq!(decision.replies, vec![Reply::OptInRequest]);
        assert_eq!(decision.inbound, InboundHandling::NotInbound);
        assert!(!decision.status_changed);
    }

    #[test]
    fn resend_after_two_misses_keeps_the_one_attempt_left() {
        let start = t0();
        let mut current = TextingState::pending(start);
        for _ in 0..2 {
            current = decide(&current, inbound(WRONG_DOB_TEXT), dob(), start)
                .unwrap()
                .new_state;
        }
        let decision = decide(&current, RESEND, dob(), start).unwrap();
        assert_eq!(decision.new_state, current);
        assert_eq!(decision.new_state.attempts_left, 1);
    }

    #[test]
    fn three_wrong_dates_of_birth_fail_verification_with_a_retry_prompt_before_each_miss() {
        let mut current = TextingState::not_enabled(t0());
        let start = decide(
            &current,
            Event::StaffStart {
                has_valid_mobile: true,
            },
            dob(),
            t0(),
        )
        .unwrap();
        current = start.new_state;
        let mut replies = Vec::new();
        for hour in 1..=3 {
            let now = t0() + TimeDelta::hours(hour);
            let decision = decide(&current, inbound(WRONG_DOB_TEXT), dob(), now).unwrap();
            assert_eq!(decision.inbound, InboundHandling::Redacted);
            assert_eq!(decision.new_state.updated_at, now);
            current = decision.new_state;
            replies.extend(decision.replies);
        }
        assert_eq!(
            replies,
            vec![
                Reply::OptInRetry { attempts_left: 2 },
                Reply::OptInRetry { attempts_left: 1 },
                Reply::OptInFailed,
            ]
        );
        assert_eq!(current.status, TextingStatus::Failed);
        // The right date after failing no longer enables, and is still withheld.
        let late = decide(
            &current,
            inbound(DOB_TEXT),
            dob(),
            t0() + TimeDelta::hours(4),
        )
        .unwrap();
        assert_eq!(late.new_state, current);
        assert!(late.replies.is_empty());
        assert_eq!(late.inbound, InboundHandling::Redacted);
    }

    #[test]
    fn only_the_third_miss_changes_the_status() {
        let mut current = TextingState::pending(t0());
        let changes: Vec<bool> = (0..3)
            .map(|_| {
                let decision = decide(&current, inbound("nope"), dob(), t0()).unwrap();
                current = decision.new_state;
                decision.status_changed
            })
            .collect();
        assert_eq!(changes, vec![false, false, true]);
    }

    #[test]
    fn the_right_date_on_the_third_attempt_enables() {
        let mut current = TextingState::pending(t0());
        for _ in 0..2 {
            current = decide(&current, inbound("12/25/1950"), dob(), t0())
                .unwrap()
                .new_state;
        }
        let decision = decide(&current, inbound(" 01-05-1950 "), dob(), t0()).unwrap();
        assert_eq!(
            decision.new_state,
            TextingState::settled(TextingStatus::Enabled, t0())
        );
        assert_eq!(decision.replies, vec![Reply::OptInConfirmed]);
        assert_eq!(decision.inbound, InboundHandling::Redacted);
        assert!(decision.status_changed);
    }

    #[test]
    fn every_accepted_format_of_the_right_date_enables() {
        for text in [
            "01/05/1950",
            "1/5/1950",
            "01/5/1950",
            "1/05/1950",
            "01-05-1950",
            "1-5-1950",
            "01.05.1950",
            "1.5.1950",
            "\t1/5/1950\n",
        ] {
            let decision =
                decide(&TextingState::pending(t0()), inbound(text), dob(), t0()).unwrap();
            assert_eq!(
                decision.new_state.status,
                TextingStatus::Enabled,
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_two_digit_year_or_the_day_first_is_a_miss() {
        for text in ["1/5/50", "5/1/1950", "1950-01-05", "Jan 5 1950"] {
            let decision =
                decide(&TextingState::pending(t0()), inbound(text), dob(), t0()).unwrap();
            assert_eq!(
                decision.replies,
                vec![Reply::OptInRetry { attempts_left: 2 }],
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_verification_expires_exactly_fourteen_days_after_it_started() {
        let started = TextingState::pending(t0());
        let closes = t0() + TimeDelta::days(14);
        let just_before = closes - TimeDelta::nanoseconds(1);

        let open = decide(&started, Event::ExpiryCheck, dob(), just_before).unwrap();
        assert_eq!(open.new_state, started);
        assert!(!open.status_changed);
        assert!(!started.is_expired(just_before));

        let closed = decide(&started, Event::ExpiryCheck, dob(), closes).unwrap();
        assert_eq!(
            closed.new_state,
            TextingState::settled(TextingStatus::Failed, closes)
        );
        assert!(closed.replies.is_empty());
        assert!(closed.status_changed);
        assert!(started.is_expired(closes));
    }

    #[test]
    fn the_right_date_one_nanosecond_before_the_window_closes_enables() {
        let started = TextingState::pending(t0());
        let now = t0() + VERIFICATION_WINDOW - TimeDelta::nanoseconds(1);
        let decision = decide(&started, inbound(DOB_TEXT), dob(), now).unwrap();
        assert_eq!(decision.new_state.status, TextingStatus::Enabled);
    }

    #[test]
    fn the_right_date_as_the_window_closes_fails_silently_and_is_withheld() {
        let started = TextingState::pending(t0());
        let now = t0() + VERIFICATION_WINDOW;
        let decision = decide(&started, inbound(DOB_TEXT), dob(), now).unwrap();
        assert_eq!(decision.new_state.status, TextingStatus::Failed);
        assert!(decision.replies.is_empty());
        assert_eq!(decision.inbound, InboundHandling::Redacted);
        assert!(decision.status_changed);
    }

    #[test]
    fn a_worker_running_late_after_downtime_still_fails_the_verification() {
        let started = TextingState::pending(t0());
        let decision = decide(
            &started,
            Event::ExpiryCheck,
            dob(),
            t0() + TimeDelta::days(90),
        )
        .unwrap();
        assert_eq!(decision.new_state.status, TextingStatus::Failed);
        assert!(decision.replies.is_empty());
    }

    #[test]
    fn staff_may_start_again_on_a_lapsed_verification_before_the_worker_fails_it() {
        let decision = run(
            Origin::LapsedPending,
            Event::StaffStart {
                has_valid_mobile: true,
            },
        )
        .unwrap();
        assert_eq!(decision.new_state, TextingState::pending(t0()));
        assert!(decision.status_changed);
    }

    #[test]
    fn a_pending_state_without_a_window_or_attempts_fails_closed() {
        let no_window = TextingState {
            expires_at: None,
            ..TextingState::pending(t0())
        };
        let no_attempts = TextingState {
            attempts_left: 0,
            ..TextingState::pending(t0())
        };
        for corrupt in [no_window, no_attempts] {
            let decision = decide(&corrupt, inbound(DOB_TEXT), dob(), t0()).unwrap();
            assert_eq!(decision.new_state.status, TextingStatus::Failed);
            assert_eq!(decision.inbound, InboundHandling::Redacted);
        }
    }

    #[test]
    fn a_repeated_stop_while_opted_out_sends_nothing_and_changes_nothing() {
        let opted_out = run(Origin::Enabled, inbound("STOP")).unwrap().new_state;
        let again = decide(
            &opted_out,
            inbound("stop!"),
            dob(),
            t0() + TimeDelta::hours(1),
        )
        .unwrap();
        assert_eq!(again.new_state, opted_out);
        assert!(again.replies.is_empty());
        assert!(!again.status_changed);
    }

    #[test]
    fn staff_opt_out_of_an_opted_out_patient_is_a_silent_no_op() {
        let decision = run(Origin::OptedOut, Event::StaffOptOut).unwrap();
        assert_eq!(decision.new_state, state(Origin::OptedOut));
        assert!(decision.replies.is_empty());
        assert!(!decision.status_changed);
    }

    #[test]
    fn a_carrier_opt_out_of_an_opted_out_patient_changes_nothing() {
        let decision = run(Origin::OptedOut, Event::CarrierOptedOut).unwrap();
        assert_eq!(decision.new_state, state(Origin::OptedOut));
        assert!(!decision.status_changed);
    }

    #[test]
    fn ordinary_texts_while_enabled_change_nothing() {
        for body in ["My sugar was 140", "thanks!", "I can't stop coughing"] {
            let decision = run(Origin::Enabled, inbound(body)).unwrap();
            assert_eq!(decision.new_state, state(Origin::Enabled));
            assert!(decision.replies.is_empty());
            assert!(decision.inbound.is_conversation_message());
        }
    }

    #[test]
    fn yes_while_enabled_is_an_answer_in_the_conversation_not_a_new_verification() {
        for body in ["Yes", "YES!", " yes. "] {
            let decision = run(Origin::Enabled, inbound(body)).unwrap();
            assert_eq!(decision.new_state, state(Origin::Enabled), "{body}");
            assert!(!decision.status_changed);
            assert!(decision.replies.is_empty());
            assert!(decision.inbound.is_conversation_message());
        }
    }

    #[test]
    fn start_while_enabled_restarts_verification_because_the_number_may_have_changed_hands() {
        for body in ["START", "unstop"] {
            let decision = run(Origin::Enabled, inbound(body)).unwrap();
            assert_eq!(decision.new_state.status, TextingStatus::Pending, "{body}");
            assert!(decision.status_changed);
        }
    }

    #[test]
    fn yes_while_opted_out_opts_back_in_to_verification() {
        let decision = run(Origin::OptedOut, inbound("yes")).unwrap();
        assert_eq!(decision.new_state.status, TextingStatus::Pending);
        assert_eq!(
            decision.replies,
            vec![Reply::OptInRestarted, Reply::OptInRequest]
        );
    }

    #[test]
    fn status_names_round_trip_through_the_api_names() {
        let names = ["not_enabled", "pending", "failed", "opted_out", "enabled"];
        for (status, name) in TextingStatus::ALL.into_iter().zip(names) {
            assert_eq!(status.as_str(), name);
            assert_eq!(status.to_string(), name);
            assert_eq!(TextingStatus::parse(name), Some(status));
        }
        assert_eq!(TextingStatus::parse("Pending"), None);
        assert_eq!(TextingStatus::parse(" pending"), None);
        assert_eq!(TextingStatus::parse(""), None);
    }

    #[test]
    fn status_deserialises_from_its_api_name() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StrDeserializer};
        for status in TextingStatus::ALL {
            let name: StrDeserializer<'_, Error> = status.as_str().into_deserializer();
            assert_eq!(TextingStatus::deserialize(name), Ok(status));
        }
        let wrong: StrDeserializer<'_, Error> = "OptedOut".into_deserializer();
        assert!(TextingStatus::deserialize(wrong).is_err());
    }

    #[test]
    fn refusal_messages_say_how_to_fix_the_problem() {
        let start = Refusal::InvalidTransition {
            from: TextingStatus::Enabled,
            action: StaffAction::Start,
        };
        assert!(start.to_string().contains("while it is enabled"));
        let resend = Refusal::InvalidTransition {
            from: TextingStatus::Failed,
            action: StaffAction::Resend,
        };
        assert!(resend.to_string().contains("start texting instead"));
        assert!(
            Refusal::NoValidMobile
                .to_string()
                .starts_with("mobile_phone:")
        );
    }

    #[test]
    fn inbound_handling_says_exactly_when_a_body_may_be_kept() {
        use InboundHandling::*;
        let table = [
            (NotInbound, false, false, false),
            (Conversation, true, true, false),
            (ConversationFlaggedPossibleOptOut, true, true, true),
            (Keyword, true, false, false),
            (Redacted, false, false, false),
            (Ignored, true, false, false),
        ];
        for (handling, store, conversation, flag) in table {
            assert_eq!(handling.may_store_body(), store, "{handling:?}");
            assert_eq!(
                handling.is_conversation_message(),
                conversation,
                "{handling:?}"
            );
            assert_eq!(handling.flags_possible_opt_out(), flag, "{handling:?}");
        }
    }

    #[test]
    fn a_verification_starting_at_the_end_of_time_does_not_panic() {
        let decision = decide(
            &TextingState::not_enabled(DateTime::<Utc>::MAX_UTC),
            Event::StaffStart {
                has_valid_mobile: true,
            },
            dob(),
            DateTime::<Utc>::MAX_UTC,
        )
        .unwrap();
        assert_eq!(
            decision.new_state.expires_at,
            Some(DateTime::<Utc>::MAX_UTC)
        );
    }

    // --- Properties ---------------------------------------------------------------------------

    fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
        // 2000-01-01 .. 2100-01-01, to the nanosecond.
        (946_684_800i64..4_102_444_800, 0u32..1_000_000_000)
            .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap())
    }

    fn any_status() -> impl Strategy<Value = TextingStatus> {
        proptest::sample::select(TextingStatus::ALL.to_vec())
    }

    /// Any state, well-formed or not.
    fn any_state() -> impl Strategy<Value = TextingState> {
        (
            any_status(),
            0u8..=4,
            proptest::option::of(any_time()),
            any_time(),
        )
            .prop_map(
                |(status, attempts_left, expires_at, updated_at)| TextingState {
                    status,
                    attempts_left,
                    expires_at,
                    updated_at,
                },
            )
    }

    fn any_dob() -> impl Strategy<Value = NaiveDate> {
        (0u64..(125 * 366))
            .prop_map(|days| NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Days::new(days))
    }

    /// A date in any accepted format.
    fn dob_text(dob: NaiveDate, separator: char, pad: (bool, bool)) -> String {
        let month = if pad.0 {
            format!("{:02}", dob.month())
        } else {
            dob.month().to_string()
        };
        let day = if pad.1 {
            format!("{:02}", dob.day())
        } else {
            dob.day().to_string()
        };
        format!("{month}{separator}{day}{separator}{}", dob.year())
    }

    fn any_body() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9 /.'!-]{0,30}",
            proptest::sample::select(vec![
                "STOP".to_string(),
                "start".to_string(),
                "Help".to_string(),
                "opt me out".to_string(),
                "I can't stop".to_string(),
                DOB_TEXT.to_string(),
                WRONG_DOB_TEXT.to_string(),
            ]),
        ]
    }

    fn any_event() -> impl Strategy<Value = (u8, bool, String)> {
        (0u8..6, any::<bool>(), any_body())
    }

    fn event_of(kind: u8, flag: bool, body: &str) -> Event<'_> {
        match kind {
            0 => Event::StaffStart {
                has_valid_mobile: flag,
            },
            1 => Event::StaffResend {
                has_valid_mobile: flag,
            },
            2 => Event::StaffOptOut,
            3 => Event::CarrierOptedOut,
            4 => Event::ExpiryCheck,
            _ => Event::Inbound {
                body,
                may_restart: true,
            },
        }
    }

    proptest! {
        #[test]
        fn a_date_of_birth_text_never_becomes_a_conversation_message_while_pending(
            started in any_time(),
            elapsed_ms in 0i64..(14 * 24 * 3600 * 1000),
            attempts_left in 1u8..=3,
            patient_dob in any_dob(),
            texted in any_dob(),
            separator in proptest::sample::select(vec!['/', '-', '.']),
            pad in (any::<bool>(), any::<bool>()),
        ) {
            let state = TextingState { attempts_left, ..TextingState::pending(started) };
            let now = started + TimeDelta::milliseconds(elapsed_ms);
            let body = dob_text(texted, separator, pad);
            let decision = decide(&state, inbound(&body), patient_dob, now).unwrap();
            prop_assert_eq!(decision.inbound, InboundHandling::Redacted);
            prop_assert!(!decision.inbound.may_store_body());
            let expected = if texted == patient_dob { TextingStatus::Enabled }
                else if attempts_left == 1 { TextingStatus::Failed }
                else { TextingStatus::Pending };
            prop_assert_eq!(decision.new_state.status, expected);
        }

        #[test]
        fn no_text_is_a_conversation_message_unless_the_patient_is_enabled(
            state in any_state(), body in any_body(), patient_dob in any_dob(), now in any_time(),
        ) {
            let decision = decide(&state, inbound(&body), patient_dob, now).unwrap();
            if decision.inbound.is_conversation_message() {
                prop_assert_eq!(state.status, TextingStatus::Enabled);
                prop_assert_eq!(decision.new_state, state);
            }
        }

        #[test]
        fn a_body_that_may_be_kept_outside_enabled_holds_no_digit(
            state in any_state(), body in any_body(), patient_dob in any_dob(), now in any_time(),
        ) {
            prop_assume!(state.status != TextingStatus::Enabled);
            let decision = decide(&state, inbound(&body), patient_dob, now).unwrap();
            if decision.inbound.may_store_body() {
                prop_assert!(!body.chars().any(char::is_numeric), "{:?} kept as {:?}", body, decision.inbound);
            }
        }

        #[test]
        fn decide_never_panics_and_keeps_every_invariant(
            state in any_state(), (kind, flag, body) in any_event(),
            patient_dob in any_dob(), now in any_time(),
        ) {
            let event = event_of(kind, flag, &body);
            let Ok(decision) = decide(&state, event, patient_dob, now) else { return Ok(()); };
            let lapsed = state.is_expired(now);
            prop_assert_eq!(
                decision.status_changed,
                lapsed || decision.new_state.status != state.status
            );
            // A decision that changes nothing hands back even a malformed row untouched; one
            // that changes something writes a well-formed state.
            if decision.new_state == state {
                return Ok(());
            }
            prop_assert_eq!(decision.new_state.updated_at, now);
            match decision.new_state.status {
                TextingStatus::Pending => {
                    prop_assert!(decision.new_state.attempts_left > 0);
                    prop_assert!(decision.new_state.expires_at.is_some_and(|closes| closes > now));
                }
                _ => {
                    prop_assert_eq!(decision.new_state.attempts_left, 0);
                    prop_assert_eq!(decision.new_state.expires_at, None);
                }
            }
            if !matches!(event, Event::Inbound { .. }) {
                prop_assert_eq!(decision.inbound, InboundHandling::NotInbound);
            }
        }

        #[test]
        fn nothing_but_one_confirmation_reaches_a_number_that_ends_opted_out(
            state in any_state(), (kind, flag, body) in any_event(),
            patient_dob in any_dob(), now in any_time(),
        ) {
            let event = event_of(kind, flag, &body);
            let Ok(decision) = decide(&state, event, patient_dob, now) else { return Ok(()); };
            if decision.new_state.status == TextingStatus::OptedOut {
                if state.status == TextingStatus::OptedOut {
                    prop_assert!(decision.replies.is_empty());
                } else {
                    prop_assert!(
                        decision.replies.is_empty()
                            || decision.replies == vec![Reply::OptOutConfirmation]
                    );
                }
            }
        }

        #[test]
        fn an_opted_out_number_hears_nothing_until_it_or_staff_starts_again(
            state in any_state(), (kind, flag, body) in any_event(),
            patient_dob in any_dob(), now in any_time(),
        ) {
            let state = TextingState { status: TextingStatus::OptedOut, ..state };
            let event = event_of(kind, flag, &body);
            let Ok(decision) = decide(&state, event, patient_dob, now) else { return Ok(()); };
            if !decision.replies.is_empty() {
                prop_assert_eq!(decision.new_state.status, TextingStatus::Pending);
            }
        }

        #[test]
        fn resend_changes_the_state_only_to_restart_a_failed_verification(state in any_state(), now in any_time(), patient_dob in any_dob()) {
            if let Ok(decision) = decide(&state, RESEND, patient_dob, now) {
                prop_assert_eq!(decision.replies, vec![Reply::OptInRequest]);
                if decision.status_changed {
                    prop_assert_eq!(decision.new_state, TextingState::pending(now));
                } else {
                    prop_assert_eq!(decision.new_state, state);
                }
            }
        }
    }
}
