//! Response bodies shared by several route modules. Internal fields (password hashes, token
//! hashes) never appear here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use store::{Customer, Practice, PracticeGroup, Role, User};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub title: String,
    #[schema(value_type = String, example = "staff")]
    pub role: Role,
    pub customer_id: Option<Uuid>,
    pub practice_ids: Vec<Uuid>,
    pub restricted_programs: Vec<String>,
    /// Joins the care team and programs of the patients this user creates.
    pub supervisor_id: Option<Uuid>,
    pub mobile_phone: Option<String>,
    pub auto_logout_minutes: i32,
    pub locked: bool,
    pub locked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> UserView {
        UserView {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            title: user.title.clone(),
            role: user.role,
            customer_id: user.customer_id,
            practice_ids: user.practice_ids.clone(),
            restricted_programs: user.restricted_programs.clone(),
            supervisor_id: user.supervisor_id,
            mobile_phone: user.mobile_phone.clone(),
            auto_logout_minutes: user.auto_logout_minutes,
            locked: user.locked_at.is_some(),
            locked_at: user.locked_at,
            created_at: user.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    pub id: Uuid,
    pub name: String,
    pub default_user_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl CustomerView {
    pub fn new(customer: Customer, default_user_ids: Vec<Uuid>) -> CustomerView {
        CustomerView {
            id: customer.id,
            name: customer.name,
            default_user_ids,
            created_at: customer.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PracticeView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    /// IANA time zone; on-call windows are read in it.
    pub timezone: String,
    /// The number patients text; selects this practice for inbound messages.
    pub sms_number: String,
    pub practice_group_id: Option<Uuid>,
    /// Minutes before an unacknowledged critical alert escalates (1 to 60).
    pub escalation_delay_minutes: i32,
    /// Whether staff may text the practice's patients (default true).
    pub texting_enabled: bool,
    /// Whether the practice's patients may use the portal (default true).
    pub portal_enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Practice> for PracticeView {
    fn from(p: Practice) -> PracticeView {
        PracticeView {
            id: p.id,
            customer_id: p.customer_id,
            name: p.name,
            timezone: p.timezone.name().to_string(),
            sms_number: p.sms_number,
            practice_group_id: p.practice_group_id,
            escalation_delay_minutes: p.escalation_delay_minutes,
            texting_enabled: p.texting_enabled,
            portal_enabled: p.portal_enabled,
            created_at: p.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PracticeList {
    pub items: Vec<PracticeView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PracticeGroupView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub default_user_ids: Vec<Uuid>,
    pub practice_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<PracticeGroup> for PracticeGroupView {
    fn from(g: PracticeGroup) -> PracticeGroupView {
        PracticeGroupView {
            id: g.id,
            customer_id: g.customer_id,
            name: g.name,
            default_user_ids: g.default_user_ids,
            practice_ids: g.practice_ids,
            created_at: g.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PracticeGroupList {
    pub items: Vec<PracticeGroupView>,
    pub next_cursor: Option<String>,
}

/// `{user_ids}`: default users, practice users.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIds {
    pub user_ids: Vec<Uuid>,
}
