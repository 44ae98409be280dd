//! Tenancy on PostgreSQL: default users, practice settings and membership, practice groups.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::oncall::{hand_over, lock_practice, lock_users, user_if_any};
use super::rows::*;
use super::{PostgresStore, insert_audit, load_user, map_err};
use crate::oncall::{decide_handover, duty_lost, with_membership};
use crate::*;

fn event(
    customer_id: Uuid,
    action: &'static str,
    target_type: &'static str,
    target_id: Uuid,
) -> AuditEvent<'static> {
    AuditEvent {
        customer_id: Some(customer_id),
        action,
        target_type,
        target_id: Some(target_id.to_string()),
        patient_id: None,
    }
}

/// Refuses user ids that are not users of this customer (so no one can be made a default user
/// or practice member of another customer).
async fn check_users_of_customer(
    client: &impl GenericClient,
    customer_id: Uuid,
    user_ids: &[Uuid],
) -> StoreResult<()> {
    let found: i64 = client
        .query_one(
            "SELECT count(*) FROM users WHERE id = ANY($1) AND customer_id = $2",
            &[&user_ids, &customer_id],
        )
        .await
        .map_err(map_err)?
        .get(0);
    let mut distinct = user_ids.to_vec();
    distinct.sort();
    distinct.dedup();
    if found != distinct.len() as i64 {
        return Err(StoreError::Conflict {
            constraint: "users_of_customer".into(),
        });
    }
    Ok(())
}

async fn load_group(client: &impl GenericClient, id: Uuid) -> StoreResult<PracticeGroup> {
    let row = client
        .query_opt(
            "SELECT g.id, g.customer_id, g.name, g.created_at,
                    ARRAY(SELECT d.user_id FROM practice_group_default_users d WHERE d.practice_group_id = g.id ORDER BY d.user_id),
                    ARRAY(SELECT p.id FROM practices p WHERE p.practice_group_id = g.id ORDER BY p.id)
             FROM practice_groups g WHERE g.id = $1",
            &[&id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    Ok(PracticeGroup {
        id: row.get(0),
        customer_id: row.get(1),
        name: row.get(2),
        created_at: row.get(3),
        default_user_ids: row.get(4),
        practice_ids: row.get(5),
    })
}

/// Puts practices into a group; each must be of the customer and in no other group.
async fn assign_practices(
    client: &impl GenericClient,
    group: Uuid,
    customer_id: Uuid,
    practice_ids: &[Uuid],
) -> StoreResult<()> {
    let mut distinct = practice_ids.to_vec();
    distinct.sort();
    distinct.dedup();
    let updated = client
        .execute(
            "UPDATE practices SET practice_group_id = $1
             WHERE id = ANY($2) AND customer_id = $3 AND (practice_group_id IS NULL OR practice_group_id = $1)",
            &[&group, &distinct, &customer_id],
        )
        .await
        .map_err(map_err)?;
    if updated != distinct.len() as u64 {
        return Err(StoreError::Conflict {
            constraint: "practices_practice_group_id".into(),
        });
    }
    Ok(())
}

/// `Conflict { constraint: "practice_group_of_customer" }` unless `group` is a group of
/// `customer_id`.
pub(super) async fn check_group_of_customer(
    client: &impl GenericClient,
    group: Uuid,
    customer_id: Uuid,
) -> StoreResult<()> {
    super::require_row(
        client,
        "SELECT 1 FROM practice_groups WHERE id = $1 AND customer_id = $2",
        &[&group, &customer_id],
        "practice_group_of_customer",
    )
    .await
}

/// Locks the customer's row: group changes, and practices joining groups, are serialised per
/// customer so a count and an assignment agree.
pub(super) async fn lock_customer(
    client: &impl GenericClient,
    customer_id: Uuid,
) -> StoreResult<()> {
    client
        .query_opt(
            "SELECT id FROM customers WHERE id = $1 FOR UPDATE",
            &[&customer_id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    Ok(())
}

/// The group's default users join each of its practices.
async fn add_group_defaults_to_practices(
    client: &impl GenericClient,
    group: Uuid,
) -> StoreResult<()> {
    client
        .execute(
            "INSERT INTO user_practices (user_id, practice_id)
             SELECT d.user_id, p.id FROM practice_group_default_users d JOIN practices p ON p.practice_group_id = d.practice_group_id
             WHERE d.practice_group_id = $1
             ON CONFLICT DO NOTHING",
            &[&group],
        )
        .await
        .map_err(map_err)?;
    Ok(())
}

async fn replace_group_defaults(
    client: &impl GenericClient,
    group: Uuid,
    user_ids: &[Uuid],
) -> StoreResult<()> {
    client
        .execute(
            "DELETE FROM practice_group_default_users WHERE practice_group_id = $1",
            &[&group],
        )
        .await
        .map_err(map_err)?;
    for user_id in user_ids {
        client
            .execute(
                "INSERT INTO practice_group_default_users (practice_group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&group, user_id],
            )
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

#[async_trait]
impl Tenancy for PostgresStore {
    async fn set_customer_default_users(
        &self,
        audit: &Audit,
        customer_id: Uuid,
        user_ids: Vec<Uuid>,
    ) -> StoreResult<Vec<Uuid>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        tx.query_opt(
            "SELECT id FROM customers WHERE id = $1 FOR UPDATE",
            &[&customer_id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        check_users_of_customer(&tx, customer_id, &user_ids).await?;
        tx.execute(
            "DELETE FROM customer_default_users WHERE customer_id = $1",
            &[&customer_id],
        )
        .await
        .map_err(map_err)?;
        for user_id in &user_ids {
            tx.execute(
                "INSERT INTO customer_default_users (customer_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&customer_id, user_id],
            )
            .await
            .map_err(map_err)?;
        }
        insert_audit(
            &tx,
            audit,
            &event(
                customer_id,
                "customer.set_default_users",
                "customer",
                customer_id,
            ),
        )
        .await?;
        let rows = tx
            .query("SELECT user_id FROM customer_default_users WHERE customer_id = $1 ORDER BY user_id", &[&customer_id])
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn customer_default_users(&self, customer_id: Uuid) -> StoreResult<Vec<Uuid>> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT user_id FROM customer_default_users WHERE customer_id = $1 ORDER BY user_id", &[&customer_id])
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn practice_default_users(&self, practice_id: Uuid) -> StoreResult<Vec<Uuid>> {
        let client = self.client().await?;
        let practice = client
            .query_opt(
                "SELECT customer_id, practice_group_id FROM practices WHERE id = $1",
                &[&practice_id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        let customer_id: Uuid = practice.get(0);
        let group: Option<Uuid> = practice.get(1);
        if let Some(group) = group {
            let rows = client
                .query(
                    "SELECT user_id FROM practice_group_default_users WHERE practice_group_id = $1 ORDER BY user_id",
                    &[&group],
                )
                .await
                .map_err(map_err)?;
            if !rows.is_empty() {
                return Ok(rows.iter().map(|r| r.get(0)).collect());
            }
        }
        let rows = client
            .query("SELECT user_id FROM customer_default_users WHERE customer_id = $1 ORDER BY user_id", &[&customer_id])
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn update_practice(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: PracticePatch,
    ) -> StoreResult<Practice> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        if let Some(group) = patch.practice_group_id {
            let customer_id: Uuid = tx
                .query_opt("SELECT customer_id FROM practices WHERE id = $1", &[&id])
                .await
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?
                .get(0);
            // Serialises with the customer's group changes, as they do among themselves.
            lock_customer(&tx, customer_id).await?;
            if let Some(group) = group {
                check_group_of_customer(&tx, group, customer_id).await?;
            }
            tx.execute(
                "UPDATE practices SET practice_group_id = $2 WHERE id = $1",
                &[&id, &group],
            )
            .await
            .map_err(map_err)?;
            if let Some(group) = group {
                add_group_defaults_to_practices(&tx, group).await?;
            }
        }
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE practices SET name = COALESCE($2, name), timezone = COALESCE($3, timezone),
                         sms_number = COALESCE($4, sms_number),
                         escalation_delay_minutes = COALESCE($5, escalation_delay_minutes),
                         texting_enabled = COALESCE($6, texting_enabled),
                         portal_enabled = COALESCE($7, portal_enabled)
                     WHERE id = $1 RETURNING {PRACTICE_COLUMNS}"
                ),
                &[&id, &patch.name, &patch.timezone.map(|tz| tz.name()), &patch.sms_number, &patch.escalation_delay_minutes,
                  &patch.texting_enabled, &patch.portal_enabled],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        let practice = practice_from_row(&row)?;
        insert_audit(
            &tx,
            audit,
            &event(practice.customer_id, "practice.update", "practice", id),
        )
        .await?;
        tx.commit().await.map_err(map_err)?;
        Ok(practice)
    }

    async fn set_practice_users(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        user_ids: Vec<Uuid>,
        handover: OnCallHandover,
    ) -> StoreResult<Result<Vec<Uuid>, OnCallRefusal>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let practice = lock_practice(&tx, practice_id).await?;
        check_users_of_customer(&tx, practice.customer_id, &user_ids).await?;
        // Users leaving the practice who are on call here: their rows (and the successor's) are
        // locked before the change so what they can see is decided on the stored state.
        let on_call_leaving: Vec<Uuid> = tx
            .query(
                "SELECT user_id FROM user_practices
                 WHERE practice_id = $1 AND NOT (user_id = ANY($2))
                   AND (user_id IN (SELECT user_id FROM on_call_windows WHERE practice_id = $1)
                        OR user_id IN (SELECT user_id FROM on_call_overrides
                                       WHERE practice_id = $1 AND ends_at > $3))
                 ORDER BY user_id",
                &[&practice_id, &user_ids, &audit.at],
            )
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let locked: Vec<Uuid> = on_call_leaving
            .iter()
            .copied()
            .chain(handover.reassign_to)
            .collect();
        lock_users(&tx, &locked, true).await?;
        let here = std::slice::from_ref(&practice);
        let mut lost = Vec::new();
        for user_id in &on_call_leaving {
            let user = load_user(&tx, *user_id).await?;
            let after = with_membership(&user, practice_id, false);
            lost.extend(duty_lost(&user, &after, here, handover.rule));
        }
        let successor = match handover.reassign_to {
            Some(id) if !lost.is_empty() => {
                let member = user_ids.contains(&id);
                let user = user_if_any(&tx, id).await?;
                Some((id, user.map(|u| with_membership(&u, practice_id, member))))
            }
            _ => None,
        };
        let handed = match decide_handover(&lost, here, successor, handover.rule) {
            Ok(handed) => handed,
            Err(refusal) => return Ok(Err(refusal)),
        };
        tx.execute(
            "DELETE FROM user_practices WHERE practice_id = $1",
            &[&practice_id],
        )
        .await
        .map_err(map_err)?;
        for user_id in &user_ids {
            tx.execute(
                "INSERT INTO user_practices (user_id, practice_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[user_id, &practice_id],
            )
            .await
            .map_err(map_err)?;
        }
        if let Some(successor) = handover.reassign_to.filter(|_| !handed.is_empty()) {
            for duty in &lost {
                hand_over(&tx, audit, duty.user_id, successor, &handed).await?;
            }
        }
        insert_audit(
            &tx,
            audit,
            &event(
                practice.customer_id,
                "practice.set_users",
                "practice",
                practice_id,
            ),
        )
        .await?;
        let rows = tx
            .query(
                "SELECT user_id FROM user_practices WHERE practice_id = $1 ORDER BY user_id",
                &[&practice_id],
            )
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(Ok(rows.iter().map(|r| r.get(0)).collect()))
    }

    async fn practice_users(&self, practice_id: Uuid) -> StoreResult<Vec<Uuid>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT user_id FROM user_practices WHERE practice_id = $1 ORDER BY user_id",
                &[&practice_id],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn count_practices(&self, customer_id: Uuid) -> StoreResult<i64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM practices WHERE customer_id = $1",
                &[&customer_id],
            )
            .await
            .map_err(map_err)?;
        Ok(row.get(0))
    }

    async fn create_practice_group(
        &self,
        audit: &Audit,
        new: NewPracticeGroup,
    ) -> StoreResult<PracticeGroup> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // Serialises group changes per customer, so the count and the assignment agree.
        tx.query_opt(
            "SELECT id FROM customers WHERE id = $1 FOR UPDATE",
            &[&new.customer_id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        let practices: i64 = tx
            .query_one(
                "SELECT count(*) FROM practices WHERE customer_id = $1",
                &[&new.customer_id],
            )
            .await
            .map_err(map_err)?
            .get(0);
        if practices < MIN_PRACTICES_FOR_GROUPS {
            return Err(StoreError::Conflict {
                constraint: "practice_groups_minimum_practices".into(),
            });
        }
        check_users_of_customer(&tx, new.customer_id, &new.default_user_ids).await?;
        let id = new_id();
        tx.execute(
            "INSERT INTO practice_groups (id, customer_id, name, created_at) VALUES ($1, $2, $3, $4)",
            &[&id, &new.customer_id, &new.name, &audit.at],
        )
        .await
        .map_err(map_err)?;
        assign_practices(&tx, id, new.customer_id, &new.practice_ids).await?;
        replace_group_defaults(&tx, id, &new.default_user_ids).await?;
        add_group_defaults_to_practices(&tx, id).await?;
        insert_audit(
            &tx,
            audit,
            &event(
                new.customer_id,
                "practice_group.create",
                "practice_group",
                id,
            ),
        )
        .await?;
        let group = load_group(&tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(group)
    }

    async fn get_practice_group(&self, id: Uuid) -> StoreResult<PracticeGroup> {
        let client = self.client().await?;
        load_group(&client, id).await
    }

    async fn list_practice_groups(&self, customer_id: Uuid) -> StoreResult<Vec<PracticeGroup>> {
        let client = self.client().await?;
        let ids = client
            .query(
                "SELECT id FROM practice_groups WHERE customer_id = $1 ORDER BY id",
                &[&customer_id],
            )
            .await
            .map_err(map_err)?;
        let mut groups = Vec::with_capacity(ids.len());
        for row in ids {
            groups.push(load_group(&client, row.get(0)).await?);
        }
        Ok(groups)
    }

    async fn update_practice_group(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: PracticeGroupPatch,
    ) -> StoreResult<PracticeGroup> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let customer_id: Uuid = tx
            .query_opt(
                "SELECT customer_id FROM practice_groups WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?
            .get(0);
        lock_customer(&tx, customer_id).await?;
        if let Some(name) = &patch.name {
            tx.execute(
                "UPDATE practice_groups SET name = $2 WHERE id = $1",
                &[&id, name],
            )
            .await
            .map_err(map_err)?;
        }
        if let Some(practice_ids) = &patch.practice_ids {
            tx.execute(
                "UPDATE practices SET practice_group_id = NULL WHERE practice_group_id = $1",
                &[&id],
            )
            .await
            .map_err(map_err)?;
            assign_practices(&tx, id, customer_id, practice_ids).await?;
        }
        if let Some(user_ids) = &patch.default_user_ids {
            check_users_of_customer(&tx, customer_id, user_ids).await?;
            replace_group_defaults(&tx, id, user_ids).await?;
        }
        add_group_defaults_to_practices(&tx, id).await?;
        insert_audit(
            &tx,
            audit,
            &event(customer_id, "practice_group.update", "practice_group", id),
        )
        .await?;
        let group = load_group(&tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(group)
    }

    async fn delete_practice_group(&self, audit: &Audit, id: Uuid) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let customer_id: Uuid = tx
            .query_opt(
                "SELECT customer_id FROM practice_groups WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?
            .get(0);
        tx.execute(
            "UPDATE practices SET practice_group_id = NULL WHERE practice_group_id = $1",
            &[&id],
        )
        .await
        .map_err(map_err)?;
        tx.execute(
            "DELETE FROM practice_group_default_users WHERE practice_group_id = $1",
            &[&id],
        )
        .await
        .map_err(map_err)?;
        tx.execute("DELETE FROM practice_groups WHERE id = $1", &[&id])
            .await
            .map_err(map_err)?;
        insert_audit(
            &tx,
            audit,
            &event(customer_id, "practice_group.delete", "practice_group", id),
        )
        .await?;
        tx.commit().await.map_err(map_err)
    }
}
