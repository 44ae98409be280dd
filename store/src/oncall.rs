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

use crate::rows::{PRACTICE_COLUMNS, event, insert_audit, practice_from_row, user_if_any};
use crate::sql::{Arg, BoxFuture, Db, ToArg, Tx};
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

// ---- The use cases, written once for both backends (see `crate::sql`). ----
//
// Lock order on PostgreSQL, so that concurrent changes wait rather than deadlock: the practice
// row first (`FOR NO KEY UPDATE`), then user rows in id order (`FOR SHARE` to check a user,
// `FOR UPDATE` to change one). A schedule save therefore waits for a concurrent lock or access
// change of its users and then sees it, and the other way round. SQLite needs none of it: every
// write is one `BEGIN IMMEDIATE` transaction.

async fn load_windows(tx: &Tx<'_>, practice_id: Uuid) -> StoreResult<Vec<OnCallWindowRow>> {
    let rows = tx
        .query(
            "SELECT from_minute, to_minute, days, user_id FROM on_call_windows
             WHERE practice_id = $1 ORDER BY position",
            &[practice_id.arg()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(OnCallWindowRow {
                from_minute: r.get(0)?,
                to_minute: r.get(1)?,
                days: r.get(2)?,
                user_id: r.get(3)?,
            })
        })
        .collect()
}

async fn load_overrides(
    tx: &Tx<'_>,
    practice_id: Uuid,
    ending_after: DateTime<Utc>,
) -> StoreResult<Vec<OnCallOverrideRow>> {
    let rows = tx
        .query(
            "SELECT user_id, starts_at, ends_at FROM on_call_overrides
             WHERE practice_id = $1 AND ends_at > $2 ORDER BY position",
            &[practice_id.arg(), ending_after.arg()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(OnCallOverrideRow {
                user_id: r.get(0)?,
                starts_at: r.get(1)?,
                ends_at: r.get(2)?,
            })
        })
        .collect()
}

/// The practice, its row locked against concurrent schedule saves and membership changes.
pub(crate) async fn lock_practice(tx: &Tx<'_>, practice_id: Uuid) -> StoreResult<Practice> {
    let sql = format!(
        "SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = $1{}",
        tx.pick(" FOR NO KEY UPDATE", "")
    );
    practice_from_row(&tx.query_one(&sql, &[practice_id.arg()]).await?)
}

/// Locks the rows of `ids` that are users, in id order: `FOR UPDATE` when `for_update`, else
/// `FOR SHARE` (PostgreSQL; SQLite's transaction already excludes other writers).
pub(crate) async fn lock_users(tx: &Tx<'_>, ids: &[Uuid], for_update: bool) -> StoreResult<()> {
    if tx.backend() == Backend::Postgres {
        let strength = if for_update { "UPDATE" } else { "SHARE" };
        tx.query(
            &format!("SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR {strength}"),
            &[ids.arg()],
        )
        .await?;
    }
    Ok(())
}

/// Locks the distinct users of a schedule (`FOR SHARE`) and runs `rule` on each at `practice`.
async fn check_schedule_users(
    tx: &Tx<'_>,
    practice: &Practice,
    user_ids: &[Uuid],
    rule: OnCallRule,
) -> StoreResult<Result<(), OnCallRefusal>> {
    let user_ids = crate::notification_settings::distinct_in_order(user_ids);
    lock_users(tx, &user_ids, false).await?;
    let mut users = Vec::with_capacity(user_ids.len());
    for id in user_ids {
        users.push((id, user_if_any(tx, id).await?));
    }
    Ok(check_users(&users, std::slice::from_ref(practice), rule))
}

/// The practices where `user_id` has on-call windows or overrides ending after `now`.
pub(crate) async fn duty_practices(
    tx: &Tx<'_>,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Practice>> {
    let sql = format!(
        "SELECT {PRACTICE_COLUMNS} FROM practices
         WHERE id IN (SELECT practice_id FROM on_call_windows WHERE user_id = $1
                      UNION SELECT practice_id FROM on_call_overrides
                            WHERE user_id = $1 AND ends_at > $2)
         ORDER BY id"
    );
    let rows = tx.query(&sql, &[user_id.arg(), now.arg()]).await?;
    rows.iter().map(practice_from_row).collect()
}

/// Hands `from`'s windows and running overrides at `practices` to `to` as they are (the
/// successor covers the same hours), drops exact repeats this makes, and audits each practice
/// (`practice.on_call.hand_over`). Ended overrides stay as history.
pub(crate) async fn hand_over(
    tx: &Tx<'_>,
    audit: &Audit,
    from: Uuid,
    to: Uuid,
    practices: &[Practice],
) -> StoreResult<()> {
    for practice in practices {
        let (from, to, id) = (from.arg(), to.arg(), practice.id.arg());
        tx.execute(
            "UPDATE on_call_windows SET user_id = $2 WHERE user_id = $1 AND practice_id = $3",
            &[from.clone(), to.clone(), id.clone()],
        )
        .await?;
        tx.execute(
            "UPDATE on_call_overrides SET user_id = $2
             WHERE user_id = $1 AND practice_id = $3 AND ends_at > $4",
            &[from, to.clone(), id.clone(), audit.at.arg()],
        )
        .await?;
        // The successor may already have had the same window or override: keep the first.
        tx.execute(
            "DELETE FROM on_call_windows AS w
             WHERE w.user_id = $1 AND w.practice_id = $2
               AND EXISTS (SELECT 1 FROM on_call_windows e
                           WHERE e.practice_id = w.practice_id AND e.user_id = w.user_id
                             AND e.from_minute = w.from_minute AND e.to_minute = w.to_minute
                             AND e.days = w.days AND e.position < w.position)",
            &[to.clone(), id.clone()],
        )
        .await?;
        tx.execute(
            "DELETE FROM on_call_overrides AS o
             WHERE o.user_id = $1 AND o.practice_id = $2
               AND EXISTS (SELECT 1 FROM on_call_overrides e
                           WHERE e.practice_id = o.practice_id AND e.user_id = o.user_id
                             AND e.starts_at = o.starts_at AND e.ends_at = o.ends_at
                             AND e.position < o.position)",
            &[to, id],
        )
        .await?;
        let event = event(
            Some(practice.customer_id),
            "practice.on_call.hand_over",
            "practice",
            practice.id,
        );
        insert_audit(tx, audit, &event).await?;
    }
    Ok(())
}

/// Replaces a practice's windows or overrides in one transaction: the practice locked, every
/// user checked by `rule`, the old rows deleted and `rows` inserted in order, the change audited;
/// the rows as saved.
async fn save_schedule<D: Db, T: Send + Sync + 'static>(
    db: &D,
    audit: &Audit,
    practice_id: Uuid,
    rows: Vec<T>,
    rule: OnCallRule,
    schedule: Schedule<T>,
) -> StoreResult<Result<Vec<T>, OnCallRefusal>> {
    let audit = audit.clone();
    db.transaction(move |tx| {
        Box::pin(async move {
            let practice = lock_practice(tx, practice_id).await?;
            let user_ids: Vec<Uuid> = rows.iter().map(schedule.user_id).collect();
            if let Err(refusal) = check_schedule_users(tx, &practice, &user_ids, rule).await? {
                return Ok(Err(refusal));
            }
            let delete = format!("DELETE FROM {} WHERE practice_id = $1", schedule.table);
            tx.execute(&delete, &[practice_id.arg()]).await?;
            for (position, row) in rows.iter().enumerate() {
                let position = i32::try_from(position).map_err(|_| {
                    StoreError::Unexpected(format!("too many rows for {}", schedule.table))
                })?;
                let mut args = vec![practice_id.arg(), position.arg()];
                args.extend((schedule.values)(row));
                tx.execute(schedule.insert, &args).await?;
            }
            let event = event(
                Some(practice.customer_id),
                schedule.action,
                "practice",
                practice_id,
            );
            insert_audit(tx, &audit, &event).await?;
            (schedule.load)(tx, practice_id, audit.at).await.map(Ok)
        })
    })
    .await
}

/// What differs between saving windows and saving overrides.
struct Schedule<T> {
    table: &'static str,
    action: &'static str,
    user_id: fn(&T) -> Uuid,
    /// Inserts one row: `$1` the practice, `$2` the position, then [`Schedule::values`].
    insert: &'static str,
    values: fn(&T) -> Vec<Arg<'_>>,
    /// The rows as saved (overrides that end after the given time).
    load: LoadSchedule<T>,
}

/// Reads a practice's saved windows or overrides (those ending after the time).
type LoadSchedule<T> =
    for<'a> fn(&'a Tx<'a>, Uuid, DateTime<Utc>) -> BoxFuture<'a, StoreResult<Vec<T>>>;

const WINDOWS: Schedule<OnCallWindowRow> = Schedule {
    table: "on_call_windows",
    action: "practice.on_call.update",
    user_id: |w| w.user_id,
    insert:
        "INSERT INTO on_call_windows (practice_id, position, from_minute, to_minute, days, user_id)
             VALUES ($1, $2, $3, $4, $5, $6)",
    values: |w| {
        vec![
            w.from_minute.arg(),
            w.to_minute.arg(),
            w.days.arg(),
            w.user_id.arg(),
        ]
    },
    load: |tx, practice_id, _| Box::pin(load_windows(tx, practice_id)),
};

const OVERRIDES: Schedule<OnCallOverrideRow> = Schedule {
    table: "on_call_overrides",
    action: "practice.on_call_overrides.update",
    user_id: |o| o.user_id,
    insert: "INSERT INTO on_call_overrides (practice_id, position, user_id, starts_at, ends_at)
             VALUES ($1, $2, $3, $4, $5)",
    values: |o| vec![o.user_id.arg(), o.starts_at.arg(), o.ends_at.arg()],
    load: |tx, practice_id, at| Box::pin(load_overrides(tx, practice_id, at)),
};

#[async_trait]
impl<D: Db> OnCall for D {
    async fn on_call_windows(&self, practice_id: Uuid) -> StoreResult<Vec<OnCallWindowRow>> {
        self.autocommit(move |tx| Box::pin(load_windows(tx, practice_id)))
            .await
    }

    async fn on_call_overrides(
        &self,
        practice_id: Uuid,
        ending_after: DateTime<Utc>,
    ) -> StoreResult<Vec<OnCallOverrideRow>> {
        self.autocommit(move |tx| Box::pin(load_overrides(tx, practice_id, ending_after)))
            .await
    }

    async fn replace_on_call_windows(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        windows: Vec<OnCallWindowRow>,
        rule: OnCallRule,
    ) -> StoreResult<Result<Vec<OnCallWindowRow>, OnCallRefusal>> {
        save_schedule(self, audit, practice_id, windows, rule, WINDOWS).await
    }

    async fn replace_on_call_overrides(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        overrides: Vec<OnCallOverrideRow>,
        rule: OnCallRule,
    ) -> StoreResult<Result<Vec<OnCallOverrideRow>, OnCallRefusal>> {
        save_schedule(self, audit, practice_id, overrides, rule, OVERRIDES).await
    }
}
