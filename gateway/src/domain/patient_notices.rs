//! What a patient is told of their own readings, and on which channels.
//!
//! Owns two decisions. Which readings call for a notice: a critical reading that opens an alert
//! (`reading_critical`; one that joins an open alert of its vital adds nothing the patient has
//! not heard), and a caution reading that starts a run of out-of-range readings of its vital
//! (`reading_caution`; the next ones of the run add nothing). And where the notice goes: only
//! when the patient's own setting of the kind is enabled; by text when its `text` channel is on
//! and the patient's texting is `enabled` (so an opted-out number is never texted), and as a
//! portal message when the patient is enrolled in the portal. The `email` channel is kept with
//! the settings but the gateway holds no patient email address, so nothing goes by email.
//!
//! The notice's words are a template (`patient_reading_notice`): that a reading needs attention
//! and the care team was told, never the value, the vital or advice.
//!
//! Must never do I/O: the channels are decided inside the store's transaction, with the
//! patient's row locked, from the patient as they are then.

use crate::domain::notifications::{PatientNotificationKind, PatientNotificationSetting};
use crate::domain::readings::Level;
use types::TextingStatus;

/// Which notice a newly recorded reading calls for, if any. `previous` is the level of the
/// vital's reading before this one (by `taken_at`), if there is one; `opened_alert` says whether
/// this reading opened an alert (rather than joining an open one, or being below critical).
pub fn reading_notice_kind(
    level: Level,
    previous: Option<Level>,
    opened_alert: bool,
) -> Option<PatientNotificationKind> {
    match level {
        Level::Critical if opened_alert => Some(PatientNotificationKind::ReadingCritical),
        Level::Caution if !previous.is_some_and(Level::is_out_of_range) => {
            Some(PatientNotificationKind::ReadingCaution)
        }
        _ => None,
    }
}

/// Where a notice goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoticeChannels {
    pub text: bool,
    pub portal: bool,
}

impl NoticeChannels {
    pub fn any(self) -> bool {
        self.text || self.portal
    }
}

/// The channels a notice of a kind goes out on, from the patient's setting of the kind and the
/// patient as they are now: `texting_status` (`enabled` is the only one that may be texted),
/// whether they have a mobile number, and whether they are enrolled in the portal.
pub fn notice_channels(
    setting: PatientNotificationSetting,
    texting_status: TextingStatus,
    has_mobile: bool,
    has_portal: bool,
) -> NoticeChannels {
    if !setting.enabled {
        return NoticeChannels::default();
    }
    NoticeChannels {
        text: setting.text && texting_status == TextingStatus::Enabled && has_mobile,
        portal: has_portal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn critical_readings_are_told_when_they_open_an_alert_and_cautions_when_a_run_starts() {
        use Level::*;
        use PatientNotificationKind::{ReadingCaution, ReadingCritical};
        // (level, previous, opened alert, notice)
        let table = [
            (Critical, None, true, Some(ReadingCritical)),
            (Critical, Some(Critical), true, Some(ReadingCritical)),
            (Critical, Some(Critical), false, None),
            (Critical, None, false, None),
            (Caution, None, false, Some(ReadingCaution)),
            (Caution, Some(Normal), false, Some(ReadingCaution)),
            (Caution, Some(Unclassified), false, Some(ReadingCaution)),
            (Caution, Some(Caution), false, None),
            (Caution, Some(Critical), false, None),
            (Normal, Some(Caution), false, None),
            (Unclassified, None, false, None),
        ];
        for (level, previous, opened, expected) in table {
            assert_eq!(
                reading_notice_kind(level, previous, opened),
                expected,
                "{level:?} after {previous:?}, opened {opened}"
            );
        }
    }

    #[test]
    fn a_notice_is_texted_only_to_an_enabled_number_and_posted_only_to_an_enrolled_portal() {
        let on = |email, text| PatientNotificationSetting {
            enabled: true,
            email,
            text,
        };
        let off = PatientNotificationSetting::default();
        let both = NoticeChannels {
            text: true,
            portal: true,
        };
        let portal_only = NoticeChannels {
            text: false,
            portal: true,
        };
        let text_only = NoticeChannels {
            text: true,
            portal: false,
        };
        // (setting, texting status, has mobile, has portal, channels)
        use TextingStatus::*;
        let table = [
            (on(false, true), Enabled, true, true, both),
            (on(false, true), Enabled, true, false, text_only),
            (on(false, true), OptedOut, true, true, portal_only),
            (on(false, true), Pending, true, true, portal_only),
            (
                on(false, true),
                Failed,
                true,
                false,
                NoticeChannels::default(),
            ),
            (
                on(false, true),
                Enabled,
                false,
                false,
                NoticeChannels::default(),
            ),
            (on(false, false), Enabled, true, true, portal_only),
            (
                on(true, false),
                Enabled,
                true,
                false,
                NoticeChannels::default(),
            ),
            (off, Enabled, true, true, NoticeChannels::default()),
        ];
        for (setting, status, mobile, portal, expected) in table {
            let channels = notice_channels(setting, status, mobile, portal);
            assert_eq!(channels, expected, "{setting:?} {status} {mobile} {portal}");
            assert_eq!(channels.any(), expected != NoticeChannels::default());
        }
    }
}
