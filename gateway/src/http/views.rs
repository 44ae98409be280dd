//! Response bodies shared by several route modules. Internal fields (password hashes, token
//! hashes) never appear here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use store::{Role, User};
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
            mobile_phone: user.mobile_phone.clone(),
            auto_logout_minutes: user.auto_logout_minutes,
            locked: user.locked_at.is_some(),
            locked_at: user.locked_at,
            created_at: user.created_at,
        }
    }
}
