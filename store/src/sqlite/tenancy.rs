//! Tenancy on SQLite: default users, practice settings and membership, practice groups.
//! Every write runs in one `BEGIN IMMEDIATE` transaction, which also serialises the
//! "at least 10 practices" check with the assignment.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::oncall::{hand_over, load_practice, user_if_any};
use super::rows::*;
use super::{OwnedEvent, SqliteStore, map_err};
use crate::oncall::{decide_handover, duty_lost, with_membership};
use crate::*;

fn event(
    customer_id: Uuid,
    action: &'static str,
    target_type: &'static str,
    target_id: Uuid,
) -> OwnedEvent {
    OwnedEvent {
        customer_id: Some(customer_id),
        action,
        target_type,
        target_id: Some(target_id.to_string()),
        patient_id: None,
    }
}

fn distinct(ids: &[Uuid]) -> Vec<Uuid> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    ids
}

/// Refuses user ids that are not users of this customer.
fn check_users_of_customer(
    conn: &Connection,
    customer_id: Uuid,
    user_ids: &[Uuid],
) -> StoreResult<()> {
    for user_id in distinct(user_ids) {
        let owner: Option<Option<Uuid>> = conn
            .query_row(
                "SELECT customer_id FROM users WHERE id = ?1",
                [user_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(map_err)?;
        if owner != Some(Some(customer_id)) {
            return Err(StoreError::Conflict {
                constraint: "users_of_customer".into(),
            });
        }
    }
    Ok(())
}

fn load_group(conn: &Connection, id: Uuid) -> StoreResult<PracticeGroup> {
    let mut group = conn
        .query_row(
            "SELECT id, customer_id, name, created_at FROM practice_groups WHERE id = ?1",
            [id],
            |row| {
                let created: i64 = row.get(3)?;
                Ok(PracticeGroup {
                    id: row.get(0)?,
                    customer_id: row.get(1)?,
                    name: row.get(2)?,
                    created_at: chrono::DateTime::from_timestamp_micros(created)
                        .ok_or(rusqlite::Error::IntegralValueOutOfRange(3, created))?,
                    default_user_ids: Vec::new(),
                    practice_ids: Vec::new(),
                })
            },
        )
        .map_err(map_err)?;
    group.default_user_ids = column_list(
        conn,
        "SELECT user_id FROM practice_group_default_users WHERE practice_group_id = ?1 ORDER BY user_id",
        id,
    )?;
    group.practice_ids = column_list(
        conn,
        "SELECT id FROM practices WHERE practice_group_id = ?1 ORDER BY id",
        id,
    )?;
    Ok(group)
}

fn assign_practices(
    conn: &Connection,
    group: Uuid,
    customer_id: Uuid,
    practice_ids: &[Uuid],
) -> StoreResult<()> {
    for practice_id in distinct(practice_ids) {
        let updated = conn
            .execute(
                "UPDATE practices SET practice_group_id = ?1
                 WHERE id = ?2 AND customer_id = ?3 AND (practice_group_id IS NULL OR practice_group_id = ?1)",
                params![group, practice_id, customer_id],
            )
            .map_err(map_err)?;
        if updated != 1 {
            return Err(StoreError::Conflict {
                constraint: "practices_practice_group_id".into(),
            });
        }
    }
    Ok(())
}

/// `Conflict { constraint: "practice_group_of_customer" }` unless `group` is a group of
/// `customer_id`.
pub(super) fn check_group_of_customer(
    conn: &Connection,
    group: Uuid,
    customer_id: Uuid,
) -> StoreResult<()> {
    super::require_row(
        conn,
        "SELECT count(*) FROM practice_groups WHERE id = ?1 AND customer_id = ?2",
        params![group, customer_id],
        "practice_group_of_customer",
    )
}

fn add_group_defaults_to_practices(conn: &Connection, group: Uuid) -> StoreResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO user_practices (user_id, practice_id)
         SELECT d.user_id, p.id FROM practice_group_default_users d JOIN practices p ON p.practice_group_id = d.practice_group_id
         WHERE d.practice_group_id = ?1",
        [group],
    )
    .map_err(map_err)?;
    Ok(())
}

fn replace_group_defaults(conn: &Connection, group: Uuid, user_ids: &[Uuid]) -> StoreResult<()> {
    conn.execute(
        "DELETE FROM practice_group_default_users WHERE practice_group_id = ?1",
        [group],
    )
    .map_err(map_err)?;
    for user_id in user_ids {
        conn.execute(
            "INSERT OR IGNORE INTO practice_group_default_users (practice_group_id, user_id) VALUES (?1, ?2)",
            params![group, user_id],
        )
        .map_err(map_err)?;
    }
    Ok(())
}

#[async_trait]
impl Tenancy for SqliteStore {
    async fn set_customer_default_users(
        &self,
        audit: &Audit,
        customer_id: Uuid,
        user_ids: Vec<Uuid>,
    ) -> StoreResult<Vec<Uuid>> {
        let audit = audit.clone();
        self.write(move |tx| {
            tx.query_row("SELECT id FROM customers WHERE id = ?1", [customer_id], |_| Ok(())).map_err(map_err)?;
            check_users_of_customer(tx, customer_id, &user_ids)?;
            tx.execute("DELETE FROM customer_default_users WHERE customer_id = ?1", [customer_id]).map_err(map_err)?;
            for user_id in &user_ids {
                tx.execute(
                    "INSERT OR IGNORE INTO customer_default_users (customer_id, user_id) VALUES (?1, ?2)",
                    params![customer_id, user_id],
                )
                .map_err(map_err)?;
            }
            event(customer_id, "customer.set_default_users", "customer", customer_id).write(tx, &audit)?;
            column_list(tx, "SELECT user_id FROM customer_default_users WHERE customer_id = ?1 ORDER BY user_id", customer_id)
        })
        .await
    }

    async fn customer_default_users(&self, customer_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.call(move |conn| {
            column_list(conn, "SELECT user_id FROM customer_default_users WHERE customer_id = ?1 ORDER BY user_id", customer_id)
        })
        .await
    }

    async fn practice_default_users(&self, practice_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.call(move |conn| {
            let (customer_id, group): (Uuid, Option<Uuid>) = conn
                .query_row("SELECT customer_id, practice_group_id FROM practices WHERE id = ?1", [practice_id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(map_err)?;
            if let Some(group) = group {
                let users: Vec<Uuid> = column_list(
                    conn,
                    "SELECT user_id FROM practice_group_default_users WHERE practice_group_id = ?1 ORDER BY user_id",
                    group,
                )?;
                if !users.is_empty() {
                    return Ok(users);
                }
            }
            column_list(conn, "SELECT user_id FROM customer_default_users WHERE customer_id = ?1 ORDER BY user_id", customer_id)
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
        self.write(move |tx| {
            let updated = tx
                .execute(
                    "UPDATE practices SET name = COALESCE(?2, name), timezone = COALESCE(?3, timezone),
                         sms_number = COALESCE(?4, sms_number),
                         escalation_delay_minutes = COALESCE(?5, escalation_delay_minutes),
                         texting_enabled = COALESCE(?6, texting_enabled),
                         portal_enabled = COALESCE(?7, portal_enabled)
                     WHERE id = ?1",
                    params![id, patch.name, patch.timezone.map(|tz| tz.name()), patch.sms_number, patch.escalation_delay_minutes,
                            patch.texting_enabled, patch.portal_enabled],
                )
                .map_err(map_err)?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            if let Some(group) = patch.practice_group_id {
                let customer_id: Uuid = tx
                    .query_row("SELECT customer_id FROM practices WHERE id = ?1", [id], |r| r.get(0))
                    .map_err(map_err)?;
                if let Some(group) = group {
                    check_group_of_customer(tx, group, customer_id)?;
                }
                tx.execute(
                    "UPDATE practices SET practice_group_id = ?2 WHERE id = ?1",
                    params![id, group],
                )
                .map_err(map_err)?;
                if let Some(group) = group {
                    add_group_defaults_to_practices(tx, group)?;
                }
            }
            let practice = tx
                .query_row(&format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = ?1"), [id], practice_from_row)
                .map_err(map_err)?;
            event(practice.customer_id, "practice.update", "practice", id).write(tx, &audit)?;
            Ok(practice)
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
        self.write(move |tx| {
            let practice = load_practice(tx, practice_id)?;
            check_users_of_customer(tx, practice.customer_id, &user_ids)?;
            // Members on call here who leave: decided before anything is written, so a refusal
            // leaves the membership as it was.
            let on_call_members: Vec<Uuid> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT user_id FROM user_practices WHERE practice_id = ?1
                           AND (user_id IN (SELECT user_id FROM on_call_windows WHERE practice_id = ?1)
                                OR user_id IN (SELECT user_id FROM on_call_overrides
                                               WHERE practice_id = ?1 AND ends_at > ?2))
                         ORDER BY user_id",
                    )
                    .map_err(map_err)?;
                stmt.query_map(params![practice_id, micros(audit.at)], |r| r.get(0))
                    .map_err(map_err)?
                    .collect::<Result<_, _>>()
                    .map_err(map_err)?
            };
            let here = std::slice::from_ref(&practice);
            let mut lost = Vec::new();
            for user_id in on_call_members.iter().filter(|id| !user_ids.contains(id)) {
                let user = load_user(tx, *user_id)?;
                let after = with_membership(&user, practice_id, false);
                lost.extend(duty_lost(&user, &after, here, handover.rule));
            }
            let successor = match handover.reassign_to {
                Some(id) if !lost.is_empty() => {
                    let member = user_ids.contains(&id);
                    let user = user_if_any(tx, id)?;
                    Some((id, user.map(|u| with_membership(&u, practice_id, member))))
                }
                _ => None,
            };
            let handed = match decide_handover(&lost, here, successor, handover.rule) {
                Ok(handed) => handed,
                Err(refusal) => return Ok(Err(refusal)),
            };
            tx.execute(
                "DELETE FROM user_practices WHERE practice_id = ?1",
                [practice_id],
            )
            .map_err(map_err)?;
            for user_id in &user_ids {
                tx.execute(
                    "INSERT OR IGNORE INTO user_practices (user_id, practice_id) VALUES (?1, ?2)",
                    params![user_id, practice_id],
                )
                .map_err(map_err)?;
            }
            if let Some(successor) = handover.reassign_to.filter(|_| !handed.is_empty()) {
                for duty in &lost {
                    hand_over(tx, &audit, duty.user_id, successor, &handed)?;
                }
            }
            event(practice.customer_id, "practice.set_users", "practice", practice_id).write(tx, &audit)?;
            column_list(
                tx,
                "SELECT user_id FROM user_practices WHERE practice_id = ?1 ORDER BY user_id",
                practice_id,
            )
            .map(Ok)
        })
        .await
    }

    async fn practice_users(&self, practice_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.call(move |conn| {
            column_list(
                conn,
                "SELECT user_id FROM user_practices WHERE practice_id = ?1 ORDER BY user_id",
                practice_id,
            )
        })
        .await
    }

    async fn count_practices(&self, customer_id: Uuid) -> StoreResult<i64> {
        self.call(move |conn| {
            conn.query_row(
                "SELECT count(*) FROM practices WHERE customer_id = ?1",
                [customer_id],
                |r| r.get(0),
            )
            .map_err(map_err)
        })
        .await
    }

    async fn create_practice_group(
        &self,
        audit: &Audit,
        new: NewPracticeGroup,
    ) -> StoreResult<PracticeGroup> {
        let audit = audit.clone();
        self.write(move |tx| {
            tx.query_row("SELECT id FROM customers WHERE id = ?1", [new.customer_id], |_| Ok(())).map_err(map_err)?;
            let practices: i64 = tx
                .query_row("SELECT count(*) FROM practices WHERE customer_id = ?1", [new.customer_id], |r| r.get(0))
                .map_err(map_err)?;
            if practices < MIN_PRACTICES_FOR_GROUPS {
                return Err(StoreError::Conflict { constraint: "practice_groups_minimum_practices".into() });
            }
            check_users_of_customer(tx, new.customer_id, &new.default_user_ids)?;
            let id = new_id();
            tx.execute(
                "INSERT INTO practice_groups (id, customer_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, new.customer_id, new.name, micros(audit.at)],
            )
            .map_err(map_err)?;
            assign_practices(tx, id, new.customer_id, &new.practice_ids)?;
            replace_group_defaults(tx, id, &new.default_user_ids)?;
            add_group_defaults_to_practices(tx, id)?;
            event(new.customer_id, "practice_group.create", "practice_group", id).write(tx, &audit)?;
            load_group(tx, id)
        })
        .await
    }

    async fn get_practice_group(&self, id: Uuid) -> StoreResult<PracticeGroup> {
        self.call(move |conn| load_group(conn, id)).await
    }

    async fn list_practice_groups(&self, customer_id: Uuid) -> StoreResult<Vec<PracticeGroup>> {
        self.call(move |conn| {
            let ids: Vec<Uuid> = column_list(
                conn,
                "SELECT id FROM practice_groups WHERE customer_id = ?1 ORDER BY id",
                customer_id,
            )?;
            ids.into_iter().map(|id| load_group(conn, id)).collect()
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
        self.write(move |tx| {
            let customer_id: Uuid = tx
                .query_row(
                    "SELECT customer_id FROM practice_groups WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            if let Some(name) = &patch.name {
                tx.execute(
                    "UPDATE practice_groups SET name = ?2 WHERE id = ?1",
                    params![id, name],
                )
                .map_err(map_err)?;
            }
            if let Some(practice_ids) = &patch.practice_ids {
                tx.execute(
                    "UPDATE practices SET practice_group_id = NULL WHERE practice_group_id = ?1",
                    [id],
                )
                .map_err(map_err)?;
                assign_practices(tx, id, customer_id, practice_ids)?;
            }
            if let Some(user_ids) = &patch.default_user_ids {
                check_users_of_customer(tx, customer_id, user_ids)?;
                replace_group_defaults(tx, id, user_ids)?;
            }
            add_group_defaults_to_practices(tx, id)?;
            event(customer_id, "practice_group.update", "practice_group", id).write(tx, &audit)?;
            load_group(tx, id)
        })
        .await
    }

    async fn delete_practice_group(&self, audit: &Audit, id: Uuid) -> StoreResult<()> {
        let audit = audit.clone();
        self.write(move |tx| {
            let customer_id: Uuid = tx
                .query_row(
                    "SELECT customer_id FROM practice_groups WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            tx.execute(
                "UPDATE practices SET practice_group_id = NULL WHERE practice_group_id = ?1",
                [id],
            )
            .map_err(map_err)?;
            tx.execute(
                "DELETE FROM practice_group_default_users WHERE practice_group_id = ?1",
                [id],
            )
            .map_err(map_err)?;
            tx.execute("DELETE FROM practice_groups WHERE id = ?1", [id])
                .map_err(map_err)?;
            event(customer_id, "practice_group.delete", "practice_group", id).write(tx, &audit)
        })
        .await
    }
}
