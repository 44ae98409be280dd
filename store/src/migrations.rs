//! The embedded migrations of both backends and what they share.
//!
//! Each change is one numbered migration with a PostgreSQL and a SQLite version of the same name,
//! kept in step by hand (as atuin does). Applied migrations are recorded with a checksum; a
//! store whose recorded checksum differs from the embedded one refuses to start, because an
//! edited migration that already ran means the schema is not what the code expects.
//! Each backend runs them in one transaction under an exclusive lock, so two gateways starting at
//! once against one database neither race nor apply anything twice.

use sha2::{Digest, Sha256};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub postgres: &'static str,
    pub sqlite: &'static str,
}

macro_rules! migration {
    ($version:expr, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            postgres: include_str!(concat!("../migrations/postgres/", $name, ".sql")),
            sqlite: include_str!(concat!("../migrations/sqlite/", $name, ".sql")),
        }
    };
}

pub static MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_accounts_patients_audit"),
    migration!(2, "0002_messages_outbox"),
    migration!(3, "0003_tenancy_admin"),
    migration!(4, "0004_notification_settings"),
    migration!(5, "0005_patients_templates"),
    migration!(6, "0006_notifications"),
    migration!(7, "0007_message_flags"),
    migration!(8, "0008_readings"),
    migration!(10, "0010_conversations"),
    migration!(11, "0011_unread_reminders"),
    migration!(12, "0012_alerts"),
    migration!(13, "0013_overdue_warnings"),
    migration!(14, "0014_email_outbox"),
    migration!(15, "0015_login_throttle"),
    migration!(16, "0016_early_statuses"),
    migration!(17, "0017_status_checks"),
    migration!(18, "0018_on_call_days_overrides"),
    migration!(19, "0019_alert_reach_and_readings"),
    migration!(23, "0023_outbox_cancelled"),
    migration!(24, "0024_idempotency_fingerprint"),
    migration!(28, "0028_instance_claims"),
    migration!(29, "0029_config_changes"),
    migration!(31, "0031_staff_assignment_practice_settings"),
    migration!(32, "0032_vital_frequency_patient_settings_shared_numbers"),
    migration!(33, "0033_fewer_message_indexes"),
    migration!(34, "0034_conversation_heads"),
];

impl Migration {
    pub fn checksum(sql: &str) -> String {
        let digest = Sha256::digest(sql.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A fingerprint of every PostgreSQL migration; names the test template database so that a
/// changed migration gets a freshly migrated template.
pub fn postgres_fingerprint() -> String {
    let all: String = MIGRATIONS
        .iter()
        .map(|m| Migration::checksum(m.postgres))
        .collect();
    Migration::checksum(&all)[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_strictly_increasing_and_names_carry_them() {
        let mut last = 0;
        for m in MIGRATIONS {
            assert!(m.version > last, "migration {} out of order", m.name);
            assert!(
                m.name.starts_with(&format!("{:04}_", m.version)),
                "{}",
                m.name
            );
            last = m.version;
        }
    }
}
