//! NotificationSettings on sqlite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use super::rows::micros;
use super::{OwnedEvent, SqliteStore, map_err};
use crate::notification_settings::{distinct_in_order, previous_effective};
use crate::*;

fn setting_from_row(row: &Row, first: usize) -> rusqlite::Result<NotificationSettingRow> {
    Ok(NotificationSettingRow {
        kind: row.get(first)?,
        enabled: row.get(first + 1)?,
        push: row.get(first + 2)?,
        email: row.get(first + 3)?,
        text: row.get(first + 4)?,
    })
}

fn patient_setting_from_row(row: &Row) -> rusqlite::Result<PatientNotificationSettingRow> {
    Ok(PatientNotificationSettingRow {
        kind: row.get(0)?,
        enabled: row.get(1)?,
        email: row.get(2)?,
        text: row.get(3)?,
    })
}

/// The practice's customer, for the audit row; `NotFound` when there is no such practice.
/// (Write transactions are `BEGIN IMMEDIATE` on the single connection, so saves are serialised.)
fn practice_customer(conn: &Connection, practice_id: Uuid) -> StoreResult<Uuid> {
    conn.query_row(
        "SELECT customer_id FROM practices WHERE id = ?1",
        [practice_id],
        |r| r.get(0),
    )
    .optional()
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}

fn load_layers(
    conn: &Connection,
    user_id: Uuid,
    practice_id: Uuid,
) -> StoreResult<UserNotificationLayers> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT 1, kind, enabled, push, email, text FROM user_notification_settings
             WHERE user_id = ?1 AND practice_id = ?2
             UNION ALL
             SELECT 0, kind, enabled, push, email, text FROM practice_notification_defaults
             WHERE practice_id = ?2
             ORDER BY 1 DESC, 2",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map(params![user_id, practice_id], |row| {
            Ok((row.get::<_, bool>(0)?, setting_from_row(row, 1)?))
        })
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    let mut layers = UserNotificationLayers::default();
    for (own, setting) in rows {
        if own {
            layers.own.push(setting);
        } else {
            layers.practice_defaults.push(setting);
        }
    }
    Ok(layers)
}

fn load_defaults(conn: &Connection, practice_id: Uuid) -> StoreResult<Vec<NotificationSettingRow>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT kind, enabled, push, email, text FROM practice_notification_defaults
             WHERE practice_id = ?1 ORDER BY kind",
        )
        .map_err(map_err)?;
    stmt.query_map([practice_id], |row| setting_from_row(row, 0))
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)
}

/// Patient notification rows of one owner: a practice's defaults for new patients
/// (`practice_patient_notification_defaults`, by `practice_id`) or a patient's own
/// (`patient_notification_settings`, by `patient_id`).
fn load_patient_rows(
    conn: &Connection,
    table: &str,
    owner_column: &str,
    owner: Uuid,
) -> StoreResult<Vec<PatientNotificationSettingRow>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT kind, enabled, email, text FROM {table} WHERE {owner_column} = ?1 ORDER BY kind"
        ))
        .map_err(map_err)?;
    stmt.query_map([owner], patient_setting_from_row)
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)
}

fn load_patient_defaults(
    conn: &Connection,
    practice_id: Uuid,
) -> StoreResult<Vec<PatientNotificationSettingRow>> {
    load_patient_rows(
        conn,
        "practice_patient_notification_defaults",
        "practice_id",
        practice_id,
    )
}

fn load_patient_settings(
    conn: &Connection,
    patient_id: Uuid,
) -> StoreResult<Vec<PatientNotificationSettingRow>> {
    load_patient_rows(
        conn,
        "patient_notification_settings",
        "patient_id",
        patient_id,
    )
}

#[async_trait]
impl NotificationSettings for SqliteStore {
    async fn user_notification_layers(
        &self,
        user_id: Uuid,
        practice_id: Uuid,
    ) -> StoreResult<UserNotificationLayers> {
        self.call(move |conn| load_layers(conn, user_id, practice_id))
            .await
    }

    async fn save_user_notification_settings(
        &self,
        audit: &Audit,
        user_id: Uuid,
        practice_id: Uuid,
        rows: Vec<NotificationSettingRow>,
    ) -> StoreResult<UserNotificationLayers> {
        let audit = audit.clone();
        self.write(move |tx| {
            let customer_id = practice_customer(tx, practice_id)?;
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO user_notification_settings
                         (user_id, practice_id, kind, enabled, push, email, text, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (user_id, practice_id, kind) DO UPDATE
                     SET enabled = excluded.enabled, push = excluded.push, email = excluded.email,
                         text = excluded.text, updated_at = excluded.updated_at",
                )
                .map_err(map_err)?;
            for row in &rows {
                upsert
                    .execute(params![
                        user_id,
                        practice_id,
                        row.kind,
                        row.enabled,
                        row.push,
                        row.email,
                        row.text,
                        micros(audit.at),
                    ])
                    .map_err(map_err)?;
            }
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "user.notification_settings.update",
                target_type: "user",
                target_id: Some(user_id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            load_layers(tx, user_id, practice_id)
        })
        .await
    }

    async fn practice_notification_defaults(
        &self,
        practice_id: Uuid,
    ) -> StoreResult<Vec<NotificationSettingRow>> {
        self.call(move |conn| load_defaults(conn, practice_id))
            .await
    }

    async fn save_practice_notification_defaults(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        defaults: Vec<NotificationSettingRow>,
        apply_to: ApplyDefaultsTo,
        builtin: Vec<NotificationSettingRow>,
    ) -> StoreResult<Vec<NotificationSettingRow>> {
        let audit = audit.clone();
        self.write(move |tx| {
            let customer_id = practice_customer(tx, practice_id)?;
            let action = match apply_to {
                ApplyDefaultsTo::NewUsers => {
                    // Existing users keep what they had: the previous effective value of every
                    // kind becomes their own row where they have none.
                    let current = load_defaults(tx, practice_id)?;
                    let mut materialise = tx
                        .prepare_cached(
                            "INSERT INTO user_notification_settings
                                 (user_id, practice_id, kind, enabled, push, email, text, updated_at)
                             SELECT u.id, ?1, ?2, ?3, ?4, ?5, ?6, ?7 FROM users u
                             WHERE EXISTS (SELECT 1 FROM user_practices up
                                           WHERE up.user_id = u.id AND up.practice_id = ?1)
                                OR (u.role = 'customer_admin' AND u.customer_id = ?8)
                             ON CONFLICT (user_id, practice_id, kind) DO NOTHING",
                        )
                        .map_err(map_err)?;
                    for previous in previous_effective(&current, &builtin) {
                        materialise
                            .execute(params![
                                practice_id,
                                previous.kind,
                                previous.enabled,
                                previous.push,
                                previous.email,
                                previous.text,
                                micros(audit.at),
                                customer_id,
                            ])
                            .map_err(map_err)?;
                    }
                    "practice.user_notification_defaults.set_for_new_users"
                }
                ApplyDefaultsTo::AllUsers => {
                    tx.execute(
                        "DELETE FROM user_notification_settings WHERE practice_id = ?1",
                        [practice_id],
                    )
                    .map_err(map_err)?;
                    "practice.user_notification_defaults.set_for_all_users"
                }
            };
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO practice_notification_defaults
                         (practice_id, kind, enabled, push, email, text, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (practice_id, kind) DO UPDATE
                     SET enabled = excluded.enabled, push = excluded.push, email = excluded.email,
                         text = excluded.text, updated_at = excluded.updated_at",
                )
                .map_err(map_err)?;
            for row in &defaults {
                upsert
                    .execute(params![
                        practice_id,
                        row.kind,
                        row.enabled,
                        row.push,
                        row.email,
                        row.text,
                        micros(audit.at),
                    ])
                    .map_err(map_err)?;
            }
            OwnedEvent {
                customer_id: Some(customer_id),
                action,
                target_type: "practice",
                target_id: Some(practice_id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            load_defaults(tx, practice_id)
        })
        .await
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
        // SQLite has no array parameters: the ids travel as one JSON array of strings and are
        // turned back into 16-byte blobs in the query, which stays a single statement.
        let ids_json = serde_json::to_string(&ids)
            .map_err(|e| StoreError::Unexpected(format!("cannot encode ids: {e}")))?;
        let kind = kind.to_string();
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    // Every column of both tables is NOT NULL, so COALESCE picks the user's own
                    // row when it exists and the practice default otherwise.
                    "SELECT ids.id, s.user_id IS NOT NULL OR d.practice_id IS NOT NULL,
                            COALESCE(s.enabled, d.enabled), COALESCE(s.push, d.push),
                            COALESCE(s.email, d.email), COALESCE(s.text, d.text)
                     FROM (SELECT unhex(replace(value, '-', '')) AS id, key AS position
                           FROM json_each(?2)) AS ids
                     LEFT JOIN user_notification_settings s
                            ON s.user_id = ids.id AND s.practice_id = ?1 AND s.kind = ?3
                     LEFT JOIN practice_notification_defaults d
                            ON d.practice_id = ?1 AND d.kind = ?3
                     ORDER BY ids.position",
                )
                .map_err(map_err)?;
            stmt.query_map(params![practice_id, ids_json, kind], |row| {
                let found: bool = row.get(1)?;
                let setting = if found {
                    Some(NotificationSettingRow {
                        kind: kind.clone(),
                        enabled: row.get(2)?,
                        push: row.get(3)?,
                        email: row.get(4)?,
                        text: row.get(5)?,
                    })
                } else {
                    None
                };
                Ok(StoredUserSetting {
                    user_id: row.get(0)?,
                    setting,
                })
            })
            .map_err(map_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err)
        })
        .await
    }

    async fn patient_notification_defaults(
        &self,
        practice_id: Uuid,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>> {
        self.call(move |conn| load_patient_defaults(conn, practice_id))
            .await
    }

    async fn save_patient_notification_defaults(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        rows: Vec<PatientNotificationSettingRow>,
        apply_to: ApplyReadingDefaultsTo,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>> {
        let audit = audit.clone();
        self.write(move |tx| {
            let customer_id = practice_customer(tx, practice_id)?;
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO practice_patient_notification_defaults
                         (practice_id, kind, enabled, email, text, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (practice_id, kind) DO UPDATE
                     SET enabled = excluded.enabled, email = excluded.email, text = excluded.text,
                         updated_at = excluded.updated_at",
                )
                .map_err(map_err)?;
            for row in &rows {
                upsert
                    .execute(params![
                        practice_id,
                        row.kind,
                        row.enabled,
                        row.email,
                        row.text,
                        micros(audit.at),
                    ])
                    .map_err(map_err)?;
            }
            let action = match apply_to {
                ApplyReadingDefaultsTo::NewPatients => {
                    "practice.patient_notification_defaults.update"
                }
                ApplyReadingDefaultsTo::AllPatients => {
                    for row in &rows {
                        tx.execute(
                            "INSERT INTO patient_notification_settings
                                 (patient_id, kind, enabled, email, text, updated_at)
                             SELECT id, ?2, ?3, ?4, ?5, ?6 FROM patients WHERE practice_id = ?1
                             ON CONFLICT (patient_id, kind) DO UPDATE
                             SET enabled = excluded.enabled, email = excluded.email,
                                 text = excluded.text, updated_at = excluded.updated_at",
                            params![
                                practice_id,
                                row.kind,
                                row.enabled,
                                row.email,
                                row.text,
                                micros(audit.at),
                            ],
                        )
                        .map_err(map_err)?;
                    }
                    "practice.patient_notification_defaults.set_for_all_patients"
                }
            };
            OwnedEvent {
                customer_id: Some(customer_id),
                action,
                target_type: "practice",
                target_id: Some(practice_id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            load_patient_defaults(tx, practice_id)
        })
        .await
    }

    async fn patient_notification_settings(
        &self,
        patient_id: Uuid,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>> {
        self.call(move |conn| {
            patient_practice(conn, patient_id)?;
            load_patient_settings(conn, patient_id)
        })
        .await
    }

    async fn save_patient_notification_settings(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        rows: Vec<PatientNotificationSettingRow>,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>> {
        let audit = audit.clone();
        self.write(move |tx| {
            let (_, customer_id) = patient_practice(tx, patient_id)?;
            for row in &rows {
                tx.execute(
                    "INSERT INTO patient_notification_settings
                         (patient_id, kind, enabled, email, text, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (patient_id, kind) DO UPDATE
                     SET enabled = excluded.enabled, email = excluded.email, text = excluded.text,
                         updated_at = excluded.updated_at",
                    params![
                        patient_id,
                        row.kind,
                        row.enabled,
                        row.email,
                        row.text,
                        micros(audit.at),
                    ],
                )
                .map_err(map_err)?;
            }
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "patient.notification_settings.update",
                target_type: "patient",
                target_id: Some(patient_id.to_string()),
                patient_id: Some(patient_id),
            }
            .write(tx, &audit)?;
            load_patient_settings(tx, patient_id)
        })
        .await
    }
}

/// The patient's practice and its customer; `NotFound` when there is no such patient. (Write
/// transactions are `BEGIN IMMEDIATE` on the single connection, so readings are serialised.)
fn patient_practice(conn: &Connection, patient_id: Uuid) -> StoreResult<(Uuid, Uuid)> {
    conn.query_row(
        "SELECT p.practice_id, pr.customer_id FROM patients p JOIN practices pr ON pr.id = p.practice_id
         WHERE p.id = ?1",
        [patient_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}
