//! The reading-alerts form of a practice's settings: the practice default of one vital.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use store::{ApplyReadingDefaultsTo, Practice};
use types::{AlertSettings, ChangeRule, ChangeUnit, Ranges, Vital};

use super::back;
use crate::http::AppState;
use crate::http::console::layout::csrf_field;
use crate::http::console::session::{ConsoleUser, redirect_after};
use crate::http::console::{Fields, PageId};
use crate::http::error::ApiError;
use crate::services::readings;

fn number(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

pub(super) fn reading_alert_form(
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
