//! [`TextingStatus`]: where a patient stands in texting (the states of DESIGN.md's opt-in
//! machine). The rules that move between them are the gateway's `domain::texting`.

use std::fmt;

use serde::{Deserialize, Serialize};

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
