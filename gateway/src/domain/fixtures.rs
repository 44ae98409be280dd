//! Values the domain's and services' unit tests share.

use chrono::{DateTime, Utc};
use store::Practice;
use uuid::Uuid;

/// 2026-05-10 12:00 UTC, a Sunday: the tests' "now".
pub fn now() -> DateTime<Utc> {
    "2026-05-10T12:00:00Z".parse().unwrap()
}

/// "Main Street" (id 10) of customer 1, in New York, texting and portal on, created [`now`].
pub fn practice() -> Practice {
    Practice {
        id: Uuid::from_u128(10),
        customer_id: Uuid::from_u128(1),
        name: "Main Street".into(),
        timezone: chrono_tz::America::New_York.into(),
        sms_number: "+14155550100".into(),
        practice_group_id: None,
        escalation_delay_minutes: 10,
        created_at: now(),
        texting_enabled: true,
        portal_enabled: true,
    }
}
