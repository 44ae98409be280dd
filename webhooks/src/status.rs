//! Message statuses, status callbacks and the carrier error codes the gateway acts on.
//!
//! Twilio reports an outbound message's progress by posting a status callback at each change
//! after the first, in no guaranteed order. [`MessageStatus::rank`] orders the statuses so the
//! gateway can keep the furthest one it has seen: [`should_replace`] says whether an incoming
//! status may overwrite the stored one. A late `sent` must never undo `delivered`, and
//! `undelivered` is not `sent`.
//!
//! The error-code helpers classify what Twilio's REST API answers when sending
//! ([`is_permanent_send_error`], [`is_retryable_http`]); a temporary failure must not be recorded
//! as permanent, and a 429 is never permanent. Error 21610 (recipient opted out) arrives both as a
//! send answer and in status callbacks.

use std::fmt;
use std::str::FromStr;

use crate::form::{self, Fields, ParseError};
use crate::sid::CarrierMessageId;
use types::PhoneNumber;

/// Where a message is in its life at Twilio, as the API and callbacks spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// A Messaging Service took the message and has not picked a sender yet.
    Accepted,
    /// Scheduled for later sending.
    Scheduled,
    /// Waiting in Twilio's queue for its sender.
    Queued,
    /// Being handed to the carrier.
    Sending,
    /// The carrier took it; not yet confirmed on the handset.
    Sent,
    /// Some, not all, parts reached the handset (channels that report per part).
    PartiallyDelivered,
    /// The handset confirmed it.
    Delivered,
    /// The carrier could not deliver it (see the error code).
    Undelivered,
    /// Twilio could not send it (see the error code).
    Failed,
    /// A scheduled message cancelled before it was sent.
    Canceled,
    /// The recipient opened it (channels that report reads, not SMS).
    Read,
    /// An inbound message still arriving (MMS media being fetched).
    Receiving,
    /// An inbound message that has fully arrived.
    Received,
}

/// A status string Twilio sent that this crate does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown message status {0:?}")]
pub struct UnknownStatus(String);

impl MessageStatus {
    /// Every status, in rank order within each direction.
    pub const ALL: [MessageStatus; 13] = [
        MessageStatus::Accepted,
        MessageStatus::Scheduled,
        MessageStatus::Queued,
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::PartiallyDelivered,
        MessageStatus::Delivered,
        MessageStatus::Undelivered,
        MessageStatus::Failed,
        MessageStatus::Canceled,
        MessageStatus::Read,
        MessageStatus::Receiving,
        MessageStatus::Received,
    ];

    /// Reads Twilio's spelling (`queued`, `delivered`, …), ignoring ASCII case.
    pub fn parse(value: &str) -> Result<MessageStatus, UnknownStatus> {
        MessageStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(value))
            .ok_or_else(|| UnknownStatus(value.chars().take(40).collect()))
    }

    /// Twilio's spelling, lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Accepted => "accepted",
            MessageStatus::Scheduled => "scheduled",
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::PartiallyDelivered => "partially_delivered",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Undelivered => "undelivered",
            MessageStatus::Failed => "failed",
            MessageStatus::Canceled => "canceled",
            MessageStatus::Read => "read",
            MessageStatus::Receiving => "receiving",
            MessageStatus::Received => "received",
        }
    }

    /// How far along the message is. A status only ever replaces one of lower rank.
    ///
    /// `accepted`/`scheduled` 1 < `queued` 2 < `sending`/`receiving` 3 < `sent` 4 <
    /// `partially_delivered` 5 < `delivered`/`undelivered`/`failed`/`canceled`/`received` 6 <
    /// `read` 7. The outcomes share a rank so that whichever arrives first stays; `read` can still
    /// follow `delivered`.
    pub fn rank(self) -> u8 {
        match self {
            MessageStatus::Accepted | MessageStatus::Scheduled => 1,
            MessageStatus::Queued => 2,
            MessageStatus::Sending | MessageStatus::Receiving => 3,
            MessageStatus::Sent => 4,
            MessageStatus::PartiallyDelivered => 5,
            MessageStatus::Delivered
            | MessageStatus::Undelivered
            | MessageStatus::Failed
            | MessageStatus::Canceled
            | MessageStatus::Received => 6,
            MessageStatus::Read => 7,
        }
    }

    /// Whether the message has an outcome: nothing but `read` can follow.
    pub fn is_final(self) -> bool {
        self.rank() >= 6
    }

    /// Whether the outcome is a failure to deliver (`undelivered`, `failed`).
    pub fn is_failure(self) -> bool {
        matches!(self, MessageStatus::Undelivered | MessageStatus::Failed)
    }
}

/// Every status the carrier reports is one a conversation message can have, spelled the same.
impl From<MessageStatus> for types::MessageStatus {
    fn from(status: MessageStatus) -> types::MessageStatus {
        use types::MessageStatus as Stored;
        match status {
            MessageStatus::Accepted => Stored::Accepted,
            MessageStatus::Scheduled => Stored::Scheduled,
            MessageStatus::Queued => Stored::Queued,
            MessageStatus::Sending => Stored::Sending,
            MessageStatus::Sent => Stored::Sent,
            MessageStatus::PartiallyDelivered => Stored::PartiallyDelivered,
            MessageStatus::Delivered => Stored::Delivered,
            MessageStatus::Undelivered => Stored::Undelivered,
            MessageStatus::Failed => Stored::Failed,
            MessageStatus::Canceled => Stored::Canceled,
            MessageStatus::Read => Stored::Read,
            MessageStatus::Receiving => Stored::Receiving,
            MessageStatus::Received => Stored::Received,
        }
    }
}

/// Whether a status that just arrived may overwrite the stored one: only when it is further
/// along. Equal ranks keep what is stored, so a repeated callback changes nothing and a second
/// outcome cannot overwrite the first.
pub fn should_replace(current: MessageStatus, incoming: MessageStatus) -> bool {
    incoming.rank() > current.rank()
}

impl FromStr for MessageStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageStatus::parse(s)
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One status callback for an outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// Which message this is about.
    pub message_sid: CarrierMessageId,
    /// Its new status (`MessageStatus`, or the deprecated `SmsStatus` when that is absent).
    pub status: MessageStatus,
    /// Twilio's error code on `failed`/`undelivered` (`ErrorCode`; absent or empty is `None`).
    pub error_code: Option<u32>,
    /// The account (`AC…`) it belongs to, when sent, to refuse callbacks for another account.
    pub account_sid: Option<String>,
    /// The sending number, when it is an E.164 number. `None` when absent or when the sender is
    /// something else (a short code, an alphanumeric sender ID): the status matters more than the
    /// sender, so an unusual sender never makes a callback fail.
    pub from: Option<PhoneNumber>,
    /// The recipient, when it is an E.164 number; `None` otherwise, as for `from`.
    pub to: Option<PhoneNumber>,
}

impl StatusCallback {
    /// Reads a status callback form (all pairs, as [`form::decode`] gives them).
    ///
    /// Required: a message SID (`MessageSid`, falling back to `SmsMessageSid`/`SmsSid` only when
    /// it is absent) and a known status. Unknown parameters such as `RawDlrDoneDate` are ignored.
    pub fn from_form(params: &[(String, String)]) -> Result<StatusCallback, ParseError> {
        let fields = Fields::new(params);

        let message_sid = form::message_sid(&fields)?;
        let (status_field, status) = match fields.optional("MessageStatus")? {
            Some(value) => ("MessageStatus", value),
            None => (
                "SmsStatus",
                fields
                    .optional("SmsStatus")?
                    .ok_or(ParseError::MissingField("MessageStatus"))?,
            ),
        };
        let status = MessageStatus::parse(status)
            .map_err(|e| ParseError::invalid(status_field, e.to_string()))?;
        let error_code = fields.optional_u32("ErrorCode")?;
        let account_sid = fields.optional("AccountSid")?;
        if let Some(sid) = account_sid {
            form::check_sid(sid, "AC", "AccountSid")?;
        }
        let number = |name| -> Result<Option<PhoneNumber>, ParseError> {
            Ok(fields
                .optional(name)?
                .and_then(|value| PhoneNumber::parse_e164(value).ok()))
        };

        Ok(StatusCallback {
            message_sid,
            status,
            error_code,
            account_sid: account_sid.map(str::to_owned),
            from: number("From")?,
            to: number("To")?,
        })
    }

    /// The form Twilio would post for this callback, for tests and the load generator.
    /// `StatusCallback::from_form(&cb.to_form())` gives `cb` back.
    pub fn to_form(&self) -> Vec<(String, String)> {
        let mut form = vec![
            pair("SmsSid", self.message_sid.as_str()),
            pair("SmsStatus", self.status.as_str()),
            pair("MessageStatus", self.status.as_str()),
            pair("MessageSid", self.message_sid.as_str()),
            pair("ApiVersion", "2010-04-01"),
        ];
        if let Some(code) = self.error_code {
            form.push(pair("ErrorCode", &code.to_string()));
        }
        if let Some(sid) = &self.account_sid {
            form.push(pair("AccountSid", sid));
        }
        if let Some(from) = &self.from {
            form.push(pair("From", from.as_str()));
        }
        if let Some(to) = &self.to {
            form.push(pair("To", to.as_str()));
        }
        form
    }

    /// Whether the callback says the recipient has opted out (error 21610): the gateway must
    /// stop texting this number from this sender.
    pub fn recipient_opted_out(&self) -> bool {
        self.error_code == Some(ERROR_OPTED_OUT)
    }
}

fn pair(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

/// The recipient replied STOP to this sender; nothing may be sent until they reply START.
pub const ERROR_OPTED_OUT: u32 = 21610;
/// The `To` number is not a valid phone number.
pub const ERROR_INVALID_TO: u32 = 21211;
/// The `To` number cannot be reached.
pub const ERROR_TO_UNREACHABLE: u32 = 21214;
/// The `To` number does not appear to be valid.
pub const ERROR_TO_NOT_VALID: u32 = 21217;
/// Sending to this region is not enabled on the account.
pub const ERROR_REGION_NOT_ENABLED: u32 = 21408;
/// The `To` number cannot receive SMS from this sender.
pub const ERROR_TO_NOT_SMS_CAPABLE: u32 = 21612;
/// The `To` number is not a mobile number.
pub const ERROR_NOT_MOBILE: u32 = 21614;
/// Too many requests: slow down and retry.
pub const ERROR_TOO_MANY_REQUESTS: u32 = 20429;
/// Delivery error: the handset is unreachable (often temporary).
pub const ERROR_UNREACHABLE: u32 = 30003;
/// Delivery error: unknown destination handset.
pub const ERROR_UNKNOWN_HANDSET: u32 = 30005;
/// Delivery error: the number is a landline or cannot receive SMS.
pub const ERROR_LANDLINE: u32 = 30006;
/// Delivery error: the carrier filtered the message.
pub const ERROR_FILTERED: u32 = 30007;
/// Delivery error: unknown error.
pub const ERROR_UNKNOWN: u32 = 30008;

/// Send-time error codes that no retry will fix: the message is given up and recorded as failed.
pub const PERMANENT_SEND_ERRORS: [u32; 7] = [
    ERROR_INVALID_TO,
    ERROR_TO_UNREACHABLE,
    ERROR_TO_NOT_VALID,
    ERROR_REGION_NOT_ENABLED,
    ERROR_OPTED_OUT,
    ERROR_TO_NOT_SMS_CAPABLE,
    ERROR_NOT_MOBILE,
];

/// Whether an error code in a send answer means "never retry this message".
///
/// Only send-time codes (21xxx) are listed; 30xxx codes are delivery outcomes reported by status
/// callbacks and are not decided here.
pub fn is_permanent_send_error(code: u32) -> bool {
    PERMANENT_SEND_ERRORS.contains(&code)
}

/// Whether a send answer with HTTP `status` and Twilio error `code` should be retried with
/// backoff: 429, error 20429, or any 5xx. Timeouts and connection failures have no status and are
/// the caller's to retry.
pub fn is_retryable_http(status: u16, code: Option<u32>) -> bool {
    status == 429 || (500..=599).contains(&status) || code == Some(ERROR_TOO_MANY_REQUESTS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageStatus::*;

    const SID: &str = "SM0123456789abcdef0123456789abcdef";
    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_status_round_trips_through_its_spelling() {
        for status in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(status.as_str()), Ok(status));
            assert_eq!(status.to_string().parse::<MessageStatus>(), Ok(status));
        }
        assert_eq!(MessageStatus::parse("DELIVERED"), Ok(Delivered));
        assert!(MessageStatus::parse("cancelled").is_err());
        assert!(MessageStatus::parse("").is_err());
    }

    #[test]
    fn every_status_is_stored_under_its_own_spelling() {
        for status in MessageStatus::ALL {
            assert_eq!(types::MessageStatus::from(status).as_str(), status.as_str());
        }
    }

    #[test]
    fn statuses_rank_in_the_order_a_message_goes_through_them() {
        let path = [
            Accepted,
            Queued,
            Sending,
            Sent,
            PartiallyDelivered,
            Delivered,
            Read,
        ];
        for pair in path.windows(2) {
            assert!(pair[0].rank() < pair[1].rank(), "{pair:?}");
        }
        assert!(Scheduled.rank() < Queued.rank());
        assert!(Receiving.rank() < Received.rank());
    }

    #[test]
    fn a_late_sent_never_undoes_delivered() {
        assert!(!should_replace(Delivered, Sent));
        assert!(!should_replace(Undelivered, Sending));
        assert!(!should_replace(Failed, Queued));
        assert!(should_replace(Sent, Delivered));
        assert!(should_replace(Queued, Undelivered));
    }

    #[test]
    fn the_first_outcome_stays_and_a_repeat_changes_nothing() {
        for a in [Delivered, Undelivered, Failed, Canceled] {
            for b in [Delivered, Undelivered, Failed, Canceled] {
                assert!(!should_replace(a, b), "{a} -> {b}");
            }
        }
        for status in MessageStatus::ALL {
            assert!(!should_replace(status, status));
        }
    }

    #[test]
    fn read_can_follow_delivered_but_nothing_follows_read() {
        assert!(should_replace(Delivered, Read));
        for status in MessageStatus::ALL {
            assert!(!should_replace(Read, status), "{status}");
        }
    }

    #[test]
    fn only_outcomes_are_final() {
        let finals: Vec<_> = MessageStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(
            finals,
            vec![Delivered, Undelivered, Failed, Canceled, Read, Received]
        );
        assert!(Undelivered.is_failure() && Failed.is_failure() && !Sent.is_failure());
    }

    #[test]
    fn a_failed_callback_carries_its_error_code() {
        let cb = StatusCallback::from_form(&form(&[
            ("MessageSid", SID),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
            ("AccountSid", ACCOUNT),
            ("From", "+18005551212"),
            ("To", "+14158675309"),
            ("RawDlrDoneDate", "2505141200"),
        ]))
        .unwrap();
        assert_eq!(cb.message_sid.as_str(), SID);
        assert_eq!(cb.status, Undelivered);
        assert_eq!(cb.error_code, Some(ERROR_UNREACHABLE));
        assert_eq!(cb.account_sid.as_deref(), Some(ACCOUNT));
        assert_eq!(cb.from.unwrap().as_str(), "+18005551212");
        assert_eq!(cb.to.unwrap().as_str(), "+14158675309");
    }

    #[test]
    fn an_absent_or_empty_error_code_is_none() {
        for extra in [vec![], vec![("ErrorCode", "")]] {
            let mut pairs = vec![("MessageSid", SID), ("MessageStatus", "delivered")];
            pairs.extend(extra);
            let cb = StatusCallback::from_form(&form(&pairs)).unwrap();
            assert_eq!(cb.error_code, None);
            assert_eq!(cb.from, None);
        }
    }

    #[test]
    fn an_opt_out_error_in_a_callback_is_recognised() {
        let cb = StatusCallback::from_form(&form(&[
            ("MessageSid", SID),
            ("MessageStatus", "failed"),
            ("ErrorCode", "21610"),
        ]))
        .unwrap();
        assert!(cb.recipient_opted_out());
    }

    #[test]
    fn the_deprecated_sms_status_is_used_when_message_status_is_absent() {
        let cb =
            StatusCallback::from_form(&form(&[("SmsSid", SID), ("SmsStatus", "sent")])).unwrap();
        assert_eq!(cb.status, Sent);
        assert_eq!(cb.message_sid.as_str(), SID);
    }

    #[test]
    fn a_callback_without_sid_or_status_is_refused_naming_the_field() {
        assert_eq!(
            StatusCallback::from_form(&form(&[("MessageStatus", "sent")])),
            Err(ParseError::MissingField("MessageSid"))
        );
        assert_eq!(
            StatusCallback::from_form(&form(&[("MessageSid", SID)])),
            Err(ParseError::MissingField("MessageStatus"))
        );
    }

    #[test]
    fn an_unknown_status_or_bad_error_code_is_refused_naming_the_field() {
        let err =
            StatusCallback::from_form(&form(&[("MessageSid", SID), ("MessageStatus", "exploded")]))
                .unwrap_err();
        assert_eq!(
            err,
            ParseError::invalid("MessageStatus", "unknown message status \"exploded\"")
        );
        let err = StatusCallback::from_form(&form(&[
            ("MessageSid", SID),
            ("MessageStatus", "failed"),
            ("ErrorCode", "30003x"),
        ]))
        .unwrap_err();
        assert_eq!(err.field(), "ErrorCode");
    }

    #[test]
    fn a_sender_that_is_not_a_phone_number_does_not_fail_the_callback() {
        let cb = StatusCallback::from_form(&form(&[
            ("MessageSid", SID),
            ("MessageStatus", "delivered"),
            ("From", "MyClinic"),
            ("To", "+14158675309"),
        ]))
        .unwrap();
        assert_eq!(cb.from, None);
        assert!(cb.to.is_some());
    }

    #[test]
    fn the_form_it_writes_reads_back_the_same() {
        let cb = StatusCallback::from_form(&form(&[
            ("MessageSid", SID),
            ("MessageStatus", "failed"),
            ("ErrorCode", "21610"),
            ("AccountSid", ACCOUNT),
            ("To", "+14158675309"),
        ]))
        .unwrap();
        assert_eq!(StatusCallback::from_form(&cb.to_form()), Ok(cb));
    }

    #[test]
    fn the_documented_send_errors_are_permanent_and_delivery_errors_are_not() {
        for code in [21211, 21214, 21217, 21408, 21610, 21612, 21614] {
            assert!(is_permanent_send_error(code), "{code}");
        }
        for code in [20429, 30003, 30005, 30006, 30007, 30008, 20003, 0] {
            assert!(!is_permanent_send_error(code), "{code}");
        }
    }

    #[test]
    fn throttling_and_server_errors_are_retried_and_client_errors_are_not() {
        assert!(is_retryable_http(429, None));
        assert!(is_retryable_http(429, Some(20429)));
        assert!(is_retryable_http(400, Some(20429)));
        assert!(is_retryable_http(500, None));
        assert!(is_retryable_http(503, Some(20500)));
        assert!(!is_retryable_http(400, Some(21610)));
        assert!(!is_retryable_http(400, Some(21211)));
        assert!(!is_retryable_http(401, Some(20003)));
        assert!(!is_retryable_http(404, None));
        assert!(!is_retryable_http(201, None));
    }
}
