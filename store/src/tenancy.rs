//! Tenancy administration: default users, practice settings and membership, practice groups.

use async_trait::async_trait;
use uuid::Uuid;

use crate::oncall::{
    decide_handover, duty_lost, hand_over, lock_practice, lock_users, with_membership,
};
use crate::rows::{PRACTICE_COLUMNS, insert_audit, load_user, practice_from_row, user_if_any};
use crate::sql::{Db, ToArg, Tx};
use crate::*;

#[async_trait]
pub trait Tenancy: Send + Sync {
    /// Replaces the customer's default users (they join every practice created afterwards).
    async fn set_customer_default_users(
        &self,
        audit: &Audit,
        customer_id: Uuid,
        user_ids: Vec<Uuid>,
    ) -> StoreResult<Vec<Uuid>>;
    async fn customer_default_users(&self, customer_id: Uuid) -> StoreResult<Vec<Uuid>>;
    /// The practice's fallback users: its group's default users when it is in a group that has
    /// any, otherwise the customer's.
    async fn practice_default_users(&self, practice_id: Uuid) -> StoreResult<Vec<Uuid>>;
    async fn update_practice(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: PracticePatch,
    ) -> StoreResult<Practice>;
    /// Replaces the practice's users. On-call duty at this practice of users who can no longer
    /// act on it afterwards (by `handover.rule`) is handed to `handover.reassign_to` in the same
    /// transaction; without one, or when the rule refuses the successor, nothing changes and the
    /// refusal says why.
    async fn set_practice_users(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        user_ids: Vec<Uuid>,
        handover: OnCallHandover,
    ) -> StoreResult<Result<Vec<Uuid>, OnCallRefusal>>;
    async fn practice_users(&self, practice_id: Uuid) -> StoreResult<Vec<Uuid>>;
    async fn count_practices(&self, customer_id: Uuid) -> StoreResult<i64>;
    /// `Rule(TooFewPracticesForGroups)` below [`MIN_PRACTICES_FOR_GROUPS`];
    /// `Rule(PracticeInAnotherGroup)` when a practice is in another group or not of this customer.
    async fn create_practice_group(
        &self,
        audit: &Audit,
        new: NewPracticeGroup,
    ) -> StoreResult<PracticeGroup>;
    async fn get_practice_group(&self, id: Uuid) -> StoreResult<PracticeGroup>;
    async fn list_practice_groups(&self, customer_id: Uuid) -> StoreResult<Vec<PracticeGroup>>;
    async fn update_practice_group(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: PracticeGroupPatch,
    ) -> StoreResult<PracticeGroup>;
    /// Removes the group; its practices fall back to the customer's default users.
    async fn delete_practice_group(&self, audit: &Audit, id: Uuid) -> StoreResult<()>;
}

// ---- The use cases, written once for both backends (see `crate::sql`). ----

fn event(
    customer_id: Uuid,
    action: &'static str,
    kind: &'static str,
    id: Uuid,
) -> AuditEvent<'static> {
    crate::rows::event(Some(customer_id), action, kind, id)
}

fn distinct(ids: &[Uuid]) -> Vec<Uuid> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    ids
}

/// Refuses user ids that are not users of this customer (so no one can be made a default user
/// or practice member of another customer).
async fn check_users_of_customer(
    tx: &Tx<'_>,
    customer_id: Uuid,
    user_ids: &[Uuid],
) -> StoreResult<()> {
    for user_id in distinct(user_ids) {
        let sql = "SELECT customer_id FROM users WHERE id = $1";
        let owner = match tx.query_opt(sql, &[user_id.arg()]).await? {
            Some(row) => row.get::<Option<Uuid>>(0)?,
            None => None,
        };
        if owner != Some(customer_id) {
            return Err(StoreError::Rule(RuleRefusal::UsersOfAnotherCustomer));
        }
    }
    Ok(())
}

async fn load_group(tx: &Tx<'_>, id: Uuid) -> StoreResult<PracticeGroup> {
    let sql = "SELECT id, customer_id, name, created_at FROM practice_groups WHERE id = $1";
    let row = tx.query_one(sql, &[id.arg()]).await?;
    Ok(PracticeGroup {
        id: row.get(0)?,
        customer_id: row.get(1)?,
        name: row.get(2)?,
        created_at: row.get(3)?,
        default_user_ids: tx
            .column(
                "SELECT user_id FROM practice_group_default_users WHERE practice_group_id = $1
                 ORDER BY user_id",
                &[id.arg()],
            )
            .await?,
        practice_ids: tx
            .column(
                "SELECT id FROM practices WHERE practice_group_id = $1 ORDER BY id",
                &[id.arg()],
            )
            .await?,
    })
}

/// Puts practices into a group; each must be of the customer and in no other group.
async fn assign_practices(
    tx: &Tx<'_>,
    group: Uuid,
    customer_id: Uuid,
    practice_ids: &[Uuid],
) -> StoreResult<()> {
    for practice_id in distinct(practice_ids) {
        let updated = tx
            .execute(
                "UPDATE practices SET practice_group_id = $1
                 WHERE id = $2 AND customer_id = $3
                   AND (practice_group_id IS NULL OR practice_group_id = $1)",
                &[group.arg(), practice_id.arg(), customer_id.arg()],
            )
            .await?;
        if updated != 1 {
            return Err(StoreError::Rule(RuleRefusal::PracticeInAnotherGroup));
        }
    }
    Ok(())
}

/// The group's default users join each of its practices.
async fn add_group_defaults_to_practices(tx: &Tx<'_>, group: Uuid) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO user_practices (user_id, practice_id)
         SELECT d.user_id, p.id FROM practice_group_default_users d
         JOIN practices p ON p.practice_group_id = d.practice_group_id
         WHERE d.practice_group_id = $1
         ON CONFLICT DO NOTHING",
        &[group.arg()],
    )
    .await?;
    Ok(())
}

async fn replace_group_defaults(tx: &Tx<'_>, group: Uuid, user_ids: &[Uuid]) -> StoreResult<()> {
    let sql = "DELETE FROM practice_group_default_users WHERE practice_group_id = $1";
    tx.execute(sql, &[group.arg()]).await?;
    let sql =
        "INSERT INTO practice_group_default_users (practice_group_id, user_id) VALUES ($1, $2)
               ON CONFLICT DO NOTHING";
    tx.execute_each(sql, group.arg(), user_ids).await
}

/// The practice's texting and portal switches, read under a share lock (PostgreSQL) so a switch
/// turned off cannot commit between this check and the change that relies on it.
pub(crate) async fn practice_switches(tx: &Tx<'_>, practice_id: Uuid) -> StoreResult<(bool, bool)> {
    let sql = tx.pick(
        "SELECT texting_enabled, portal_enabled FROM practices WHERE id = $1 FOR SHARE",
        "SELECT texting_enabled, portal_enabled FROM practices WHERE id = $1",
    );
    let row = tx.query_one(sql, &[practice_id.arg()]).await?;
    Ok((row.get(0)?, row.get(1)?))
}

/// `Rule(GroupOfAnotherCustomer)` unless `group` is a practice group of `customer_id`.
pub(crate) async fn check_group_of_customer(
    tx: &Tx<'_>,
    group: Uuid,
    customer_id: Uuid,
) -> StoreResult<()> {
    let sql = "SELECT 1 FROM practice_groups WHERE id = $1 AND customer_id = $2";
    match tx.query_opt(sql, &[group.arg(), customer_id.arg()]).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::Rule(RuleRefusal::GroupOfAnotherCustomer)),
    }
}

/// Moves a practice into `group` (its default users join it) or out of any group (`None`),
/// serialised with the customer's other group changes.
async fn move_practice_to_group(
    tx: &Tx<'_>,
    practice_id: Uuid,
    group: Option<Uuid>,
) -> StoreResult<()> {
    let sql = "SELECT customer_id FROM practices WHERE id = $1";
    let customer_id: Uuid = tx.query_one(sql, &[practice_id.arg()]).await?.get(0)?;
    lock_customer(tx, customer_id).await?;
    if let Some(group) = group {
        check_group_of_customer(tx, group, customer_id).await?;
    }
    let sql = "UPDATE practices SET practice_group_id = $2 WHERE id = $1";
    tx.execute(sql, &[practice_id.arg(), group.arg()]).await?;
    if let Some(group) = group {
        add_group_defaults_to_practices(tx, group).await?;
    }
    Ok(())
}

/// Locks the customer's row (PostgreSQL): group changes and default users of one customer take
/// turns, so a count and the assignment it allows agree. `NotFound` without the customer.
pub(crate) async fn lock_customer(tx: &Tx<'_>, customer_id: Uuid) -> StoreResult<()> {
    let sql = tx.pick(
        "SELECT id FROM customers WHERE id = $1 FOR UPDATE",
        "SELECT id FROM customers WHERE id = $1",
    );
    tx.query_one(sql, &[customer_id.arg()]).await.map(drop)
}

async fn customer_defaults(tx: &Tx<'_>, customer_id: Uuid) -> StoreResult<Vec<Uuid>> {
    let sql = "SELECT user_id FROM customer_default_users WHERE customer_id = $1 ORDER BY user_id";
    tx.column(sql, &[customer_id.arg()]).await
}

async fn practice_members(tx: &Tx<'_>, practice_id: Uuid) -> StoreResult<Vec<Uuid>> {
    let sql = "SELECT user_id FROM user_practices WHERE practice_id = $1 ORDER BY user_id";
    tx.column(sql, &[practice_id.arg()]).await
}

/// The group of a practice group's id, its row locked; `NotFound` without one.
async fn lock_group(tx: &Tx<'_>, id: Uuid) -> StoreResult<Uuid> {
    let sql = tx.pick(
        "SELECT customer_id FROM practice_groups WHERE id = $1 FOR UPDATE",
        "SELECT customer_id FROM practice_groups WHERE id = $1",
    );
    tx.query_one(sql, &[id.arg()]).await?.get(0)
}

#[async_trait]
impl<D: Db> Tenancy for D {
    async fn set_customer_default_users(
        &self,
        audit: &Audit,
        customer_id: Uuid,
        user_ids: Vec<Uuid>,
    ) -> StoreResult<Vec<Uuid>> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                lock_customer(tx, customer_id).await?;
                check_users_of_customer(tx, customer_id, &user_ids).await?;
                let sql = "DELETE FROM customer_default_users WHERE customer_id = $1";
                tx.execute(sql, &[customer_id.arg()]).await?;
                let sql =
                    "INSERT INTO customer_default_users (customer_id, user_id) VALUES ($1, $2)
                           ON CONFLICT DO NOTHING";
                tx.execute_each(sql, customer_id.arg(), &user_ids).await?;
                let event = event(
                    customer_id,
                    "customer.set_default_users",
                    "customer",
                    customer_id,
                );
                insert_audit(tx, &audit, &event).await?;
                customer_defaults(tx, customer_id).await
            })
        })
        .await
    }

    async fn customer_default_users(&self, customer_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.autocommit(move |tx| Box::pin(customer_defaults(tx, customer_id)))
            .await
    }

    async fn practice_default_users(&self, practice_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = "SELECT customer_id, practice_group_id FROM practices WHERE id = $1";
                let practice = tx.query_one(sql, &[practice_id.arg()]).await?;
                if let Some(group) = practice.get::<Option<Uuid>>(1)? {
                    let users: Vec<Uuid> = tx
                        .column(
                            "SELECT user_id FROM practice_group_default_users
                             WHERE practice_group_id = $1 ORDER BY user_id",
                            &[group.arg()],
                        )
                        .await?;
                    if !users.is_empty() {
                        return Ok(users);
                    }
                }
                customer_defaults(tx, practice.get(0)?).await
            })
        })
        .await
    }

    async fn update_practice(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: PracticePatch,
    ) -> StoreResult<Practice> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                if let Some(group) = patch.practice_group_id {
                    move_practice_to_group(tx, id, group).await?;
                }
                let sql = format!(
                    "UPDATE practices SET name = COALESCE($2, name), timezone = COALESCE($3, timezone),
                         sms_number = COALESCE($4, sms_number),
                         escalation_delay_minutes = COALESCE($5, escalation_delay_minutes),
                         texting_enabled = COALESCE($6, texting_enabled),
                         portal_enabled = COALESCE($7, portal_enabled)
                     WHERE id = $1 RETURNING {PRACTICE_COLUMNS}"
                );
                let timezone = patch.timezone.map(|tz| tz.name());
                let args = [
                    id.arg(),
                    patch.name.arg(),
                    timezone.arg(),
                    patch.sms_number.arg(),
                    patch.escalation_delay_minutes.arg(),
                    patch.texting_enabled.arg(),
                    patch.portal_enabled.arg(),
                ];
                let practice = practice_from_row(&tx.query_one(&sql, &args).await?)?;
                let event = event(practice.customer_id, "practice.update", "practice", id);
                insert_audit(tx, &audit, &event).await?;
                Ok(practice)
            })
        })
        .await
    }

    async fn set_practice_users(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        user_ids: Vec<Uuid>,
        handover: OnCallHandover,
    ) -> StoreResult<Result<Vec<Uuid>, OnCallRefusal>> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(set_practice_users(
                tx,
                audit,
                practice_id,
                user_ids,
                handover,
            ))
        })
        .await
    }

    async fn practice_users(&self, practice_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.autocommit(move |tx| Box::pin(practice_members(tx, practice_id)))
            .await
    }

    async fn count_practices(&self, customer_id: Uuid) -> StoreResult<i64> {
        self.autocommit(move |tx| Box::pin(count_practices(tx, customer_id)))
            .await
    }

    async fn create_practice_group(
        &self,
        audit: &Audit,
        new: NewPracticeGroup,
    ) -> StoreResult<PracticeGroup> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                // Serialises group changes per customer, so the count and the assignment agree.
                lock_customer(tx, new.customer_id).await?;
                if count_practices(tx, new.customer_id).await? < MIN_PRACTICES_FOR_GROUPS {
                    return Err(StoreError::Rule(RuleRefusal::TooFewPracticesForGroups));
                }
                check_users_of_customer(tx, new.customer_id, &new.default_user_ids).await?;
                let id = new_id();
                tx.execute(
                    "INSERT INTO practice_groups (id, customer_id, name, created_at) VALUES ($1, $2, $3, $4)",
                    &[id.arg(), new.customer_id.arg(), new.name.arg(), audit.at.arg()],
                )
                .await?;
                assign_practices(tx, id, new.customer_id, &new.practice_ids).await?;
                replace_group_defaults(tx, id, &new.default_user_ids).await?;
                add_group_defaults_to_practices(tx, id).await?;
                let event = event(new.customer_id, "practice_group.create", "practice_group", id);
                insert_audit(tx, &audit, &event).await?;
                load_group(tx, id).await
            })
        })
        .await
    }

    async fn get_practice_group(&self, id: Uuid) -> StoreResult<PracticeGroup> {
        self.autocommit(move |tx| Box::pin(load_group(tx, id)))
            .await
    }

    async fn list_practice_groups(&self, customer_id: Uuid) -> StoreResult<Vec<PracticeGroup>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = "SELECT id FROM practice_groups WHERE customer_id = $1 ORDER BY id";
                let ids: Vec<Uuid> = tx.column(sql, &[customer_id.arg()]).await?;
                let mut groups = Vec::with_capacity(ids.len());
                for id in ids {
                    groups.push(load_group(tx, id).await?);
                }
                Ok(groups)
            })
        })
        .await
    }

    async fn update_practice_group(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: PracticeGroupPatch,
    ) -> StoreResult<PracticeGroup> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                let customer_id = lock_group(tx, id).await?;
                lock_customer(tx, customer_id).await?;
                if let Some(name) = &patch.name {
                    let sql = "UPDATE practice_groups SET name = $2 WHERE id = $1";
                    tx.execute(sql, &[id.arg(), name.arg()]).await?;
                }
                if let Some(practice_ids) = &patch.practice_ids {
                    let sql = "UPDATE practices SET practice_group_id = NULL WHERE practice_group_id = $1";
                    tx.execute(sql, &[id.arg()]).await?;
                    assign_practices(tx, id, customer_id, practice_ids).await?;
                }
                if let Some(user_ids) = &patch.default_user_ids {
                    check_users_of_customer(tx, customer_id, user_ids).await?;
                    replace_group_defaults(tx, id, user_ids).await?;
                }
                add_group_defaults_to_practices(tx, id).await?;
                let event = event(customer_id, "practice_group.update", "practice_group", id);
                insert_audit(tx, &audit, &event).await?;
                load_group(tx, id).await
            })
        })
        .await
    }

    async fn delete_practice_group(&self, audit: &Audit, id: Uuid) -> StoreResult<()> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                let customer_id = lock_group(tx, id).await?;
                for sql in [
                    "UPDATE practices SET practice_group_id = NULL WHERE practice_group_id = $1",
                    "DELETE FROM practice_group_default_users WHERE practice_group_id = $1",
                    "DELETE FROM practice_groups WHERE id = $1",
                ] {
                    tx.execute(sql, &[id.arg()]).await?;
                }
                let event = event(customer_id, "practice_group.delete", "practice_group", id);
                insert_audit(tx, &audit, &event).await
            })
        })
        .await
    }
}

async fn count_practices(tx: &Tx<'_>, customer_id: Uuid) -> StoreResult<i64> {
    let sql = "SELECT count(*) FROM practices WHERE customer_id = $1";
    tx.query_one(sql, &[customer_id.arg()]).await?.get(0)
}

async fn set_practice_users(
    tx: &Tx<'_>,
    audit: Audit,
    practice_id: Uuid,
    user_ids: Vec<Uuid>,
    handover: OnCallHandover,
) -> StoreResult<Result<Vec<Uuid>, OnCallRefusal>> {
    let practice = lock_practice(tx, practice_id).await?;
    check_users_of_customer(tx, practice.customer_id, &user_ids).await?;
    // Members on call here who leave: decided before anything is written, so a refusal leaves
    // the membership as it was. Their rows (and the successor's) are locked first so what they
    // can see is decided on the stored state.
    let on_call_members: Vec<Uuid> = tx
        .column(
            "SELECT user_id FROM user_practices WHERE practice_id = $1
               AND (user_id IN (SELECT user_id FROM on_call_windows WHERE practice_id = $1)
                    OR user_id IN (SELECT user_id FROM on_call_overrides
                                   WHERE practice_id = $1 AND ends_at > $2))
             ORDER BY user_id",
            &[practice_id.arg(), audit.at.arg()],
        )
        .await?;
    let leaving: Vec<Uuid> = on_call_members
        .into_iter()
        .filter(|id| !user_ids.contains(id))
        .collect();
    let locked: Vec<Uuid> = leaving
        .iter()
        .copied()
        .chain(handover.reassign_to)
        .collect();
    lock_users(tx, &locked, true).await?;
    let here = std::slice::from_ref(&practice);
    let mut lost = Vec::new();
    for user_id in &leaving {
        let user = load_user(tx, *user_id).await?;
        let after = with_membership(&user, practice_id, false);
        lost.extend(duty_lost(&user, &after, here, handover.rule));
    }
    let successor = match handover.reassign_to {
        Some(id) if !lost.is_empty() => {
            let member = user_ids.contains(&id);
            let user = user_if_any(tx, id).await?;
            Some((id, user.map(|u| with_membership(&u, practice_id, member))))
        }
        _ => None,
    };
    let handed = match decide_handover(&lost, here, successor, handover.rule) {
        Ok(handed) => handed,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let sql = "DELETE FROM user_practices WHERE practice_id = $1";
    tx.execute(sql, &[practice_id.arg()]).await?;
    for user_id in &user_ids {
        tx.execute(
            "INSERT INTO user_practices (user_id, practice_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[user_id.arg(), practice_id.arg()],
        )
        .await?;
    }
    if let Some(successor) = handover.reassign_to.filter(|_| !handed.is_empty()) {
        for duty in &lost {
            hand_over(tx, &audit, duty.user_id, successor, &handed).await?;
        }
    }
    let event = event(
        practice.customer_id,
        "practice.set_users",
        "practice",
        practice_id,
    );
    insert_audit(tx, &audit, &event).await?;
    practice_members(tx, practice_id).await.map(Ok)
}
