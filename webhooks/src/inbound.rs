//! The inbound message webhook: what Twilio posts when a patient texts one of the practice's
//! numbers.
//!
//! [`InboundSms::from_form`] turns the (already signature-checked) form into typed values and
//! refuses a form it cannot trust, naming the field. It ignores parameters it does not use
//! (geographic `FromCity`…`ToCountry`, `SmsStatus`, `ApiVersion`, whatever Twilio adds later); they
//! still count for the signature, which is checked on the raw pairs before this runs.
//!
//! It must never log or echo the body: while a patient verifies their identity the body is their
//! date of birth. [`InboundSms`]'s `Debug` shows only the body's length.

use std::fmt;

use crate::form::{self, Fields};
use crate::sid::CarrierMessageId;
use types::{MessageBody, PhoneNumber};

pub use crate::form::ParseError;

/// Longest body accepted, in characters (Unicode scalar values), as Twilio documents.
pub const MAX_BODY_CHARS: usize = 1600;

/// One message received from a patient's phone.
///
/// Built by [`InboundSms::from_form`], which guarantees `media.len() == num_media as usize`.
#[derive(Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// Twilio's id for this message; the store keeps it unique so a repeated webhook is applied
    /// once.
    pub message_sid: CarrierMessageId,
    /// The Twilio account (`AC…`) the message arrived on, to refuse messages for another account.
    pub account_sid: String,
    /// The Messaging Service (`MG…`) the receiving number belongs to, if any; opt-outs are kept per
    /// sending number or per service.
    pub messaging_service_sid: Option<String>,
    /// The patient's number (E.164): how the sender is identified.
    pub from: PhoneNumber,
    /// The practice's number the patient wrote to (E.164): which practice the message is for.
    pub to: PhoneNumber,
    /// The text, possibly empty for a picture-only message. At most [`MAX_BODY_CHARS`]
    /// characters; a NUL character arrives as U+FFFD. Never log it.
    pub body: String,
    /// How many media items Twilio reports (`NumMedia`); equals `media.len()`.
    pub num_media: u32,
    /// How many SMS segments the message arrived in (`NumSegments`, 1 when absent).
    pub num_segments: u32,
    /// The attached media, in Twilio's order (`MediaUrl{N}`, `MediaContentType{N}`).
    pub media: Vec<Media>,
    /// `STOP`, `START` or `HELP` when Twilio's Advanced Opt-Out recognised a keyword (only with a
    /// Messaging Service that has it on); as Twilio sent it. The gateway's own keyword rules still
    /// apply to the body.
    pub opt_out_type: Option<String>,
}

/// One media item of an MMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Where Twilio stores the item (an `http`/`https` URL, kept exactly as sent). Fetching it may
    /// need the account's credentials; that is the gateway's business.
    pub url: String,
    /// Its MIME type, such as `image/jpeg`.
    pub content_type: String,
}

impl InboundSms {
    /// Reads the inbound webhook form (all pairs, as [`form::decode`] gives them).
    ///
    /// Required: `MessageSid` (or, only when it is absent, `SmsMessageSid` then `SmsSid`),
    /// `AccountSid`, `From`, `To`, all non-empty. `From` and `To` must already be E.164; Twilio
    /// never sends anything else for SMS. `Body` absent is an empty body. `NumMedia` absent is 0,
    /// and every `MediaUrl{N}`/`MediaContentType{N}` below it must be present. A NUL character
    /// in `Body` (no phone can type one, and PostgreSQL cannot store one) becomes U+FFFD, as
    /// invalid UTF-8 does, so that the message is kept rather than refused.
    pub fn from_form(params: &[(String, String)]) -> Result<InboundSms, ParseError> {
        let fields = Fields::new(params);

        let message_sid = form::message_sid(&fields)?;
        let account_sid = fields.required("AccountSid")?;
        form::check_sid(account_sid, "AC", "AccountSid")?;
        let messaging_service_sid = fields.optional("MessagingServiceSid")?;
        if let Some(sid) = messaging_service_sid {
            form::check_sid(sid, "MG", "MessagingServiceSid")?;
        }
        let from = wire_number(&fields, "From")?;
        let to = wire_number(&fields, "To")?;

        let body = MessageBody::from_carrier(fields.lookup("Body", "Body")?.unwrap_or_default())
            .into_string();
        let chars = body.chars().count();
        if chars > MAX_BODY_CHARS {
            return Err(ParseError::invalid(
                "Body",
                format!("has {chars} characters; at most {MAX_BODY_CHARS} are accepted"),
            ));
        }

        let num_media = fields.optional_u32("NumMedia")?.unwrap_or(0);
        let num_segments = fields.optional_u32("NumSegments")?.unwrap_or(1);
        let media = media(&fields, num_media)?;
        let opt_out_type = fields.optional("OptOutType")?.map(str::to_owned);

        Ok(InboundSms {
            message_sid,
            account_sid: account_sid.to_owned(),
            messaging_service_sid: messaging_service_sid.map(str::to_owned),
            from,
            to,
            body,
            num_media,
            num_segments,
            media,
            opt_out_type,
        })
    }

    /// The form Twilio would post for this message, including the deprecated copies of the SID
    /// and the fixed `SmsStatus`/`ApiVersion` fields; for tests and the load generator.
    /// `InboundSms::from_form(&sms.to_form())` gives `sms` back.
    pub fn to_form(&self) -> Vec<(String, String)> {
        let mut form = vec![
            pair("ToCountry", "US"),
            pair("SmsMessageSid", self.message_sid.as_str()),
            pair("NumMedia", &self.num_media.to_string()),
            pair("SmsSid", self.message_sid.as_str()),
            pair("SmsStatus", "received"),
            pair("Body", &self.body),
            pair("To", self.to.as_str()),
            pair("NumSegments", &self.num_segments.to_string()),
            pair("MessageSid", self.message_sid.as_str()),
            pair("AccountSid", &self.account_sid),
            pair("From", self.from.as_str()),
            pair("ApiVersion", "2010-04-01"),
        ];
        if let Some(sid) = &self.messaging_service_sid {
            form.push(pair("MessagingServiceSid", sid));
        }
        for (i, item) in self.media.iter().enumerate() {
            form.push(pair(&format!("MediaContentType{i}"), &item.content_type));
            form.push(pair(&format!("MediaUrl{i}"), &item.url));
        }
        if let Some(kind) = &self.opt_out_type {
            form.push(pair("OptOutType", kind));
        }
        form
    }
}

impl fmt::Debug for InboundSms {
    /// Everything but the body, which may hold a date of birth.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundSms")
            .field("message_sid", &self.message_sid)
            .field("account_sid", &self.account_sid)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .field("from", &self.from)
            .field("to", &self.to)
            .field(
                "body",
                &format_args!("<{} characters>", self.body.chars().count()),
            )
            .field("num_media", &self.num_media)
            .field("num_segments", &self.num_segments)
            .field("media", &self.media)
            .field("opt_out_type", &self.opt_out_type)
            .finish()
    }
}

fn pair(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

/// A required number sent by Twilio: strict E.164.
fn wire_number(fields: &Fields<'_>, name: &'static str) -> Result<PhoneNumber, ParseError> {
    PhoneNumber::parse_e164(fields.required(name)?)
        .map_err(|e| ParseError::invalid(name, e.to_string()))
}

/// `MediaUrl{N}` and `MediaContentType{N}` for every N below `num_media`.
///
/// Stops at the first missing index, so a large `NumMedia` costs no more than the form's length.
fn media(fields: &Fields<'_>, num_media: u32) -> Result<Vec<Media>, ParseError> {
    let mut media = Vec::new();
    for i in 0..num_media {
        let url_name = format!("MediaUrl{i}");
        let url = fields.lookup(&url_name, "MediaUrl")?.ok_or_else(|| {
            ParseError::invalid(
                "MediaUrl",
                format!("{url_name} is missing but NumMedia is {num_media}"),
            )
        })?;
        let is_web_url =
            url::Url::parse(url).is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https"));
        if !is_web_url {
            return Err(ParseError::invalid(
                "MediaUrl",
                format!("{url_name} is not an http or https URL"),
            ));
        }

        let type_name = format!("MediaContentType{i}");
        let content_type = fields
            .lookup(&type_name, "MediaContentType")?
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ParseError::invalid(
                    "MediaContentType",
                    format!("{type_name} is missing but NumMedia is {num_media}"),
                )
            })?;
        if !is_mime_type(content_type) {
            return Err(ParseError::invalid(
                "MediaContentType",
                format!("{type_name} is not a MIME type"),
            ));
        }

        media.push(Media {
            url: url.to_owned(),
            content_type: content_type.to_owned(),
        });
    }
    Ok(media)
}

/// `type/subtype`, optionally followed by `;` parameters, in printable ASCII.
fn is_mime_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim();
    match essence.split_once('/') {
        Some((kind, subtype)) => {
            let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
            token(kind) && token(subtype) && !subtype.contains('/')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "SM0123456789abcdef0123456789abcdef";
    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const SERVICE: &str = "MG0123456789abcdef0123456789abcdef";

    /// An inbound SMS form as Twilio posts it, geographic fields included.
    fn twilio_form() -> Vec<(String, String)> {
        [
            ("ToCountry", "US"),
            ("ToState", "CA"),
            ("SmsMessageSid", SID),
            ("NumMedia", "0"),
            ("ToCity", "SAN FRANCISCO"),
            ("FromZip", "94105"),
            ("SmsSid", SID),
            ("FromState", "CA"),
            ("SmsStatus", "received"),
            ("FromCity", "SAN FRANCISCO"),
            ("Body", "03/14/1961"),
            ("FromCountry", "US"),
            ("To", "+18005551212"),
            ("MessagingServiceSid", SERVICE),
            ("ToZip", "94105"),
            ("NumSegments", "1"),
            ("MessageSid", SID),
            ("AccountSid", ACCOUNT),
            ("From", "+14158675309"),
            ("ApiVersion", "2010-04-01"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
    }

    fn with(mut form: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
        form.retain(|(n, _)| n != name);
        form.push((name.to_owned(), value.to_owned()));
        form
    }

    fn without(mut form: Vec<(String, String)>, name: &str) -> Vec<(String, String)> {
        form.retain(|(n, _)| n != name);
        form
    }

    #[test]
    fn a_plain_sms_form_is_read_into_typed_fields() {
        let sms = InboundSms::from_form(&twilio_form()).unwrap();
        assert_eq!(sms.message_sid.as_str(), SID);
        assert_eq!(sms.account_sid, ACCOUNT);
        assert_eq!(sms.messaging_service_sid.as_deref(), Some(SERVICE));
        assert_eq!(sms.from.as_str(), "+14158675309");
        assert_eq!(sms.to.as_str(), "+18005551212");
        assert_eq!(sms.body, "03/14/1961");
        assert_eq!(sms.num_media, 0);
        assert_eq!(sms.num_segments, 1);
        assert!(sms.media.is_empty());
        assert_eq!(sms.opt_out_type, None);
    }

    #[test]
    fn an_mms_form_lists_its_media_in_order() {
        let mut form = with(twilio_form(), "NumMedia", "2");
        form = with(form, "MessageSid", "MM0123456789abcdef0123456789abcdef");
        form = without(without(form, "SmsSid"), "SmsMessageSid");
        form = with(form, "Body", "");
        for (name, value) in [
            ("MediaContentType0", "image/jpeg"),
            (
                "MediaUrl0",
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME0",
            ),
            ("MediaContentType1", "text/vcard; charset=utf-8"),
            (
                "MediaUrl1",
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
            ),
        ] {
            form = with(form, name, value);
        }
        let sms = InboundSms::from_form(&form).unwrap();
        assert_eq!(sms.num_media, 2);
        assert_eq!(sms.body, "");
        assert_eq!(
            sms.media,
            vec![
                Media {
                    url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME0"
                        .to_owned(),
                    content_type: "image/jpeg".to_owned(),
                },
                Media {
                    url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
                        .to_owned(),
                    content_type: "text/vcard; charset=utf-8".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn a_media_item_missing_below_num_media_is_refused() {
        let form = with(twilio_form(), "NumMedia", "1");
        assert_eq!(
            InboundSms::from_form(&form),
            Err(ParseError::invalid(
                "MediaUrl",
                "MediaUrl0 is missing but NumMedia is 1"
            ))
        );
        let form = with(form, "MediaUrl0", "https://api.twilio.com/x");
        assert_eq!(
            InboundSms::from_form(&form).unwrap_err().field(),
            "MediaContentType"
        );
    }

    #[test]
    fn a_huge_num_media_fails_quickly_at_the_first_missing_item() {
        let form = with(twilio_form(), "NumMedia", "4294967295");
        assert_eq!(
            InboundSms::from_form(&form).unwrap_err().field(),
            "MediaUrl"
        );
    }

    #[test]
    fn a_media_url_that_is_not_http_is_refused() {
        let mut form = with(twilio_form(), "NumMedia", "1");
        form = with(form, "MediaContentType0", "image/png");
        for bad in ["file:///etc/passwd", "not a url", "ftp://x/y"] {
            let form = with(form.clone(), "MediaUrl0", bad);
            assert_eq!(
                InboundSms::from_form(&form),
                Err(ParseError::invalid(
                    "MediaUrl",
                    "MediaUrl0 is not an http or https URL"
                )),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_media_content_type_must_look_like_a_mime_type() {
        let mut form = with(twilio_form(), "NumMedia", "1");
        form = with(form, "MediaUrl0", "https://api.twilio.com/x");
        for bad in ["image", "/png", "image/", "image/png/x", "image /png"] {
            let form = with(form.clone(), "MediaContentType0", bad);
            assert_eq!(
                InboundSms::from_form(&form).unwrap_err().field(),
                "MediaContentType",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_body_of_1600_characters_is_accepted_and_1601_refused() {
        // Multi-byte characters: the limit counts characters, not bytes.
        let at_limit = "é".repeat(MAX_BODY_CHARS);
        let sms = InboundSms::from_form(&with(twilio_form(), "Body", &at_limit)).unwrap();
        assert_eq!(sms.body, at_limit);

        let over = "a".repeat(MAX_BODY_CHARS + 1);
        assert_eq!(
            InboundSms::from_form(&with(twilio_form(), "Body", &over)),
            Err(ParseError::invalid(
                "Body",
                "has 1601 characters; at most 1600 are accepted"
            ))
        );
    }

    #[test]
    fn an_absent_body_is_an_empty_body() {
        let sms = InboundSms::from_form(&without(twilio_form(), "Body")).unwrap();
        assert_eq!(sms.body, "");
    }

    #[test]
    fn the_body_is_kept_exactly_including_whitespace() {
        let body = "  STOP \n";
        let sms = InboundSms::from_form(&with(twilio_form(), "Body", body)).unwrap();
        assert_eq!(sms.body, body);
    }

    #[test]
    fn a_nul_in_the_body_becomes_a_replacement_character_and_the_text_is_kept() {
        let sms = InboundSms::from_form(&with(twilio_form(), "Body", "ok\0fine\0")).unwrap();
        assert_eq!(sms.body, "ok\u{FFFD}fine\u{FFFD}");
    }

    #[test]
    fn the_deprecated_sid_fields_are_used_only_when_message_sid_is_absent() {
        let other = "SMffffffffffffffffffffffffffffffff";
        let form = with(without(twilio_form(), "MessageSid"), "SmsMessageSid", other);
        assert_eq!(
            InboundSms::from_form(&form).unwrap().message_sid.as_str(),
            other
        );
        let form = without(without(twilio_form(), "MessageSid"), "SmsMessageSid");
        assert_eq!(
            InboundSms::from_form(&form).unwrap().message_sid.as_str(),
            SID
        );
        let form = with(twilio_form(), "SmsSid", other);
        assert_eq!(
            InboundSms::from_form(&form).unwrap().message_sid.as_str(),
            SID
        );
    }

    #[test]
    fn a_form_without_any_message_sid_is_refused() {
        let form = without(
            without(without(twilio_form(), "MessageSid"), "SmsMessageSid"),
            "SmsSid",
        );
        assert_eq!(
            InboundSms::from_form(&form),
            Err(ParseError::MissingField("MessageSid"))
        );
    }

    #[test]
    fn a_malformed_message_sid_is_refused_even_with_a_good_fallback() {
        let form = with(
            twilio_form(),
            "MessageSid",
            "MG0123456789abcdef0123456789abcdef",
        );
        assert_eq!(
            InboundSms::from_form(&form).unwrap_err().field(),
            "MessageSid"
        );
    }

    #[test]
    fn each_required_field_is_named_when_missing() {
        for name in ["AccountSid", "From", "To"] {
            assert_eq!(
                InboundSms::from_form(&without(twilio_form(), name)),
                Err(ParseError::MissingField(name))
            );
            assert_eq!(
                InboundSms::from_form(&with(twilio_form(), name, "")),
                Err(ParseError::MissingField(name))
            );
        }
    }

    #[test]
    fn numbers_that_are_not_strict_e164_are_refused() {
        for bad in [
            "4158675309",
            "+1 415 867 5309",
            "whatsapp:+14158675309",
            "12345",
        ] {
            let err = InboundSms::from_form(&with(twilio_form(), "From", bad)).unwrap_err();
            assert_eq!(err.field(), "From", "{bad:?}");
            assert!(!err.to_string().contains("5309"), "{err}");
        }
    }

    #[test]
    fn malformed_account_and_service_sids_are_refused() {
        assert_eq!(
            InboundSms::from_form(&with(twilio_form(), "AccountSid", SERVICE))
                .unwrap_err()
                .field(),
            "AccountSid"
        );
        assert_eq!(
            InboundSms::from_form(&with(twilio_form(), "MessagingServiceSid", ACCOUNT))
                .unwrap_err()
                .field(),
            "MessagingServiceSid"
        );
        let sms = InboundSms::from_form(&with(twilio_form(), "MessagingServiceSid", "")).unwrap();
        assert_eq!(sms.messaging_service_sid, None);
    }

    #[test]
    fn segments_default_to_one_and_must_be_numbers() {
        let sms = InboundSms::from_form(&without(twilio_form(), "NumSegments")).unwrap();
        assert_eq!(sms.num_segments, 1);
        let sms = InboundSms::from_form(&with(twilio_form(), "NumSegments", "3")).unwrap();
        assert_eq!(sms.num_segments, 3);
        assert_eq!(
            InboundSms::from_form(&with(twilio_form(), "NumSegments", "three"))
                .unwrap_err()
                .field(),
            "NumSegments"
        );
    }

    #[test]
    fn the_advanced_opt_out_type_is_passed_on() {
        let sms = InboundSms::from_form(&with(twilio_form(), "OptOutType", "STOP")).unwrap();
        assert_eq!(sms.opt_out_type.as_deref(), Some("STOP"));
    }

    #[test]
    fn a_field_repeated_with_different_values_is_refused() {
        let mut form = twilio_form();
        form.push(("From".to_owned(), "+14155550000".to_owned()));
        assert_eq!(InboundSms::from_form(&form).unwrap_err().field(), "From");
    }

    #[test]
    fn debug_output_hides_the_body() {
        let sms = InboundSms::from_form(&twilio_form()).unwrap();
        let shown = format!("{sms:?}");
        assert!(!shown.contains("1961"), "{shown}");
        assert!(shown.contains("<10 characters>"), "{shown}");
    }

    #[test]
    fn errors_never_contain_the_body() {
        let secret = "03/14/1961 ".repeat(200);
        let err = InboundSms::from_form(&with(twilio_form(), "Body", &secret)).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("1961"));
    }

    #[test]
    fn the_form_it_writes_reads_back_the_same() {
        let sms = InboundSms::from_form(&twilio_form()).unwrap();
        assert_eq!(InboundSms::from_form(&sms.to_form()), Ok(sms));
    }
}
