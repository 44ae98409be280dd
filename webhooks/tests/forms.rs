//! Property tests over whole webhook forms: arbitrary pairs never make a parser panic, whatever a
//! parser accepts writes back to a form that reads the same, and a form survives the trip through
//! a raw body and the signature check unchanged.

use proptest::prelude::*;
use webhooks::{InboundSms, Media, MessageStatus, PhoneNumber, StatusCallback, form, signature};

type Form = Vec<(String, String)>;

const NAMES: &[&str] = &[
    "MessageSid",
    "SmsMessageSid",
    "SmsSid",
    "AccountSid",
    "MessagingServiceSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "NumSegments",
    "MediaUrl0",
    "MediaUrl1",
    "MediaContentType0",
    "MediaContentType1",
    "OptOutType",
    "MessageStatus",
    "SmsStatus",
    "ErrorCode",
    "FromCity",
];

/// A name Twilio uses, or anything at all.
fn any_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(NAMES).prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ]
}

/// A value that is valid for some field, or anything at all.
fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "(SM|MM|MG|AC)[0-9a-f]{32}",
        "\\+[1-9][0-9]{7,14}",
        "[0-9]{1,3}|[0-9]{10,12}",
        prop::sample::select(vec![
            "",
            "delivered",
            "failed",
            "sent",
            "STOP",
            "image/png",
            "https://api.twilio.com/m/ME1",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,60}",
    ]
}

fn any_form() -> impl Strategy<Value = Form> {
    prop::collection::vec((any_name(), any_value()), 0..24)
}

/// One change to a form.
#[derive(Debug, Clone)]
enum Edit {
    Remove(prop::sample::Index),
    Replace(prop::sample::Index, String),
    Add(String, String),
}

fn any_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Edit::Remove),
        (any::<prop::sample::Index>(), any_value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        (any_name(), any_value()).prop_map(|(n, v)| Edit::Add(n, v)),
    ]
}

/// A valid inbound or status form with a few random edits: sometimes still valid, often not in
/// one field, which is where parsers are most likely to go wrong.
fn edited_form() -> impl Strategy<Value = Form> {
    let base = prop_oneof![
        valid_inbound().prop_map(|sms| sms.to_form()),
        valid_status().prop_map(|cb| cb.to_form()),
    ];
    (base, prop::collection::vec(any_edit(), 0..4)).prop_map(|(mut params, edits)| {
        for edit in edits {
            match edit {
                Edit::Remove(i) if !params.is_empty() => {
                    params.remove(i.index(params.len()));
                }
                Edit::Replace(i, value) if !params.is_empty() => {
                    let at = i.index(params.len());
                    params[at].1 = value;
                }
                Edit::Add(name, value) => params.push((name, value)),
                _ => {}
            }
        }
        params
    })
}

fn any_or_edited_form() -> impl Strategy<Value = Form> {
    prop_oneof![any_form(), edited_form()]
}

fn valid_inbound() -> impl Strategy<Value = InboundSms> {
    let media = prop::collection::vec(
        (
            "https://api\\.twilio\\.com/2010-04-01/Media/ME[0-9a-f]{8}",
            prop::sample::select(vec!["image/jpeg", "image/png", "text/vcard"]),
        ),
        0..4,
    );
    (
        (
            "(SM|MM)[0-9a-fA-F]{32}",
            "AC[0-9a-f]{32}",
            prop::option::of("MG[0-9a-f]{32}"),
            "\\+[1-9][0-9]{7,14}",
            "\\+[1-9][0-9]{7,14}",
        ),
        (
            "\\PC{0,200}",
            1u32..10,
            media,
            prop::option::of(prop::sample::select(vec!["STOP", "START", "HELP"])),
        ),
    )
        .prop_map(
            |((sid, account, service, from, to), (body, segments, media, opt_out))| {
                let media: Vec<Media> = media
                    .into_iter()
                    .map(|(url, content_type)| Media {
                        url,
                        content_type: content_type.to_owned(),
                    })
                    .collect();
                InboundSms {
                    message_sid: sid.parse().unwrap(),
                    account_sid: account,
                    messaging_service_sid: service,
                    from: PhoneNumber::parse_e164(&from).unwrap(),
                    to: PhoneNumber::parse_e164(&to).unwrap(),
                    body,
                    num_media: media.len() as u32,
                    num_segments: segments,
                    media,
                    opt_out_type: opt_out.map(str::to_owned),
                }
            },
        )
}

fn valid_status() -> impl Strategy<Value = StatusCallback> {
    (
        "(SM|MM)[0-9a-fA-F]{32}",
        prop::sample::select(MessageStatus::ALL.to_vec()),
        prop::option::of(prop::sample::select(vec![21610u32, 30003, 30007, 0])),
        prop::option::of("AC[0-9a-f]{32}"),
        prop::option::of("\\+[1-9][0-9]{7,14}"),
        prop::option::of("\\+[1-9][0-9]{7,14}"),
    )
        .prop_map(
            |(sid, status, error_code, account, from, to)| StatusCallback {
                message_sid: sid.parse().unwrap(),
                status,
                error_code,
                account_sid: account,
                from: from.map(|n| PhoneNumber::parse_e164(&n).unwrap()),
                to: to.map(|n| PhoneNumber::parse_e164(&n).unwrap()),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic_on_arbitrary_forms(params in any_or_edited_form()) {
        let _ = InboundSms::from_form(&params);
        let _ = StatusCallback::from_form(&params);
    }

    #[test]
    fn any_raw_body_decodes_and_parses_or_is_refused_naming_a_field(
        body in prop::collection::vec(any::<u8>(), 0..1024),
    ) {
        let params = form::decode(&body);
        prop_assert_eq!(form::decode(form::encode(&params).as_bytes()), params.clone());
        for refused in [
            InboundSms::from_form(&params).err(),
            StatusCallback::from_form(&params).err(),
        ].into_iter().flatten() {
            prop_assert!(!refused.field().is_empty());
            prop_assert!(refused.to_string().contains(refused.field()));
        }
    }

    #[test]
    fn any_signature_header_is_missing_or_a_mismatch_unless_it_is_the_signature(
        header in prop::collection::vec(any::<u8>(), 0..64),
        params in any_or_edited_form(),
    ) {
        let url = "https://gateway.example.org/webhooks/twilio/sms";
        let header = String::from_utf8_lossy(&header);
        match signature::validate("token", url, &params, Some(&header)) {
            Ok(()) => prop_assert_eq!(header.trim(), signature::compute("token", url, &params)),
            Err(signature::SignatureError::Missing) => prop_assert!(header.trim().is_empty()),
            Err(signature::SignatureError::Mismatch { tried }) => {
                prop_assert!(!header.trim().is_empty());
                prop_assert!(tried.iter().any(|t| t == url));
            }
        }
    }

    #[test]
    fn an_accepted_inbound_form_writes_back_to_one_that_reads_the_same(params in edited_form()) {
        if let Ok(sms) = InboundSms::from_form(&params) {
            prop_assert_eq!(sms.media.len(), sms.num_media as usize);
            prop_assert_eq!(InboundSms::from_form(&sms.to_form()), Ok(sms));
        }
    }

    #[test]
    fn an_accepted_status_form_writes_back_to_one_that_reads_the_same(params in edited_form()) {
        if let Ok(cb) = StatusCallback::from_form(&params) {
            prop_assert_eq!(StatusCallback::from_form(&cb.to_form()), Ok(cb));
        }
    }

    #[test]
    fn every_valid_inbound_message_round_trips_through_its_form(sms in valid_inbound()) {
        prop_assert_eq!(InboundSms::from_form(&sms.to_form()), Ok(sms));
    }

    #[test]
    fn every_valid_status_callback_round_trips_through_its_form(cb in valid_status()) {
        prop_assert_eq!(StatusCallback::from_form(&cb.to_form()), Ok(cb));
    }

    #[test]
    fn a_signed_inbound_body_validates_and_parses_after_the_trip_over_the_wire(
        sms in valid_inbound(),
        token in "[0-9a-f]{32}",
    ) {
        let url = "https://gateway.example.org/webhooks/twilio/sms";
        let sent = sms.to_form();
        let header = signature::compute(&token, url, &sent);
        let body = form::encode(&sent);

        let received = form::decode(body.as_bytes());
        prop_assert_eq!(signature::validate(&token, url, &received, Some(&header)), Ok(()));
        prop_assert_eq!(InboundSms::from_form(&received), Ok(sms));
    }

    #[test]
    fn an_extra_parameter_twilio_adds_is_signed_and_ignored_by_the_parser(
        sms in valid_inbound(),
        name in "[A-Z][A-Za-z]{3,12}",
        value in "\\PC{0,20}",
    ) {
        prop_assume!(!NAMES.contains(&name.as_str()) && !name.starts_with("Media"));
        let url = "https://gateway.example.org/webhooks/twilio/sms";
        let mut params = sms.to_form();
        params.push((name, value));
        let header = signature::compute("token", url, &params);

        prop_assert!(signature::validate("token", url, &sms.to_form(), Some(&header)).is_err());
        prop_assert_eq!(signature::validate("token", url, &params, Some(&header)), Ok(()));
        prop_assert_eq!(InboundSms::from_form(&params), Ok(sms));
    }
}
