//! Texting opt-in wiring: the pure state machine (`domain::texting`) applied to stored patients.
//!
//! Inbound texts are decided inside the store's inbound transaction ([`inbound_decider`]); staff
//! actions and the expiry worker decide from a state read first and let the store apply the
//! change only if that state still holds ([`store::Texting::change_texting`]), retrying on a
//! concurrent change. Either way the new state, the replies (as outbox rows rendered with the
//! practice's templates) and the staff notifications commit together.
//!
//! Never log a body: while a patient verifies, any text may be their date of birth.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use store::{
    InboundContext, InboundDecider, InboundDecision, NewNotification, NewOutbound, Patient,
    Practice, RuleRefusal, StoreError, TextingChange, TextingRow, priority,
};
use templates::{Placeholder, TemplateName, TemplateSet, Vars};
use uuid::Uuid;
use webhooks::PhoneNumber;

use crate::app::App;
use crate::auth::limiter;
use crate::domain::notifications::NotificationKind;
use crate::domain::shared_number::{self, Holder};
use crate::domain::texting::{self, Event, Refusal, Reply, TextingState, TextingStatus};
use crate::domain::throttle;
use crate::services::conversations;
use crate::services::notify::{self, Notice};

/// The flag put on a message that mentions an opt-out word without being a clear revocation.
pub const FLAG_POSSIBLE_OPT_OUT: &str = "possible_opt_out";

/// How often a staff action re-decides after losing a race with another change.
const MAX_RACES: usize = 3;

/// The stored row as the domain's state (a status the store cannot read never gets this far:
/// reading its row fails).
pub fn state_of(row: &TextingRow) -> TextingState {
    TextingState {
        status: row.status,
        attempts_left: u8::try_from(row.attempts_left.max(0)).unwrap_or(u8::MAX),
        expires_at: row.expires_at,
        updated_at: row.updated_at,
    }
}

pub fn row_of(state: &TextingState) -> TextingRow {
    TextingRow {
        status: state.status,
        attempts_left: i16::from(state.attempts_left),
        expires_at: state.expires_at,
        updated_at: state.updated_at,
    }
}

fn template_of(reply: Reply) -> TemplateName {
    match reply {
        Reply::OptInRequest => TemplateName::OptInRequest,
        Reply::OptInConfirmed => TemplateName::OptInConfirmed,
        Reply::OptInRetry { .. } => TemplateName::OptInRetry,
        Reply::OptInFailed => TemplateName::OptInFailed,
        Reply::OptOutConfirmation => TemplateName::OptOutConfirmation,
        Reply::OptInRestarted => TemplateName::OptInRestarted,
        Reply::Help => TemplateName::Help,
    }
}

/// The text of a reply in the practice's words; the default text if the practice's own cannot
/// be rendered (a reply such as a STOP confirmation must never be lost to a bad template).
pub fn render_reply(reply: Reply, templates: &TemplateSet, practice: &Practice) -> String {
    let name = template_of(reply);
    let mut vars = Vars::new()
        .with(Placeholder::PracticeName, practice.name.clone())
        .with(Placeholder::PracticePhone, practice.sms_number.clone());
    if let Reply::OptInRetry { attempts_left } = reply {
        vars.insert(Placeholder::AttemptsLeft, attempts_left.to_string());
    }
    templates.render(name, &vars).unwrap_or_else(|error| {
        tracing::warn!(template = name.as_str(), %error, "practice template failed to render; sending the default");
        TemplateSet::defaults().render(name, &vars).unwrap_or_else(|_| name.default_text().to_string())
    })
}

fn reply_outbound(
    practice: &Practice,
    patient_id: Uuid,
    to_number: &str,
    reply: Reply,
    body: String,
) -> NewOutbound {
    NewOutbound {
        practice_id: Some(practice.id),
        patient_id: Some(patient_id),
        from_number: practice.sms_number.clone(),
        to_number: to_number.to_string(),
        body,
        // The STOP confirmation goes at the top of the queue, not behind earlier replies.
        priority: if reply == Reply::OptOutConfirmation {
            priority::OPT_OUT_CONFIRMATION
        } else {
            priority::REPLY
        },
        record_message: true,
        author_user_id: None,
    }
}

/// Users of the practice, and the on-call user of the moment, who want "Two-Way Texting"
/// notifications, on their channels.
pub async fn status_recipients(
    state: &App,
    practice_id: Uuid,
) -> Result<conversations::Audience, StoreError> {
    let kind = NotificationKind::TwoWayTexting;
    let practice_users = state.store.practice_users(practice_id).await?;
    let practice = state.store.get_practice(practice_id).await?;
    let on_call = crate::services::oncall::on_call_now(state, &practice, state.clock.now()).await?;
    let users = crate::domain::notifications::considered(kind, &[], &practice_users, &on_call);
    conversations::audience(state, practice_id, &users, kind).await
}

/// The feed rows, emails and texts telling `recipients` of a patient's texting: the texts say
/// the same sentence as the feed (a status, never what the patient wrote).
fn status_deliveries(
    recipients: &conversations::Audience,
    practice: &Practice,
    patient_id: Uuid,
    summary: &str,
) -> (Vec<NewNotification>, Vec<NewOutbound>) {
    let notes = notify::notifications(
        recipients,
        Notice {
            practice,
            patient_id: Some(patient_id),
            kind: NotificationKind::TwoWayTexting,
            summary,
        },
    );
    let body = format!("{}: {summary} Sign in to see it.", practice.name);
    let texts = notify::texts(&recipients.text, practice, &body, priority::NOTIFY);
    (notes, texts)
}

fn status_summary(status: TextingStatus) -> String {
    format!("A patient's texting status changed to {}.", status.as_str())
}

/// The throttle key counting the verification restarts a number begins at a practice's number
/// (`domain::throttle::PATIENT_RESTARTS`): checked and counted inside the inbound transaction.
pub fn restart_key(from: &str, to: &str) -> String {
    format!("restart:{to}:{from}")
}

/// Whether a text asks to restart verification, so its transaction must lock the number's
/// restart count ([`restart_key`]). Only that lock is decided here; what the text does is decided
/// inside the transaction.
pub fn may_ask_to_restart(body: &str) -> bool {
    crate::domain::keywords::classify(body)
        == crate::domain::keywords::Classification::Keyword(crate::domain::keywords::Keyword::OptIn)
}

/// The decision for one inbound text, run by the store inside the inbound transaction with the
/// patient's row (and the number's restart count, when the text may ask for a restart) locked.
/// `templates` and `recipients` belong to the practice the text was sent to (looked up before the
/// transaction).
pub fn inbound_decider(
    body: String,
    now: DateTime<Utc>,
    templates: TemplateSet,
    recipients: conversations::Audience,
    message_recipients: HashMap<Uuid, conversations::Audience>,
) -> InboundDecider {
    Box::new(move |ctx: &InboundContext| {
        let (Some(practice), Some(patient)) = (&ctx.practice, &ctx.patient) else {
            // Unknown number or sender: recorded without its body, never answered.
            return InboundDecision::default();
        };
        let restarts = ctx.throttle.map(limiter::cell);
        let may_restart = !throttle::is_full(restarts, now, throttle::PATIENT_RESTARTS);
        // Everyone on the number (a family phone), the store's choice first.
        let holders: Vec<&Patient> = std::iter::once(patient).chain(&ctx.sharing).collect();
        let states: Vec<Holder> = holders
            .iter()
            .map(|p| Holder {
                state: state_of(&p.texting),
                dob: p.dob,
            })
            .collect();
        let Some(number) = shared_number::decide_inbound(&states, 0, &body, may_restart, now)
        else {
            tracing::error!(
                "the state machine refused an inbound text; recording it without its body"
            );
            return InboundDecision::default();
        };
        let patient = holders[number.routed];
        let current = states[number.routed].state;
        let decision = number.decision; // A restart is counted in the transaction that begins it.
        let throttle = decision.replies.contains(&Reply::OptInRestarted).then(|| {
            limiter::row(throttle::on_failure(restarts, now, throttle::PATIENT_RESTARTS).0)
        });
        let to_number = patient.mobile_phone.clone().unwrap_or_default();
        let mut replies: Vec<NewOutbound> = decision
            .replies
            .iter()
            .map(|reply| {
                reply_outbound(
                    practice,
                    patient.id,
                    &to_number,
                    *reply,
                    render_reply(*reply, &templates, practice),
                )
            })
            .collect();
        let mut notes = Vec::new();
        if decision.status_changed {
            let (status_notes, texts) = status_deliveries(
                &recipients,
                practice,
                patient.id,
                &status_summary(decision.new_state.status),
            );
            notes.extend(status_notes);
            replies.extend(texts);
        }
        if decision.inbound.is_conversation_message()
            && let Some(audience) = message_recipients.get(&patient.id)
        {
            let (new_notes, texts) =
                conversations::new_message_deliveries(audience, practice, patient.id, &templates);
            notes.extend(new_notes);
            replies.extend(texts);
        }
        let flag = decision
            .inbound
            .flags_possible_opt_out()
            .then(|| FLAG_POSSIBLE_OPT_OUT.to_string());
        if flag.is_some() {
            let (flag_notes, texts) = status_deliveries(
                &recipients,
                practice,
                patient.id,
                "A patient's message may be a request to stop texting; please review it.",
            );
            notes.extend(flag_notes);
            replies.extend(texts);
        }
        // The other patients on the number the text changed (opted out, re-opted in, or an
        // attempt used), each with their own status notices.
        let mut sharing_texting = Vec::with_capacity(number.others.len());
        for (index, other) in &number.others {
            let other_patient = holders[*index];
            if other.status_changed {
                let (status_notes, texts) = status_deliveries(
                    &recipients,
                    practice,
                    other_patient.id,
                    &status_summary(other.new_state.status),
                );
                notes.extend(status_notes);
                replies.extend(texts);
            }
            sharing_texting.push((other_patient.id, row_of(&other.new_state)));
        }
        InboundDecision {
            keep_body: decision.inbound.may_store_body(),
            patient_id: (number.routed != 0).then_some(patient.id),
            texting: (decision.new_state != current).then(|| row_of(&decision.new_state)),
            sharing_texting,
            replies,
            notifications: notes,
            flag,
            // Opted out after this text: nothing queued before it goes, only its answer.
            opted_out: decision.new_state.status == TextingStatus::OptedOut,
            throttle,
        }
    })
}

/// How many other patients of the patient's practice have the same mobile phone (0 without
/// one): staff see that a number is shared, never with whom.
pub async fn number_shared_with(state: &App, patient: &Patient) -> Result<u32, StoreError> {
    let Some(number) = &patient.mobile_phone else {
        return Ok(0);
    };
    let holders = state
        .store
        .patients_with_number(patient.practice_id, number)
        .await?;
    let others = holders.iter().filter(|id| **id != patient.id).count();
    Ok(u32::try_from(others).unwrap_or(u32::MAX))
}

/// What staff may do to a patient's texting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffAction {
    Start,
    Resend,
    OptOut,
}

/// Why a staff action did not apply.
#[derive(Debug, thiserror::Error)]
pub enum TextingError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies a staff action (or the expiry check) to a patient, re-deciding if another change
/// got there first. Returns the patient as it is afterwards.
pub async fn apply(
    state: &App,
    audit: &store::Audit,
    mut patient: Patient,
    action: Option<StaffAction>,
) -> Result<Patient, TextingError> {
    let practice = state.store.get_practice(patient.practice_id).await?;
    let templates = crate::services::templates::practice_templates(state, practice.id).await?;
    let recipients = status_recipients(state, practice.id).await?;
    for _ in 0..MAX_RACES {
        let current = state_of(&patient.texting);
        let valid_mobile = patient
            .mobile_phone
            .as_deref()
            .and_then(|m| PhoneNumber::parse_e164(m).ok());
        let event = match action {
            Some(StaffAction::Start) => Event::StaffStart {
                has_valid_mobile: valid_mobile.is_some(),
            },
            Some(StaffAction::Resend) => Event::StaffResend {
                has_valid_mobile: valid_mobile.is_some(),
            },
            Some(StaffAction::OptOut) => Event::StaffOptOut,
            None => Event::ExpiryCheck,
        };
        let decision = texting::decide(&current, event, patient.dob, audit.at)?;
        if decision.new_state == current && decision.replies.is_empty() {
            return Ok(patient);
        }
        let to_number = valid_mobile
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        let mut replies: Vec<NewOutbound> = decision
            .replies
            .iter()
            .map(|reply| {
                reply_outbound(
                    &practice,
                    patient.id,
                    &to_number,
                    *reply,
                    render_reply(*reply, &templates, &practice),
                )
            })
            .collect();
        let notes = if decision.status_changed {
            let (notes, texts) = status_deliveries(
                &recipients,
                &practice,
                patient.id,
                &status_summary(decision.new_state.status),
            );
            replies.extend(texts);
            notes
        } else {
            Vec::new()
        };
        let change = TextingChange {
            expected: patient.texting.clone(),
            new_state: (decision.new_state != current).then(|| row_of(&decision.new_state)),
            replies,
            notifications: notes,
            action: match action {
                Some(StaffAction::Start) => "texting.start",
                Some(StaffAction::Resend) => "texting.resend",
                Some(StaffAction::OptOut) => "texting.opt_out",
                None => "texting.expire",
            },
            opted_out: decision.new_state.status == TextingStatus::OptedOut
                && current.status != TextingStatus::OptedOut,
            // Start and resend text the patient: not while the practice has texting off.
            needs_texting: matches!(action, Some(StaffAction::Start | StaffAction::Resend)),
        };
        match state.store.change_texting(audit, patient.id, change).await {
            Ok(changed) => {
                if !changed.enqueued.is_empty() {
                    state.wake_dispatcher();
                }
                state.notify_feed();
                metrics::counter!(crate::telemetry::catalogue::TEXTING_TRANSITIONS, "to" => decision.new_state.status.as_str())
                    .increment(1);
                return Ok(changed.patient);
            }
            Err(StoreError::Rule(RuleRefusal::TextingChanged)) => {
                patient = state.store.get_patient(audit, patient.id).await?;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(StoreError::Unavailable("the patient's texting state kept changing; retry".into()).into())
}

/// Fails every verification whose window has closed, including those that closed while the
/// gateway was down. Sends nothing to those patients. Returns how many were failed.
pub async fn expire_due(state: &App) -> Result<usize, StoreError> {
    let now = state.clock.now();
    let audit = store::Audit::system(now);
    let mut failed = 0;
    loop {
        let batch = state.store.expired_verifications(now, 100).await?;
        if batch.is_empty() {
            return Ok(failed);
        }
        let batch_len = batch.len();
        for patient in batch {
            match apply(state, &audit, patient, None).await {
                Ok(after) if state_of(&after.texting).status == TextingStatus::Failed => {
                    failed += 1
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "could not expire a verification; will retry");
                    return Ok(failed);
                }
            }
        }
        if batch_len < 100 {
            return Ok(failed);
        }
    }
}

/// A staff action on the texting of a patient the caller may see (404 otherwise): start, resend
/// or opt out. Answers the patient as saved.
pub async fn act_for(
    state: &App,
    caller: &crate::app::CurrentUser,
    patient_id: Uuid,
    action: StaffAction,
) -> Result<Patient, crate::app::AppError> {
    let patient = crate::services::access::visible_patient(state, caller, patient_id).await?;
    Ok(apply(state, &caller.audit(), patient, Some(action)).await?)
}
