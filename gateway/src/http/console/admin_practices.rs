//! Practice settings, for customer admins: on-call windows, reading alerts per vital, and the
//! notification defaults for users and for new patients. Each form saves through the same use
//! case as its `/v1/practices/{id}/…` route, so the same rules refuse the same input.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use store::{ApplyDefaultsTo, ApplyReadingDefaultsTo, Practice, User};
use types::{AlertSettings, ChangeRule, ChangeUnit, Ranges, Vital};
use uuid::Uuid;

use super::layout::{self, Section, csrf_field, page as shell_page, respond};
use super::session::{ConsoleUser, redirect_after};
use super::{Fields, PageId};
use crate::domain::notifications::{
    Change, Kind, NotificationKind, NotificationSetting, PatientNotificationKind,
    PatientNotificationSetting,
};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::services::access::administered_practice;
use crate::services::notification_settings as settings;
use crate::services::schedule_changes::OnCallWindowBody;
use crate::services::{oncall, readings, users};

/// A practice the signed-in admin administers; 404/403 page otherwise.
/// `GET /app/admin/practices`.
pub async fn list(State(state): State<AppState>, user: ConsoleUser) -> Response {
    let practices = match users::practices_of(&state, &user).await {
        Ok(p) => p,
        Err(error) => return layout::error_page(&error),
    };
    let body = html! {
        h1 { "Practice settings" }
        ul.list {
            @for p in &practices {
                li { a href={ "/app/admin/practices/" (p.id) } { (p.name) } span.muted { (p.timezone) } }
            }
        }
    };
    respond(
        StatusCode::OK,
        shell_page(&user, Section::Practices, "Practice settings", None, body),
    )
}

#[derive(Deserialize)]
pub struct VitalQuery {
    vital: Option<String>,
}

fn user_options(users: &[User], selected: Option<Uuid>) -> Markup {
    html! {
        option value="" selected[selected.is_none()] { "—" }
        @for u in users.iter().filter(|u| u.locked_at.is_none()) {
            option value=(u.id) selected[selected == Some(u.id)] { (users::display_name(u)) }
        }
    }
}

fn on_call_form(
    user: &ConsoleUser,
    practice: &Practice,
    windows: &[OnCallWindowBody],
    people: &[User],
) -> Markup {
    let blank = OnCallWindowBody {
        from: String::new(),
        to: String::new(),
        user_id: Uuid::nil(),
        days: None,
    };
    let rows: Vec<&OnCallWindowBody> = windows.iter().chain([&blank, &blank]).collect();
    html! {
        form.card method="post" action={ "/app/admin/practices/" (practice.id) "/on-call" } {
            (csrf_field(user))
            h2 { "On-call windows" }
            p.muted { "Weekly windows in " (practice.timezone) ". A window whose end is before its start runs past midnight and belongs to the day it starts; equal times mean all day. Days: e.g. mon tue wed thu fri, or empty for every day. Leave a row empty to remove it." }
            div.scroll {
                table {
                    thead { tr { th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Days" } th scope="col" { "Who" } } }
                    tbody {
                        @for (i, w) in rows.iter().enumerate() {
                            tr {
                                td { input type="time" name="from" value=(w.from) aria-label={ "Window " (i + 1) " from" }; }
                                td { input type="time" name="to" value=(w.to) aria-label={ "Window " (i + 1) " to" }; }
                                td { input type="text" name="days" size="14" value=(w.days.as_deref().map(|d| d.join(" ")).unwrap_or_default()) aria-label={ "Window " (i + 1) " days (empty: every day)" }; }
                                td {
                                    select name="user_id" aria-label={ "Window " (i + 1) " user" } {
                                        (user_options(people, (!w.user_id.is_nil()).then_some(w.user_id)))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            div.actions { button type="submit" { "Save on-call windows" } }
        }
    }
}

fn number(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn reading_alert_form(
    user: &ConsoleUser,
    practice: &Practice,
    vital: Vital,
    saved: Option<&AlertSettings>,
) -> Markup {
    let r = saved.map(|s| s.ranges);
    let c = saved.and_then(|s| s.change);
    let bound = |name: &str, label: &str, value: Option<f64>| {
        let id = format!("ra-{name}");
        html! {
            label for=(id) { (label) }
            input id=(id) type="number" step="any" name=(name) value=(number(value)) required;
        }
    };
    html! {
        section.card aria-labelledby="ra-heading" {
            h2 #ra-heading { "Reading alerts" }
            form method="get" action={ "/app/admin/practices/" (practice.id) } {
                label for="ra-vital" { "Vital" }
                select #ra-vital name="vital" {
                    @for v in Vital::ALL { option value=(v.as_str()) selected[v == vital] { (v.label()) } }
                }
                div.actions { button.secondary type="submit" { "Show" } }
            }
            form method="post" action={ "/app/admin/practices/" (practice.id) "/reading-alerts" } {
                (csrf_field(user))
                input type="hidden" name="vital" value=(vital.as_str());
                p.muted {
                    @if saved.is_some() { "Saved settings of " (vital.label()) "." }
                    @else { (vital.label()) " has no practice default yet: its readings are not classified." }
                    " Below critical low or above critical high is critical; from normal low to normal high is normal; anything else is caution."
                }
                (bound("critical_low", "Critical below", r.map(|r| r.critical_low)))
                (bound("normal_low", "Normal from", r.map(|r| r.normal_low)))
                (bound("normal_high", "Normal up to", r.map(|r| r.normal_high)))
                (bound("critical_high", "Critical above", r.map(|r| r.critical_high)))
                fieldset {
                    legend { "Critical on a change (optional)" }
                    label for="ra-amount" { "Change of at least" }
                    input #ra-amount type="number" step="any" name="change_amount" value=(number(c.map(|c| c.amount)));
                    label for="ra-unit" { "Unit" }
                    select #ra-unit name="change_unit" {
                        option value="percent" selected[c.is_none_or(|c| c.unit == ChangeUnit::Percent)] { "percent" }
                        option value="units" selected[c.is_some_and(|c| c.unit == ChangeUnit::Units)] { "the vital's units" }
                    }
                    label for="ra-hours" { "Within hours" }
                    input #ra-hours type="number" name="change_within_hours" value=(c.map(|c| c.within_hours.to_string()).unwrap_or_default());
                }
                fieldset {
                    legend { "Apply to" }
                    label.check { input type="radio" name="apply_to" value="new_patients" checked; "New patients only" }
                    label.check { input type="radio" name="apply_to" value="all_patients"; "All patients (replaces their own settings)" }
                }
                div.actions { button type="submit" { "Save reading alerts" } }
            }
        }
    }
}

/// A form of notification defaults: a row per kind, a checkbox per channel (named
/// `kind.channel`), and an optional "apply to" choice.
struct DefaultsForm<'a> {
    id: &'a str,
    heading: &'a str,
    action: String,
    /// Column headings after "Kind", in the order of each row's channels.
    columns: &'a [&'a str],
    rows: Vec<(&'static str, Vec<(&'static str, bool)>)>,
    apply_to: Option<[(&'a str, &'a str); 2]>,
    submit: &'a str,
}

fn defaults_form(user: &ConsoleUser, form: DefaultsForm<'_>) -> Markup {
    html! {
        form.card method="post" action=(form.action) {
            (csrf_field(user))
            h2 id=(form.id) { (form.heading) }
            div.scroll {
                table aria-labelledby=(form.id) {
                    thead { tr { th scope="col" { "Kind" } @for c in form.columns { th scope="col" { (c) } } } }
                    tbody {
                        @for (kind, channels) in &form.rows {
                            @let name = kind.replace('_', " ");
                            tr {
                                th scope="row" { (name) }
                                @for (channel, on) in channels {
                                    td { input type="checkbox" name={ (kind) "." (channel) } checked[*on]
                                        aria-label={ (name) ": " (channel) }; }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some([(first, first_label), (second, second_label)]) = form.apply_to {
                fieldset {
                    legend { "Apply to" }
                    label.check { input type="radio" name="apply_to" value=(first) checked; (first_label) }
                    label.check { input type="radio" name="apply_to" value=(second); (second_label) }
                }
            }
            div.actions { button type="submit" { (form.submit) } }
        }
    }
}

fn user_defaults_form(
    user: &ConsoleUser,
    practice: &Practice,
    current: &crate::domain::notifications::UserSettings,
) -> Markup {
    defaults_form(
        user,
        DefaultsForm {
            id: "ud-heading",
            heading: "Notification defaults for users",
            action: format!(
                "/app/admin/practices/{}/notification-defaults/users",
                practice.id
            ),
            columns: &["On", "In app", "Email", "Text"],
            rows: current
                .iter()
                .map(|(kind, s)| {
                    (
                        kind.as_str(),
                        vec![
                            ("enabled", s.enabled),
                            ("push", s.push),
                            ("email", s.email),
                            ("text", s.text),
                        ],
                    )
                })
                .collect(),
            apply_to: Some([
                ("new_users", "New users only"),
                ("all_users", "All users (replaces their own choices)"),
            ]),
            submit: "Save user defaults",
        },
    )
}

fn patient_defaults_form(
    user: &ConsoleUser,
    practice: &Practice,
    current: &crate::domain::notifications::PatientSettings,
) -> Markup {
    defaults_form(
        user,
        DefaultsForm {
            id: "pd-heading",
            heading: "Notification defaults for new patients",
            action: format!(
                "/app/admin/practices/{}/notification-defaults/patients",
                practice.id
            ),
            columns: &["On", "Email", "Text"],
            rows: current
                .iter()
                .map(|(kind, s)| {
                    (
                        kind.as_str(),
                        vec![("enabled", s.enabled), ("email", s.email), ("text", s.text)],
                    )
                })
                .collect(),
            apply_to: None,
            submit: "Save patient defaults",
        },
    )
}

/// `GET /app/admin/practices/{id}`.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    PageId(id): PageId,
    Query(query): Query<VitalQuery>,
) -> Response {
    let vital = query
        .vital
        .as_deref()
        .and_then(|v| Vital::parse(v).ok())
        .unwrap_or(Vital::Pulse);
    let loaded = async {
        let practice = administered_practice(&state, &user, id).await?;
        let customer_id = practice.customer_id;
        let people = users::list_for(&state, &user, customer_id).await?;
        let windows = oncall::schedule_for(&state, &user, id).await?;
        let alert = readings::practice_alert_for(&state, &user, id, vital).await?;
        let user_defaults = settings::practice_user_defaults_for(&state, &user, id).await?;
        let patient_defaults = settings::practice_patient_defaults_for(&state, &user, id).await?;
        Ok::<_, ApiError>((
            practice,
            people,
            windows,
            alert,
            user_defaults,
            patient_defaults,
        ))
    }
    .await;
    let (practice, people, windows, alert, user_defaults, patient_defaults) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return layout::error_page(&error),
    };
    let bodies = crate::services::schedule_changes::bodies_of(&windows);
    let body = html! {
        p { a href="/app/admin/practices" { "← Practices" } }
        h1 { "Settings of " (practice.name) }
        (on_call_form(&user, &practice, &bodies, &people))
        (reading_alert_form(&user, &practice, vital, alert.as_ref()))
        (user_defaults_form(&user, &practice, &user_defaults))
        (patient_defaults_form(&user, &practice, &patient_defaults))
    };
    layout::render(
        &state,
        &user,
        &headers,
        Section::Practices,
        "Practice settings",
        body,
    )
}

fn back(id: Uuid) -> String {
    format!("/app/admin/practices/{id}")
}

/// `POST /app/admin/practices/{id}/on-call`: replaces the whole schedule.
pub async fn save_on_call(
    State(state): State<AppState>,
    user: ConsoleUser,
    PageId(id): PageId,
    body: Bytes,
) -> Response {
    let form = Fields::parse(&body);
    let (from, to, who) = (form.all("from"), form.all("to"), form.all("user_id"));
    let days = form.all("days");
    let outcome = async {
        let mut windows = Vec::new();
        for (i, ((from, to), who)) in from.iter().zip(&to).zip(&who).enumerate() {
            if from.is_empty() && to.is_empty() && who.is_empty() {
                continue;
            }
            // Days as typed ("mon tue" or "mon,tue"); the API's parser checks each one.
            let days: Vec<String> = days
                .get(i)
                .map(|d| {
                    d.split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|d| !d.is_empty())
                        .map(|d| d.to_lowercase())
                        .collect()
                })
                .unwrap_or_default();
            let user_id = Uuid::parse_str(who).map_err(|_| {
                ApiError::invalid(format!("window {}", i + 1), "choose who is on call")
            })?;
            windows.push(OnCallWindowBody {
                from: from.to_string(),
                to: to.to_string(),
                user_id,
                days: (!days.is_empty()).then_some(days),
            });
        }
        let saved = oncall::replace_for(&state, &user, id, &windows).await?;
        Ok(format!("{} on-call window(s) saved.", saved.len()))
    }
    .await;
    redirect_after(&state, &back(id), outcome)
}

fn float(form: &Fields, name: &str) -> Result<f64, ApiError> {
    form.get(name)
        .trim()
        .parse::<f64>()
        .map_err(|_| ApiError::invalid(name, "must be a number"))
}

/// `POST /app/admin/practices/{id}/reading-alerts`.
pub async fn save_reading_alert(
    State(state): State<AppState>,
    user: ConsoleUser,
    PageId(id): PageId,
    body: Bytes,
) -> Response {
    let form = Fields::parse(&body);
    let vital = Vital::parse(form.get("vital")).unwrap_or(Vital::Pulse);
    let outcome = async {
        let ranges = Ranges {
            critical_low: float(&form, "critical_low")?,
            normal_low: float(&form, "normal_low")?,
            normal_high: float(&form, "normal_high")?,
            critical_high: float(&form, "critical_high")?,
        };
        let change = if form.get("change_amount").trim().is_empty() {
            None
        } else {
            Some(ChangeRule {
                amount: float(&form, "change_amount")?,
                unit: if form.get("change_unit") == "units" {
                    ChangeUnit::Units
                } else {
                    ChangeUnit::Percent
                },
                within_hours: form
                    .get("change_within_hours")
                    .trim()
                    .parse()
                    .map_err(|_| {
                        ApiError::invalid("change_within_hours", "must be a whole number of hours")
                    })?,
            })
        };
        let apply_to = if form.get("apply_to") == "all_patients" {
            ApplyReadingDefaultsTo::AllPatients
        } else {
            ApplyReadingDefaultsTo::NewPatients
        };
        readings::save_practice_alert_for(
            &state,
            &user,
            id,
            vital,
            AlertSettings { ranges, change },
            apply_to,
        )
        .await?;
        Ok(format!("Reading alerts of {} saved.", vital.label()))
    }
    .await;
    redirect_after(
        &state,
        &format!("{}?vital={}", back(id), vital.as_str()),
        outcome,
    )
}

/// One change per kind from a defaults form's `kind.channel` checkboxes.
fn changes_from<K: Kind, C>(
    form: &Fields,
    setting: impl Fn(&dyn Fn(&str) -> bool) -> C,
) -> Vec<Change<K, C>> {
    K::ALL
        .iter()
        .map(|&kind| {
            let on = |channel: &str| form.checked(&format!("{}.{channel}", kind.as_str()));
            Change {
                kind,
                setting: setting(&on),
            }
        })
        .collect()
}

/// `POST /app/admin/practices/{id}/notification-defaults/users`.
pub async fn save_user_defaults(
    State(state): State<AppState>,
    user: ConsoleUser,
    PageId(id): PageId,
    body: Bytes,
) -> Response {
    let form = Fields::parse(&body);
    let changes = changes_from::<NotificationKind, _>(&form, |on| NotificationSetting {
        enabled: on("enabled"),
        push: on("push"),
        email: on("email"),
        text: on("text"),
    });
    let apply_to = if form.get("apply_to") == "all_users" {
        ApplyDefaultsTo::AllUsers
    } else {
        ApplyDefaultsTo::NewUsers
    };
    let outcome = async {
        settings::change_practice_user_defaults_for(&state, &user, id, Ok(changes), apply_to)
            .await?;
        Ok("Notification defaults for users saved.".to_string())
    }
    .await;
    redirect_after(&state, &back(id), outcome)
}

/// `POST /app/admin/practices/{id}/notification-defaults/patients`.
pub async fn save_patient_defaults(
    State(state): State<AppState>,
    user: ConsoleUser,
    PageId(id): PageId,
    body: Bytes,
) -> Response {
    let form = Fields::parse(&body);
    let changes =
        changes_from::<PatientNotificationKind, _>(&form, |on| PatientNotificationSetting {
            enabled: on("enabled"),
            email: on("email"),
            text: on("text"),
        });
    let outcome = async {
        let apply_to = ApplyReadingDefaultsTo::NewPatients;
        settings::change_practice_patient_defaults_for(&state, &user, id, Ok(changes), apply_to)
            .await?;
        Ok("Notification defaults for new patients saved.".to_string())
    }
    .await;
    redirect_after(&state, &back(id), outcome)
}
