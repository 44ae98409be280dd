//! Notification settings: each user's per practice and kind, the practice defaults users fall
//! back to, the practice's patient notification defaults for new patients, and each patient's
//! own copy of them.
//!
//! The store keeps kinds as the API's snake_case strings and checks only what a row alone can
//! break (a channel on while the notification is off). Which kinds exist, the built-in defaults
//! and the rule that ties `unread_message_reminder` to `new_patient_message` are the gateway's
//! domain. A user's effective setting for one kind is their own row, else the practice's default
//! row, else the built-in default the gateway supplies.

use async_trait::async_trait;
use uuid::Uuid;

use crate::readings::{patient_practice, practice_customer};
use crate::rows::{event, insert_audit, patient_event};
use crate::sql::{Arg, Db, Row, ToArg, Tx};
use crate::*;

/// One kind of a user's (or a practice's default) notification setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSettingRow {
    /// `new_patient_message`, `unread_message_reminder`, … (API.md).
    pub kind: String,
    pub enabled: bool,
    /// In-app feed and stream.
    pub push: bool,
    pub email: bool,
    /// SMS to the user's mobile phone.
    pub text: bool,
}

/// One kind of a practice's patient notification defaults (patients are told by text or email).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientNotificationSettingRow {
    /// `reading_caution`, `reading_critical` or `overdue_readings`.
    pub kind: String,
    pub enabled: bool,
    pub email: bool,
    pub text: bool,
}

/// What the gateway needs to work out a user's effective settings for one practice: the rows
/// the user saved and the rows the practice saved as defaults. Either may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserNotificationLayers {
    pub own: Vec<NotificationSettingRow>,
    pub practice_defaults: Vec<NotificationSettingRow>,
}

/// Whose settings a save of practice defaults changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyDefaultsTo {
    /// Only users who join the practice later: existing users keep their effective settings
    /// (the previous effective values are written as their own rows where they had none).
    NewUsers,
    /// Every user of the practice: their own rows are removed so they follow the new defaults.
    AllUsers,
}

/// A user's setting of one kind for one practice as stored: their own row, else the practice's
/// default; `None` when neither exists (the caller applies the built-in default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUserSetting {
    pub user_id: Uuid,
    pub setting: Option<NotificationSettingRow>,
}

#[async_trait]
pub trait NotificationSettings: Send + Sync {
    /// The user's own rows and the practice's default rows, read together.
    async fn user_notification_layers(
        &self,
        user_id: Uuid,
        practice_id: Uuid,
    ) -> StoreResult<UserNotificationLayers>;

    /// Writes (inserts or replaces) the user's rows of the given kinds for the practice and the
    /// audit row (`user.notification_settings.update`, of the practice's customer); answers the
    /// layers as they are after the write. `NotFound` when the practice does not exist.
    async fn save_user_notification_settings(
        &self,
        audit: &Audit,
        user_id: Uuid,
        practice_id: Uuid,
        rows: Vec<NotificationSettingRow>,
    ) -> StoreResult<UserNotificationLayers>;

    /// The practice's saved default rows (empty when never saved).
    async fn practice_notification_defaults(
        &self,
        practice_id: Uuid,
    ) -> StoreResult<Vec<NotificationSettingRow>>;

    /// Saves the practice's defaults (inserting or replacing the given kinds) and applies them
    /// per `apply_to`, with the audit row, in one transaction serialised per practice. `NotFound`
    /// when the practice does not exist.
    ///
    /// With [`ApplyDefaultsTo::NewUsers`], every existing user of the practice (its members and
    /// its customer's admins) without a row of a kind first gets one holding the previous
    /// effective value: the saved default, else the matching row of `builtin`. Answers the
    /// practice's default rows after the save.
    async fn save_practice_notification_defaults(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        defaults: Vec<NotificationSettingRow>,
        apply_to: ApplyDefaultsTo,
        builtin: Vec<NotificationSettingRow>,
    ) -> StoreResult<Vec<NotificationSettingRow>>;

    /// The stored setting of one kind for each of `user_ids` (deduplicated, in the order given)
    /// for the practice, in one query whatever the number of users: for deciding whom to notify.
    /// Does not check that the users belong to the practice.
    async fn notification_settings_of_users(
        &self,
        practice_id: Uuid,
        kind: &str,
        user_ids: &[Uuid],
    ) -> StoreResult<Vec<StoredUserSetting>>;

    /// The practice's saved patient notification defaults (empty when never saved).
    async fn patient_notification_defaults(
        &self,
        practice_id: Uuid,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>>;

    /// Writes (inserts or replaces) the given kinds of the practice's patient notification
    /// defaults with the audit row, in one transaction serialised per practice; answers all
    /// saved rows after the write. Patients keep their own settings (copied at their creation),
    /// unless `apply_to` is [`ApplyReadingDefaultsTo::AllPatients`]: then every patient of the
    /// practice gets these rows as their own.
    async fn save_patient_notification_defaults(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        rows: Vec<PatientNotificationSettingRow>,
        apply_to: ApplyReadingDefaultsTo,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>>;

    /// The patient's own notification settings (a kind without a row is off). `NotFound` when
    /// the patient does not exist.
    async fn patient_notification_settings(
        &self,
        patient_id: Uuid,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>>;

    /// Writes (inserts or replaces) the given kinds of the patient's own settings with the audit
    /// row (`patient.notification_settings.update`); answers all of the patient's rows after the
    /// write. `NotFound` when the patient does not exist.
    async fn save_patient_notification_settings(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        rows: Vec<PatientNotificationSettingRow>,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>>;
}

/// The effective practice default of every kind before a save: the saved row, else the built-in
/// one. Kinds of either list appear once, saved ones first.
pub(crate) fn previous_effective(
    saved: &[NotificationSettingRow],
    builtin: &[NotificationSettingRow],
) -> Vec<NotificationSettingRow> {
    let mut out: Vec<NotificationSettingRow> = saved.to_vec();
    for row in builtin {
        if !out.iter().any(|s| s.kind == row.kind) {
            out.push(row.clone());
        }
    }
    out
}

/// `ids` without repeats, first occurrences kept in order.
pub(crate) fn distinct_in_order(ids: &[Uuid]) -> Vec<Uuid> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

fn setting_from_row(row: &Row, first: usize) -> StoreResult<NotificationSettingRow> {
    Ok(NotificationSettingRow {
        kind: row.get(first)?,
        enabled: row.get(first + 1)?,
        push: row.get(first + 2)?,
        email: row.get(first + 3)?,
        text: row.get(first + 4)?,
    })
}

async fn load_layers(
    tx: &Tx<'_>,
    user_id: Uuid,
    practice_id: Uuid,
) -> StoreResult<UserNotificationLayers> {
    let rows = tx
        .query(
            "SELECT 1, kind, enabled, push, email, text FROM user_notification_settings
             WHERE user_id = $1 AND practice_id = $2
             UNION ALL
             SELECT 0, kind, enabled, push, email, text FROM practice_notification_defaults
             WHERE practice_id = $2
             ORDER BY 1 DESC, 2",
            &[user_id.arg(), practice_id.arg()],
        )
        .await?;
    let mut layers = UserNotificationLayers::default();
    for row in &rows {
        let setting = setting_from_row(row, 1)?;
        if row.get::<i32>(0)? == 1 {
            layers.own.push(setting);
        } else {
            layers.practice_defaults.push(setting);
        }
    }
    Ok(layers)
}

async fn load_defaults(tx: &Tx<'_>, practice_id: Uuid) -> StoreResult<Vec<NotificationSettingRow>> {
    let rows = tx
        .query(
            "SELECT kind, enabled, push, email, text FROM practice_notification_defaults
             WHERE practice_id = $1 ORDER BY kind",
            &[practice_id.arg()],
        )
        .await?;
    rows.iter().map(|r| setting_from_row(r, 0)).collect()
}

/// Patient notification rows of one owner: a practice's defaults for new patients
/// (`practice_patient_notification_defaults`, by `practice_id`) or a patient's own
/// (`patient_notification_settings`, by `patient_id`).
async fn load_patient_rows(
    tx: &Tx<'_>,
    table: &str,
    owner_column: &str,
    owner: Uuid,
) -> StoreResult<Vec<PatientNotificationSettingRow>> {
    let sql = format!(
        "SELECT kind, enabled, email, text FROM {table} WHERE {owner_column} = $1 ORDER BY kind"
    );
    let rows = tx.query(&sql, &[owner.arg()]).await?;
    rows.iter()
        .map(|r| {
            Ok(PatientNotificationSettingRow {
                kind: r.get(0)?,
                enabled: r.get(1)?,
                email: r.get(2)?,
                text: r.get(3)?,
            })
        })
        .collect()
}

async fn load_patient_defaults(
    tx: &Tx<'_>,
    practice_id: Uuid,
) -> StoreResult<Vec<PatientNotificationSettingRow>> {
    let table = "practice_patient_notification_defaults";
    load_patient_rows(tx, table, "practice_id", practice_id).await
}

async fn load_patient_settings(
    tx: &Tx<'_>,
    patient_id: Uuid,
) -> StoreResult<Vec<PatientNotificationSettingRow>> {
    let table = "patient_notification_settings";
    load_patient_rows(tx, table, "patient_id", patient_id).await
}

#[async_trait]
impl<D: Db> NotificationSettings for D {
    async fn user_notification_layers(
        &self,
        user_id: Uuid,
        practice_id: Uuid,
    ) -> StoreResult<UserNotificationLayers> {
        self.autocommit(move |tx| Box::pin(load_layers(tx, user_id, practice_id)))
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
        self.transaction(move |tx| {
            Box::pin(async move {
                let customer_id = practice_customer(tx, practice_id, false).await?;
                for row in &rows {
                    tx.execute(
                        "INSERT INTO user_notification_settings
                             (user_id, practice_id, kind, enabled, push, email, text, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                         ON CONFLICT (user_id, practice_id, kind) DO UPDATE
                         SET enabled = excluded.enabled, push = excluded.push, email = excluded.email,
                             text = excluded.text, updated_at = excluded.updated_at",
                        &[
                            user_id.arg(),
                            practice_id.arg(),
                            row.kind.arg(),
                            row.enabled.arg(),
                            row.push.arg(),
                            row.email.arg(),
                            row.text.arg(),
                            audit.at.arg(),
                        ],
                    )
                    .await?;
                }
                let event = event(Some(customer_id), "user.notification_settings.update", "user", user_id);
                insert_audit(tx, &audit, &event).await?;
                load_layers(tx, user_id, practice_id).await
            })
        })
        .await
    }

    async fn practice_notification_defaults(
        &self,
        practice_id: Uuid,
    ) -> StoreResult<Vec<NotificationSettingRow>> {
        self.autocommit(move |tx| Box::pin(load_defaults(tx, practice_id)))
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
        self.transaction(move |tx| {
            Box::pin(save_practice_notification_defaults(
                tx,
                audit,
                practice_id,
                defaults,
                apply_to,
                builtin,
            ))
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
        let kind = kind.to_string();
        self.autocommit(move |tx| {
            Box::pin(async move { settings_of_users(tx, practice_id, &kind, &ids).await })
        })
        .await
    }

    async fn patient_notification_defaults(
        &self,
        practice_id: Uuid,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>> {
        self.autocommit(move |tx| Box::pin(load_patient_defaults(tx, practice_id)))
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
        self.transaction(move |tx| {
            Box::pin(async move {
                let customer_id = practice_customer(tx, practice_id, true).await?;
                for row in &rows {
                    tx.execute(
                        "INSERT INTO practice_patient_notification_defaults
                             (practice_id, kind, enabled, email, text, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (practice_id, kind) DO UPDATE
                         SET enabled = excluded.enabled, email = excluded.email, text = excluded.text,
                             updated_at = excluded.updated_at",
                        &patient_row_args(practice_id, row, &audit),
                    )
                    .await?;
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
                                 SELECT id, $2, $3, $4, $5, $6 FROM patients WHERE practice_id = $1
                                 ON CONFLICT (patient_id, kind) DO UPDATE
                                 SET enabled = excluded.enabled, email = excluded.email,
                                     text = excluded.text, updated_at = excluded.updated_at",
                                &patient_row_args(practice_id, row, &audit),
                            )
                            .await?;
                        }
                        "practice.patient_notification_defaults.set_for_all_patients"
                    }
                };
                let event = event(Some(customer_id), action, "practice", practice_id);
                insert_audit(tx, &audit, &event).await?;
                load_patient_defaults(tx, practice_id).await
            })
        })
        .await
    }

    async fn patient_notification_settings(
        &self,
        patient_id: Uuid,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                patient_practice(tx, patient_id, false).await?;
                load_patient_settings(tx, patient_id).await
            })
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
        self.transaction(move |tx| {
            Box::pin(async move {
                let (_, customer_id) = patient_practice(tx, patient_id, true).await?;
                for row in &rows {
                    tx.execute(
                        "INSERT INTO patient_notification_settings
                             (patient_id, kind, enabled, email, text, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (patient_id, kind) DO UPDATE
                         SET enabled = excluded.enabled, email = excluded.email, text = excluded.text,
                             updated_at = excluded.updated_at",
                        &patient_row_args(patient_id, row, &audit),
                    )
                    .await?;
                }
                let event = patient_event(customer_id, "patient.notification_settings.update", patient_id);
                insert_audit(tx, &audit, &event).await?;
                load_patient_settings(tx, patient_id).await
            })
        })
        .await
    }
}

/// A patient notification row's arguments after its owner: kind, enabled, email, text, time.
fn patient_row_args<'a>(
    owner: Uuid,
    row: &'a PatientNotificationSettingRow,
    audit: &Audit,
) -> [Arg<'a>; 6] {
    [
        Arg::Uuid(Some(owner)),
        row.kind.arg(),
        Arg::Bool(Some(row.enabled)),
        Arg::Bool(Some(row.email)),
        Arg::Bool(Some(row.text)),
        Arg::Time(Some(audit.at)),
    ]
}

async fn save_practice_notification_defaults(
    tx: &Tx<'_>,
    audit: Audit,
    practice_id: Uuid,
    defaults: Vec<NotificationSettingRow>,
    apply_to: ApplyDefaultsTo,
    builtin: Vec<NotificationSettingRow>,
) -> StoreResult<Vec<NotificationSettingRow>> {
    let customer_id = practice_customer(tx, practice_id, true).await?;
    let action = match apply_to {
        ApplyDefaultsTo::NewUsers => {
            // Existing users keep what they had: the previous effective value of every kind
            // becomes their own row where they have none.
            let current = load_defaults(tx, practice_id).await?;
            for previous in previous_effective(&current, &builtin) {
                tx.execute(
                    "INSERT INTO user_notification_settings
                         (user_id, practice_id, kind, enabled, push, email, text, updated_at)
                     SELECT u.id, $1, $2, $3, $4, $5, $6, $7 FROM users u
                     WHERE EXISTS (SELECT 1 FROM user_practices up
                                   WHERE up.user_id = u.id AND up.practice_id = $1)
                        OR (u.role = 'customer_admin' AND u.customer_id = $8)
                     ON CONFLICT (user_id, practice_id, kind) DO NOTHING",
                    &[
                        practice_id.arg(),
                        previous.kind.arg(),
                        previous.enabled.arg(),
                        previous.push.arg(),
                        previous.email.arg(),
                        previous.text.arg(),
                        audit.at.arg(),
                        customer_id.arg(),
                    ],
                )
                .await?;
            }
            "practice.user_notification_defaults.set_for_new_users"
        }
        ApplyDefaultsTo::AllUsers => {
            let sql = "DELETE FROM user_notification_settings WHERE practice_id = $1";
            tx.execute(sql, &[practice_id.arg()]).await?;
            "practice.user_notification_defaults.set_for_all_users"
        }
    };
    for row in &defaults {
        tx.execute(
            "INSERT INTO practice_notification_defaults
                 (practice_id, kind, enabled, push, email, text, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (practice_id, kind) DO UPDATE
             SET enabled = excluded.enabled, push = excluded.push, email = excluded.email,
                 text = excluded.text, updated_at = excluded.updated_at",
            &[
                practice_id.arg(),
                row.kind.arg(),
                row.enabled.arg(),
                row.push.arg(),
                row.email.arg(),
                row.text.arg(),
                audit.at.arg(),
            ],
        )
        .await?;
    }
    let event = event(Some(customer_id), action, "practice", practice_id);
    insert_audit(tx, &audit, &event).await?;
    load_defaults(tx, practice_id).await
}

/// The stored setting of `kind` of each user in `ids`, in that order, in one statement. Every
/// column of both tables is NOT NULL, so COALESCE picks the user's own row when it exists and
/// the practice default otherwise. SQLite has no array parameters: there the ids travel as one
/// JSON array of strings and are turned back into 16-byte blobs in the query.
async fn settings_of_users(
    tx: &Tx<'_>,
    practice_id: Uuid,
    kind: &str,
    ids: &[Uuid],
) -> StoreResult<Vec<StoredUserSetting>> {
    let ids_json = serde_json::to_string(ids)
        .map_err(|e| StoreError::Unexpected(format!("cannot encode ids: {e}")))?;
    let (ids_table, ids_arg) = match tx.backend() {
        Backend::Postgres => (
            "unnest($2::uuid[]) WITH ORDINALITY AS ids (id, position)",
            ids.arg(),
        ),
        Backend::Sqlite => (
            "(SELECT unhex(replace(value, '-', '')) AS id, key AS position
              FROM json_each($2)) AS ids",
            ids_json.arg(),
        ),
    };
    let sql = format!(
        "SELECT ids.id, s.user_id IS NOT NULL OR d.practice_id IS NOT NULL,
                COALESCE(s.enabled, d.enabled), COALESCE(s.push, d.push),
                COALESCE(s.email, d.email), COALESCE(s.text, d.text)
         FROM {ids_table}
         LEFT JOIN user_notification_settings s
                ON s.user_id = ids.id AND s.practice_id = $1 AND s.kind = $3
         LEFT JOIN practice_notification_defaults d
                ON d.practice_id = $1 AND d.kind = $3
         ORDER BY ids.position"
    );
    let rows = tx
        .query(&sql, &[practice_id.arg(), ids_arg, kind.arg()])
        .await?;
    rows.iter()
        .map(|row| {
            let setting = if row.get::<bool>(1)? {
                Some(NotificationSettingRow {
                    kind: kind.to_string(),
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
        .collect()
}
