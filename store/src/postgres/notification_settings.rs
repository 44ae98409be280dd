//! NotificationSettings on postgres.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{PostgresStore, insert_audit, map_err};
use crate::notification_settings::{distinct_in_order, previous_effective};
use crate::*;

fn setting_from_row(row: &Row, first: usize) -> NotificationSettingRow {
    NotificationSettingRow {
        kind: row.get(first),
        enabled: row.get(first + 1),
        push: row.get(first + 2),
        email: row.get(first + 3),
        text: row.get(first + 4),
    }
}

fn patient_setting_from_row(row: &Row) -> PatientNotificationSettingRow {
    PatientNotificationSettingRow {
        kind: row.get(0),
        enabled: row.get(1),
        email: row.get(2),
        text: row.get(3),
    }
}

/// The practice's customer, for the audit row; `NotFound` when there is no such practice.
/// `lock` serialises saves of the practice's defaults (`FOR NO KEY UPDATE` still lets rows that
/// reference the practice be written meanwhile).
async fn practice_customer(
    client: &impl GenericClient,
    practice_id: Uuid,
    lock: bool,
) -> StoreResult<Uuid> {
    let sql = if lock {
        "SELECT customer_id FROM practices WHERE id = $1 FOR NO KEY UPDATE"
    } else {
        "SELECT customer_id FROM practices WHERE id = $1"
    };
    let row = client
        .query_opt(sql, &[&practice_id])
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    Ok(row.get(0))
}

async fn load_layers(
    client: &impl GenericClient,
    user_id: Uuid,
    practice_id: Uuid,
) -> StoreResult<UserNotificationLayers> {
    let rows = client
        .query(
            "SELECT true, kind, enabled, push, email, text FROM user_notification_settings
             WHERE user_id = $1 AND practice_id = $2
             UNION ALL
             SELECT false, kind, enabled, push, email, text FROM practice_notification_defaults
             WHERE practice_id = $2
             ORDER BY 1, 2",
            &[&user_id, &practice_id],
        )
        .await
        .map_err(map_err)?;
    let mut layers = UserNotificationLayers::default();
    for row in &rows {
        let setting = setting_from_row(row, 1);
        if row.get::<_, bool>(0) {
            layers.own.push(setting);
        } else {
            layers.practice_defaults.push(setting);
        }
    }
    Ok(layers)
}

async fn load_defaults(
    client: &impl GenericClient,
    practice_id: Uuid,
) -> StoreResult<Vec<NotificationSettingRow>> {
    let rows = client
        .query(
            "SELECT kind, enabled, push, email, text FROM practice_notification_defaults
             WHERE practice_id = $1 ORDER BY kind",
            &[&practice_id],
        )
        .await
        .map_err(map_err)?;
    Ok(rows.iter().map(|r| setting_from_row(r, 0)).collect())
}

/// Patient notification rows of one owner: a practice's defaults for new patients
/// (`practice_patient_notification_defaults`, by `practice_id`) or a patient's own
/// (`patient_notification_settings`, by `patient_id`).
async fn load_patient_rows(
    client: &impl GenericClient,
    table: &str,
    owner_column: &str,
    owner: Uuid,
) -> StoreResult<Vec<PatientNotificationSettingRow>> {
    let rows = client
        .query(
            &format!(
                "SELECT kind, enabled, email, text FROM {table} WHERE {owner_column} = $1 ORDER BY kind"
            ),
            &[&owner],
        )
        .await
        .map_err(map_err)?;
    Ok(rows.iter().map(patient_setting_from_row).collect())
}

async fn load_patient_defaults(
    client: &impl GenericClient,
    practice_id: Uuid,
) -> StoreResult<Vec<PatientNotificationSettingRow>> {
    load_patient_rows(
        client,
        "practice_patient_notification_defaults",
        "practice_id",
        practice_id,
    )
    .await
}

async fn load_patient_settings(
    client: &impl GenericClient,
    patient_id: Uuid,
) -> StoreResult<Vec<PatientNotificationSettingRow>> {
    load_patient_rows(
        client,
        "patient_notification_settings",
        "patient_id",
        patient_id,
    )
    .await
}

#[async_trait]
impl NotificationSettings for PostgresStore {
    async fn user_notification_layers(
        &self,
        user_id: Uuid,
        practice_id: Uuid,
    ) -> StoreResult<UserNotificationLayers> {
        let client = self.client().await?;
        load_layers(&client, user_id, practice_id).await
    }

    async fn save_user_notification_settings(
        &self,
        audit: &Audit,
        user_id: Uuid,
        practice_id: Uuid,
        rows: Vec<NotificationSettingRow>,
    ) -> StoreResult<UserNotificationLayers> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let customer_id = practice_customer(&tx, practice_id, false).await?;
        let upsert = tx
            .prepare_cached(
                "INSERT INTO user_notification_settings
                     (user_id, practice_id, kind, enabled, push, email, text, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (user_id, practice_id, kind) DO UPDATE
                 SET enabled = EXCLUDED.enabled, push = EXCLUDED.push, email = EXCLUDED.email,
                     text = EXCLUDED.text, updated_at = EXCLUDED.updated_at",
            )
            .await
            .map_err(map_err)?;
        for row in &rows {
            tx.execute(
                &upsert,
                &[
                    &user_id,
                    &practice_id,
                    &row.kind,
                    &row.enabled,
                    &row.push,
                    &row.email,
                    &row.text,
                    &audit.at,
                ],
            )
            .await
            .map_err(map_err)?;
        }
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "user.notification_settings.update",
            target_type: "user",
            target_id: Some(user_id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        let layers = load_layers(&tx, user_id, practice_id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(layers)
    }

    async fn practice_notification_defaults(
        &self,
        practice_id: Uuid,
    ) -> StoreResult<Vec<NotificationSettingRow>> {
        let client = self.client().await?;
        load_defaults(&client, practice_id).await
    }

    async fn save_practice_notification_defaults(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        defaults: Vec<NotificationSettingRow>,
        apply_to: ApplyDefaultsTo,
        builtin: Vec<NotificationSettingRow>,
    ) -> StoreResult<Vec<NotificationSettingRow>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let customer_id = practice_customer(&tx, practice_id, true).await?;
        let action = match apply_to {
            ApplyDefaultsTo::NewUsers => {
                // Existing users keep what they had: the previous effective value of every kind
                // becomes their own row where they have none.
                let current = load_defaults(&tx, practice_id).await?;
                let materialise = tx
                    .prepare_cached(
                        "INSERT INTO user_notification_settings
                             (user_id, practice_id, kind, enabled, push, email, text, updated_at)
                         SELECT u.id, $1, $2, $3, $4, $5, $6, $7 FROM users u
                         WHERE EXISTS (SELECT 1 FROM user_practices up
                                       WHERE up.user_id = u.id AND up.practice_id = $1)
                            OR (u.role = 'customer_admin' AND u.customer_id = $8)
                         ON CONFLICT (user_id, practice_id, kind) DO NOTHING",
                    )
                    .await
                    .map_err(map_err)?;
                for previous in previous_effective(&current, &builtin) {
                    tx.execute(
                        &materialise,
                        &[
                            &practice_id,
                            &previous.kind,
                            &previous.enabled,
                            &previous.push,
                            &previous.email,
                            &previous.text,
                            &audit.at,
                            &customer_id,
                        ],
                    )
                    .await
                    .map_err(map_err)?;
                }
                "practice.user_notification_defaults.set_for_new_users"
            }
            ApplyDefaultsTo::AllUsers => {
                tx.execute(
                    "DELETE FROM user_notification_settings WHERE practice_id = $1",
                    &[&practice_id],
                )
                .await
                .map_err(map_err)?;
                "practice.user_notification_defaults.set_for_all_users"
            }
        };
        let upsert = tx
            .prepare_cached(
                "INSERT INTO practice_notification_defaults
                     (practice_id, kind, enabled, push, email, text, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (practice_id, kind) DO UPDATE
                 SET enabled = EXCLUDED.enabled, push = EXCLUDED.push, email = EXCLUDED.email,
                     text = EXCLUDED.text, updated_at = EXCLUDED.updated_at",
            )
            .await
            .map_err(map_err)?;
        for row in &defaults {
            tx.execute(
                &upsert,
                &[
                    &practice_id,
                    &row.kind,
                    &row.enabled,
                    &row.push,
                    &row.email,
                    &row.text,
                    &audit.at,
                ],
            )
            .await
            .map_err(map_err)?;
        }
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action,
            target_type: "practice",
            target_id: Some(practice_id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        let saved = load_defaults(&tx, practice_id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(saved)
    }

    async fn notification_settings_of_users(
        &self,
        practice_id: Uuid,
        kind: &str,
        user_ids: &[Uuid],
    ) -> StoreResult<Vec<StoredUserSetting>> {
        let ids = distinct_in_order(user_ids);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                // Every column of both tables is NOT NULL, so COALESCE picks the user's own row
                // when it exists and the practice default otherwise.
                "SELECT ids.id, s.user_id IS NOT NULL OR d.practice_id IS NOT NULL,
                        COALESCE(s.enabled, d.enabled), COALESCE(s.push, d.push),
                        COALESCE(s.email, d.email), COALESCE(s.text, d.text)
                 FROM unnest($2::uuid[]) WITH ORDINALITY AS ids (id, position)
                 LEFT JOIN user_notification_settings s
                        ON s.user_id = ids.id AND s.practice_id = $1 AND s.kind = $3
                 LEFT JOIN practice_notification_defaults d
                        ON d.practice_id = $1 AND d.kind = $3
                 ORDER BY ids.position",
            )
            .await
            .map_err(map_err)?;
        let rows = client
            .query(&statement, &[&practice_id, &ids, &kind])
            .await
            .map_err(map_err)?;
        Ok(rows
            .iter()
            .map(|row| StoredUserSetting {
                user_id: row.get(0),
                setting: row.get::<_, bool>(1).then(|| NotificationSettingRow {
                    kind: kind.to_string(),
                    enabled: row.get(2),
                    push: row.get(3),
                    email: row.get(4),
                    text: row.get(5),
                }),
            })
            .collect())
    }

    async fn patient_notification_defaults(
        &self,
        practice_id: Uuid,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>> {
        let client = self.client().await?;
        load_patient_defaults(&client, practice_id).await
    }

    async fn save_patient_notification_defaults(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        rows: Vec<PatientNotificationSettingRow>,
        apply_to: ApplyReadingDefaultsTo,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let customer_id = practice_customer(&tx, practice_id, true).await?;
        let upsert = tx
            .prepare_cached(
                "INSERT INTO practice_patient_notification_defaults
                     (practice_id, kind, enabled, email, text, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (practice_id, kind) DO UPDATE
                 SET enabled = EXCLUDED.enabled, email = EXCLUDED.email, text = EXCLUDED.text,
                     updated_at = EXCLUDED.updated_at",
            )
            .await
            .map_err(map_err)?;
        for row in &rows {
            tx.execute(
                &upsert,
                &[
                    &practice_id,
                    &row.kind,
                    &row.enabled,
                    &row.email,
                    &row.text,
                    &audit.at,
                ],
            )
            .await
            .map_err(map_err)?;
        }
        let action = match apply_to {
            ApplyReadingDefaultsTo::NewPatients => "practice.patient_notification_defaults.update",
            ApplyReadingDefaultsTo::AllPatients => {
                for row in &rows {
                    tx.execute(
                        "INSERT INTO patient_notification_settings
                             (patient_id, kind, enabled, email, text, updated_at)
                         SELECT id, $2, $3, $4, $5, $6 FROM patients WHERE practice_id = $1
                         ON CONFLICT (patient_id, kind) DO UPDATE
                         SET enabled = EXCLUDED.enabled, email = EXCLUDED.email,
                             text = EXCLUDED.text, updated_at = EXCLUDED.updated_at",
                        &[
                            &practice_id,
                            &row.kind,
                            &row.enabled,
                            &row.email,
                            &row.text,
                            &audit.at,
                        ],
                    )
                    .await
                    .map_err(map_err)?;
                }
                "practice.patient_notification_defaults.set_for_all_patients"
            }
        };
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action,
            target_type: "practice",
            target_id: Some(practice_id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        let saved = load_patient_defaults(&tx, practice_id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(saved)
    }

    async fn patient_notification_settings(
        &self,
        patient_id: Uuid,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>> {
        let client = self.client().await?;
        patient_practice(&client, patient_id, false).await?;
        load_patient_settings(&client, patient_id).await
    }

    async fn save_patient_notification_settings(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        rows: Vec<PatientNotificationSettingRow>,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let (_, customer_id) = patient_practice(&tx, patient_id, true).await?;
        for row in &rows {
            tx.execute(
                "INSERT INTO patient_notification_settings
                     (patient_id, kind, enabled, email, text, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (patient_id, kind) DO UPDATE
                 SET enabled = EXCLUDED.enabled, email = EXCLUDED.email, text = EXCLUDED.text,
                     updated_at = EXCLUDED.updated_at",
                &[
                    &patient_id,
                    &row.kind,
                    &row.enabled,
                    &row.email,
                    &row.text,
                    &audit.at,
                ],
            )
            .await
            .map_err(map_err)?;
        }
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "patient.notification_settings.update",
            target_type: "patient",
            target_id: Some(patient_id.to_string()),
            patient_id: Some(patient_id),
        };
        insert_audit(&tx, audit, &event).await?;
        let saved = load_patient_settings(&tx, patient_id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(saved)
    }
}

/// The patient's practice and its customer; `NotFound` when there is no such patient. `lock`
/// takes the patient row (`FOR NO KEY UPDATE`, which still lets rows referencing the patient be
/// written) so that readings of one patient are decided one at a time.
async fn patient_practice(
    client: &impl GenericClient,
    patient_id: Uuid,
    lock: bool,
) -> StoreResult<(Uuid, Uuid)> {
    let sql = if lock {
        "SELECT p.practice_id, pr.customer_id FROM patients p JOIN practices pr ON pr.id = p.practice_id
         WHERE p.id = $1 FOR NO KEY UPDATE OF p"
    } else {
        "SELECT p.practice_id, pr.customer_id FROM patients p JOIN practices pr ON pr.id = p.practice_id
         WHERE p.id = $1"
    };
    let row = client
        .query_opt(sql, &[&patient_id])
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    Ok((row.get(0), row.get(1)))
}
