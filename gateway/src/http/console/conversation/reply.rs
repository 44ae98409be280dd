//! A conversation's reply box and the handler it posts to.

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use crate::http::AppState;
use crate::http::console::PageId;
use crate::http::console::layout::csrf_field;
use crate::http::console::session::{ConsoleUser, Flash, redirect_with};
use crate::http::conversations::{idempotency_key, message_body};
use crate::services::conversations::{self, Channel, Sent};

pub(super) fn reply_form(user: &ConsoleUser, patient_id: Uuid) -> Markup {
    html! {
        form.card method="post" action={ "/app/patients/" (patient_id) "/messages" }
            hx-disabled-elt="find button" {
            (csrf_field(user))
            // One key per rendered form: a second submit of the same form sends nothing new.
            input type="hidden" name="idempotency_key" value=(Uuid::new_v4());
            label for="reply" { "Reply" }
            textarea #reply name="body" required maxlength="1600" aria-describedby="reply-help" {}
            p #reply-help .muted { "Goes by text when the patient's texting is enabled, otherwise by the portal." }
            label for="channel" { "Send by" }
            select #channel name="channel" {
                option value="" selected { "Best available" }
                option value="sms" { "Text message" }
                option value="portal" { "Portal" }
            }
            div.actions { button type="submit" { "Send" } }
        }
    }
}

#[derive(Deserialize)]
pub struct Reply {
    body: String,
    #[serde(default)]
    channel: String,
    idempotency_key: String,
}

/// `POST /app/patients/{id}/messages`: sends the reply through the same use case as
/// `POST /v1/patients/{id}/messages`, with the form's idempotency key.
pub async fn reply(
    State(state): State<AppState>,
    user: ConsoleUser,
    PageId(id): PageId,
    Form(form): Form<Reply>,
) -> Response {
    let back = format!("/app/patients/{id}");
    let outcome = async {
        let body = message_body("body", &form.body)?;
        let channel = match form.channel.as_str() {
            "" => None,
            name => Some(Channel::parse(name).map_err(|_| {
                crate::http::error::ApiError::invalid("channel", "must be sms or portal")
            })?),
        };
        let key = idempotency_key(Some(&form.idempotency_key))?;
        conversations::send_for(&state, &user, id, body, channel, Some(key)).await
    }
    .await;
    let flash = match outcome {
        Ok(Sent::Created(message)) => Flash::Done(format!(
            "Sent by {}.",
            if message.channel == Channel::Sms {
                "text message"
            } else {
                "the portal"
            }
        )),
        Ok(Sent::Replayed(_)) => Flash::Done("Already sent; it was not sent again.".into()),
        Err(error) => Flash::from_error(&error),
    };
    redirect_with(&state, &back, flash)
}
