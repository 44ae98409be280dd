//! Users, for customer admins: the customer's users, creating one, locking one (handing their
//! outstanding items to a colleague) and unlocking. The same use cases as `POST /v1/users`,
//! `POST /v1/users/{id}/lock` and `/unlock`; a lock refused for outstanding items says what they
//! are and asks who takes them over.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{Markup, html};
use store::{Practice, Role, User};
use uuid::Uuid;

use super::layout::{self, Section, csrf_field};
use super::session::{ConsoleUser, Flash, redirect_after, redirect_with};
use super::{Fields, PageId};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::users::outstanding_conflict;
use crate::services::users::{self, LockRefusal, NewUserRequest, display_name};

const BACK: &str = "/app/admin/users";

fn customer_of(user: &ConsoleUser) -> Result<Uuid, Response> {
    user.user
        .customer_id
        .ok_or_else(|| layout::error_page(&ApiError::NotFound("page")))
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::SuperAdmin => "Super admin",
        Role::CustomerAdmin => "Customer admin",
        Role::Staff => "Staff",
    }
}

fn user_row(me: &ConsoleUser, user: &User, everyone: &[User], practices: &[Practice]) -> Markup {
    let practice_names: Vec<&str> = practices
        .iter()
        .filter(|p| user.practice_ids.contains(&p.id))
        .map(|p| p.name.as_str())
        .collect();
    let successors: Vec<&User> = everyone
        .iter()
        .filter(|u| u.id != user.id && u.locked_at.is_none())
        .collect();
    let select_id = format!("successor-{}", user.id);
    html! {
        tr {
            th scope="row" { (display_name(user)) br; span.muted { (user.username) } }
            td { (role_name(user.role)) }
            td { @if practice_names.is_empty() { span.muted { "none" } } @else { (practice_names.join(", ")) } }
            td { @if user.locked_at.is_some() { strong { "Locked" } } @else { "Active" } }
            td {
                @if user.locked_at.is_some() {
                    form method="post" action={ "/app/admin/users/" (user.id) "/unlock" } {
                        (csrf_field(me))
                        button.secondary type="submit" aria-label={ "Unlock " (user.username) } { "Unlock" }
                    }
                } @else if user.id != me.id() {
                    form method="post" action={ "/app/admin/users/" (user.id) "/lock" } {
                        (csrf_field(me))
                        label for=(select_id) { "Hand over to" }
                        select id=(select_id) name="reassign_to" {
                            option value="" { "Nobody (only if nothing is outstanding)" }
                            @for s in &successors { option value=(s.id) { (display_name(s)) " (" (s.username) ")" } }
                        }
                        div.actions {
                            button.danger type="submit" aria-label={ "Lock " (user.username) } { "Lock" }
                        }
                    }
                } @else {
                    span.muted { "You" }
                }
            }
        }
    }
}

fn create_form(me: &ConsoleUser, practices: &[Practice]) -> Markup {
    html! {
        form.card method="post" action=(BACK) {
            (csrf_field(me))
            h2 { "Create a user" }
            label for="new-username" { "Username" }
            input #new-username type="text" name="username" required autocomplete="off";
            label for="new-password" { "Password" }
            input #new-password type="password" name="password" required autocomplete="new-password"
                aria-describedby="new-password-help";
            p #new-password-help.muted { "At least 8 characters including a digit." }
            label for="new-first" { "First name" }
            input #new-first type="text" name="first_name";
            label for="new-last" { "Last name" }
            input #new-last type="text" name="last_name";
            label for="new-title" { "Title" }
            input #new-title type="text" name="title";
            label for="new-email" { "Email" }
            input #new-email type="email" name="email";
            label for="new-mobile" { "Mobile phone" }
            input #new-mobile type="tel" name="mobile_phone" aria-describedby="new-mobile-help";
            p #new-mobile-help.muted { "Needed for on-call and alert texts." }
            label for="new-role" { "Role" }
            select #new-role name="role" {
                option value="staff" selected { "Staff" }
                option value="customer_admin" { "Customer admin" }
            }
            fieldset {
                legend { "Practices" }
                @for p in practices {
                    label.check { input type="checkbox" name="practice_ids" value=(p.id); (p.name) }
                }
            }
            div.actions { button type="submit" { "Create user" } }
        }
    }
}

/// `GET /app/admin/users`.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
) -> Response {
    let customer_id = match customer_of(&user) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let everyone = match users::list_for(&state, &user, customer_id).await {
        Ok(list) => list,
        Err(error) => return layout::error_page(&error),
    };
    let practices = match users::practices_of(&state, &user).await {
        Ok(p) => p,
        Err(error) => return layout::error_page(&error),
    };
    let body = html! {
        h1 { "Users" }
        section aria-labelledby="users-heading" {
            h2 #users-heading { (everyone.len()) " users" }
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Practices" }
                        th scope="col" { "Status" } th scope="col" { "Actions" }
                    } }
                    tbody { @for u in &everyone { (user_row(&user, u, &everyone, &practices)) } }
                }
            }
        }
        (create_form(&user, &practices))
    };
    layout::render(&state, &user, &headers, Section::Users, "Users", body)
}

/// `POST /app/admin/users`: the same use case as `POST /v1/users`, in the admin's customer.
pub async fn create(State(state): State<AppState>, user: ConsoleUser, body: Bytes) -> Response {
    let customer_id = match customer_of(&user) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let form = Fields::parse(&body);
    let outcome = async {
        let role = match form.get("role") {
            "staff" => Role::Staff,
            "customer_admin" => Role::CustomerAdmin,
            _ => return Err(ApiError::invalid("role", "must be staff or customer admin")),
        };
        let practice_ids = form
            .all("practice_ids")
            .into_iter()
            .map(|id| {
                Uuid::parse_str(id)
                    .map_err(|_| ApiError::invalid("practice_ids", "is not a practice"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mobile = form.get("mobile_phone").trim();
        let request = NewUserRequest {
            username: form.get("username").into(),
            password: form.get("password").into(),
            email: form.get("email").into(),
            first_name: form.get("first_name").into(),
            last_name: form.get("last_name").into(),
            title: form.get("title").into(),
            role,
            customer_id: Some(customer_id),
            practice_ids,
            mobile_phone: (!mobile.is_empty()).then(|| mobile.to_string()),
            auto_logout_minutes: None,
            restricted_programs: Vec::new(),
            supervisor_id: None,
        };
        users::create(&state, &user, request).await
    }
    .await;
    let outcome = outcome.map(|created| format!("User {} created.", created.username));
    redirect_after(&state, BACK, outcome)
}

/// `POST /app/admin/users/{id}/lock`.
pub async fn lock(
    State(state): State<AppState>,
    user: ConsoleUser,
    PageId(id): PageId,
    body: Bytes,
) -> Response {
    let form = Fields::parse(&body);
    let reassign_to = match form.get("reassign_to") {
        "" => None,
        raw => match Uuid::parse_str(raw) {
            Ok(id) => Some(id),
            Err(_) => {
                return redirect_with(
                    &state,
                    BACK,
                    Flash::from_error(&ApiError::invalid("reassign_to", "is not a user")),
                );
            }
        },
    };
    let flash = match users::lock(&state, &user, id, reassign_to).await {
        Ok(locked) => Flash::Done(format!(
            "{} is locked; their sessions have ended.",
            locked.username
        )),
        Err(LockRefusal::Outstanding(items)) => Flash::Failed(format!(
            "Not locked: {} Choose who takes them over and lock again.",
            layout::error_message(&outstanding_conflict(items))
                .split("; send reassign_to")
                .next()
                .unwrap_or_default()
                .to_string()
                + "."
        )),
        Err(LockRefusal::Error(error)) => Flash::from_error(&error),
    };
    redirect_with(&state, BACK, flash)
}

/// `POST /app/admin/users/{id}/unlock`.
pub async fn unlock(
    State(state): State<AppState>,
    user: ConsoleUser,
    PageId(id): PageId,
) -> Response {
    let outcome = users::unlock(&state, &user, id)
        .await
        .map(|unlocked| format!("{} is unlocked.", unlocked.username));
    redirect_after(&state, BACK, outcome)
}
