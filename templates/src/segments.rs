//! SMS segment counting: which encoding a body needs and how many segments it costs.
//!
//! Owns the GSM 03.38 (3GPP TS 23.038) default alphabet and its extension table, and the
//! concatenation limits: GSM-7 fits 160 septets in a lone segment and 153 per segment of a longer
//! message, UCS-2 fits 70 UTF-16 code units alone and 67 per segment. A character that takes two
//! units (an escaped GSM character, a UTF-16 surrogate pair) is never split across segments, so a
//! segment may carry one unit less than its capacity.
//!
//! It only counts: it never changes a body (no "smart" replacement of curly quotes or dashes) and
//! knows nothing of national language shift tables, which carriers in the US do not use.

use serde::{Deserialize, Serialize};

/// How a body is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// The GSM 7-bit default alphabet with its extension table; units are septets.
    Gsm7,
    /// UCS-2 (UTF-16 on the wire); units are UTF-16 code units.
    Ucs2,
}

impl Encoding {
    /// Units that fit in a message sent as one segment.
    pub const fn single_segment_units(self) -> usize {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    /// Units that fit in each segment of a concatenated message (the rest is the UDH).
    pub const fn multi_segment_units(self) -> usize {
        match self {
            Encoding::Gsm7 => 153,
            Encoding::Ucs2 => 67,
        }
    }
}

/// What a body costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SegmentCount {
    /// The encoding the body needs.
    pub encoding: Encoding,
    /// Its length in that encoding's units: septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
    /// Segments sent; 0 only for an empty body.
    pub segments: usize,
}

/// Counts the segments `text` takes as one SMS.
///
/// GSM-7 when every character is in the GSM 03.38 default alphabet or its extension table
/// (extension characters cost two septets), UCS-2 otherwise.
pub fn segments(text: &str) -> SegmentCount {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm_septets).collect();
    match gsm {
        Some(costs) => pack(Encoding::Gsm7, costs.iter().copied()),
        None => pack(Encoding::Ucs2, text.chars().map(char::len_utf16)),
    }
}

/// Septets `c` takes in GSM-7 (1, or 2 with the escape to the extension table), or `None` when
/// GSM-7 cannot carry it.
pub fn gsm_septets(c: char) -> Option<usize> {
    match c {
        // Extension table: ESC followed by the character's code.
        '\u{0C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€' => Some(2),
        // The one printable ASCII character with no GSM code.
        '`' => None,
        '\n' | '\r' | ' '..='~' => Some(1),
        // The default alphabet outside ASCII, in table order (0x09 is the capital C cedilla).
        '£' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | 'Ø' | 'ø' | 'Å' | 'å' | 'Δ' | 'Φ' | 'Γ'
        | 'Λ' | 'Ω' | 'Π' | 'Ψ' | 'Σ' | 'Θ' | 'Ξ' | 'Æ' | 'æ' | 'ß' | 'É' | '¤' | '¡' | 'Ä'
        | 'Ö' | 'Ñ' | 'Ü' | '§' | '¿' | 'ä' | 'ö' | 'ñ' | 'ü' | 'à' => Some(1),
        _ => None,
    }
}

/// Fills segments greedily with characters of the given unit costs; a character that does not
/// fit in what is left of a segment starts the next one.
fn pack(encoding: Encoding, costs: impl Iterator<Item = usize> + Clone) -> SegmentCount {
    let units: usize = costs.clone().sum();
    let segments = if units == 0 {
        0
    } else if units <= encoding.single_segment_units() {
        1
    } else {
        let capacity = encoding.multi_segment_units();
        let (mut segments, mut used) = (1, 0);
        for cost in costs {
            if used + cost > capacity {
                segments += 1;
                used = 0;
            }
            used += cost;
        }
        segments
    };
    SegmentCount {
        encoding,
        units,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str) -> (Encoding, usize, usize) {
        let c = segments(text);
        (c.encoding, c.units, c.segments)
    }

    #[test]
    fn the_gsm_tables_hold_127_basic_and_10_extension_characters() {
        // 128 codes in the default alphabet, one of which (0x1B) is the escape itself.
        let all = (0..=0x10FFFF).filter_map(char::from_u32);
        let (mut basic, mut extension) = (0, 0);
        for c in all {
            match gsm_septets(c) {
                Some(1) => basic += 1,
                Some(2) => extension += 1,
                Some(_) => unreachable!(),
                None => {}
            }
        }
        assert_eq!((basic, extension), (127, 10));
    }

    #[test]
    fn an_empty_body_is_zero_segments() {
        assert_eq!(count(""), (Encoding::Gsm7, 0, 0));
    }

    #[test]
    fn plain_text_is_gsm_7_with_one_septet_per_character() {
        assert_eq!(count("Hello, world!"), (Encoding::Gsm7, 13, 1));
        assert_eq!(
            count("@£$¥èé ÄÖÑÜ§¿äöñüà ΔΦΓΛΩΠΨΣΘΞ"),
            (Encoding::Gsm7, 29, 1)
        );
    }

    #[test]
    fn the_euro_sign_counts_two_septets() {
        assert_eq!(count("€"), (Encoding::Gsm7, 2, 1));
    }

    #[test]
    fn every_extension_character_counts_two_septets() {
        assert_eq!(count("^{}\\[~]|€\u{0C}"), (Encoding::Gsm7, 20, 1));
    }

    #[test]
    fn an_emoji_forces_ucs_2_and_counts_two_code_units() {
        assert_eq!(count("Thanks 🙂"), (Encoding::Ucs2, 9, 1));
    }

    #[test]
    fn curly_quotes_backticks_tabs_and_lower_case_c_cedilla_force_ucs_2() {
        for text in ["It’s", "say “hi”", "`code`", "a\tb", "façade"] {
            assert_eq!(segments(text).encoding, Encoding::Ucs2, "{text}");
        }
    }

    #[test]
    fn one_hundred_sixty_gsm_characters_are_one_segment_and_161_are_two() {
        assert_eq!(count(&"a".repeat(160)), (Encoding::Gsm7, 160, 1));
        assert_eq!(count(&"a".repeat(161)), (Encoding::Gsm7, 161, 2));
    }

    #[test]
    fn two_full_concatenated_segments_plus_one_character_are_three() {
        assert_eq!(count(&"a".repeat(153 * 2)), (Encoding::Gsm7, 306, 2));
        assert_eq!(count(&"a".repeat(153 * 2 + 1)), (Encoding::Gsm7, 307, 3));
    }

    #[test]
    fn eighty_euro_signs_fill_one_segment_exactly() {
        assert_eq!(count(&"€".repeat(80)), (Encoding::Gsm7, 160, 1));
        // 76 per concatenated segment: the 153rd septet cannot hold half an escape pair.
        assert_eq!(count(&"€".repeat(81)), (Encoding::Gsm7, 162, 2));
        assert_eq!(count(&"€".repeat(153)), (Encoding::Gsm7, 306, 3));
    }

    #[test]
    fn an_escape_pair_that_would_straddle_two_segments_moves_whole_to_the_next() {
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        // 306 septets would fit two segments of 153 if the pair could be split.
        assert_eq!(count(&text), (Encoding::Gsm7, 306, 3));
    }

    #[test]
    fn seventy_ucs_2_units_are_one_segment_and_71_are_two() {
        assert_eq!(count(&"ж".repeat(70)), (Encoding::Ucs2, 70, 1));
        assert_eq!(count(&"ж".repeat(71)), (Encoding::Ucs2, 71, 2));
        assert_eq!(count(&"ж".repeat(134)), (Encoding::Ucs2, 134, 2));
        assert_eq!(count(&"ж".repeat(135)), (Encoding::Ucs2, 135, 3));
    }

    #[test]
    fn a_surrogate_pair_that_would_straddle_two_segments_moves_whole_to_the_next() {
        let text = format!("{}🙂{}", "ж".repeat(66), "ж".repeat(66));
        // 134 units would fit two segments of 67 if the pair could be split.
        assert_eq!(count(&text), (Encoding::Ucs2, 134, 3));
    }

    #[test]
    fn extension_characters_cost_one_unit_once_the_body_is_ucs_2() {
        assert_eq!(count("€🙂"), (Encoding::Ucs2, 3, 1));
    }

    #[test]
    fn the_opt_in_request_with_a_typical_practice_name_is_two_gsm_segments() {
        let body = crate::defaults::OPT_IN_REQUEST.replace("{practice_name}", "Riverside Clinic");
        let c = segments(&body);
        assert_eq!((c.encoding, c.segments), (Encoding::Gsm7, 2));
    }
}
