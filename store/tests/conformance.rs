//! The store conformance suite: every test here runs against PostgreSQL (a fresh database copied
//! from the migrated template) and against SQLite (a file in a temporary directory). A backend
//! that passes this suite can serve the gateway.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use store::testing::{TestPostgres, TestStore};
use store::{
    ApplyDefaultsTo, Audit, AuditFilter, LockOutcome, NewCustomer, NewPatient, NewPractice,
    NewUser, NotificationSettingRow, Page, PatientNotificationSettingRow, Role, Store, StoreError,
};
use types::{Channel, TextingStatus};
use uuid::Uuid;

#[path = "conformance/messaging.rs"]
mod messaging;
use messaging::*;

#[path = "conformance/readings.rs"]
mod readings;
use readings::*;

#[path = "conformance/emails.rs"]
mod emails;
use emails::*;

#[path = "conformance/alert_reach.rs"]
mod alert_reach;
use alert_reach::*;
#[path = "conformance/oncall.rs"]
mod oncall;
use oncall::*;
#[path = "conformance/hardening.rs"]
mod hardening;
use hardening::*;
#[path = "conformance/instances.rs"]
mod instances;
use instances::*;
#[path = "conformance/patient_copies.rs"]
mod patient_copies;
use patient_copies::*;
#[path = "conformance/staff_assignment.rs"]
mod staff_assignment;
use staff_assignment::*;
#[path = "conformance/config_changes.rs"]
mod config_changes;
use config_changes::*;
#[path = "conformance/inbound_batches.rs"]
mod inbound_batches;
use inbound_batches::*;

/// Generates one `#[tokio::test]` per backend for each listed scenario.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = store::testing::TestStore::postgres().await;
                    super::$name(&db).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = store::testing::TestStore::sqlite();
                    super::$name(&db).await;
                }
            )*
        }
    };
}

conformance!(
    migrating_again_changes_nothing,
    a_supervisor_is_another_user_of_the_same_customer,
    care_team_assignment_covers_every_program_and_new_programs_only_their_creators,
    practice_switches_are_decided_in_the_transactions_that_use_them,
    practices_join_groups_on_create_and_by_patch_with_the_groups_default_users,
    the_config_version_moves_with_every_configuration_change_whoever_makes_it,
    an_inbound_text_decided_with_an_older_configuration_writes_nothing,
    forgetting_old_configuration_changes_keeps_the_version,
    the_claims_of_a_gone_instance_are_released_at_once_and_a_live_ones_never,
    a_claim_that_names_no_instance_waits_for_its_lease,
    a_customer_reads_back_as_created_and_its_creation_is_audited,
    a_missing_row_is_not_found,
    two_practices_cannot_share_an_sms_number,
    practices_page_through_in_creation_order,
    usernames_are_unique_regardless_of_case,
    a_user_reads_back_with_its_practices,
    a_customers_users_are_listed_by_username_locked_ones_included,
    creating_the_super_admin_twice_resets_its_password_and_unlocks_it,
    a_session_lives_while_used_within_the_idle_timeout,
    a_sessions_use_is_recorded_at_most_once_a_second,
    an_idle_session_is_gone_for_good,
    locking_a_user_ends_their_sessions_at_once,
    a_patient_read_is_written_to_the_audit_log,
    the_audit_log_filters_by_user_patient_and_time_and_pages,
    the_audit_log_refuses_updates_and_deletes,
    a_failed_operation_writes_no_audit_row,
    default_users_join_practices_created_afterwards,
    default_users_must_belong_to_the_customer,
    groups_need_ten_practices_and_a_practice_joins_at_most_one,
    a_groups_default_users_replace_the_customers_for_its_practices,
    deleting_a_group_falls_back_to_the_customers_default_users,
    locking_with_outstanding_items_needs_someone_to_hand_them_to,
    a_user_update_replaces_practices_and_restrictions,
    practice_settings_change_and_membership_is_replaced,
    patients_are_found_by_name_prefix_within_the_given_practices,
    a_patient_whose_every_program_is_restricted_is_not_found,
    a_changed_mobile_number_ends_texting,
    template_overrides_are_set_replaced_and_reset,
    notifications_are_listed_newest_first_per_user,
    assigning_program_staff_puts_them_on_the_care_team_and_removal_follows_seed_003,
    unread_is_per_user_and_only_patient_messages_count,
    a_retried_staff_send_with_the_same_key_is_recorded_once,
    a_new_portal_token_replaces_the_old_one,
    conversations_list_newest_activity_first_without_restricted_patients,
    a_users_notification_settings_read_back_beside_the_practice_defaults_and_are_audited,
    a_notification_channel_cannot_be_on_while_the_notification_is_off,
    defaults_saved_for_new_users_leave_existing_users_settings_as_they_were,
    defaults_saved_for_all_users_replace_every_users_own_settings,
    the_settings_of_many_users_are_read_in_one_call_in_the_order_asked,
    patient_notification_defaults_read_back_and_are_audited,
    disclaimers_are_empty_until_saved_then_read_back_and_are_audited,
    settings_of_a_missing_practice_are_not_found,
    an_alert_opens_with_its_reading_escalates_once_per_step_and_stops_when_acknowledged,
    open_alerts_are_counted_store_wide_with_the_opening_time_of_the_oldest,
    // Messaging (conformance/messaging.rs).
    a_repeated_carrier_message_id_is_recorded_once_and_changes_nothing,
    an_inbound_text_goes_to_the_texting_patient_of_the_practice_it_was_sent_to,
    a_body_the_decision_does_not_keep_is_never_stored,
    an_unknown_sender_or_number_is_recorded_without_patient_or_practice,
    the_decision_writes_texting_state_and_replies_in_the_inbound_transaction,
    due_rows_are_claimed_highest_priority_first,
    a_number_gets_send_slots_no_closer_than_its_rate_across_claims,
    a_lost_claim_is_sent_once_more_as_recovered_and_a_second_loss_fails_it,
    a_retry_waits_for_its_time_and_a_success_records_the_carrier_id,
    a_status_never_moves_backwards_and_undelivered_fails_the_row,
    a_message_status_the_store_does_not_know_is_an_error_when_read,
    error_21610_opts_the_patient_out_from_a_callback_and_from_a_send_answer,
    outbox_stats_count_what_waits_and_its_oldest_age,
    outbox_depth_is_counted_per_priority_and_sent_rows_leave_it,
    // Readings, reading settings, on-call, API tokens (conformance/readings.rs).
    a_reading_is_written_with_the_callers_decision_and_audited,
    a_patient_read_for_a_write_comes_with_its_practice_and_is_not_audited,
    an_unprepared_decider_leaves_nothing_written,
    a_readings_follow_ups_see_its_level_and_are_written_with_it_as_the_system,
    the_decision_sees_readings_of_the_vital_on_either_side_inside_the_change_window,
    readings_are_listed_newest_taken_first_by_vital_and_page_by_cursor,
    defaults_saved_for_new_patients_leave_existing_patients_effective_settings,
    defaults_saved_for_all_patients_replace_every_patients_own_settings,
    reading_frequency_is_off_until_saved_and_a_save_replaces_it,
    api_tokens_authenticate_by_hash_until_revoked,
    reading_settings_of_a_missing_patient_or_practice_are_not_found,
    a_notification_goes_to_the_feed_the_email_outbox_or_both_as_asked,
    early_statuses_are_kept_once_listed_in_order_and_forgotten_after_their_day,
    a_failed_change_leaves_no_email_behind,
    an_email_is_claimed_once_until_its_lease_runs_out,
    email_failures_retry_at_the_given_time_or_end_failed,
    concurrent_claimers_never_share_an_email,
    an_unread_reminder_records_each_user_once_with_their_notification_and_text,
    throttle_changes_to_one_key_are_serialised_and_old_state_is_forgotten,
    // Alert reach (conformance/alert_reach.rs).
    a_repeated_reading_is_answered_as_stored_and_writes_nothing,
    a_critical_reading_joins_the_open_alert_of_its_vital,
    an_alert_text_that_fails_for_good_makes_the_next_step_due_once_no_text_of_the_step_can_arrive,
    an_acknowledged_alert_is_not_made_due_and_patient_numbers_are_not_recorded,
    an_ack_text_is_decided_with_the_alert_the_numbers_it_texted_and_the_senders,
    // On-call schedules and their hand-over (conformance/oncall.rs).
    on_call_windows_keep_their_weekdays_and_only_users_who_can_act_may_be_on_call,
    on_call_overrides_are_replaced_whole_and_listed_until_they_end,
    locking_hands_windows_and_running_overrides_to_a_successor_who_can_act,
    a_user_change_that_takes_away_their_access_hands_their_on_call_duty_over,
    leaving_a_practice_hands_on_call_duty_there_to_the_successor,
    a_concurrent_lock_and_schedule_save_never_leave_a_locked_user_on_call,
    a_stored_practice_time_zone_that_does_not_parse_is_an_error_not_utc,
    a_stop_cancels_what_is_queued_to_the_number_and_only_its_confirmation_goes,
    a_claim_cancels_a_due_text_whose_number_opted_out_after_it_was_queued,
    a_relatives_old_opt_out_does_not_hold_back_a_patient_texting_again_on_that_number,
    a_staff_opt_out_cancels_what_is_queued_to_the_number,
    error_21610_cancels_what_is_queued_to_the_number,
    a_throttle_key_is_read_and_counted_inside_the_inbound_transaction,
    a_staff_send_chooses_its_channel_from_the_patient_as_it_is_in_the_transaction,
    an_idempotency_key_replays_only_the_request_it_came_with,
    a_new_password_ends_every_other_session_of_the_user,
    resetting_the_super_admins_password_ends_its_sessions,
    checking_a_session_does_not_keep_it_alive,
    a_refused_patient_read_writes_no_audit_row,
    // Patients' own copies of the practice's defaults (conformance/patient_copies.rs).
    a_new_patient_copies_the_practices_frequency_and_all_patients_saves_replace_the_copies,
    overdue_candidates_are_per_vital_and_a_warning_is_recorded_once_per_episode,
    overdue_candidates_carry_their_patients_programs,
    a_new_patient_copies_the_patient_notification_defaults_and_all_patients_saves_replace_them,
    a_patient_notice_is_decided_from_the_patient_as_they_are_in_the_transaction,
    an_inbound_text_on_a_shared_number_may_be_routed_to_and_change_every_patient_on_it,
);

#[tokio::test]
async fn postgres_a_raced_text_is_cancelled_at_claim() {
    let db = TestStore::postgres().await;
    postgres_a_text_queued_by_a_transaction_that_raced_the_stop_is_cancelled_not_sent(&db).await;
}

#[tokio::test]
async fn postgres_inbound_texts_arriving_together_share_transactions() {
    let db = TestStore::postgres().await;
    postgres_texts_arriving_together_share_transactions_and_each_is_recorded_once(&db).await;
}

#[tokio::test]
async fn postgres_an_inbound_text_its_batch_cannot_take_is_recorded_alone() {
    let db = TestStore::postgres().await;
    postgres_a_text_its_batch_cannot_take_is_recorded_alone_and_costs_the_others_nothing(&db).await;
}

#[tokio::test]
async fn postgres_a_staff_send_racing_a_stop_waits_for_it() {
    let db = TestStore::postgres().await;
    postgres_a_staff_send_racing_a_stop_decides_after_it(&db).await;
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn audit_at(at: DateTime<Utc>) -> Audit {
    Audit {
        user_id: None,
        client_addr: Some("127.0.0.1".into()),
        at,
    }
}

/// A reading decision of `level` with no reasons that opens and joins no alert.
fn decision(level: &'static str) -> store::ReadingDecision {
    store::ReadingDecision {
        level,
        reasons: serde_json::json!([]),
        alert: None,
        attach_to: None,
        follow_ups: None,
    }
}

/// Decides every reading as [`decision`]`(level)`, whatever its context.
fn decide(level: &'static str) -> store::DecideReading {
    Box::new(move |_: &store::ReadingContext| Ok(decision(level)))
}

/// The first ten notifications in `user`'s feed.
async fn feed_of(store: &Arc<dyn Store>, user: Uuid) -> Vec<store::Notification> {
    let page = store.list_notifications(user, Page::first(10)).await;
    page.unwrap().items
}

/// Creates `new` at [`t0`] and answers the patient's id.
async fn create_patient(store: &Arc<dyn Store>, new: NewPatient) -> Uuid {
    let patient = store.create_patient(&audit_at(t0()), new).await;
    patient.unwrap().id
}

/// Creates [`staff`]`(customer_id, username, practice_ids)` at [`t0`].
async fn create_staff(
    store: &Arc<dyn Store>,
    customer_id: Uuid,
    username: &str,
    practice_ids: Vec<Uuid>,
) -> store::User {
    let new = staff(customer_id, username, practice_ids);
    store.create_user(&audit_at(t0()), new).await.unwrap()
}

/// A practice of `customer_id` in `timezone`, in no group.
fn practice_row(
    customer_id: Uuid,
    name: String,
    timezone: &str,
    sms_number: String,
) -> NewPractice {
    NewPractice {
        customer_id,
        name,
        timezone: timezone.parse().unwrap(),
        sms_number,
        practice_group_id: None,
    }
}

/// Locks `leaving`, handing what they hold to `successor`; any outcome but `Locked` fails.
async fn lock_handing_over(
    store: &Arc<dyn Store>,
    audit: &Audit,
    leaving: Uuid,
    successor: Uuid,
) -> Box<store::User> {
    let outcome = store.lock_user(audit, leaving, Some(successor), on_call_rule);
    let LockOutcome::Locked(locked) = outcome.await.unwrap() else {
        panic!("hand-over then lock");
    };
    assert!(locked.locked_at.is_some());
    locked
}

async fn customer_and_practice(store: &Arc<dyn Store>, sms: &str) -> (Uuid, Uuid) {
    let customer = store
        .create_customer(
            &audit_at(t0()),
            NewCustomer {
                name: "Acme Health".into(),
            },
        )
        .await
        .unwrap();
    let practice = store
        .create_practice(
            &audit_at(t0()),
            NewPractice {
                customer_id: customer.id,
                name: "Main Street Clinic".into(),
                timezone: "America/New_York".parse().unwrap(),
                sms_number: sms.into(),
                practice_group_id: None,
            },
        )
        .await
        .unwrap();
    (customer.id, practice.id)
}

fn staff(customer_id: Uuid, username: &str, practice_ids: Vec<Uuid>) -> NewUser {
    NewUser {
        customer_id: Some(customer_id),
        username: username.into(),
        password_hash: "$argon2id$placeholder".into(),
        role: Role::Staff,
        email: format!("{username}@example.org"),
        first_name: "Sam".into(),
        last_name: "Staff".into(),
        title: "RN".into(),
        mobile_phone: Some("+15555550100".into()),
        auto_logout_minutes: 15,
        practice_ids,
        restricted_programs: Vec::new(),
        supervisor_id: None,
    }
}

async fn migrating_again_changes_nothing(db: &TestStore) {
    let store = db.store().await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

async fn a_customer_reads_back_as_created_and_its_creation_is_audited(db: &TestStore) {
    let store = db.store().await;
    let created = store
        .create_customer(
            &audit_at(t0()),
            NewCustomer {
                name: "Acme".into(),
            },
        )
        .await
        .unwrap();
    let read = store.get_customer(created.id).await.unwrap();
    assert_eq!(created, read);
    assert_eq!(read.created_at, t0());
    let audit = store
        .list_audit(AuditFilter {
            customer_id: Some(created.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "customer.create");
    assert_eq!(audit[0].client_addr.as_deref(), Some("127.0.0.1"));
}

async fn a_missing_row_is_not_found(db: &TestStore) {
    let store = db.store().await;
    assert!(matches!(
        store.get_customer(Uuid::now_v7()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_practice(Uuid::now_v7()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_user(Uuid::now_v7()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.find_user_by_username("nobody").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_patient(&audit_at(t0()), Uuid::now_v7()).await,
        Err(StoreError::NotFound)
    ));
}

async fn two_practices_cannot_share_an_sms_number(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550001").await;
    let err = store
        .create_practice(
            &audit_at(t0()),
            NewPractice {
                customer_id,
                name: "Second".into(),
                timezone: "UTC".parse().unwrap(),
                sms_number: "+15555550001".into(),
                practice_group_id: None,
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("practices_sms_number_key"), "{err:?}");
}

async fn practices_page_through_in_creation_order(db: &TestStore) {
    let store = db.store().await;
    let customer = store
        .create_customer(
            &audit_at(t0()),
            NewCustomer {
                name: "Many".into(),
            },
        )
        .await
        .unwrap();
    let mut created = Vec::new();
    for i in 0..5 {
        let new = practice_row(
            customer.id,
            format!("Practice {i}"),
            "UTC",
            format!("+1555555100{i}"),
        );
        let p = store.create_practice(&audit_at(t0()), new).await.unwrap();
        created.push(p.id);
    }
    let first = store
        .list_practices(customer.id, Page::first(2))
        .await
        .unwrap();
    assert_eq!(
        first.items.iter().map(|p| p.id).collect::<Vec<_>>(),
        created[0..2]
    );
    let second = store
        .list_practices(
            customer.id,
            Page {
                after: first.next_cursor,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        second.items.iter().map(|p| p.id).collect::<Vec<_>>(),
        created[2..4]
    );
    let third = store
        .list_practices(
            customer.id,
            Page {
                after: second.next_cursor,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        third.items.iter().map(|p| p.id).collect::<Vec<_>>(),
        created[4..5]
    );
    assert_eq!(third.next_cursor, None);
}

async fn usernames_are_unique_regardless_of_case(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550002").await;
    store
        .create_user(&audit_at(t0()), staff(customer_id, "alice", vec![]))
        .await
        .unwrap();
    let err = store
        .create_user(&audit_at(t0()), staff(customer_id, "ALICE", vec![]))
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("users_username_key"), "{err:?}");
    let found = store.find_user_by_username("Alice").await.unwrap();
    assert_eq!(found.username, "alice");
}

async fn a_user_reads_back_with_its_practices(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550003").await;
    let user = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "bob", vec![practice_id]),
        )
        .await
        .unwrap();
    let read = store.get_user(user.id).await.unwrap();
    assert_eq!(read.practice_ids, vec![practice_id]);
    assert_eq!(read.role, Role::Staff);
    assert_eq!(read.customer_id, Some(customer_id));
    assert_eq!(read.auto_logout_minutes, 15);
    assert_eq!(read.locked_at, None);
}

async fn a_customers_users_are_listed_by_username_locked_ones_included(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550013").await;
    let (other_customer, _) = customer_and_practice(&store, "+15555550014").await;
    for name in ["Zoe", "adam", "mia"] {
        store
            .create_user(&audit_at(t0()), staff(customer_id, name, vec![practice_id]))
            .await
            .unwrap();
    }
    store
        .create_user(&audit_at(t0()), staff(other_customer, "olga", vec![]))
        .await
        .unwrap();
    let mia = store.find_user_by_username("mia").await.unwrap();
    let outcome = store
        .lock_user(&audit_at(t0()), mia.id, None, on_call_rule)
        .await
        .unwrap();
    assert!(matches!(outcome, LockOutcome::Locked(_)));
    let listed = store.list_users(customer_id).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["adam", "mia", "Zoe"]);
    assert!(listed[1].locked_at.is_some());
    assert_eq!(listed[0].practice_ids, vec![practice_id]);
    assert!(store.list_users(Uuid::now_v7()).await.unwrap().is_empty());
}

async fn creating_the_super_admin_twice_resets_its_password_and_unlocks_it(db: &TestStore) {
    let store = db.store().await;
    let first = store
        .upsert_super_admin(&audit_at(t0()), "root", "hash-1")
        .await
        .unwrap();
    store
        .lock_user(&audit_at(t0()), first.id, None, on_call_rule)
        .await
        .unwrap();
    let second = store
        .upsert_super_admin(&audit_at(t0()), "ROOT", "hash-2")
        .await
        .unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(second.password_hash, "hash-2");
    assert_eq!(second.locked_at, None);
    assert_eq!(second.role, Role::SuperAdmin);
    assert_eq!(second.customer_id, None);
}

async fn a_session_lives_while_used_within_the_idle_timeout(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550004").await;
    let user = store
        .create_user(&audit_at(t0()), staff(customer_id, "carol", vec![]))
        .await
        .unwrap();
    store.create_session("hash-a", user.id, t0()).await.unwrap();
    // Used every 10 minutes with a 15-minute idle timeout: alive for an hour and beyond.
    for step in 1..=6 {
        let now = t0() + Duration::minutes(10 * step);
        let session = store.use_session("hash-a", now).await.unwrap();
        assert_eq!(session.user.id, user.id);
        assert_eq!(session.expires_at, now + Duration::minutes(15));
    }
}

async fn a_sessions_use_is_recorded_at_most_once_a_second(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550014").await;
    let user = store
        .create_user(&audit_at(t0()), staff(customer_id, "cleo", vec![]))
        .await
        .unwrap();
    store
        .create_session("hash-burst", user.id, t0())
        .await
        .unwrap();
    // A burst within the second after the last recorded use writes nothing: the session still
    // idles out 15 minutes after that use, and says so.
    for millis in [1, 500, 999] {
        let now = t0() + Duration::milliseconds(millis);
        let session = store.use_session("hash-burst", now).await.unwrap();
        assert_eq!(session.expires_at, t0() + Duration::minutes(15));
    }
    // A second on, the use is recorded again.
    let later = t0() + Duration::seconds(1);
    let session = store.use_session("hash-burst", later).await.unwrap();
    assert_eq!(session.expires_at, later + Duration::minutes(15));
    let checked = store.check_session("hash-burst", later).await.unwrap();
    assert_eq!(checked.expires_at, later + Duration::minutes(15));
    // The unrecorded uses of the burst kept nothing alive: idle from the recorded use, it ends.
    let idle = later + Duration::minutes(15);
    assert!(matches!(
        store.use_session("hash-burst", idle).await,
        Err(StoreError::NotFound)
    ));
}

async fn an_idle_session_is_gone_for_good(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550005").await;
    let user = store
        .create_user(&audit_at(t0()), staff(customer_id, "dave", vec![]))
        .await
        .unwrap();
    store.create_session("hash-b", user.id, t0()).await.unwrap();
    // Exactly at the timeout the session has ended.
    let err = store
        .use_session("hash-b", t0() + Duration::minutes(15))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound));
    // It was removed, not merely refused: an earlier clock cannot revive it.
    assert!(matches!(
        store.use_session("hash-b", t0()).await,
        Err(StoreError::NotFound)
    ));
}

async fn locking_a_user_ends_their_sessions_at_once(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550006").await;
    let user = store
        .create_user(&audit_at(t0()), staff(customer_id, "erin", vec![]))
        .await
        .unwrap();
    let other = store
        .create_user(&audit_at(t0()), staff(customer_id, "frank", vec![]))
        .await
        .unwrap();
    store.create_session("hash-c", user.id, t0()).await.unwrap();
    store
        .create_session("hash-d", other.id, t0())
        .await
        .unwrap();
    let LockOutcome::Locked(locked) = store
        .lock_user(&audit_at(t0()), user.id, None, on_call_rule)
        .await
        .unwrap()
    else {
        panic!("nothing outstanding")
    };
    assert_eq!(locked.locked_at, Some(t0()));
    assert!(matches!(
        store.use_session("hash-c", t0()).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store.use_session("hash-d", t0()).await.is_ok(),
        "other users keep their sessions"
    );
    assert!(matches!(
        store
            .lock_user(&audit_at(t0()), Uuid::now_v7(), None, on_call_rule)
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn a_patient_read_is_written_to_the_audit_log(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550007").await;
    let reader = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "gina", vec![practice_id]),
        )
        .await
        .unwrap();
    let created = store
        .create_patient(
            &audit_at(t0()),
            NewPatient {
                practice_id,
                first_name: "Pat".into(),
                last_name: "Jones".into(),
                dob: NaiveDate::from_ymd_opt(1961, 7, 4).unwrap(),
                mobile_phone: Some("+15555550199".into()),
                programs: vec!["rpm".into(), "ccm".into()],
                care_team: Vec::new(),
            },
        )
        .await
        .unwrap();
    assert_eq!(created.texting.status, TextingStatus::NotEnabled);
    assert_eq!(created.programs, vec!["ccm".to_string(), "rpm".to_string()]);
    let later = t0() + Duration::minutes(5);
    let by_reader = Audit {
        user_id: Some(reader.id),
        client_addr: Some("10.1.2.3".into()),
        at: later,
    };
    let read = store.get_patient(&by_reader, created.id).await.unwrap();
    assert_eq!(read, created);
    let rows = store
        .list_audit(AuditFilter {
            patient_id: Some(created.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["patient.create", "patient.read"]);
    assert_eq!(rows[1].user_id, Some(reader.id));
    assert_eq!(rows[1].at, later);
    assert_eq!(rows[1].client_addr.as_deref(), Some("10.1.2.3"));
    assert_eq!(rows[1].customer_id, Some(customer_id));
}

async fn the_audit_log_filters_by_user_patient_and_time_and_pages(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550008").await;
    let actor = store
        .create_user(&audit_at(t0()), staff(customer_id, "hank", vec![]))
        .await
        .unwrap();
    for i in 0..5 {
        let audit = Audit {
            user_id: Some(actor.id),
            client_addr: None,
            at: t0() + Duration::hours(i),
        };
        store
            .append_audit(
                &audit,
                store::AuditEvent {
                    customer_id: Some(customer_id),
                    action: "conversation.read",
                    target_type: "patient",
                    target_id: Some(format!("p{i}")),
                    patient_id: None,
                },
            )
            .await
            .unwrap();
    }
    let by_user = AuditFilter {
        user_id: Some(actor.id),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(store.list_audit(by_user.clone()).await.unwrap().len(), 5);
    let since = AuditFilter {
        since: Some(t0() + Duration::hours(3)),
        ..by_user.clone()
    };
    assert_eq!(store.list_audit(since).await.unwrap().len(), 2);
    let page1 = store
        .list_audit(AuditFilter {
            limit: 3,
            ..by_user.clone()
        })
        .await
        .unwrap();
    assert_eq!(page1.len(), 3);
    let page2 = store
        .list_audit(AuditFilter {
            limit: 3,
            after_id: Some(page1[2].id),
            ..by_user.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        page2
            .iter()
            .map(|r| r.target_id.clone().unwrap())
            .collect::<Vec<_>>(),
        ["p3", "p4"]
    );
    let other_customer = AuditFilter {
        customer_id: Some(Uuid::now_v7()),
        limit: 100,
        ..Default::default()
    };
    assert!(store.list_audit(other_customer).await.unwrap().is_empty());
}

async fn the_audit_log_refuses_updates_and_deletes(db: &TestStore) {
    let store = db.store().await;
    customer_and_practice(&store, "+15555550009").await;
    for sql in ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"] {
        let refused = raw_execute(db, sql).await;
        assert!(refused.is_err(), "{sql} must be refused");
    }
    let rows = store
        .list_audit(AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.action != "x"));
}

async fn a_failed_operation_writes_no_audit_row(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550010").await;
    store
        .create_user(&audit_at(t0()), staff(customer_id, "ivy", vec![]))
        .await
        .unwrap();
    let before = store
        .list_audit(AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    assert!(
        store
            .create_user(&audit_at(t0()), staff(customer_id, "ivy", vec![]))
            .await
            .is_err()
    );
    // A practice that does not exist: the user insert fails half-way and nothing remains.
    let bad = staff(customer_id, "jack", vec![Uuid::now_v7()]);
    assert!(store.create_user(&audit_at(t0()), bad).await.is_err());
    assert!(matches!(
        store.find_user_by_username("jack").await,
        Err(StoreError::NotFound)
    ));
    let after = store
        .list_audit(AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    assert_eq!(before, after);
}

async fn default_users_join_practices_created_afterwards(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, existing) = customer_and_practice(&store, "+15555550011").await;
    let user = store
        .create_user(&audit_at(t0()), staff(customer_id, "kim", vec![]))
        .await
        .unwrap();
    let set = store
        .set_customer_default_users(&audit_at(t0()), customer_id, vec![user.id])
        .await
        .unwrap();
    assert_eq!(set, vec![user.id]);
    let later = new_practice(&store, customer_id, "+15555550012").await;
    assert_eq!(store.practice_users(later).await.unwrap(), vec![user.id]);
    assert!(
        store.practice_users(existing).await.unwrap().is_empty(),
        "existing practices are left alone"
    );
    assert_eq!(
        store.practice_default_users(later).await.unwrap(),
        vec![user.id]
    );
}

async fn default_users_must_belong_to_the_customer(db: &TestStore) {
    let store = db.store().await;
    let (customer_a, _) = customer_and_practice(&store, "+15555550013").await;
    let (customer_b, practice_b) = customer_and_practice(&store, "+15555550014").await;
    let outsider = store
        .create_user(&audit_at(t0()), staff(customer_a, "lee", vec![]))
        .await
        .unwrap();
    let err = store
        .set_customer_default_users(&audit_at(t0()), customer_b, vec![outsider.id])
        .await
        .unwrap_err();
    assert!(
        err.is_rule(store::RuleRefusal::UsersOfAnotherCustomer),
        "{err:?}"
    );
    let err = store
        .set_practice_users(
            &audit_at(t0()),
            practice_b,
            vec![outsider.id],
            handover(None),
        )
        .await
        .unwrap_err();
    assert!(
        err.is_rule(store::RuleRefusal::UsersOfAnotherCustomer),
        "{err:?}"
    );
}

async fn new_practice(store: &Arc<dyn Store>, customer_id: Uuid, sms: &str) -> Uuid {
    store
        .create_practice(
            &audit_at(t0()),
            NewPractice {
                customer_id,
                name: format!("Practice {sms}"),
                timezone: "UTC".parse().unwrap(),
                sms_number: sms.into(),
                practice_group_id: None,
            },
        )
        .await
        .unwrap()
        .id
}

async fn customer_with_practices(
    store: &Arc<dyn Store>,
    n: usize,
    prefix: &str,
) -> (Uuid, Vec<Uuid>) {
    let customer = store
        .create_customer(&audit_at(t0()), NewCustomer { name: "Big".into() })
        .await
        .unwrap();
    let mut practices = Vec::new();
    for i in 0..n {
        practices.push(new_practice(store, customer.id, &format!("+1555{prefix}{i:03}")).await);
    }
    (customer.id, practices)
}

fn group(
    customer_id: Uuid,
    name: &str,
    practice_ids: Vec<Uuid>,
    default_user_ids: Vec<Uuid>,
) -> store::NewPracticeGroup {
    store::NewPracticeGroup {
        customer_id,
        name: name.into(),
        default_user_ids,
        practice_ids,
    }
}

async fn groups_need_ten_practices_and_a_practice_joins_at_most_one(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practices) = customer_with_practices(&store, 9, "601").await;
    let err = store
        .create_practice_group(
            &audit_at(t0()),
            group(customer_id, "North", practices[..2].to_vec(), vec![]),
        )
        .await
        .unwrap_err();
    assert!(
        err.is_rule(store::RuleRefusal::TooFewPracticesForGroups),
        "{err:?}"
    );
    let tenth = new_practice(&store, customer_id, "+15556029999").await;
    let north = store
        .create_practice_group(
            &audit_at(t0()),
            group(customer_id, "North", vec![practices[0], tenth], vec![]),
        )
        .await
        .unwrap();
    let mut expected = vec![practices[0], tenth];
    expected.sort();
    assert_eq!(north.practice_ids, expected);
    let err = store
        .create_practice_group(
            &audit_at(t0()),
            group(
                customer_id,
                "South",
                vec![practices[0], practices[1]],
                vec![],
            ),
        )
        .await
        .unwrap_err();
    assert!(
        err.is_rule(store::RuleRefusal::PracticeInAnotherGroup),
        "{err:?}"
    );
    assert!(
        store
            .get_practice(practices[1])
            .await
            .unwrap()
            .practice_group_id
            .is_none(),
        "nothing half-done"
    );
    let err = store
        .create_practice_group(&audit_at(t0()), group(customer_id, "north", vec![], vec![]))
        .await
        .unwrap_err();
    assert!(
        err.is_conflict_on("practice_groups_customer_id_name_key"),
        "{err:?}"
    );
}

async fn a_groups_default_users_replace_the_customers_for_its_practices(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practices) = customer_with_practices(&store, 10, "603").await;
    let customer_default = store
        .create_user(&audit_at(t0()), staff(customer_id, "cd", vec![]))
        .await
        .unwrap();
    let group_default = store
        .create_user(&audit_at(t0()), staff(customer_id, "gd", vec![]))
        .await
        .unwrap();
    store
        .set_customer_default_users(&audit_at(t0()), customer_id, vec![customer_default.id])
        .await
        .unwrap();
    let g = store
        .create_practice_group(
            &audit_at(t0()),
            group(
                customer_id,
                "East",
                vec![practices[0]],
                vec![group_default.id],
            ),
        )
        .await
        .unwrap();
    assert_eq!(g.default_user_ids, vec![group_default.id]);
    assert_eq!(
        store.practice_default_users(practices[0]).await.unwrap(),
        vec![group_default.id]
    );
    assert_eq!(
        store.practice_default_users(practices[1]).await.unwrap(),
        vec![customer_default.id]
    );
    assert!(
        store
            .practice_users(practices[0])
            .await
            .unwrap()
            .contains(&group_default.id),
        "group defaults join its practices"
    );
    let moved = store
        .update_practice_group(
            &audit_at(t0()),
            g.id,
            store::PracticeGroupPatch {
                practice_ids: Some(vec![practices[1]]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.practice_ids, vec![practices[1]]);
    assert_eq!(
        store.practice_default_users(practices[0]).await.unwrap(),
        vec![customer_default.id]
    );
}

async fn deleting_a_group_falls_back_to_the_customers_default_users(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practices) = customer_with_practices(&store, 10, "604").await;
    let customer_default = store
        .create_user(&audit_at(t0()), staff(customer_id, "cd2", vec![]))
        .await
        .unwrap();
    let group_default = store
        .create_user(&audit_at(t0()), staff(customer_id, "gd2", vec![]))
        .await
        .unwrap();
    store
        .set_customer_default_users(&audit_at(t0()), customer_id, vec![customer_default.id])
        .await
        .unwrap();
    let g = store
        .create_practice_group(
            &audit_at(t0()),
            group(
                customer_id,
                "West",
                vec![practices[2]],
                vec![group_default.id],
            ),
        )
        .await
        .unwrap();
    store
        .delete_practice_group(&audit_at(t0()), g.id)
        .await
        .unwrap();
    assert!(matches!(
        store.get_practice_group(g.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.practice_default_users(practices[2]).await.unwrap(),
        vec![customer_default.id]
    );
    assert!(
        store
            .list_practice_groups(customer_id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn locking_with_outstanding_items_needs_someone_to_hand_them_to(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550015").await;
    let leaving = store
        .create_user(&audit_at(t0()), staff(customer_id, "leaving", vec![]))
        .await
        .unwrap();
    let successor = store
        .create_user(&audit_at(t0()), staff(customer_id, "successor", vec![]))
        .await
        .unwrap();
    store
        .set_customer_default_users(&audit_at(t0()), customer_id, vec![leaving.id])
        .await
        .unwrap();
    store
        .create_session("hash-leaving", leaving.id, t0())
        .await
        .unwrap();

    let outstanding = store.outstanding(leaving.id, t0()).await.unwrap();
    assert_eq!(outstanding.customer_default_user_of, vec![customer_id]);
    match store
        .lock_user(&audit_at(t0()), leaving.id, None, on_call_rule)
        .await
        .unwrap()
    {
        LockOutcome::Outstanding(items) => assert_eq!(items, outstanding),
        other => panic!("must not lock with outstanding items and no successor: {other:?}"),
    }
    assert!(
        store
            .get_user(leaving.id)
            .await
            .unwrap()
            .locked_at
            .is_none()
    );
    assert!(
        store.use_session("hash-leaving", t0()).await.is_ok(),
        "nothing changed"
    );

    lock_handing_over(&store, &audit_at(t0()), leaving.id, successor.id).await;
    assert_eq!(
        store.customer_default_users(customer_id).await.unwrap(),
        vec![successor.id]
    );
    assert!(
        store
            .outstanding(leaving.id, t0())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store.use_session("hash-leaving", t0()).await,
        Err(StoreError::NotFound)
    ));
    let unlocked = store
        .unlock_user(&audit_at(t0()), leaving.id)
        .await
        .unwrap();
    assert!(unlocked.locked_at.is_none());
}

async fn a_user_update_replaces_practices_and_restrictions(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, p1) = customer_and_practice(&store, "+15555550016").await;
    let p2 = new_practice(&store, customer_id, "+15555550017").await;
    let user = store
        .create_user(&audit_at(t0()), staff(customer_id, "mo", vec![p1]))
        .await
        .unwrap();
    let patch = store::UserPatch {
        title: Some("NP".into()),
        practice_ids: Some(vec![p2]),
        restricted_programs: Some(vec!["behavioral".into()]),
        auto_logout_minutes: Some(5),
        mobile_phone: Some(None),
        ..Default::default()
    };
    let updated = store
        .update_user(&audit_at(t0()), user.id, patch, handover(None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.title, "NP");
    assert_eq!(updated.practice_ids, vec![p2]);
    assert_eq!(updated.restricted_programs, vec!["behavioral".to_string()]);
    assert_eq!(updated.auto_logout_minutes, 5);
    assert_eq!(updated.mobile_phone, None);
    assert_eq!(updated.first_name, user.first_name, "untouched fields stay");
    assert!(matches!(
        store
            .update_user(
                &audit_at(t0()),
                Uuid::now_v7(),
                store::UserPatch::default(),
                handover(None)
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn practice_settings_change_and_membership_is_replaced(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550018").await;
    let a = store
        .create_user(&audit_at(t0()), staff(customer_id, "pa", vec![practice_id]))
        .await
        .unwrap();
    let b = store
        .create_user(&audit_at(t0()), staff(customer_id, "pb", vec![]))
        .await
        .unwrap();
    let patch = store::PracticePatch {
        escalation_delay_minutes: Some(5),
        name: Some("Renamed".into()),
        ..Default::default()
    };
    let practice = store
        .update_practice(&audit_at(t0()), practice_id, patch)
        .await
        .unwrap();
    assert_eq!(practice.escalation_delay_minutes, 5);
    assert_eq!(practice.name, "Renamed");
    assert_eq!(practice.timezone, "America/New_York");
    assert_eq!(
        store
            .set_practice_users(&audit_at(t0()), practice_id, vec![b.id], handover(None))
            .await
            .unwrap()
            .unwrap(),
        vec![b.id]
    );
    assert!(store.get_user(a.id).await.unwrap().practice_ids.is_empty());
    let other = new_practice(&store, customer_id, "+15555550019").await;
    let err = store
        .update_practice(
            &audit_at(t0()),
            other,
            store::PracticePatch {
                sms_number: Some("+15555550018".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("practices_sms_number_key"), "{err:?}");
}

fn patient(practice_id: Uuid, first: &str, last: &str, programs: &[&str]) -> NewPatient {
    NewPatient {
        practice_id,
        first_name: first.into(),
        last_name: last.into(),
        dob: NaiveDate::from_ymd_opt(1970, 1, 2).unwrap(),
        mobile_phone: None,
        programs: programs.iter().map(|p| p.to_string()).collect(),
        care_team: Vec::new(),
    }
}

fn search(
    practice_ids: Vec<Uuid>,
    query: &str,
    restricted: &[&str],
    page: Page,
) -> store::PatientSearch {
    store::PatientSearch {
        practice_ids,
        query: query.into(),
        restricted_programs: restricted.iter().map(|p| p.to_string()).collect(),
        page,
    }
}

async fn patients_are_found_by_name_prefix_within_the_given_practices(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, p1) = customer_and_practice(&store, "+15555550020").await;
    let p2 = new_practice(&store, customer_id, "+15555550021").await;
    for (first, last) in [
        ("Ann", "Smith"),
        ("Bob", "Smithers"),
        ("Cy", "Jones"),
        ("Smitty", "Alvarez"),
    ] {
        store
            .create_patient(&audit_at(t0()), patient(p1, first, last, &[]))
            .await
            .unwrap();
    }
    store
        .create_patient(&audit_at(t0()), patient(p2, "Dee", "Smith", &[]))
        .await
        .unwrap();
    let found = store
        .search_patients(
            &audit_at(t0()),
            search(vec![p1], "smi", &[], Page::first(50)),
        )
        .await
        .unwrap();
    let names: Vec<_> = found
        .items
        .iter()
        .map(|p| format!("{} {}", p.first_name, p.last_name))
        .collect();
    assert_eq!(
        names,
        ["Smitty Alvarez", "Ann Smith", "Bob Smithers"],
        "by last name, then first"
    );
    let full = store
        .search_patients(
            &audit_at(t0()),
            search(vec![p1, p2], "ann smi", &[], Page::first(50)),
        )
        .await
        .unwrap();
    assert_eq!(full.items.len(), 1);
    let wildcard = store
        .search_patients(&audit_at(t0()), search(vec![p1], "%", &[], Page::first(50)))
        .await
        .unwrap();
    assert!(
        wildcard.items.is_empty(),
        "LIKE wildcards in the query are literal"
    );
    let first = store
        .search_patients(
            &audit_at(t0()),
            search(vec![p1, p2], "smi", &[], Page::first(2)),
        )
        .await
        .unwrap();
    let rest = store
        .search_patients(
            &audit_at(t0()),
            search(
                vec![p1, p2],
                "smi",
                &[],
                Page {
                    after: first.next_cursor,
                    limit: 2,
                },
            ),
        )
        .await
        .unwrap();
    let mut all: Vec<_> = first
        .items
        .iter()
        .chain(rest.items.iter())
        .map(|p| p.first_name.clone())
        .collect();
    assert_eq!(all.len(), 4);
    all.dedup();
    assert_eq!(all.len(), 4, "pages do not overlap");
    let audited = store
        .list_audit(AuditFilter {
            limit: 200,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audited.iter().any(|r| r.action == "patient.search_result"),
        "search results are audited reads"
    );
}

async fn a_patient_whose_every_program_is_restricted_is_not_found(db: &TestStore) {
    let store = db.store().await;
    let (_, p1) = customer_and_practice(&store, "+15555550022").await;
    store
        .create_patient(
            &audit_at(t0()),
            patient(p1, "Only", "Behavioral", &["behavioral"]),
        )
        .await
        .unwrap();
    store
        .create_patient(
            &audit_at(t0()),
            patient(p1, "Mixed", "Both", &["behavioral", "rpm"]),
        )
        .await
        .unwrap();
    store
        .create_patient(&audit_at(t0()), patient(p1, "No", "Programs", &[]))
        .await
        .unwrap();
    let found = store
        .search_patients(
            &audit_at(t0()),
            search(vec![p1], "", &["behavioral"], Page::first(50)),
        )
        .await
        .unwrap();
    let mut names: Vec<_> = found.items.iter().map(|p| p.first_name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Mixed", "No"]);
}

async fn a_changed_mobile_number_ends_texting(db: &TestStore) {
    let store = db.store().await;
    let (_, p1) = customer_and_practice(&store, "+15555550023").await;
    let mut new = patient(p1, "Tex", "Ting", &[]);
    new.mobile_phone = Some("+15555550124".into());
    let created = store.create_patient(&audit_at(t0()), new).await.unwrap();
    raw_execute(db, "UPDATE patients SET texting_status = 'enabled'")
        .await
        .unwrap();
    let same = store
        .update_patient(
            &audit_at(t0()),
            created.id,
            store::PatientPatch {
                first_name: Some("Tex2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        same.texting.status,
        TextingStatus::Enabled,
        "other changes keep texting"
    );
    let later = t0() + Duration::hours(1);
    let moved = store
        .update_patient(
            &audit_at(later),
            created.id,
            store::PatientPatch {
                mobile_phone: Some(Some("+15555550125".into())),
                programs: Some(vec!["rpm".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.texting.status, TextingStatus::NotEnabled);
    assert_eq!(moved.texting.updated_at, later);
    assert_eq!(moved.mobile_phone.as_deref(), Some("+15555550125"));
    assert_eq!(moved.programs, ["rpm"]);
}

async fn template_overrides_are_set_replaced_and_reset(db: &TestStore) {
    let store = db.store().await;
    let (_, p1) = customer_and_practice(&store, "+15555550026").await;
    assert!(store.template_overrides(p1).await.unwrap().is_empty());
    store
        .set_template(&audit_at(t0()), p1, "help", "first")
        .await
        .unwrap();
    store
        .set_template(&audit_at(t0()), p1, "help", "second")
        .await
        .unwrap();
    let overrides = store.template_overrides(p1).await.unwrap();
    assert_eq!(overrides.len(), 1);
    assert_eq!(overrides[0].body, "second");
    store
        .reset_template(&audit_at(t0()), p1, "help")
        .await
        .unwrap();
    assert!(store.template_overrides(p1).await.unwrap().is_empty());
    assert!(matches!(
        store
            .set_template(&audit_at(t0()), Uuid::now_v7(), "help", "x")
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn notifications_are_listed_newest_first_per_user(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550027").await;
    let a = store
        .create_user(&audit_at(t0()), staff(customer_id, "na", vec![practice_id]))
        .await
        .unwrap();
    let b = store
        .create_user(&audit_at(t0()), staff(customer_id, "nb", vec![practice_id]))
        .await
        .unwrap();
    let note = |user_id: Uuid, summary: &str| {
        store::NewNotification::in_feed(user_id, practice_id, None, "two_way_texting", summary)
    };
    for i in 0..3 {
        store
            .add_notifications(
                t0() + Duration::minutes(i),
                vec![note(a.id, &format!("n{i}")), note(b.id, "other")],
            )
            .await
            .unwrap();
    }
    let first = store
        .list_notifications(a.id, Page::first(2))
        .await
        .unwrap();
    assert_eq!(
        first
            .items
            .iter()
            .map(|n| n.summary.as_str())
            .collect::<Vec<_>>(),
        ["n2", "n1"]
    );
    assert_eq!(first.items[0].created_at, t0() + Duration::minutes(2));
    let rest = store
        .list_notifications(
            a.id,
            Page {
                after: first.next_cursor,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        rest.items
            .iter()
            .map(|n| n.summary.as_str())
            .collect::<Vec<_>>(),
        ["n0"]
    );
    assert!(rest.next_cursor.is_none());
    let bad_kind = store::NewNotification {
        kind: "gossip".into(),
        ..note(a.id, "x")
    };
    assert!(store.add_notifications(t0(), vec![bad_kind]).await.is_err());
}

async fn team_fixture(store: &Arc<dyn Store>, sms: &str) -> (Uuid, Uuid, Uuid, Uuid) {
    let (customer_id, practice_id) = customer_and_practice(store, sms).await;
    let a = create_staff(store, customer_id, &format!("a{sms}"), vec![practice_id]).await;
    let b = create_staff(store, customer_id, &format!("b{sms}"), vec![practice_id]).await;
    let mut new = patient(practice_id, "Conv", "Ersation", &["rpm", "ccm"]);
    new.mobile_phone = Some(format!("+1555777{}", &sms[sms.len() - 4..]));
    let p = store.create_patient(&audit_at(t0()), new).await.unwrap();
    (practice_id, p.id, a.id, b.id)
}

async fn assigning_program_staff_puts_them_on_the_care_team_and_removal_follows_seed_003(
    db: &TestStore,
) {
    let store = db.store().await;
    let (_, patient, a, b) = team_fixture(&store, "+15555550031").await;
    store
        .add_program_staff(&audit_at(t0()), patient, "rpm", a)
        .await
        .unwrap();
    store
        .add_program_staff(&audit_at(t0()), patient, "ccm", a)
        .await
        .unwrap();
    store
        .add_to_care_team(&audit_at(t0()), patient, b)
        .await
        .unwrap();
    let team = store.care_team(patient).await.unwrap();
    assert_eq!(team.len(), 2);
    assert_eq!(
        team.iter().find(|m| m.user_id == a).unwrap().programs,
        ["ccm", "rpm"]
    );
    // Removing from one enrolment leaves the care team as it is.
    store
        .remove_program_staff(&audit_at(t0()), patient, "rpm", a)
        .await
        .unwrap();
    let team = store.care_team(patient).await.unwrap();
    assert_eq!(
        team.iter().find(|m| m.user_id == a).unwrap().programs,
        ["ccm"]
    );
    // Removing from the care team removes from every enrolment.
    store
        .remove_from_care_team(&audit_at(t0()), patient, a)
        .await
        .unwrap();
    let team = store.care_team(patient).await.unwrap();
    assert!(team.iter().all(|m| m.user_id != a));
    store
        .add_to_care_team(&audit_at(t0()), patient, a)
        .await
        .unwrap();
    let team = store.care_team(patient).await.unwrap();
    assert!(
        team.iter()
            .find(|m| m.user_id == a)
            .unwrap()
            .programs
            .is_empty(),
        "enrolments do not come back"
    );
}

fn portal_note(user_id: Uuid, practice_id: Uuid, patient_id: Uuid) -> store::NewNotification {
    store::NewNotification::in_feed(
        user_id,
        practice_id,
        Some(patient_id),
        "new_patient_message",
        "A patient sent a new message.",
    )
}

async fn unread_is_per_user_and_only_patient_messages_count(db: &TestStore) {
    let store = db.store().await;
    let (practice_id, patient, a, b) = team_fixture(&store, "+15555550032").await;
    store
        .add_to_care_team(&audit_at(t0()), patient, a)
        .await
        .unwrap();
    store.subscribe(&audit_at(t0()), patient, b).await.unwrap();
    let unread = |items: Vec<store::ConversationItem>| {
        items
            .iter()
            .find(|i| i.patient_id == patient)
            .map(|i| i.unread)
    };
    assert_eq!(
        unread(store.list_conversations(a, vec![], 50, 0).await.unwrap()),
        Some(false)
    );
    // A staff message never makes a conversation unread.
    let staff_msg = store::NewStaffMessage {
        patient_id: patient,
        author_user_id: a,
        body: "Hi".into(),
        choose: Box::new(|_| store::StaffSendChoice::Portal),
        idempotency: None,
    };
    store
        .post_staff_message(&audit_at(t0()), staff_msg)
        .await
        .unwrap();
    assert_eq!(
        unread(store.list_conversations(b, vec![], 50, 0).await.unwrap()),
        Some(false)
    );
    store
        .post_portal_message(
            &audit_at(t0() + Duration::minutes(1)),
            patient,
            "Question",
            vec![portal_note(a, practice_id, patient)],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        unread(store.list_conversations(a, vec![], 50, 0).await.unwrap()),
        Some(true)
    );
    assert_eq!(
        unread(store.list_conversations(b, vec![], 50, 0).await.unwrap()),
        Some(true)
    );
    store
        .mark_read(a, patient, t0() + Duration::minutes(2))
        .await
        .unwrap();
    assert_eq!(
        unread(store.list_conversations(a, vec![], 50, 0).await.unwrap()),
        Some(false)
    );
    assert_eq!(
        unread(store.list_conversations(b, vec![], 50, 0).await.unwrap()),
        Some(true),
        "read for a only"
    );
    assert_eq!(feed_of(&store, a).await.len(), 1);
    // A later staff reply moves the conversation's activity and leaves it read.
    let reply_at = t0() + Duration::minutes(3);
    let reply = store::NewStaffMessage {
        patient_id: patient,
        author_user_id: a,
        body: "Answer".into(),
        choose: Box::new(|_| store::StaffSendChoice::Portal),
        idempotency: None,
    };
    store
        .post_staff_message(&audit_at(reply_at), reply)
        .await
        .unwrap();
    let line = store
        .list_conversations(a, vec![], 50, 0)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.patient_id == patient)
        .unwrap();
    assert_eq!((line.last_message_at, line.unread), (Some(reply_at), false));
    assert_eq!(
        store.conversations_of(a, vec![patient]).await.unwrap(),
        [line]
    );
}

async fn a_retried_staff_send_with_the_same_key_is_recorded_once(db: &TestStore) {
    let store = db.store().await;
    let (_, patient, a, _) = team_fixture(&store, "+15555550033").await;
    let send = || store::NewStaffMessage {
        patient_id: patient,
        author_user_id: a,
        body: "Your results are in".into(),
        choose: Box::new(|_| store::StaffSendChoice::Portal),
        idempotency: Some(store::IdempotencyKey {
            key: "key-1".into(),
            fingerprint: "request-1".into(),
        }),
    };
    let first = match store
        .post_staff_message(&audit_at(t0()), send())
        .await
        .unwrap()
    {
        store::StaffMessageOutcome::Created { message, .. } => message,
        other => panic!("{other:?}"),
    };
    match store
        .post_staff_message(&audit_at(t0()), send())
        .await
        .unwrap()
    {
        store::StaffMessageOutcome::Replayed { message } => assert_eq!(message.id, first.id),
        other => panic!("{other:?}"),
    }
    let thread = store
        .list_messages(&audit_at(t0()), patient, None, 50)
        .await
        .unwrap();
    assert_eq!(thread.items.len(), 1);
    assert_eq!(thread.items[0].author_user_id, Some(a));
    assert_eq!(thread.items[0].channel, Channel::Portal);
}

async fn a_new_portal_token_replaces_the_old_one(db: &TestStore) {
    let store = db.store().await;
    let (_, patient, _, _) = team_fixture(&store, "+15555550034").await;
    store
        .enroll_portal(&audit_at(t0()), patient, "hash-1")
        .await
        .unwrap();
    assert_eq!(store.portal_patient("hash-1").await.unwrap().id, patient);
    store
        .enroll_portal(&audit_at(t0()), patient, "hash-2")
        .await
        .unwrap();
    assert!(matches!(
        store.portal_patient("hash-1").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.portal_patient("hash-2").await.unwrap().id, patient);
}

async fn conversations_list_newest_activity_first_without_restricted_patients(db: &TestStore) {
    let store = db.store().await;
    let (practice_id, first, a, _) = team_fixture(&store, "+15555550035").await;
    let second = store
        .create_patient(
            &audit_at(t0()),
            patient(practice_id, "Second", "One", &["behavioral"]),
        )
        .await
        .unwrap()
        .id;
    let quiet = store
        .create_patient(&audit_at(t0()), patient(practice_id, "Quiet", "One", &[]))
        .await
        .unwrap()
        .id;
    for p in [first, second, quiet] {
        store.add_to_care_team(&audit_at(t0()), p, a).await.unwrap();
    }
    store
        .post_portal_message(
            &audit_at(t0() + Duration::minutes(1)),
            first,
            "older",
            vec![],
            vec![],
        )
        .await
        .unwrap();
    store
        .post_portal_message(
            &audit_at(t0() + Duration::minutes(2)),
            second,
            "newer",
            vec![],
            vec![],
        )
        .await
        .unwrap();
    let list = store.list_conversations(a, vec![], 50, 0).await.unwrap();
    assert_eq!(
        list.iter().map(|i| i.patient_id).collect::<Vec<_>>(),
        [second, first, quiet]
    );
    assert_eq!(list[0].last_message_at, Some(t0() + Duration::minutes(2)));
    assert_eq!(list[2].last_message_at, None);
    let restricted = store
        .list_conversations(a, vec!["behavioral".into()], 50, 0)
        .await
        .unwrap();
    assert_eq!(
        restricted.iter().map(|i| i.patient_id).collect::<Vec<_>>(),
        [first, quiet]
    );
    let paged = store.list_conversations(a, vec![], 1, 1).await.unwrap();
    assert_eq!(
        paged.iter().map(|i| i.patient_id).collect::<Vec<_>>(),
        [first]
    );
    // A followed patient is listed; one both followed and on the care team, once.
    let followed = store
        .create_patient(
            &audit_at(t0()),
            patient(practice_id, "Followed", "One", &[]),
        )
        .await
        .unwrap()
        .id;
    for p in [followed, first] {
        store.subscribe(&audit_at(t0()), p, a).await.unwrap();
    }
    let list = store.list_conversations(a, vec![], 50, 0).await.unwrap();
    let mut quiet_ones = [quiet, followed];
    quiet_ones.sort_by(|x, y| y.cmp(x));
    assert_eq!(
        list.iter().map(|i| i.patient_id).collect::<Vec<_>>(),
        [second, first, quiet_ones[0], quiet_ones[1]],
        "newest activity first, then the quiet ones by id"
    );
}

/// Runs SQL outside the store API, to check what the database itself refuses.
async fn raw_execute(db: &TestStore, sql: &str) -> Result<(), String> {
    match db {
        TestStore::Postgres(pg) => {
            let (client, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client.batch_execute(sql).await.map_err(|e| e.to_string())
        }
        TestStore::Sqlite(lite) => {
            let conn = rusqlite::Connection::open(lite.dir.path().join("gateway.db")).unwrap();
            conn.execute_batch(sql).map_err(|e| e.to_string())
        }
    }
}

// Backend-specific behaviour.

#[tokio::test]
async fn postgres_migrations_are_safe_when_several_gateways_start_at_once() {
    let db = TestPostgres::empty().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            let store = store::PostgresStore::connect(&url).unwrap();
            store.migrate().await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let applied: i64 = client
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, store::migrations::MIGRATIONS.len() as i64);
}

#[tokio::test]
async fn postgres_refuses_to_start_on_an_edited_migration() {
    let db = TestStore::postgres().await;
    let store = db.store().await;
    raw_execute(
        &db,
        "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await
    .unwrap();
    let err = store.migrate().await.unwrap_err();
    assert!(
        err.to_string().contains("was changed after it was applied"),
        "{err}"
    );
}

#[tokio::test]
async fn sqlite_refuses_to_start_on_an_edited_migration() {
    let db = TestStore::sqlite();
    let store = db.store().await;
    raw_execute(
        &db,
        "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await
    .unwrap();
    assert!(store.migrate().await.is_err());
}

#[tokio::test]
async fn an_unreachable_postgres_is_reported_as_unavailable() {
    // Port 9 (discard) has no PostgreSQL behind it on the test machine.
    let store = store::PostgresStore::connect("postgres://postgres@127.0.0.1:9/none").unwrap();
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn sqlite_keeps_data_across_reopening() {
    let db = store::testing::TestSqlite::new();
    let id = {
        let store = db.store().await;
        store
            .create_customer(
                &audit_at(t0()),
                NewCustomer {
                    name: "Durable".into(),
                },
            )
            .await
            .unwrap()
            .id
    };
    let reopened = db.store().await;
    assert_eq!(reopened.get_customer(id).await.unwrap().name, "Durable");
}

// ---- notification settings and disclaimers ---------------------------------------------------

fn setting(
    kind: &str,
    enabled: bool,
    push: bool,
    email: bool,
    text: bool,
) -> NotificationSettingRow {
    NotificationSettingRow {
        kind: kind.into(),
        enabled,
        push,
        email,
        text,
    }
}

/// What the gateway passes as its built-in defaults in these scenarios.
fn builtin() -> Vec<NotificationSettingRow> {
    vec![
        setting("new_patient_message", true, true, false, false),
        setting("reading_critical", true, true, false, false),
    ]
}

async fn actions_of(store: &Arc<dyn Store>, customer_id: Uuid) -> Vec<String> {
    store
        .list_audit(AuditFilter {
            customer_id: Some(customer_id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect()
}

async fn a_users_notification_settings_read_back_beside_the_practice_defaults_and_are_audited(
    db: &TestStore,
) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550301").await;
    let user = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "nina", vec![practice_id]),
        )
        .await
        .unwrap();
    let empty = store
        .user_notification_layers(user.id, practice_id)
        .await
        .unwrap();
    assert!(empty.own.is_empty() && empty.practice_defaults.is_empty());

    let saved = store
        .save_user_notification_settings(
            &audit_at(t0()),
            user.id,
            practice_id,
            vec![
                setting("two_way_texting", true, false, true, false),
                setting("reading_caution", false, false, false, false),
            ],
        )
        .await
        .unwrap();
    assert_eq!(saved.own.len(), 2);
    // Saving a kind again replaces it.
    let saved = store
        .save_user_notification_settings(
            &audit_at(t0()),
            user.id,
            practice_id,
            vec![setting("two_way_texting", true, true, true, true)],
        )
        .await
        .unwrap();
    let read = store
        .user_notification_layers(user.id, practice_id)
        .await
        .unwrap();
    assert_eq!(saved, read);
    assert!(
        read.own
            .contains(&setting("two_way_texting", true, true, true, true))
    );
    assert!(
        read.own
            .contains(&setting("reading_caution", false, false, false, false))
    );
    assert_eq!(read.own.len(), 2);

    store
        .save_practice_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![setting("overdue_readings", true, false, true, false)],
            ApplyDefaultsTo::AllUsers,
            builtin(),
        )
        .await
        .unwrap();
    let read = store
        .user_notification_layers(user.id, practice_id)
        .await
        .unwrap();
    assert_eq!(
        read.practice_defaults,
        vec![setting("overdue_readings", true, false, true, false)]
    );
    let actions = actions_of(&store, customer_id).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "user.notification_settings.update")
            .count(),
        2
    );
    assert!(actions.contains(&"practice.user_notification_defaults.set_for_all_users".into()));
}

async fn a_notification_channel_cannot_be_on_while_the_notification_is_off(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550302").await;
    let user = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "omar", vec![practice_id]),
        )
        .await
        .unwrap();
    let before = actions_of(&store, customer_id).await;
    let err = store
        .save_user_notification_settings(
            &audit_at(t0()),
            user.id,
            practice_id,
            vec![
                setting("reading_caution", true, true, false, false),
                setting("reading_critical", false, false, false, true),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    // Nothing of the refused save remains, not even the row that was valid, nor an audit row.
    let read = store
        .user_notification_layers(user.id, practice_id)
        .await
        .unwrap();
    assert!(read.own.is_empty());
    assert_eq!(actions_of(&store, customer_id).await, before);
}

async fn defaults_saved_for_new_users_leave_existing_users_settings_as_they_were(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550303").await;
    let member = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "pia", vec![practice_id]),
        )
        .await
        .unwrap();
    let admin = store
        .create_user(
            &audit_at(t0()),
            NewUser {
                role: Role::CustomerAdmin,
                ..staff(customer_id, "quinn", vec![])
            },
        )
        .await
        .unwrap();
    let outsider = store
        .create_user(&audit_at(t0()), staff(customer_id, "ravi", vec![]))
        .await
        .unwrap();
    // The member chose one kind already; that row must survive untouched.
    store
        .save_user_notification_settings(
            &audit_at(t0()),
            member.id,
            practice_id,
            vec![setting("new_patient_message", true, false, false, true)],
        )
        .await
        .unwrap();

    // First save: no saved defaults yet, so the built-in ones are what existing users had.
    let first = vec![
        setting("new_patient_message", false, false, false, false),
        setting("reading_critical", true, false, true, false),
    ];
    let saved = store
        .save_practice_notification_defaults(
            &audit_at(t0()),
            practice_id,
            first.clone(),
            ApplyDefaultsTo::NewUsers,
            builtin(),
        )
        .await
        .unwrap();
    assert_eq!(saved, first);
    let member_layers = store
        .user_notification_layers(member.id, practice_id)
        .await
        .unwrap();
    assert_eq!(
        member_layers.own,
        vec![
            setting("new_patient_message", true, false, false, true),
            setting("reading_critical", true, true, false, false),
        ]
    );
    let admin_layers = store
        .user_notification_layers(admin.id, practice_id)
        .await
        .unwrap();
    assert_eq!(admin_layers.own, builtin());
    // Someone who is not a user of the practice gets nothing written.
    let outsider_layers = store
        .user_notification_layers(outsider.id, practice_id)
        .await
        .unwrap();
    assert!(outsider_layers.own.is_empty());

    // A user who joins later has no rows of their own and so follows the new defaults.
    let newcomer = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "sara", vec![practice_id]),
        )
        .await
        .unwrap();
    // Second save: what the newcomer had was the saved defaults; those become their rows.
    store
        .save_practice_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![setting("reading_critical", false, false, false, false)],
            ApplyDefaultsTo::NewUsers,
            builtin(),
        )
        .await
        .unwrap();
    let newcomer_layers = store
        .user_notification_layers(newcomer.id, practice_id)
        .await
        .unwrap();
    assert_eq!(newcomer_layers.own, first);
    assert_eq!(
        newcomer_layers.practice_defaults,
        vec![
            setting("new_patient_message", false, false, false, false),
            setting("reading_critical", false, false, false, false),
        ]
    );
    assert!(
        actions_of(&store, customer_id)
            .await
            .contains(&"practice.user_notification_defaults.set_for_new_users".into())
    );
}

async fn defaults_saved_for_all_users_replace_every_users_own_settings(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550304").await;
    let (_, other_practice) = customer_and_practice(&store, "+15555550305").await;
    let user = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "tom", vec![practice_id, other_practice]),
        )
        .await
        .unwrap();
    for practice in [practice_id, other_practice] {
        store
            .save_user_notification_settings(
                &audit_at(t0()),
                user.id,
                practice,
                vec![setting("overdue_readings", true, true, true, true)],
            )
            .await
            .unwrap();
    }
    store
        .save_practice_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![setting("overdue_readings", false, false, false, false)],
            ApplyDefaultsTo::AllUsers,
            builtin(),
        )
        .await
        .unwrap();
    let here = store
        .user_notification_layers(user.id, practice_id)
        .await
        .unwrap();
    assert!(here.own.is_empty());
    // Another practice's settings are not touched.
    let there = store
        .user_notification_layers(user.id, other_practice)
        .await
        .unwrap();
    assert_eq!(
        there.own,
        vec![setting("overdue_readings", true, true, true, true)]
    );
}

async fn the_settings_of_many_users_are_read_in_one_call_in_the_order_asked(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550306").await;
    let mut users = Vec::new();
    for name in ["uma", "vic", "wes"] {
        users.push(
            store
                .create_user(&audit_at(t0()), staff(customer_id, name, vec![practice_id]))
                .await
                .unwrap()
                .id,
        );
    }
    let [uma, vic, wes] = [users[0], users[1], users[2]];
    let unknown = Uuid::now_v7();

    // Neither own rows nor defaults: nothing stored for anyone.
    let none = store
        .notification_settings_of_users(practice_id, "reading_critical", &[wes, uma])
        .await
        .unwrap();
    assert_eq!(
        none.iter().map(|s| s.user_id).collect::<Vec<_>>(),
        vec![wes, uma]
    );
    assert!(none.iter().all(|s| s.setting.is_none()));

    store
        .save_user_notification_settings(
            &audit_at(t0()),
            vic,
            practice_id,
            vec![
                setting("reading_critical", true, false, false, true),
                setting("reading_caution", true, true, false, false),
            ],
        )
        .await
        .unwrap();
    store
        .save_practice_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![setting("reading_critical", true, true, true, false)],
            ApplyDefaultsTo::AllUsers,
            builtin(),
        )
        .await
        .unwrap();
    // Saved for all users removed vic's rows; give vic his own again.
    store
        .save_user_notification_settings(
            &audit_at(t0()),
            vic,
            practice_id,
            vec![setting("reading_critical", true, false, false, true)],
        )
        .await
        .unwrap();

    let found = store
        .notification_settings_of_users(
            practice_id,
            "reading_critical",
            &[wes, vic, uma, vic, unknown],
        )
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|s| s.user_id).collect::<Vec<_>>(),
        vec![wes, vic, uma, unknown],
        "deduplicated, in the order asked"
    );
    let practice_default = Some(setting("reading_critical", true, true, true, false));
    assert_eq!(found[0].setting, practice_default);
    assert_eq!(
        found[1].setting,
        Some(setting("reading_critical", true, false, false, true))
    );
    assert_eq!(found[2].setting, practice_default);
    assert_eq!(found[3].setting, practice_default);

    // A kind with no defaults and no own rows.
    let caution = store
        .notification_settings_of_users(practice_id, "reading_caution", &[vic, uma])
        .await
        .unwrap();
    assert!(caution.iter().all(|s| s.setting.is_none()));
    assert!(
        store
            .notification_settings_of_users(practice_id, "reading_caution", &[])
            .await
            .unwrap()
            .is_empty()
    );
}

async fn patient_notification_defaults_read_back_and_are_audited(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550307").await;
    assert!(
        store
            .patient_notification_defaults(practice_id)
            .await
            .unwrap()
            .is_empty()
    );
    let row = |kind: &str, enabled, email, text| PatientNotificationSettingRow {
        kind: kind.into(),
        enabled,
        email,
        text,
    };
    store
        .save_patient_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![
                row("reading_critical", true, false, true),
                row("overdue_readings", true, true, false),
            ],
            store::ApplyReadingDefaultsTo::NewPatients,
        )
        .await
        .unwrap();
    let saved = store
        .save_patient_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![row("overdue_readings", false, false, false)],
            store::ApplyReadingDefaultsTo::NewPatients,
        )
        .await
        .unwrap();
    assert_eq!(
        saved,
        vec![
            row("overdue_readings", false, false, false),
            row("reading_critical", true, false, true),
        ]
    );
    assert_eq!(
        store
            .patient_notification_defaults(practice_id)
            .await
            .unwrap(),
        saved
    );
    let err = store
        .save_patient_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![row("reading_caution", false, true, false)],
            store::ApplyReadingDefaultsTo::NewPatients,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let actions = actions_of(&store, customer_id).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "practice.patient_notification_defaults.update")
            .count(),
        2
    );
}

async fn disclaimers_are_empty_until_saved_then_read_back_and_are_audited(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550308").await;
    let empty = store.practice_disclaimers(practice_id).await.unwrap();
    assert_eq!(empty.care_plan_report, "");
    assert_eq!(empty.hra_report, "");
    assert_eq!(empty.updated_at, None);
    let saved = store
        .save_practice_disclaimers(
            &audit_at(t0()),
            practice_id,
            "Not a substitute for medical advice.".into(),
            "Ünïcode ✓ welcome.".into(),
        )
        .await
        .unwrap();
    assert_eq!(saved.updated_at, Some(t0()));
    assert_eq!(
        store.practice_disclaimers(practice_id).await.unwrap(),
        saved
    );
    let later = t0() + Duration::minutes(5);
    let replaced = store
        .save_practice_disclaimers(&audit_at(later), practice_id, String::new(), "HRA".into())
        .await
        .unwrap();
    assert_eq!(replaced.care_plan_report, "");
    assert_eq!(replaced.hra_report, "HRA");
    assert_eq!(replaced.updated_at, Some(later));
    // Exactly 4000 characters (of several bytes each) fit; one more does not.
    let longest = "é".repeat(4000);
    store
        .save_practice_disclaimers(&audit_at(later), practice_id, longest.clone(), longest)
        .await
        .unwrap();
    let err = store
        .save_practice_disclaimers(
            &audit_at(later),
            practice_id,
            "é".repeat(4001),
            String::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let actions = actions_of(&store, customer_id).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "practice.disclaimers.update")
            .count(),
        3
    );
}

async fn settings_of_a_missing_practice_are_not_found(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550309").await;
    let user = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "xena", vec![practice_id]),
        )
        .await
        .unwrap();
    let missing = Uuid::now_v7();
    assert!(matches!(
        store
            .save_user_notification_settings(&audit_at(t0()), user.id, missing, vec![])
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .save_practice_notification_defaults(
                &audit_at(t0()),
                missing,
                vec![],
                ApplyDefaultsTo::NewUsers,
                builtin(),
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .save_patient_notification_defaults(
                &audit_at(t0()),
                missing,
                vec![],
                store::ApplyReadingDefaultsTo::AllPatients
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.practice_disclaimers(missing).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .save_practice_disclaimers(&audit_at(t0()), missing, String::new(), String::new())
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn postgres_two_claimers_never_claim_one_row_twice() {
    let db = TestStore::postgres().await;
    let store = db.store().await;
    for i in 0..60 {
        store
            .enqueue_sms(
                &audit_now(),
                new_outbound("+15555550201", &format!("+1555555{:04}", i % 6), "x"),
            )
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = db.store().await;
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for round in 0..20 {
                let now = t0() + Duration::seconds(round);
                let claim = store
                    .claim_outbound(claim_request(now, 100, 7))
                    .await
                    .unwrap();
                ids.extend(claim.sends.into_iter().map(|s| s.outbound.id));
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let claimed = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), claimed, "a row was claimed twice");
    assert_eq!(claimed, 60);
}

#[tokio::test]
async fn postgres_two_concurrent_deliveries_of_one_message_record_it_once() {
    let db = TestStore::postgres().await;
    let store = db.store().await;
    customer_and_practice(&store, "+15555550100").await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = db.store().await;
        tasks.push(tokio::spawn(async move {
            store
                .record_inbound(&audit_now(), new_inbound("SMsame"), keep_body())
                .await
                .unwrap()
        }));
    }
    let mut recorded = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), store::InboundOutcome::Recorded { .. }) {
            recorded += 1;
        }
    }
    assert_eq!(recorded, 1);
}

#[tokio::test]
async fn postgres_only_texts_that_change_state_wait_for_the_patients_lock() {
    let db = TestStore::postgres().await;
    postgres_a_text_that_only_adds_rows_is_decided_without_the_patients_lock(&db).await;
}
