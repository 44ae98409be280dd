//! Who is acting: the logged-in user of a request (API or console) and the tenancy checks every
//! use case applies to them.
//!
//! Tenancy rule: anything of another customer answers 404, never 403, so its existence is not
//! revealed. Which user may see which practice, patient or alert is decided in
//! `domain::access`; these methods apply it and count refusals.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use store::{ApiToken, Audit, Practice, ReadingSource, Role, User};
use uuid::Uuid;

use super::AppError;

/// The logged-in user of this request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    /// The stored form of the presented token (for logout).
    pub token_hash: String,
    pub session_expires_at: DateTime<Utc>,
    pub client_addr: Option<IpAddr>,
    pub now: DateTime<Utc>,
}

/// Counts a request refused by tenancy (`tenancy`: another customer's, practice's or a
/// restricted patient, answered 404) or by role (`role`, answered 403). Refusals write no audit
/// row: they would land in the log of a tenant the caller has nothing to do with.
pub fn count_refusal(reason: &'static str) {
    metrics::counter!(crate::telemetry::catalogue::ACCESS_REFUSED, "reason" => reason).increment(1);
}

impl CurrentUser {
    pub fn id(&self) -> Uuid {
        self.user.id
    }

    pub fn role(&self) -> Role {
        self.user.role
    }

    /// The audit context of this request.
    pub fn audit(&self) -> Audit {
        Audit {
            user_id: Some(self.user.id),
            client_addr: self.client_addr.map(|a| a.to_string()),
            at: self.now,
        }
    }

    pub fn is_super_admin(&self) -> bool {
        self.user.role == Role::SuperAdmin
    }

    /// Super admins see every customer; everyone else only their own.
    pub fn can_see_customer(&self, customer_id: Uuid) -> bool {
        crate::domain::access::can_see_customer(&self.user, customer_id)
    }

    /// 404 unless the caller may know the customer exists.
    pub fn require_customer(&self, customer_id: Uuid) -> Result<(), AppError> {
        if self.can_see_customer(customer_id) {
            Ok(())
        } else {
            count_refusal("tenancy");
            Err(AppError::NotFound("customer"))
        }
    }

    /// Customer administration: super admins, or the customer's own admins (staff get 403).
    pub fn require_customer_admin(&self, customer_id: Uuid) -> Result<(), AppError> {
        self.require_customer(customer_id)?;
        match self.user.role {
            Role::SuperAdmin | Role::CustomerAdmin => Ok(()),
            Role::Staff => {
                count_refusal("role");
                Err(AppError::Forbidden(
                    "only administrators of this customer may do this".into(),
                ))
            }
        }
    }

    pub fn require_super_admin(&self) -> Result<(), AppError> {
        if self.is_super_admin() {
            Ok(())
        } else {
            count_refusal("role");
            Err(AppError::Forbidden(
                "only super administrators may do this".into(),
            ))
        }
    }

    /// Staff work with the patients of their own practices; admins with all their customer's.
    pub fn can_see_practice(&self, practice: &Practice) -> bool {
        crate::domain::access::can_see_practice(&self.user, practice)
    }

    pub fn require_practice(&self, practice: &Practice) -> Result<(), AppError> {
        if self.can_see_practice(practice) {
            Ok(())
        } else {
            count_refusal("tenancy");
            Err(AppError::NotFound("practice"))
        }
    }

    /// Practice administration (settings, users, templates): admins of its customer.
    pub fn require_practice_admin(&self, practice: &Practice) -> Result<(), AppError> {
        self.require_practice(practice)?;
        self.require_customer_admin(practice.customer_id)
    }
}

/// An integration authenticated by an active API token.
#[derive(Debug, Clone)]
pub struct Integration {
    /// The token's row (never the token itself): its customer and scopes.
    pub token: ApiToken,
    pub client_addr: Option<IpAddr>,
    pub now: DateTime<Utc>,
}

impl Integration {
    /// 403 unless the token carries `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), AppError> {
        if self.token.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "this API token lacks the `{scope}` scope; create one that has it"
            )))
        }
    }
}

/// The caller of a route open to users and integrations alike.
#[derive(Debug, Clone)]
pub enum ReadingsCaller {
    User(Box<CurrentUser>),
    Integration(Integration),
}

impl ReadingsCaller {
    /// The audit context: the user, or no user for an integration (the reading row names the
    /// token it came with).
    pub fn audit(&self) -> Audit {
        match self {
            ReadingsCaller::User(user) => user.audit(),
            ReadingsCaller::Integration(integration) => Audit {
                user_id: None,
                client_addr: integration.client_addr.map(|a| a.to_string()),
                at: integration.now,
            },
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            ReadingsCaller::User(user) => user.now,
            ReadingsCaller::Integration(integration) => integration.now,
        }
    }

    /// Who a reading posted by this caller comes from.
    pub fn source(&self) -> ReadingSource {
        match self {
            ReadingsCaller::User(user) => ReadingSource::User(user.id()),
            ReadingsCaller::Integration(integration) => {
                ReadingSource::ApiToken(integration.token.id)
            }
        }
    }

    /// The token's id, for an integration.
    pub fn api_token_id(&self) -> Option<Uuid> {
        match self {
            ReadingsCaller::User(_) => None,
            ReadingsCaller::Integration(integration) => Some(integration.token.id),
        }
    }
}
