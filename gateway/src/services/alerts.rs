//! Critical-reading alerts: who is told when one opens, escalation while nobody acknowledges,
//! and acknowledgement by the API or by an "ACK code" text from a staff member's phone.
//!
//! An alert reaches only people who can act on it (`domain::access`: unlocked, with case access
//! to the patient: an enrolment in one of its programs, an admin role or on call now), on every
//! channel. A step has reached someone only when it holds
//! a person with a textable number not known to fail (`domain::reachability`); a step that does
//! not is skipped at once, its feed and email readers still told with the step that does.
//! Alert texts go out at the top outbox priority and carry only what the `alert_critical`
//! template allows (the practice name and the code), never the reading.

use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};
use rand::Rng;
use store::{
    Alert, AlertText, EscalationStep, NewAlert, NewNotification, NewOutbound, Patient, Practice,
    StoreError, TextAck, TextAckOutcome, priority,
};
use templates::{Placeholder, TemplateName, TemplateSet, Vars};
use types::AlertState;
use uuid::Uuid;

use crate::app::App;
use crate::app::AppError;
use crate::app::CurrentUser;
use crate::domain::acknowledge::{self, CODE_ALPHABET, CODE_LENGTH};
use crate::domain::escalation::{self, Audience};
use crate::domain::notifications::{self, NotificationKind};
use crate::services::access::visible_patient;
use crate::services::access::{PatientLinks, with_case_access};
use crate::services::conversations::{audience, interested_users};
use crate::services::notify::{self, Notice};
use crate::telemetry::catalogue;

pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LENGTH)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Users on call for the practice at `at` (in its time zone): the one resolution, shared with
/// `GET …/on-call/now`.
pub use crate::services::oncall::on_call_now;

/// Who is considered for a notification of `kind` about the patient (before their settings):
/// the care team and subscribers, and whoever is on call for the practice at `at`
/// (`domain::notifications::considered`).
pub async fn followers_and_on_call(
    state: &App,
    practice: &Practice,
    patient_id: Uuid,
    kind: NotificationKind,
    at: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let (followers, on_call) = tokio::try_join!(
        interested_users(state, patient_id),
        on_call_now(state, practice, at)
    )?;
    Ok(notifications::considered(kind, &followers, &[], &on_call))
}

/// The patient an alert is about, as far as telling people goes.
#[derive(Debug, Clone, Copy)]
pub struct AlertPatient<'a> {
    pub id: Uuid,
    pub programs: &'a [String],
}

impl AlertPatient<'_> {
    pub fn of(patient: &Patient) -> AlertPatient<'_> {
        AlertPatient {
            id: patient.id,
            programs: &patient.programs,
        }
    }
}

/// Everyone an escalation audience reaches, on their channels: on-call and fallback users on
/// every channel they have, the care team per their "reading critical" settings; only those who
/// can act on the alert, and no text to a number known to fail from the practice's number.
async fn reach(
    state: &App,
    practice: &Practice,
    patient: AlertPatient<'_>,
    who: Audience,
    at: DateTime<Utc>,
) -> Result<notify::Audience, StoreError> {
    // Independent reads side by side: an alert waits on every one of them.
    let (team, (on_call, mut reach), others) = tokio::try_join!(
        state.store.care_team(patient.id),
        async {
            let on_call = on_call_now(state, practice, at).await?;
            let reach = match who {
                Audience::OnCallAndCareTeam => {
                    notify::Audience::everywhere(state, &on_call).await?
                }
                _ => notify::Audience::default(),
            };
            Ok::<_, StoreError>((on_call, reach))
        },
        async {
            match who {
                Audience::OnCallAndCareTeam => {
                    let team = interested_users(state, patient.id).await?;
                    audience(state, practice.id, &team, NotificationKind::ReadingCritical).await
                }
                Audience::PracticeFallback => {
                    let users = state.store.practice_default_users(practice.id).await?;
                    notify::Audience::everywhere(state, &users).await
                }
                Audience::CustomerAdmins => {
                    let users = state.store.customer_admin_ids(practice.customer_id).await?;
                    notify::Audience::everywhere(state, &users).await
                }
            }
        },
    )?;
    let links = PatientLinks::new(team, on_call);
    // The on-call users first, then the others.
    reach.merge(others);
    // One read for everyone (an id that names no user reaches nobody), beside the numbers known
    // to fail.
    let ids = reach.users();
    let numbers: Vec<String> = reach.text.iter().map(|(_, n)| n.clone()).collect();
    let (users, failing) = tokio::try_join!(
        state.store.get_users(&ids),
        state.store.failing_numbers(&practice.sms_number, &numbers)
    )?;
    let able: Vec<Uuid> = users
        .iter()
        .filter(|user| links.can_act_on_alert(user, practice, patient.programs))
        .map(|user| user.id)
        .collect();
    reach.retain_users(|user| able.contains(&user));
    reach.text.retain(|(_, number)| !failing.contains(number));
    Ok(reach)
}

/// Whether an audience has reached someone: a person with a textable number not known to fail.
/// The feed and email alone do not wake anyone at night.
fn reaches_someone(audience: &notify::Audience) -> bool {
    !audience.text.is_empty()
}

fn alert_text(practice: &Practice, templates: &TemplateSet, code: &str) -> String {
    let vars = Vars::new()
        .with(Placeholder::PracticeName, practice.name.clone())
        .with(Placeholder::PracticePhone, practice.sms_number.clone())
        .with(Placeholder::AlertCode, code.to_string());
    templates
        .render(TemplateName::AlertCritical, &vars)
        .or_else(|_| TemplateSet::defaults().render(TemplateName::AlertCritical, &vars))
        .unwrap_or_else(|_| {
            format!(
                "{}: a patient reading needs urgent review. Reply ACK {code}.",
                practice.name
            )
        })
}

/// What an alert says in the feed and in emails.
pub const CRITICAL_SUMMARY: &str = "A critical reading needs urgent review.";
/// The same for a reading taken long before it arrived (`domain::readings::LATE_AFTER`).
pub const LATE_CRITICAL_SUMMARY: &str =
    "A critical reading arrived late (taken more than 72 hours ago) and needs review.";

fn deliveries(
    reach: &notify::Audience,
    practice: &Practice,
    patient_id: Uuid,
    text: &str,
    summary: &str,
) -> (Vec<NewNotification>, Vec<AlertText>) {
    let notes = notify::notifications(
        reach,
        Notice {
            practice,
            patient_id: Some(patient_id),
            kind: NotificationKind::ReadingCritical,
            summary,
        },
    );
    let texts = notify::texts(&reach.text, practice, text, priority::ALERT)
        .into_iter()
        .zip(&reach.text)
        .map(|(text, (user_id, _))| AlertText {
            user_id: *user_id,
            text,
        })
        .collect();
    (notes, texts)
}

/// Who the alert a critical reading of this patient opens now reaches first: the on-call users
/// and the care team, and when none of them can be reached by text, the fallback users and then
/// the customer's admins as well.
pub async fn opening_audience(
    state: &App,
    practice: &Practice,
    patient: &Patient,
    now: DateTime<Utc>,
) -> Result<notify::Audience, StoreError> {
    let patient_ref = AlertPatient {
        id: patient.id,
        programs: &patient.programs,
    };
    let mut told = reach(
        state,
        practice,
        patient_ref,
        Audience::OnCallAndCareTeam,
        now,
    )
    .await?;
    for who in [Audience::PracticeFallback, Audience::CustomerAdmins] {
        if reaches_someone(&told) {
            break;
        }
        told.merge(reach(state, practice, patient_ref, who, now).await?);
    }
    Ok(told)
}

/// The alert a critical reading of this patient opens now, with its first deliveries to `told`
/// ([`opening_audience`]).
pub fn opening(
    told: &notify::Audience,
    practice: &Practice,
    patient_id: Uuid,
    templates: &TemplateSet,
    now: DateTime<Utc>,
    late: bool,
) -> NewAlert {
    let code = new_code();
    let summary = if late {
        LATE_CRITICAL_SUMMARY
    } else {
        CRITICAL_SUMMARY
    };
    let (notifications, texts) = deliveries(
        told,
        practice,
        patient_id,
        &alert_text(practice, templates, &code),
        summary,
    );
    NewAlert {
        level: "critical",
        code,
        next_step_at: escalation::next_due(now, practice.escalation_delay_minutes),
        notifications,
        texts,
    }
}

/// Logs and counts an alert that can reach nobody by text.
pub fn unreachable(practice: &Practice, alert: Option<Uuid>) {
    tracing::error!(
        practice = %practice.id,
        alert = ?alert,
        "critical alert reaches nobody by text; give on-call, default users or admins a working \
         mobile number"
    );
    metrics::counter!(catalogue::ESCALATION_UNREACHABLE).increment(1);
}

/// Takes the due escalation step of every open alert. Returns how many steps were taken. An
/// error with one alert is logged and counted, and the others still take their step.
pub async fn escalate_due(state: &App) -> Result<usize, StoreError> {
    let now = state.clock.now();
    let mut taken = 0;
    for alert in state.store.due_alerts(now, 100).await? {
        match escalate_one(state, &alert, now).await {
            Ok(true) => taken += 1,
            Ok(false) => {}
            Err(error) => {
                tracing::error!(alert = %alert.id, %error, "could not take an escalation step; will try again");
                metrics::counter!(catalogue::ESCALATION_ERRORS).increment(1);
            }
        }
    }
    Ok(taken)
}

async fn escalate_one(state: &App, alert: &Alert, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let practice = state.store.get_practice(alert.practice_id).await?;
    let patient = AlertPatient {
        id: alert.patient_id,
        programs: &alert.patient_programs,
    };
    let from = u32::try_from(alert.step.max(0)).unwrap_or(0);
    // Resolve the next few audiences now, so one that reaches nobody is skipped at once.
    let mut resolved = Vec::new();
    for k in 1..=3u32 {
        let who = escalation::audience_of(from + k);
        resolved.push((who, reach(state, &practice, patient, who, now).await?));
    }
    let next = escalation::next_step(from, |who| {
        resolved
            .iter()
            .any(|(a, r)| *a == who && reaches_someone(r))
    });
    // Those of the steps skipped (or of every step, when none reaches anyone) who read the feed
    // or email hear of it with the step taken.
    let mut told = notify::Audience::default();
    let to_step = match next {
        Some((step, who)) => {
            for (a, audience) in &resolved {
                if *a == who {
                    told.merge(audience.clone());
                    break;
                }
                told.merge(audience.without_texts());
            }
            step
        }
        None => {
            unreachable(&practice, Some(alert.id));
            for (_, audience) in &resolved {
                told.merge(audience.without_texts());
            }
            from + 1
        }
    };
    let templates = crate::services::templates::practice_templates(state, practice.id).await?;
    let (notifications, texts) = deliveries(
        &told,
        &practice,
        alert.patient_id,
        &alert_text(&practice, &templates, &alert.code),
        CRITICAL_SUMMARY,
    );
    let step = EscalationStep {
        from_step: alert.step,
        to_step: i32::try_from(to_step).unwrap_or(i32::MAX),
        next_step_at: escalation::next_due(now, practice.escalation_delay_minutes),
        notifications,
        texts,
    };
    let texted = !step.texts.is_empty();
    let applied = state.store.escalate(now, alert.id, step).await?;
    if applied {
        metrics::counter!(crate::telemetry::catalogue::ESCALATION_STEPS).increment(1);
        state.notify_feed();
        if texted {
            state.wake_dispatcher();
        }
    }
    Ok(applied)
}

/// Records an acknowledgement's time to acknowledge.
fn count_acknowledgement(alert: &Alert) {
    if let Some(at) = alert.acknowledged_at {
        let seconds = (at - alert.opened_at).num_milliseconds() as f64 / 1000.0;
        metrics::histogram!(catalogue::ALERT_TIME_TO_ACK).record(seconds.max(0.0));
    }
    metrics::counter!(catalogue::ALERTS_ACKNOWLEDGED).increment(1);
}

/// Acknowledges an alert; records the time to acknowledge.
pub async fn acknowledge(
    state: &App,
    audit: &store::Audit,
    alert: &Alert,
    user_id: Uuid,
) -> Result<Alert, StoreError> {
    let acked = state
        .store
        .acknowledge_alert(audit, alert.id, user_id)
        .await?;
    if alert.state == types::AlertState::Open && acked.state == types::AlertState::Acknowledged {
        count_acknowledgement(&acked);
    }
    Ok(acked)
}

/// An "ACK code" text from `from` to the practice: acknowledges the alert when the rules of
/// `domain::acknowledge` allow it, and answers in every case (but when "not recognised" answers
/// to the number are used up). Decided in the store's transaction with the alert locked.
pub async fn acknowledge_by_text(
    state: &App,
    practice_id: Uuid,
    from: &str,
    code: String,
) -> Result<TextAckOutcome, StoreError> {
    let now = state.clock.now();
    let audit = store::Audit::system(now);
    let ack = TextAck {
        practice_id,
        code: code.clone(),
        from_number: from.to_string(),
    };
    let from = from.to_string();
    // Who is on call now gives case access to the alert's patient (`domain::access`).
    let practice = state.store.get_practice(practice_id).await?;
    let on_call = on_call_now(state, &practice, now).await?;
    let outcome = state
        .store
        .acknowledge_by_text(
            &audit,
            ack,
            Box::new(move |context| {
                let tz = context.practice.timezone.tz();
                acknowledge::decide(context, &code, &from, tz, &on_call, now)
            }),
        )
        .await?;
    let result = match &outcome {
        TextAckOutcome {
            acknowledged_now: true,
            alert: Some(alert),
            ..
        } => {
            count_acknowledgement(alert);
            "acknowledged"
        }
        TextAckOutcome {
            alert: Some(alert), ..
        } if alert.state == types::AlertState::Acknowledged && outcome.replied => {
            "already_acknowledged"
        }
        _ => "not_recognised",
    };
    metrics::counter!(catalogue::ALERT_TEXT_ACKS, "result" => result).increment(1);
    if outcome.replied {
        state.wake_dispatcher();
    }
    Ok(outcome)
}

/// The alerts of `practice_ids` that `user` may see (`domain::access`), newest first, a full page
/// at a time: rows the user may not see are passed over and more are read, so a page is never
/// short while more visible alerts exist.
pub async fn list_visible(
    state: &App,
    user: &store::User,
    practice_ids: Vec<Uuid>,
    state_filter: Option<AlertState>,
    page: store::Page,
) -> Result<store::Paged<Alert>, StoreError> {
    let now = state.clock.now();
    let mut practices: std::collections::HashMap<Uuid, Practice> = Default::default();
    let mut on_call: std::collections::HashMap<Uuid, Vec<Uuid>> = Default::default();
    let mut teams: std::collections::HashMap<Uuid, Vec<store::CareTeamMember>> = Default::default();
    let mut items = Vec::new();
    let mut cursor = page.after;
    loop {
        let found = state
            .store
            .list_alerts(
                practice_ids.clone(),
                state_filter,
                store::Page {
                    after: cursor,
                    limit: page.limit,
                },
            )
            .await?;
        for alert in found.items {
            if !practices.contains_key(&alert.practice_id) {
                let practice = state.store.get_practice(alert.practice_id).await?;
                practices.insert(practice.id, practice);
            }
            let practice = &practices[&alert.practice_id];
            if let Entry::Vacant(slot) = on_call.entry(practice.id) {
                slot.insert(on_call_now(state, practice, now).await?);
            }
            if let Entry::Vacant(slot) = teams.entry(alert.patient_id) {
                slot.insert(state.store.care_team(alert.patient_id).await?);
            }
            let links = PatientLinks::new(
                teams[&alert.patient_id].clone(),
                on_call[&practice.id].clone(),
            );
            if !links.can_act_on_alert(user, practice, &alert.patient_programs) {
                continue;
            }
            let id = alert.id;
            items.push(alert);
            if items.len() >= page.limit as usize {
                return Ok(store::Paged {
                    items,
                    next_cursor: Some(id),
                });
            }
        }
        match found.next_cursor {
            Some(next) => cursor = Some(next),
            None => {
                return Ok(store::Paged {
                    items,
                    next_cursor: None,
                });
            }
        }
    }
}

/// Whether `user` may see and act on `alert` (the same rule wherever alerts are shown).
pub async fn visible_to(
    state: &App,
    user: &store::User,
    alert: &Alert,
) -> Result<bool, StoreError> {
    let practice = state.store.get_practice(alert.practice_id).await?;
    let links = PatientLinks::load(state, &practice, alert.patient_id, state.clock.now()).await?;
    Ok(links.can_act_on_alert(user, &practice, &alert.patient_programs))
}

/// Who hears of a reading that needs a look (a caution, an unchecked vital, an out-of-range
/// run): the care team and the on-call user of the moment, per their "reading caution"
/// settings, and only those with case access (a reading notice is clinical). A caution is not an
/// alert and does not escalate.
pub async fn caution_audience(
    state: &App,
    practice: &Practice,
    patient: AlertPatient<'_>,
    now: DateTime<Utc>,
) -> Result<notify::Audience, StoreError> {
    let kind = NotificationKind::ReadingCaution;
    let users = followers_and_on_call(state, practice, patient.id, kind, now).await?;
    let users =
        with_case_access(state, practice, patient.id, patient.programs, &users, now).await?;
    audience(state, practice.id, &users, kind).await
}

/// One notice to a [`caution_audience`]: its feed and email notifications and its texts (the
/// default "reading caution" words; never the value).
pub fn caution_notice(
    audience: &notify::Audience,
    practice: &Practice,
    patient_id: Uuid,
    summary: &str,
) -> (Vec<NewNotification>, Vec<NewOutbound>) {
    let kind = NotificationKind::ReadingCaution;
    let notes = notify::notifications(
        audience,
        Notice {
            practice,
            patient_id: Some(patient_id),
            kind,
            summary,
        },
    );
    let body = notify::text_body(practice, &TemplateSet::defaults(), kind);
    let texts = notify::texts(&audience.text, practice, &body, priority::NOTIFY);
    (notes, texts)
}

// ---- staff use cases (the JSON API and the staff console call these) --------------------------

/// The `state` filter of an alert list as asked for: 422 naming `state` unless `open` or
/// `acknowledged`.
pub fn state_filter(asked: Option<&str>) -> Result<Option<AlertState>, AppError> {
    asked
        .map(str::parse::<AlertState>)
        .transpose()
        .map_err(|_| AppError::invalid("state", "must be open or acknowledged"))
}

/// Alerts of the caller's practices (all of its customer's for a customer admin), newest first,
/// optionally only `open` or `acknowledged` ones.
pub async fn list_for(
    state: &App,
    caller: &CurrentUser,
    alert_state: Option<AlertState>,
    page: store::Page,
) -> Result<store::Paged<Alert>, AppError> {
    let practice_ids = crate::services::users::practice_ids_of(state, caller)
        .await?
        .ok_or_else(|| {
            AppError::Forbidden("super admins see alerts through a practice's admins".into())
        })?;
    Ok(list_visible(state, &caller.user, practice_ids, alert_state, page).await?)
}

/// Acknowledges an alert of a patient the caller may see (404 otherwise); acknowledging again
/// changes nothing.
pub async fn acknowledge_for(
    state: &App,
    caller: &CurrentUser,
    alert_id: Uuid,
) -> Result<Alert, AppError> {
    let alert = match state.store.get_alert(alert_id).await {
        Ok(alert) => alert,
        Err(StoreError::NotFound) => return Err(AppError::NotFound("alert")),
        Err(e) => return Err(e.into()),
    };
    visible_patient(state, caller, alert.patient_id)
        .await
        .map_err(|_| AppError::NotFound("alert"))?;
    Ok(acknowledge(state, &caller.audit(), &alert, caller.id()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_only_unambiguous_characters() {
        for _ in 0..100 {
            let code = new_code();
            assert_eq!(code.len(), CODE_LENGTH);
            assert_eq!(
                acknowledge::parse_ack(&format!("ACK {code}")),
                Some(code.clone())
            );
        }
    }

    #[test]
    fn the_state_filter_is_open_acknowledged_or_none_and_anything_else_is_422() {
        assert_eq!(state_filter(None).unwrap(), None);
        assert_eq!(state_filter(Some("open")).unwrap(), Some(AlertState::Open));
        assert_eq!(
            state_filter(Some("acknowledged")).unwrap(),
            Some(AlertState::Acknowledged)
        );
        for bad in ["closed", "Open", ""] {
            match state_filter(Some(bad)) {
                Err(AppError::Invalid { field, .. }) => assert_eq!(field, "state"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
