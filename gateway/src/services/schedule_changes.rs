//! The shapes in which on-call schedules are changed and shown (the JSON API and the staff
//! console alike), checked into the domain's types, and the answer to a refused change.
//!
//! Field paths in errors (`[2].from`, `[0].user_id`) name the entry of the submitted list.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use store::OnCallRefusal;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppError;
use crate::domain::oncall::{
    OnCallError, OnCallOverride, OnCallWindow, Weekdays, format_hhmm, parse_hhmm,
    validate_overrides, validate_windows,
};

/// Most windows, and most overrides, a practice may have.
pub const MAX_ENTRIES: usize = 100;

/// One weekly on-call window. `to` before `from` wraps past midnight; `from == to` is 24 hours.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnCallWindowBody {
    /// `HH:MM`, 24-hour clock, practice time zone; inclusive.
    #[schema(example = "18:00")]
    pub from: String,
    /// `HH:MM`; exclusive. Midnight is `00:00`.
    #[schema(example = "08:00")]
    pub to: String,
    pub user_id: Uuid,
    /// The weekdays the window starts on (`mon` … `sun`; an overnight window belongs to the
    /// evening it starts). Left out: every day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["mon", "tue", "wed", "thu", "fri"]))]
    pub days: Option<Vec<String>>,
}

/// One dated override: the user is on call from `from` (inclusive) to `to` (exclusive), and
/// while any override runs its users are on call instead of the weekly windows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnCallOverrideBody {
    pub user_id: Uuid,
    /// RFC 3339 instant, whole minutes; answered in UTC.
    #[schema(example = "2026-12-24T08:00:00-05:00")]
    pub from: String,
    /// RFC 3339 instant, whole minutes, after `from`; not passed when saved, at most 366 days
    /// ahead, at most 366 days after `from`.
    #[schema(example = "2026-12-26T08:00:00-05:00")]
    pub to: String,
}

fn invalid(error: OnCallError) -> AppError {
    AppError::invalid(
        error.field_path().unwrap_or_else(|| "body".into()),
        error.to_string(),
    )
}

pub fn bodies_of(windows: &[OnCallWindow]) -> Vec<OnCallWindowBody> {
    windows
        .iter()
        .map(|w| OnCallWindowBody {
            from: format_hhmm(w.from),
            to: format_hhmm(w.to),
            user_id: w.user_id,
            days: (!w.days.is_every_day())
                .then(|| w.days.names().into_iter().map(String::from).collect()),
        })
        .collect()
}

pub fn override_bodies(overrides: &[OnCallOverride]) -> Vec<OnCallOverrideBody> {
    let instant = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
    overrides
        .iter()
        .map(|o| OnCallOverrideBody {
            user_id: o.user_id,
            from: instant(o.from),
            to: instant(o.to),
        })
        .collect()
}

pub fn parse_windows(items: &[OnCallWindowBody]) -> Result<Vec<OnCallWindow>, AppError> {
    let windows = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let time = |field: &str, value: &str| {
                parse_hhmm(value)
                    .map_err(|e| AppError::invalid(format!("[{index}].{field}"), e.to_string()))
            };
            Ok(OnCallWindow {
                from: time("from", &item.from)?,
                to: time("to", &item.to)?,
                user_id: item.user_id,
                days: match &item.days {
                    None => Weekdays::EVERY_DAY,
                    Some(days) => Weekdays::parse(index, days).map_err(invalid)?,
                },
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    validate_windows(&windows).map_err(invalid)?;
    Ok(windows)
}

pub fn parse_overrides(
    items: &[OnCallOverrideBody],
    now: DateTime<Utc>,
) -> Result<Vec<OnCallOverride>, AppError> {
    let overrides = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let instant = |field: &str, value: &str| {
                DateTime::parse_from_rfc3339(value)
                    .map(|at| at.with_timezone(&Utc))
                    .map_err(|_| {
                        AppError::invalid(
                            format!("[{index}].{field}"),
                            "must be an RFC 3339 instant such as 2026-12-24T08:00:00-05:00",
                        )
                    })
            };
            Ok(OnCallOverride {
                user_id: item.user_id,
                from: instant("from", &item.from)?,
                to: instant("to", &item.to)?,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    validate_overrides(&overrides, now).map_err(invalid)?;
    Ok(overrides)
}

/// The API's answer to a refused on-call change. `field_of` names the request field that put a
/// refused user there (`[2].user_id`, `reassign_to`).
pub fn refusal(refusal: OnCallRefusal, field_of: impl Fn(Uuid) -> String) -> AppError {
    match refusal {
        OnCallRefusal::Unfit {
            user_id,
            practice_id,
            reason,
        } => AppError::invalid(
            field_of(user_id),
            format!(
                "cannot be on call at practice {practice_id}: this user {reason}; an on-call user must be an \
                 unlocked user of the practice's customer who can see the practice and has a mobile number"
            ),
        ),
        OnCallRefusal::HandoverNeeded(duties) => {
            let list: Vec<String> = duties
                .iter()
                .map(|d| format!("user {} at practice {}", d.user_id, d.practice_id))
                .collect();
            AppError::Conflict {
                code: "outstanding_items",
                message: format!(
                    "this change leaves on-call duty (windows or overrides) with users who could no longer act on it: {}; \
                     send reassign_to with the user who takes it over",
                    list.join(", ")
                ),
            }
        }
    }
}

/// `[i].user_id` of the first of `user_ids` that is `user`.
pub fn first_index_of(user_ids: &[Uuid], user: Uuid) -> String {
    let index = user_ids.iter().position(|&u| u == user).unwrap_or(0);
    format!("[{index}].user_id")
}
