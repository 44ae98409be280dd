//! [`TextingStatus`]: where a patient stands in texting (the states of DESIGN.md's opt-in
//! machine). The rules that move between them are the gateway's `domain::texting`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::named::UnknownName;

/// A patient's texting status, as named in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextingStatus {
    NotEnabled,
    Pending,
    Failed,
    OptedOut,
    Enabled,
}

impl TextingStatus {
    pub const ALL: [TextingStatus; 5] = [
        TextingStatus::NotEnabled,
        TextingStatus::Pending,
        TextingStatus::Failed,
        TextingStatus::OptedOut,
        TextingStatus::Enabled,
    ];

    /// The API name: `not_enabled`, `pending`, `failed`, `opted_out`, `enabled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TextingStatus::NotEnabled => "not_enabled",
            TextingStatus::Pending => "pending",
            TextingStatus::Failed => "failed",
            TextingStatus::OptedOut => "opted_out",
            TextingStatus::Enabled => "enabled",
        }
    }

    /// The status with this exact API name.
    #[must_use]
    pub fn parse(name: &str) -> Option<TextingStatus> {
        TextingStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
    }
}

impl fmt::Display for TextingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TextingStatus {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        TextingStatus::parse(name).ok_or_else(|| UnknownName::new("texting status", name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::named::check;

    #[test]
    fn every_texting_status_round_trips_through_its_name() {
        check::round_trips(
            &TextingStatus::ALL,
            &["not_enabled", "pending", "failed", "opted_out", "enabled"],
        );
    }

    #[test]
    fn unknown_texting_statuses_are_refused() {
        check::refused::<TextingStatus>(&["Enabled", "opted out", "disabled", ""]);
    }
}
