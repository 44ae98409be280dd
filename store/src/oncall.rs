//! On-call schedules: each practice's weekly windows and dated overrides, who is on call in them,
//! and handing that duty over when its holder can no longer act.
//!
//! The store keeps windows as minutes after local midnight with a weekday bit set, and overrides
//! as instants, each in saved order. What they mean (wrapping, weekdays, time zones, daylight
//! saving, precedence) and who may be on call are the gateway's domain: the gateway passes its
//! rule in as an [`OnCallRule`], and the store runs it inside the transaction that writes, on
//! users as stored at that moment (their rows locked), so a concurrent lock or change of access
//! cannot slip between the check and the write.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::*;

/// One weekly window: from `from_minute` (inclusive) to `to_minute` (exclusive) after local
/// midnight in the practice's time zone, on the weekdays in `days` (bit 0 Monday … bit 6 Sunday;
/// 127 is every day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnCallWindowRow {
    pub from_minute: i32,
    pub to_minute: i32,
    pub days: i16,
    pub user_id: Uuid,
}

/// Every weekday, the `days` of a window that names none.
pub const EVERY_DAY: i16 = 0b111_1111;

/// One dated override: `user_id` is on call from `starts_at` (inclusive) to `ends_at`
/// (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnCallOverrideRow {
    pub user_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// The gateway's rule for who may be on call at a practice: `Ok` or why not. Run by the store on
/// the user (`None`: no user has that id) and the practice as stored inside the deciding
/// transaction.
pub type OnCallRule = fn(Option<&User>, &Practice) -> Result<(), String>;

/// On-call duty: `user_id` has windows or running overrides at `practice_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OnCallDuty {
    pub user_id: Uuid,
    pub practice_id: Uuid,
}

/// Why a change touching on-call duty was not made (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnCallRefusal {
    /// `user_id` may not be on call at `practice_id`: the rule's reason.
    Unfit {
        user_id: Uuid,
        practice_id: Uuid,
        reason: String,
    },
    /// The change would leave this duty with users who could no longer act on it, and nobody
    /// was named to take it over.
    HandoverNeeded(Vec<OnCallDuty>),
}

/// Who takes over on-call duty that a change of a user's access would leave with someone who
/// can no longer act, and the rule that says who can.
#[derive(Debug, Clone, Copy)]
pub struct OnCallHandover {
    pub reassign_to: Option<Uuid>,
    pub rule: OnCallRule,
}

#[async_trait]
pub trait OnCall: Send + Sync {
    /// The practice's weekly windows in saved order (empty when none).
    async fn on_call_windows(&self, practice_id: Uuid) -> StoreResult<Vec<OnCallWindowRow>>;

    /// The practice's overrides that end after `ending_after`, in saved order.
    async fn on_call_overrides(
        &self,
        practice_id: Uuid,
        ending_after: DateTime<Utc>,
    ) -> StoreResult<Vec<OnCallOverrideRow>>;

    /// Replaces the practice's whole weekly schedule with `windows`, with the audit row
    /// (`practice.on_call.update`), in one transaction. `NotFound` when the practice does not
    /// exist; refused, writing nothing, when `rule` refuses a window's user.
    async fn replace_on_call_windows(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        windows: Vec<OnCallWindowRow>,
        rule: OnCallRule,
    ) -> StoreResult<Result<Vec<OnCallWindowRow>, OnCallRefusal>>;

    /// Replaces all the practice's overrides (ended ones included) with `overrides`, with the
    /// audit row (`practice.on_call_overrides.update`), in one transaction. Answers the saved
    /// overrides ending after `audit.at`. `NotFound` when the practice does not exist; refused,
    /// writing nothing, when `rule` refuses an override's user.
    async fn replace_on_call_overrides(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        overrides: Vec<OnCallOverrideRow>,
        rule: OnCallRule,
    ) -> StoreResult<Result<Vec<OnCallOverrideRow>, OnCallRefusal>>;
}

/// The duty a change of `before` into `after` leaves behind: practices among `duty_at` where the
/// change makes the user unfit (or unfit for another reason than before). A change that leaves
/// an already unfit user's verdict as it was (a legacy schedule, say) does not block unrelated
/// edits; locking hands everything over regardless.
pub(crate) fn duty_lost(
    before: &User,
    after: &User,
    duty_at: &[Practice],
    rule: OnCallRule,
) -> Vec<OnCallDuty> {
    duty_at
        .iter()
        .filter(|p| {
            let now = rule(Some(after), p);
            now.is_err() && now != rule(Some(before), p)
        })
        .map(|p| OnCallDuty {
            user_id: after.id,
            practice_id: p.id,
        })
        .collect()
}

/// The first of `users` (each id with the user as stored now, if any) whom `rule` refuses at one
/// of `practices`.
pub(crate) fn check_users(
    users: &[(Uuid, Option<User>)],
    practices: &[Practice],
    rule: OnCallRule,
) -> Result<(), OnCallRefusal> {
    for (user_id, user) in users {
        for practice in practices {
            rule(user.as_ref(), practice).map_err(|reason| OnCallRefusal::Unfit {
                user_id: *user_id,
                practice_id: practice.id,
                reason,
            })?;
        }
    }
    Ok(())
}

/// `user` as `patch` leaves them, for the rule: role, mobile number and practices as patched
/// (practices sorted and without repeats, as stored).
pub(crate) fn patched(user: &User, patch: &UserPatch) -> User {
    let mut after = user.clone();
    if let Some(role) = patch.role {
        after.role = role;
    }
    if let Some(mobile_phone) = &patch.mobile_phone {
        after.mobile_phone = mobile_phone.clone();
    }
    if let Some(practice_ids) = &patch.practice_ids {
        after.practice_ids = practice_ids.clone();
        after.practice_ids.sort_unstable();
        after.practice_ids.dedup();
    }
    after
}

/// `user` with (`member`) or without practice `practice_id` among their practices.
pub(crate) fn with_membership(user: &User, practice_id: Uuid, member: bool) -> User {
    let mut after = user.clone();
    after.practice_ids.retain(|&id| id != practice_id);
    if member {
        after.practice_ids.push(practice_id);
        after.practice_ids.sort_unstable();
    }
    after
}

/// Decides the hand-over for the duty `lost`: none needed, the practices `successor` (as the
/// change leaves them; `None`: no such user) takes over, or why the change is refused.
pub(crate) fn decide_handover(
    lost: &[OnCallDuty],
    duty_at: &[Practice],
    successor: Option<(Uuid, Option<User>)>,
    rule: OnCallRule,
) -> Result<Vec<Practice>, OnCallRefusal> {
    if lost.is_empty() {
        return Ok(Vec::new());
    }
    let Some(successor) = successor else {
        return Err(OnCallRefusal::HandoverNeeded(lost.to_vec()));
    };
    let practices: Vec<Practice> = duty_at
        .iter()
        .filter(|p| lost.iter().any(|d| d.practice_id == p.id))
        .cloned()
        .collect();
    check_users(&[successor], &practices, rule)?;
    Ok(practices)
}
