//! The notification-defaults forms of a practice's settings: one for its users, one for its
//! new patients.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use store::{ApplyDefaultsTo, ApplyReadingDefaultsTo, Practice};

use super::back;
use crate::domain::notifications::{
    Change, Kind, NotificationKind, NotificationSetting, PatientNotificationKind,
    PatientNotificationSetting, PatientSettings, UserSettings,
};
use crate::http::AppState;
use crate::http::console::layout::csrf_field;
use crate::http::console::session::{ConsoleUser, redirect_after};
use crate::http::console::{Fields, PageId};
use crate::services::notification_settings as settings;

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

pub(super) fn user_defaults_form(
    user: &ConsoleUser,
    practice: &Practice,
    current: &UserSettings,
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

pub(super) fn patient_defaults_form(
    user: &ConsoleUser,
    practice: &Practice,
    current: &PatientSettings,
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
