//! Critical-reading alerts: who is told when one opens, escalation while nobody acknowledges,
//! and acknowledgement by the API or by an "ACK code" text from a staff member's phone.
//!
//! Alert texts go out at the top outbox priority and carry only what the `alert_critical`
//! template allows (the practice name and the code), never the reading.

use chrono::{DateTime, Utc};
use rand::Rng;
use store::{
    Alert, EscalationStep, NewAlert, NewNotification, NewOutbound, Practice, StoreError, priority,
};
use templates::{Placeholder, TemplateName, TemplateSet, Vars};
use uuid::Uuid;

use crate::domain::escalation::{self, Audience};
use crate::domain::notifications::NotificationKind;
use crate::domain::oncall::{OnCallWindow, on_call_at};
use crate::domain::readings::{Level, consecutive_out_of_range, overdue_to_raise};
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::patients::visible_patient;
use crate::services::conversations::{audience, interested_users};
use crate::services::notify::{self, Notice};

/// Characters of alert codes: no 0/O or 1/I to misread on a phone.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..6)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Users on call for the practice at `at` (in its time zone).
pub async fn on_call_now(
    state: &AppState,
    practice: &Practice,
    at: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let rows = state.store.on_call_windows(practice.id).await?;
    let windows: Vec<OnCallWindow> = rows
        .iter()
        .filter_map(|r| {
            let time = |m: i32| {
                chrono::NaiveTime::from_hms_opt(
                    u32::try_from(m / 60).ok()?,
                    u32::try_from(m % 60).ok()?,
                    0,
                )
            };
            Some(OnCallWindow {
                from: time(r.from_minute)?,
                to: time(r.to_minute)?,
                user_id: r.user_id,
            })
        })
        .collect();
    let tz: chrono_tz::Tz = practice.timezone.parse().unwrap_or(chrono_tz::UTC);
    Ok(on_call_at(&windows, tz, at))
}

/// The patient's care team and subscribers, and whoever is on call for the practice at `at`.
pub async fn followers_and_on_call(
    state: &AppState,
    practice: &Practice,
    patient_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let mut users = interested_users(state, patient_id).await?;
    for user in on_call_now(state, practice, at).await? {
        if !users.contains(&user) {
            users.push(user);
        }
    }
    Ok(users)
}

/// Everyone an escalation audience reaches, on their channels: on-call and fallback users on
/// every channel they have, the care team per their "reading critical" settings.
async fn reach(
    state: &AppState,
    practice: &Practice,
    patient_id: Uuid,
    who: Audience,
    at: DateTime<Utc>,
) -> Result<notify::Audience, StoreError> {
    let mut reach = notify::Audience::default();
    match who {
        Audience::OnCallAndCareTeam => {
            reach
                .add_everywhere(state, &on_call_now(state, practice, at).await?)
                .await?;
            let team = interested_users(state, patient_id).await?;
            reach.merge(
                audience(state, practice.id, &team, NotificationKind::ReadingCritical).await?,
            );
        }
        Audience::PracticeFallback => {
            reach
                .add_everywhere(
                    state,
                    &state.store.practice_default_users(practice.id).await?,
                )
                .await?;
        }
        Audience::CustomerAdmins => {
            reach
                .add_everywhere(
                    state,
                    &state.store.customer_admin_ids(practice.customer_id).await?,
                )
                .await?;
        }
    }
    Ok(reach)
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

fn deliveries(
    reach: &notify::Audience,
    practice: &Practice,
    patient_id: Uuid,
    text: &str,
) -> (Vec<NewNotification>, Vec<NewOutbound>) {
    let notes = notify::notifications(
        reach,
        Notice {
            practice,
            patient_id: Some(patient_id),
            kind: NotificationKind::ReadingCritical,
            summary: CRITICAL_SUMMARY,
        },
    );
    let texts = notify::texts(&reach.text, practice, text, priority::ALERT);
    (notes, texts)
}

/// The alert a critical reading of this patient opens now, with its first deliveries.
pub async fn opening(
    state: &AppState,
    practice: &Practice,
    patient_id: Uuid,
    now: DateTime<Utc>,
) -> Result<NewAlert, StoreError> {
    let templates = crate::http::templates::practice_templates(state, practice.id)
        .await
        .unwrap_or_else(|_| TemplateSet::defaults());
    let code = new_code();
    let mut first = reach(
        state,
        practice,
        patient_id,
        Audience::OnCallAndCareTeam,
        now,
    )
    .await?;
    if first.is_empty() {
        // Nobody on call and no care team wants it: go straight to the fallback users.
        for who in [Audience::PracticeFallback, Audience::CustomerAdmins] {
            first = reach(state, practice, patient_id, who, now).await?;
            if !first.is_empty() {
                break;
            }
        }
    }
    let (notifications, texts) = deliveries(
        &first,
        practice,
        patient_id,
        &alert_text(practice, &templates, &code),
    );
    Ok(NewAlert {
        level: "critical",
        code,
        next_step_at: escalation::next_due(now, practice.escalation_delay_minutes),
        notifications,
        texts,
    })
}

/// Takes the due escalation step of every open alert. Returns how many steps were taken.
pub async fn escalate_due(state: &AppState) -> Result<usize, StoreError> {
    let now = state.clock.now();
    let mut taken = 0;
    for alert in state.store.due_alerts(now, 100).await? {
        if escalate_one(state, &alert, now).await? {
            taken += 1;
        }
    }
    Ok(taken)
}

async fn escalate_one(
    state: &AppState,
    alert: &Alert,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let practice = state.store.get_practice(alert.practice_id).await?;
    let from = u32::try_from(alert.step.max(0)).unwrap_or(0);
    // Resolve the next few audiences now, so an empty one is skipped at once.
    let mut resolved = Vec::new();
    for k in 1..=3u32 {
        let who = escalation::audience_of(from + k);
        resolved.push((
            who,
            reach(state, &practice, alert.patient_id, who, now).await?,
        ));
    }
    let next = escalation::next_step(from, |who| {
        resolved.iter().any(|(a, r)| *a == who && !r.is_empty())
    });
    let (to_step, (notifications, texts)) = match next {
        Some((step, who)) => {
            let reach = &resolved
                .iter()
                .find(|(a, _)| *a == who)
                .expect("resolved above")
                .1;
            let templates = crate::http::templates::practice_templates(state, practice.id)
                .await
                .unwrap_or_else(|_| TemplateSet::defaults());
            (
                step,
                deliveries(
                    reach,
                    &practice,
                    alert.patient_id,
                    &alert_text(&practice, &templates, &alert.code),
                ),
            )
        }
        None => {
            tracing::error!(alert = %alert.id, "critical alert has nobody to escalate to; configure on-call, default users or admins");
            metrics::counter!("gateway_escalation_unreachable_total").increment(1);
            (from + 1, (Vec::new(), Vec::new()))
        }
    };
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
        metrics::counter!("gateway_escalation_steps_total").increment(1);
        state.notify_feed();
        if texted {
            state.wake_dispatcher();
        }
    }
    Ok(applied)
}

/// Acknowledges an alert; records the time to acknowledge.
pub async fn acknowledge(
    state: &AppState,
    audit: &store::Audit,
    alert: &Alert,
    user_id: Uuid,
) -> Result<Alert, StoreError> {
    let acked = state
        .store
        .acknowledge_alert(audit, alert.id, user_id)
        .await?;
    if alert.state == "open" && acked.state == "acknowledged" {
        let seconds = (audit.at - alert.opened_at).num_milliseconds() as f64 / 1000.0;
        metrics::histogram!("gateway_alert_time_to_ack_seconds").record(seconds.max(0.0));
        metrics::counter!("gateway_alerts_acknowledged_total").increment(1);
    }
    Ok(acked)
}

/// "ACK <code>" (any case, surrounding space ignored), as staff reply to an alert text.
pub fn parse_ack(body: &str) -> Option<String> {
    let mut words = body.split_whitespace();
    let first = words.next()?;
    let code = words.next()?;
    if words.next().is_some() || !first.eq_ignore_ascii_case("ack") {
        return None;
    }
    let code = code.to_ascii_uppercase();
    (code.len() == 6 && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

/// Acknowledges by SMS when `from` is an unlocked staff member of the practice texted and the
/// body is "ACK code" of one of its open alerts. `true` when it was such a reply.
pub async fn acknowledge_by_text(
    state: &AppState,
    practice: &Practice,
    from: &str,
    body: &str,
) -> Result<bool, StoreError> {
    let Some(code) = parse_ack(body) else {
        return Ok(false);
    };
    let users = state.store.users_with_mobile(from).await?;
    let Some(user) = users
        .into_iter()
        .find(|u| u.customer_id == Some(practice.customer_id))
    else {
        return Ok(false);
    };
    let Some(alert) = state.store.open_alert_by_code(practice.id, &code).await? else {
        return Ok(false);
    };
    let audit = store::Audit {
        user_id: Some(user.id),
        client_addr: None,
        at: state.clock.now(),
    };
    acknowledge(state, &audit, &alert, user.id).await?;
    Ok(true)
}

/// Tells the care team and the on-call user of the moment, per their "reading caution" settings,
/// that a reading needs a look (feed and text; never the value). Done after the reading commits:
/// a caution is not an alert and does not escalate.
pub async fn notify_caution(
    state: &AppState,
    practice: &Practice,
    patient_id: Uuid,
    summary: &str,
) -> Result<(), StoreError> {
    let now = state.clock.now();
    let users = followers_and_on_call(state, practice, patient_id, now).await?;
    let kind = NotificationKind::ReadingCaution;
    let wanted = audience(state, practice.id, &users, kind).await?;
    let notes = notify::notifications(
        &wanted,
        Notice {
            practice,
            patient_id: Some(patient_id),
            kind,
            summary,
        },
    );
    if !notes.is_empty() {
        state.store.add_notifications(now, notes).await?;
        state.notify_feed();
    }
    let audit = store::Audit::system(now);
    let body = notify::text_body(practice, &TemplateSet::defaults(), kind);
    for text in notify::texts(&wanted.text, practice, &body, priority::NOTIFY) {
        crate::services::enqueue_sms(state, &audit, text).await?;
    }
    Ok(())
}

/// "Notify after N consecutive out-of-range readings" (the practice's `out_of_range_count`): when
/// this reading is the Nth out-of-range one in a row of its vital, the care team and on-call user
/// hear of it per their "reading caution" settings; once per run (see
/// `domain::readings::consecutive_out_of_range`).
pub async fn notify_out_of_range_run(
    state: &AppState,
    practice: &Practice,
    patient_id: Uuid,
    vital: &str,
) -> Result<bool, StoreError> {
    let n = state
        .store
        .reading_frequency(practice.id)
        .await?
        .out_of_range_count;
    let Ok(n) = u32::try_from(n) else {
        return Ok(false);
    };
    if n == 0 {
        return Ok(false);
    }
    let levels: Vec<Level> = state
        .store
        .recent_levels(patient_id, vital, n + 1)
        .await?
        .iter()
        .map(|l| match l.as_str() {
            "critical" => Level::Critical,
            "caution" => Level::Caution,
            _ => Level::Normal,
        })
        .collect();
    if !consecutive_out_of_range(&levels, n) {
        return Ok(false);
    }
    let summary = format!("{n} readings in a row of one vital are out of range.");
    notify_caution(state, practice, patient_id, &summary).await?;
    Ok(true)
}

/// Warns about patients who have sent no reading for the practice's `warn_after_days`: the care
/// team and on-call user of the moment per their "overdue readings" settings, once per episode
/// (a new reading starts a new one). Returns how many patients were warned about.
pub async fn warn_overdue(state: &AppState) -> Result<usize, StoreError> {
    let now = state.clock.now();
    let mut warned = 0;
    for candidate in state.store.overdue_candidates(now).await? {
        let days = u32::try_from(candidate.warn_after_days).unwrap_or(0);
        let Some(episode) = overdue_to_raise(
            Some(candidate.last_reading_at),
            days,
            candidate.warned_for,
            now,
        ) else {
            continue;
        };
        let practice = state.store.get_practice(candidate.practice_id).await?;
        let users = followers_and_on_call(state, &practice, candidate.patient_id, now).await?;
        let kind = NotificationKind::OverdueReadings;
        let wanted = audience(state, practice.id, &users, kind).await?;
        let summary = format!("A patient has sent no reading for {days} days.");
        let notes = notify::notifications(
            &wanted,
            Notice {
                practice: &practice,
                patient_id: Some(candidate.patient_id),
                kind,
                summary: &summary,
            },
        );
        if state
            .store
            .record_overdue_warning(now, candidate.patient_id, episode.last_reading_at, notes)
            .await?
        {
            warned += 1;
            state.notify_feed();
            // Texts follow the recorded warning: the episode is warned of once, and a text
            // lost to a crash between the two is the smaller harm than texting every pass.
            let audit = store::Audit::system(now);
            let body = notify::text_body(&practice, &TemplateSet::defaults(), kind);
            for text in notify::texts(&wanted.text, &practice, &body, priority::NOTIFY) {
                crate::services::enqueue_sms(state, &audit, text).await?;
            }
        }
    }
    Ok(warned)
}

// ---- staff use cases (the JSON API and the staff console call these) --------------------------

/// Alerts of the caller's practices (all of its customer's for a customer admin), newest first,
/// optionally only `open` or `acknowledged` ones.
pub async fn list_for(
    state: &AppState,
    caller: &CurrentUser,
    alert_state: Option<String>,
    page: store::Page,
) -> Result<store::Paged<Alert>, ApiError> {
    if let Some(s) = alert_state.as_deref()
        && s != "open"
        && s != "acknowledged"
    {
        return Err(ApiError::invalid("state", "must be open or acknowledged"));
    }
    let practice_ids = crate::services::users::practice_ids_of(state, caller)
        .await?
        .ok_or_else(|| {
            ApiError::Forbidden("super admins see alerts through a practice's admins".into())
        })?;
    Ok(state
        .store
        .list_alerts(practice_ids, alert_state, page)
        .await?)
}

/// Acknowledges an alert of a patient the caller may see (404 otherwise); acknowledging again
/// changes nothing.
pub async fn acknowledge_for(
    state: &AppState,
    caller: &CurrentUser,
    alert_id: Uuid,
) -> Result<Alert, ApiError> {
    let alert = match state.store.get_alert(alert_id).await {
        Ok(alert) => alert,
        Err(StoreError::NotFound) => return Err(ApiError::NotFound("alert")),
        Err(e) => return Err(e.into()),
    };
    visible_patient(state, caller, alert.patient_id)
        .await
        .map_err(|_| ApiError::NotFound("alert"))?;
    Ok(acknowledge(state, &caller.audit(), &alert, caller.id()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            assert_eq!(parse_ack(other), None, "{other}");
        }
    }

    #[test]
    fn codes_use_only_unambiguous_characters() {
        for _ in 0..100 {
            let code = new_code();
            assert_eq!(code.len(), 6);
            assert!(parse_ack(&format!("ACK {code}")).is_some());
        }
    }
}
