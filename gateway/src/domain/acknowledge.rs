//! Acknowledging an alert by text: the `ACK <code>` grammar, and what a reply to an alert text
//! does and answers.
//!
//! Rules (DESIGN.md "Readings and escalation"):
//! - Only `ACK` and a code of six characters from the alert alphabet, in any case, with space
//!   around; nothing else is an acknowledgement (checked before anything is read from the store).
//! - It acknowledges only from a number the alert was texted to (as GoAlert binds reply codes to
//!   the number that received them), by an unlocked user with that number who has case access to
//!   the patient ([`access::can_act_on_alert`]: an enrolment, an admin role, or on call now).
//! - Every such text is answered: "acknowledged", "already acknowledged by <first name> at
//!   <time>", or "code not recognised". Whether the code, the number or the user was wrong is not
//!   told apart, so the answer reveals nothing; "not recognised" answers are limited per number
//!   ([`MISSES`]) so the gateway cannot be used to text a number over and over.
//!
//! Pure: the caller loads the context inside the transaction that writes the decision.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use store::{NewOutbound, TextAckContext, TextAckDecision, ThrottleRow, priority};
use types::AlertState;
use uuid::Uuid;

use crate::domain::access;
use crate::domain::throttle::{self, Cell, Limit};

/// Characters of alert codes: no 0/O or 1/I to misread on a phone.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Characters in a code.
pub const CODE_LENGTH: usize = 6;

/// "Code not recognised" answers to one number: three in a row, then one an hour.
pub const MISSES: Limit = Limit {
    burst: 3,
    period: chrono::Duration::hours(1),
};

/// The code of an "ACK <code>" text (upper-cased), or `None` when the text is anything else.
pub fn parse_ack(body: &str) -> Option<String> {
    let mut words = body.split_whitespace();
    let first = words.next()?;
    let code = words.next()?;
    if words.next().is_some() || !first.eq_ignore_ascii_case("ack") {
        return None;
    }
    let code = code.to_ascii_uppercase();
    (code.len() == CODE_LENGTH && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

/// What an "ACK <code>" text from `from_number` does, given what the store found. `tz` is the
/// practice's time zone, for the time in an "already acknowledged" answer; `on_call` the users
/// on call at the practice now.
pub fn decide(
    context: &TextAckContext,
    code: &str,
    from_number: &str,
    tz: Tz,
    on_call: &[Uuid],
    now: DateTime<Utc>,
) -> TextAckDecision {
    let practice = &context.practice;
    let reply = |body: String| NewOutbound {
        practice_id: Some(practice.id),
        patient_id: None,
        from_number: practice.sms_number.clone(),
        to_number: from_number.to_string(),
        body,
        priority: priority::ALERT,
        record_message: false,
        author_user_id: None,
    };
    let actor = context.alert.as_ref().and_then(|alert| {
        if !context.sent_to_number {
            return None;
        }
        context
            .senders
            .iter()
            .find(|user| {
                let enrolments = context
                    .care_team
                    .iter()
                    .find(|m| m.user_id == user.id)
                    .map(|m| m.programs.as_slice())
                    .unwrap_or_default();
                let links = access::Links {
                    enrolments,
                    on_call: on_call.contains(&user.id),
                };
                access::can_act_on_alert(user, practice, &alert.patient_programs, links)
            })
            .map(|user| (alert, user))
    });
    match actor {
        Some((alert, user)) if alert.state == AlertState::Open => TextAckDecision {
            acknowledge_by: Some(user.id),
            reply: Some(reply(format!(
                "{}: alert {code} acknowledged. Thank you.",
                practice.name
            ))),
            miss_throttle: None,
        },
        Some((alert, _)) => {
            let by = context
                .acknowledged_by
                .as_ref()
                .map(|u| u.first_name.trim())
                .filter(|name| !name.is_empty())
                .unwrap_or("a colleague");
            let at = alert
                .acknowledged_at
                .map(|at| at.with_timezone(&tz).format("%H:%M on %b %-d").to_string())
                .unwrap_or_default();
            TextAckDecision {
                acknowledge_by: None,
                reply: Some(reply(format!(
                    "{}: alert {code} was already acknowledged by {by} at {at}.",
                    practice.name
                ))),
                miss_throttle: None,
            }
        }
        None => {
            let current = context.miss_throttle.map(|row| Cell {
                tat: row.tat,
                blocked_until: row.blocked_until,
            });
            let (cell, refused) = throttle::on_failure(current, now, MISSES);
            TextAckDecision {
                acknowledge_by: None,
                reply: (!refused).then(|| {
                    reply(format!(
                        "{}: code {code} not recognised. Check the code in the alert text, or \
                         sign in to acknowledge.",
                        practice.name
                    ))
                }),
                miss_throttle: Some(ThrottleRow {
                    tat: cell.tat,
                    blocked_until: cell.blocked_until,
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use store::{Alert, CareTeamMember, Role, User};

    use super::*;
    use crate::domain::fixtures::{now, practice};

    const FROM: &str = "+14155550199";

    fn staff(id: u128, first_name: &str) -> User {
        User {
            id: Uuid::from_u128(id),
            customer_id: Some(Uuid::from_u128(1)),
            username: format!("u{id}"),
            password_hash: String::new(),
            role: Role::Staff,
            email: String::new(),
            first_name: first_name.into(),
            last_name: String::new(),
            title: String::new(),
            mobile_phone: Some(FROM.into()),
            auto_logout_minutes: 30,
            locked_at: None,
            created_at: now(),
            practice_ids: vec![Uuid::from_u128(10)],
            restricted_programs: vec!["hiv".into()],
            supervisor_id: None,
        }
    }

    fn alert(state: AlertState, programs: &[&str]) -> Alert {
        Alert {
            id: Uuid::from_u128(50),
            practice_id: Uuid::from_u128(10),
            patient_id: Uuid::from_u128(60),
            reading_id: Uuid::from_u128(70),
            vital: "pulse".into(),
            level: "critical".into(),
            state,
            code: "K7Q2MX".into(),
            opened_at: now() - TimeDelta::minutes(30),
            step: 0,
            next_step_at: now(),
            acknowledged_by: (state == AlertState::Acknowledged).then(|| Uuid::from_u128(3)),
            acknowledged_at: (state == AlertState::Acknowledged)
                .then(|| "2026-05-10T11:45:00Z".parse().unwrap()),
            reading_ids: vec![Uuid::from_u128(70)],
            patient_programs: programs.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn context(alert: Option<Alert>, sent_to_number: bool, senders: Vec<User>) -> TextAckContext {
        TextAckContext {
            practice: practice(),
            acknowledged_by: alert
                .as_ref()
                .filter(|a| a.state == AlertState::Acknowledged)
                .map(|_| staff(3, "Lee")),
            alert,
            sent_to_number,
            senders,
            care_team: Vec::new(),
            miss_throttle: None,
        }
    }

    fn run(context: &TextAckContext) -> TextAckDecision {
        decide(
            context,
            "K7Q2MX",
            FROM,
            chrono_tz::America::New_York,
            &[],
            now(),
        )
    }

    #[test]
    fn case_access_by_enrolment_or_on_call_lets_a_recipient_acknowledge() {
        let mut ctx = context(
            Some(alert(AlertState::Open, &["rpm"])),
            true,
            vec![staff(2, "Nora")],
        );
        assert_eq!(
            run(&ctx).acknowledge_by,
            None,
            "client access (care team, no enrolment) is not enough"
        );
        let on_call = decide(
            &ctx,
            "K7Q2MX",
            FROM,
            chrono_tz::UTC,
            &[Uuid::from_u128(2)],
            now(),
        );
        assert_eq!(on_call.acknowledge_by, Some(Uuid::from_u128(2)));
        ctx.care_team = vec![CareTeamMember {
            user_id: Uuid::from_u128(2),
            programs: vec!["rpm".into()],
        }];
        assert_eq!(run(&ctx).acknowledge_by, Some(Uuid::from_u128(2)));
    }

    #[test]
    fn ack_replies_are_recognised_in_any_case_and_nothing_else_is() {
        assert_eq!(parse_ack("ACK K7Q2MX").as_deref(), Some("K7Q2MX"));
        assert_eq!(parse_ack("  ack k7q2mx ").as_deref(), Some("K7Q2MX"));
        for other in [
            "ACK",
            "ACK K7Q2MX now",
            "acknowledge K7Q2MX",
            "ACK K7Q",
            "ACK K7Q2M0",
            "K7Q2MX",
            "",
        ] {
            assert_eq!(parse_ack(other), None, "{other}");
        }
    }

    #[test]
    fn a_recipient_who_can_see_the_patient_acknowledges_and_is_thanked() {
        let decision = run(&context(
            Some(alert(AlertState::Open, &[])),
            true,
            vec![staff(2, "Nora")],
        ));
        assert_eq!(decision.acknowledge_by, Some(Uuid::from_u128(2)));
        let reply = decision.reply.unwrap();
        assert_eq!(reply.to_number, FROM);
        assert_eq!(reply.from_number, "+14155550100");
        assert!(reply.body.contains("acknowledged"), "{}", reply.body);
        assert_eq!(reply.priority, priority::ALERT);
        assert!(decision.miss_throttle.is_none());
    }

    #[test]
    fn an_acknowledged_alert_answers_who_and_when_in_the_practice_time_zone() {
        let decision = run(&context(
            Some(alert(AlertState::Acknowledged, &[])),
            true,
            vec![staff(2, "Nora")],
        ));
        assert_eq!(decision.acknowledge_by, None);
        assert_eq!(
            decision.reply.unwrap().body,
            "Main Street: alert K7Q2MX was already acknowledged by Lee at 07:45 on May 10."
        );
    }

    #[test]
    fn anyone_else_is_told_the_code_is_not_recognised_and_acknowledges_nothing() {
        let mut locked = staff(2, "Nora");
        locked.locked_at = Some(now());
        let mut elsewhere = staff(2, "Nora");
        elsewhere.practice_ids.clear();
        let cases = [
            ("no such code", context(None, false, vec![staff(2, "Nora")])),
            (
                "not sent to this number",
                context(
                    Some(alert(AlertState::Open, &[])),
                    false,
                    vec![staff(2, "Nora")],
                ),
            ),
            (
                "nobody with this number",
                context(Some(alert(AlertState::Open, &[])), true, vec![]),
            ),
            (
                "locked",
                context(Some(alert(AlertState::Open, &[])), true, vec![locked]),
            ),
            (
                "not of the practice",
                context(Some(alert(AlertState::Open, &[])), true, vec![elsewhere]),
            ),
            (
                "every program restricted",
                context(
                    Some(alert(AlertState::Open, &["hiv"])),
                    true,
                    vec![staff(2, "Nora")],
                ),
            ),
        ];
        for (why, context) in cases {
            let decision = run(&context);
            assert_eq!(decision.acknowledge_by, None, "{why}");
            let body = decision.reply.expect(why).body;
            assert!(body.contains("not recognised"), "{why}: {body}");
            assert!(decision.miss_throttle.is_some(), "{why}");
        }
    }

    #[test]
    fn not_recognised_answers_are_limited_per_number() {
        let mut context = context(None, false, vec![]);
        let mut answered = 0;
        for _ in 0..10 {
            let decision = run(&context);
            answered += usize::from(decision.reply.is_some());
            context.miss_throttle = decision.miss_throttle;
        }
        assert_eq!(answered, MISSES.burst as usize);
        // An hour later one more is answered.
        let later = decide(
            &context,
            "K7Q2MX",
            FROM,
            chrono_tz::UTC,
            &[],
            now() + TimeDelta::hours(1) + TimeDelta::seconds(1),
        );
        assert!(later.reply.is_some());
    }
}
