//! The query parameters shared by list routes. The field checks themselves are
//! `app::validate`, re-exported here for the handlers.

use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::error::ApiError;
pub use crate::app::validate::{
    email, nullable, optional_text, patient_programs, phone, programs, range, text, timezone,
};

/// `?cursor=&limit=` of list routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

impl PageQuery {
    pub fn page(&self) -> Result<store::Page, ApiError> {
        let after =
            match self.cursor.as_deref().filter(|c| !c.is_empty()) {
                Some(cursor) => Some(Uuid::parse_str(cursor).map_err(|_| {
                    ApiError::invalid("cursor", "is not a cursor this API returned")
                })?),
                None => None,
            };
        let limit = self.limit.unwrap_or(50);
        if !(1..=store::Page::MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be between 1 and 200"));
        }
        Ok(store::Page { after, limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_and_limits_are_checked() {
        assert!(
            PageQuery {
                cursor: Some("nope".into()),
                limit: None
            }
            .page()
            .is_err()
        );
        assert!(
            PageQuery {
                cursor: None,
                limit: Some(0)
            }
            .page()
            .is_err()
        );
        assert!(
            PageQuery {
                cursor: None,
                limit: Some(201)
            }
            .page()
            .is_err()
        );
        assert_eq!(
            PageQuery {
                cursor: None,
                limit: None
            }
            .page()
            .unwrap()
            .limit,
            50
        );
    }
}
