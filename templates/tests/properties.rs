//! Property tests of the public API: segment counting against the GSM 03.38 tables written out
//! independently here, and rendering against validation.
//!
//! These tests own no behaviour; they must never reach into private items, so that they check
//! what the gateway can call.

use proptest::prelude::*;
use templates::{
    Encoding, MAX_RENDERED_CHARS, Placeholder, TemplateName, Vars, render, segments, validate,
};

/// The GSM 03.38 default alphabet in code order, without 0x1B (the escape).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The extension table: each costs an escape plus its code.
const GSM_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

fn basic_char() -> impl Strategy<Value = char> {
    prop::sample::select(GSM_BASIC.chars().collect::<Vec<_>>())
}

fn gsm_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => basic_char(),
        1 => prop::sample::select(GSM_EXTENSION.chars().collect::<Vec<_>>()),
    ]
}

/// Characters of every kind: GSM basic and extension, other BMP characters, astral ones.
fn any_sms_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => gsm_char(),
        1 => prop::char::range('\u{100}', '\u{FFFF}'),
        1 => prop::char::range('\u{1F300}', '\u{1FAFF}'),
        1 => any::<char>(),
    ]
}

fn sms_text(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any_sms_char(), 0..max_chars).prop_map(|c| c.into_iter().collect())
}

fn septets(c: char) -> usize {
    if GSM_EXTENSION.contains(c) { 2 } else { 1 }
}

/// Template-like texts: mostly well formed (placeholders, doubled braces, STOP, long runs that
/// can reach the length limit), sometimes with stray braces or unknown placeholders.
fn template_text() -> impl Strategy<Value = String> {
    let well_formed: Vec<String> = [
        "{practice_name}",
        "{practice_phone}",
        "{attempts_left}",
        "{alert_code}",
        "{{",
        "}}",
        "STOP",
        " stop ",
        "STOPALL",
        " ",
        "Reply ",
        "€",
        "🙂",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([
        "Please call the practice. ".repeat(8),
        "Please call the practice. ".repeat(8),
    ])
    .collect();
    // Runs of about 400 characters, to cross the body limit now and then.
    let long = vec![
        "Please call the practice. ".repeat(16),
        "{practice_name} ".to_owned(),
        " STOP ".to_owned(),
    ];
    let mut any = well_formed.clone();
    any.extend(["{", "}", "{patient_name}", "{}"].map(str::to_owned));
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(well_formed), 0..20).prop_map(|t| t.concat()),
        2 => prop::collection::vec(prop::sample::select(any), 0..20).prop_map(|t| t.concat()),
        2 => prop::collection::vec(prop::sample::select(long), 1..12).prop_map(|t| t.concat()),
        1 => sms_text(200),
    ]
}

fn template_name() -> impl Strategy<Value = TemplateName> {
    prop::sample::select(TemplateName::ALL.to_vec())
}

/// Every placeholder filled to its maximum length.
fn longest_values() -> Vars {
    Placeholder::ALL
        .into_iter()
        .map(|p| (p, "x".repeat(p.max_chars())))
        .collect()
}

#[test]
fn the_independent_gsm_tables_agree_with_the_counter() {
    assert_eq!(GSM_BASIC.chars().count(), 127);
    for c in GSM_BASIC.chars() {
        let count = segments(&c.to_string());
        assert_eq!((count.encoding, count.units), (Encoding::Gsm7, 1), "{c:?}");
    }
    for c in GSM_EXTENSION.chars() {
        let count = segments(&c.to_string());
        assert_eq!((count.encoding, count.units), (Encoding::Gsm7, 2), "{c:?}");
    }
}

proptest! {
    #[test]
    fn appending_text_never_lowers_the_segment_count(a in sms_text(400), b in sms_text(400)) {
        let joined = format!("{a}{b}");
        prop_assert!(segments(&joined).segments >= segments(&a).segments);
        prop_assert!(segments(&joined).units >= segments(&a).units);
    }

    #[test]
    fn appending_gsm_text_to_gsm_text_never_lowers_the_segment_count(
        a in prop::collection::vec(gsm_char(), 0..400),
        b in prop::collection::vec(gsm_char(), 0..400),
    ) {
        let a: String = a.into_iter().collect();
        let joined: String = a.chars().chain(b).collect();
        prop_assert!(segments(&joined).segments >= segments(&a).segments);
    }

    #[test]
    fn the_encoding_is_gsm_7_exactly_when_every_character_is_in_the_gsm_tables(
        text in sms_text(300),
    ) {
        let all_gsm = text.chars().all(|c| GSM_BASIC.contains(c) || GSM_EXTENSION.contains(c));
        let count = segments(&text);
        prop_assert_eq!(count.encoding == Encoding::Gsm7, all_gsm);
        if all_gsm {
            prop_assert_eq!(count.units, text.chars().map(septets).sum::<usize>());
        } else {
            prop_assert_eq!(count.units, text.encode_utf16().count());
        }
    }

    #[test]
    fn gsm_text_of_at_most_160_septets_is_one_segment(
        chars in prop::collection::vec(gsm_char(), 1..=160),
    ) {
        let mut used = 0;
        let text: String = chars
            .into_iter()
            .take_while(|&c| {
                used += septets(c);
                used <= 160
            })
            .collect();
        let count = segments(&text);
        prop_assert_eq!(count.encoding, Encoding::Gsm7);
        prop_assert!(count.units <= 160);
        prop_assert_eq!(count.segments, 1);
    }

    #[test]
    fn basic_gsm_text_over_160_characters_takes_one_segment_per_153(
        chars in prop::collection::vec(basic_char(), 161..=1600),
    ) {
        let text: String = chars.iter().collect();
        let count = segments(&text);
        prop_assert_eq!(count.encoding, Encoding::Gsm7);
        prop_assert_eq!(count.segments, chars.len().div_ceil(153));
    }

    #[test]
    fn ucs_2_text_of_at_most_70_units_is_one_segment(
        chars in prop::collection::vec(prop::char::range('\u{400}', '\u{4FF}'), 1..=70),
    ) {
        let text: String = chars.into_iter().collect();
        let count = segments(&text);
        prop_assert_eq!((count.encoding, count.segments), (Encoding::Ucs2, 1));
    }

    #[test]
    fn segments_hold_their_units_with_at_most_one_unit_of_padding_each(text in sms_text(800)) {
        let count = segments(&text);
        let (single, multi) = match count.encoding {
            Encoding::Gsm7 => (160, 153),
            Encoding::Ucs2 => (70, 67),
        };
        match count.segments {
            0 => prop_assert_eq!(count.units, 0),
            1 => prop_assert!(count.units >= 1 && count.units <= single),
            n => {
                prop_assert!(count.units > single);
                prop_assert!(count.units <= n * multi);
                // Every segment but the last was closed with at least `multi - 1` units in it.
                prop_assert!(count.units > (n - 1) * (multi - 1));
            }
        }
    }

    #[test]
    fn escaped_literal_text_renders_to_itself(text in sms_text(300)) {
        prop_assume!(!text.trim().is_empty());
        let escaped = text.replace('{', "{{").replace('}', "}}");
        let rendered = render(TemplateName::NewPatientMessage, &escaped, &Vars::new());
        prop_assert_eq!(rendered, Ok(text));
    }

    #[test]
    fn rendering_refuses_exactly_what_validation_refuses_and_otherwise_gives_the_preview(
        name in template_name(),
        text in template_text(),
    ) {
        let validated = validate(name, &text);
        let rendered = render(name, &text, &Vars::samples());
        match validated {
            Ok(v) => prop_assert_eq!(rendered, Ok(v.preview)),
            Err(e) => prop_assert_eq!(rendered, Err(e)),
        }
    }

    #[test]
    fn a_validated_text_filled_to_the_maximum_lengths_stays_within_the_body_limit(
        name in template_name(),
        text in template_text(),
    ) {
        if let Ok(validated) = validate(name, &text) {
            let rendered = render(name, &text, &longest_values()).unwrap();
            prop_assert_eq!(rendered.chars().count(), validated.max_chars);
            prop_assert!(validated.max_chars <= MAX_RENDERED_CHARS);
        }
    }

    #[test]
    fn a_missing_value_is_always_an_error_never_a_shorter_text(
        name in template_name(),
        text in template_text(),
        missing in prop::sample::select(Placeholder::ALL.to_vec()),
    ) {
        let vars: Vars = Placeholder::ALL
            .into_iter()
            .filter(|&p| p != missing)
            .map(|p| (p, p.sample()))
            .collect();
        if validate(name, &text).is_ok() && text.contains(&missing.to_string()) {
            prop_assert!(render(name, &text, &vars).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_as_a_template_are_validated_or_refused_with_a_template_error(
        name in template_name(),
        bytes in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        // As a JSON body delivers them: invalid UTF-8 never reaches the parser, so the text is
        // what a lossy decoder makes of the bytes.
        let text = String::from_utf8_lossy(&bytes);
        let validated = validate(name, &text);
        let rendered = render(name, &text, &Vars::samples());
        match validated {
            Ok(v) => prop_assert_eq!(rendered, Ok(v.preview)),
            Err(e) => {
                prop_assert!(!e.to_string().is_empty());
                prop_assert_eq!(rendered, Err(e));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_as_a_template_name_parse_only_when_they_are_a_wire_name(
        bytes in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let s = String::from_utf8_lossy(&bytes);
        let known = TemplateName::ALL.iter().any(|n| n.as_str() == s);
        prop_assert_eq!(TemplateName::parse(&s).is_ok(), known);
    }

    #[test]
    fn only_the_exact_wire_names_parse_as_template_names(s in "[a-z_]{0,24}|\\PC{0,24}") {
        let known = TemplateName::ALL.iter().any(|n| n.as_str() == s);
        prop_assert_eq!(TemplateName::parse(&s).is_ok(), known);
    }
}
