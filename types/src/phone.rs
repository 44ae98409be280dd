//! [`PhoneNumber`]: a phone number in E.164 form (`+` then 8 to 15 digits, the first 1-9).
//!
//! Two constructors, because numbers come from two kinds of source:
//!
//! - [`PhoneNumber::parse_e164`] is strict and is what wire values (Twilio's `From`/`To`) and
//!   values read back from the store go through: anything that is not already E.164 is refused.
//! - [`PhoneNumber::parse`] is for what staff type into the admin API. It removes spaces, dots,
//!   dashes and parentheses, turns an international `00` prefix into `+`, and completes a North
//!   American number written without its country code. It never guesses any other country.
//!
//! Once a `PhoneNumber` exists it is valid, and `parse(number.as_str())` gives it back unchanged.
//! Errors say what is wrong without repeating the input.

use std::fmt;

/// Fewest digits after the `+` that we accept.
///
/// E.164 itself only caps the length; 8 is the shortest complete international number in use
/// (some small countries' numbers, country code included), and anything shorter is a typo.
pub const MIN_DIGITS: usize = 8;

/// Most digits after the `+` that E.164 allows.
pub const MAX_DIGITS: usize = 15;

/// A phone number in E.164 form, such as `+14158675309`.
///
/// The field is private so that only [`PhoneNumber::parse`] and [`PhoneNumber::parse_e164`] can
/// make one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// Why a phone number was refused. The messages are meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing but spaces and punctuation.
    #[error("phone number is empty")]
    Empty,
    /// A letter or symbol other than the formatting we strip.
    #[error(
        "phone number may contain only digits, spaces, dots, dashes, parentheses and a leading '+'"
    )]
    InvalidCharacter,
    /// A `+` after the first digit, or more than one.
    #[error("'+' may appear only once, at the start of a phone number")]
    MisplacedPlus,
    /// Too few or too many digits after the country code prefix.
    #[error(
        "phone number must have {MIN_DIGITS} to {MAX_DIGITS} digits after '+', \
         counting the country code; it has {digits}"
    )]
    WrongLength {
        /// How many digits followed the `+` (or `00`).
        digits: usize,
    },
    /// Country codes never start with 0; usually a national trunk prefix kept after the `+`.
    #[error("the country code after '+' cannot start with 0")]
    LeadingZero,
    /// Digits only, but not a North American number we could complete.
    #[error(
        "a number without '+' or '00' must be a 10-digit North American number, \
         or 11 digits starting with 1; for other countries add '+' and the country code"
    )]
    MissingCountryCode,
    /// Looks North American, but its area code or exchange starts with 0 or 1.
    #[error("a North American area code and exchange must each start with a digit from 2 to 9")]
    InvalidNorthAmerican,
    /// [`PhoneNumber::parse_e164`] got something other than bare E.164.
    #[error(
        "phone number must be in E.164 form: '+' followed by {MIN_DIGITS} to {MAX_DIGITS} \
         digits, the first from 1 to 9"
    )]
    NotE164,
}

impl PhoneNumber {
    /// Reads a number typed by a person, normalising common formatting.
    ///
    /// Accepted, all giving `+14158675309`: `+1 (415) 867-5309`, `415.867.5309`,
    /// `1-415-867-5309`, `001 415 867 5309`. A `+1` number is taken as written (only the E.164
    /// rules apply), while a number without a country code must be a valid North American one.
    pub fn parse(input: &str) -> Result<PhoneNumber, PhoneError> {
        let mut digits = String::with_capacity(input.len().min(32));
        let mut plus = false;
        for c in input.chars() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if !plus && digits.is_empty() => plus = true,
                '+' => return Err(PhoneError::MisplacedPlus),
                '.' | '-' | '(' | ')' => {}
                c if c.is_whitespace() => {}
                _ => return Err(PhoneError::InvalidCharacter),
            }
        }

        if digits.is_empty() {
            return if plus {
                Err(PhoneError::WrongLength { digits: 0 })
            } else {
                Err(PhoneError::Empty)
            };
        }
        if plus {
            return international(&digits);
        }
        if let Some(rest) = digits.strip_prefix("00") {
            return international(rest);
        }
        match digits.len() {
            10 => north_american(&digits),
            11 if digits.starts_with('1') => north_american(&digits[1..]),
            _ => Err(PhoneError::MissingCountryCode),
        }
    }

    /// Accepts only a value already in E.164 form: `+`, then 8 to 15 ASCII digits, the first 1-9.
    /// No spaces, no punctuation, no completion. For wire values and values from the store.
    pub fn parse_e164(input: &str) -> Result<PhoneNumber, PhoneError> {
        if input.is_empty() {
            return Err(PhoneError::Empty);
        }
        let digits = input.strip_prefix('+').ok_or(PhoneError::NotE164)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::NotE164);
        }
        international(digits)
    }

    /// The number in E.164 form, such as `+14158675309`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks the digits that follow `+` and builds the number.
fn international(digits: &str) -> Result<PhoneNumber, PhoneError> {
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
        return Err(PhoneError::WrongLength {
            digits: digits.len(),
        });
    }
    if digits.starts_with('0') {
        return Err(PhoneError::LeadingZero);
    }
    Ok(PhoneNumber(format!("+{digits}")))
}

/// Completes a 10-digit North American number (NPA-NXX-XXXX) with `+1`.
fn north_american(ten: &str) -> Result<PhoneNumber, PhoneError> {
    let bytes = ten.as_bytes();
    let starts_2_to_9 = |b: u8| (b'2'..=b'9').contains(&b);
    if !(starts_2_to_9(bytes[0]) && starts_2_to_9(bytes[3])) {
        return Err(PhoneError::InvalidNorthAmerican);
    }
    Ok(PhoneNumber(format!("+1{ten}")))
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PhoneNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<PhoneNumber> for String {
    fn from(number: PhoneNumber) -> String {
        number.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parsed(input: &str) -> String {
        PhoneNumber::parse(input)
            .unwrap_or_else(|e| panic!("{input:?} was refused: {e}"))
            .to_string()
    }

    #[test]
    fn a_strict_e164_number_is_kept_as_it_is() {
        assert_eq!(parsed("+14158675309"), "+14158675309");
        assert_eq!(parsed("+442079460958"), "+442079460958");
        assert_eq!(
            PhoneNumber::parse_e164("+14158675309").unwrap().as_str(),
            "+14158675309"
        );
    }

    #[test]
    fn common_formatting_typed_by_staff_is_stripped() {
        for input in [
            "+1 (415) 867-5309",
            "(415) 867-5309",
            "415.867.5309",
            "415-867-5309",
            "4158675309",
            "1 415 867 5309",
            "1-415-867-5309",
            "  +1 415 867 5309\t",
            "001 415 867 5309",
        ] {
            assert_eq!(parsed(input), "+14158675309", "input {input:?}");
        }
    }

    #[test]
    fn the_00_international_prefix_becomes_a_plus() {
        assert_eq!(parsed("0044 20 7946 0958"), "+442079460958");
        assert_eq!(parsed("00 33 1 23 45 67 89"), "+33123456789");
    }

    #[test]
    fn a_ten_digit_number_with_an_area_code_starting_with_0_or_1_is_refused() {
        assert_eq!(
            PhoneNumber::parse("(115) 867-5309"),
            Err(PhoneError::InvalidNorthAmerican)
        );
        assert_eq!(
            PhoneNumber::parse("015-867-5309"),
            Err(PhoneError::InvalidNorthAmerican)
        );
    }

    #[test]
    fn a_north_american_exchange_starting_with_0_or_1_is_refused() {
        assert_eq!(
            PhoneNumber::parse("415-167-5309"),
            Err(PhoneError::InvalidNorthAmerican)
        );
        assert_eq!(
            PhoneNumber::parse("1 415 067 5309"),
            Err(PhoneError::InvalidNorthAmerican)
        );
    }

    #[test]
    fn a_national_number_of_another_country_needs_its_country_code() {
        assert_eq!(
            PhoneNumber::parse("07911 123456"),
            Err(PhoneError::MissingCountryCode)
        );
        assert_eq!(
            PhoneNumber::parse("867-5309"),
            Err(PhoneError::MissingCountryCode)
        );
        assert_eq!(
            PhoneNumber::parse("2 415 867 5309"),
            Err(PhoneError::MissingCountryCode)
        );
    }

    #[test]
    fn too_short_and_too_long_numbers_are_refused_with_their_length() {
        assert_eq!(
            PhoneNumber::parse("+1234567"),
            Err(PhoneError::WrongLength { digits: 7 })
        );
        assert_eq!(
            PhoneNumber::parse("+1234567890123456"),
            Err(PhoneError::WrongLength { digits: 16 })
        );
        assert_eq!(
            PhoneNumber::parse("+"),
            Err(PhoneError::WrongLength { digits: 0 })
        );
    }

    #[test]
    fn a_country_code_starting_with_0_is_refused() {
        assert_eq!(
            PhoneNumber::parse("+0441234567890"),
            Err(PhoneError::LeadingZero)
        );
        assert_eq!(
            PhoneNumber::parse("000441234567890"),
            Err(PhoneError::LeadingZero)
        );
    }

    #[test]
    fn letters_extensions_and_stray_plus_signs_are_refused() {
        assert_eq!(
            PhoneNumber::parse("415-867-5309 x12"),
            Err(PhoneError::InvalidCharacter)
        );
        assert_eq!(
            PhoneNumber::parse("tel:+14158675309"),
            Err(PhoneError::InvalidCharacter)
        );
        assert_eq!(
            PhoneNumber::parse("1+4158675309"),
            Err(PhoneError::MisplacedPlus)
        );
        assert_eq!(
            PhoneNumber::parse("++14158675309"),
            Err(PhoneError::MisplacedPlus)
        );
        // Digits from other scripts are not ASCII digits.
        assert_eq!(
            PhoneNumber::parse("+١٤١٥٨٦٧٥٣٠٩"),
            Err(PhoneError::InvalidCharacter)
        );
    }

    #[test]
    fn empty_input_is_refused_as_empty() {
        assert_eq!(PhoneNumber::parse(""), Err(PhoneError::Empty));
        assert_eq!(PhoneNumber::parse(" ( ) - "), Err(PhoneError::Empty));
        assert_eq!(PhoneNumber::parse_e164(""), Err(PhoneError::Empty));
    }

    #[test]
    fn the_strict_constructor_refuses_anything_that_needs_normalising() {
        for input in [
            "4158675309",
            "+1 415 867 5309",
            "+1-415-867-5309",
            "0014158675309",
            " +14158675309",
            "whatsapp:+14158675309",
        ] {
            assert_eq!(
                PhoneNumber::parse_e164(input),
                Err(PhoneError::NotE164),
                "input {input:?}"
            );
        }
        assert_eq!(
            PhoneNumber::parse_e164("+0123456789"),
            Err(PhoneError::LeadingZero)
        );
        assert_eq!(
            PhoneNumber::parse_e164("+1234567"),
            Err(PhoneError::WrongLength { digits: 7 })
        );
    }

    #[test]
    fn error_messages_never_repeat_the_input() {
        let input = "415-867-5309 ext 99";
        let message = PhoneNumber::parse(input).unwrap_err().to_string();
        assert!(!message.contains("5309"), "{message}");
    }

    /// Puts random allowed formatting between the digits of `digits`.
    fn formatted(digits: String) -> impl Strategy<Value = String> {
        let n = digits.len();
        proptest::collection::vec(
            prop::sample::select(vec!["", "", " ", "-", ".", "(", ")", " - "]),
            n + 1,
        )
        .prop_map(move |seps| {
            let mut out = String::new();
            for (sep, digit) in seps.iter().zip(digits.chars()) {
                out.push_str(sep);
                out.push(digit);
            }
            out.push_str(seps[n]);
            out
        })
    }

    proptest! {
        #[test]
        fn every_valid_e164_number_round_trips(s in "\\+[1-9][0-9]{7,14}") {
            let strict = PhoneNumber::parse_e164(&s).unwrap();
            prop_assert_eq!(strict.as_str(), s.as_str());
            let lenient = PhoneNumber::parse(&s).unwrap();
            prop_assert_eq!(&lenient, &strict);
            prop_assert_eq!(lenient.to_string(), s);
        }

        #[test]
        fn parsing_is_idempotent(s in "[0-9+() .\\-]{0,24}|\\PC{0,24}") {
            if let Ok(first) = PhoneNumber::parse(&s) {
                prop_assert_eq!(PhoneNumber::parse(first.as_str()), Ok(first.clone()));
                prop_assert_eq!(PhoneNumber::parse_e164(first.as_str()), Ok(first));
            }
        }

        #[test]
        fn a_formatted_north_american_number_normalises_to_plus_one(
            (ten, text) in "[2-9][0-9]{2}[2-9][0-9]{6}"
                .prop_flat_map(|ten| (Just(ten.clone()), formatted(ten)))
        ) {
            let expected = format!("+1{ten}");
            prop_assert_eq!(parsed(&text), expected.clone());
            prop_assert_eq!(parsed(&format!("1{text}")), expected.clone());
            prop_assert_eq!(parsed(&format!("+1 {text}")), expected);
        }

        #[test]
        fn random_garbage_never_panics(
            s in "\\PC*",
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let _ = PhoneNumber::parse(&s);
            let _ = PhoneNumber::parse_e164(&s);
            let lossy = String::from_utf8_lossy(&bytes);
            let _ = PhoneNumber::parse(&lossy);
            let _ = PhoneNumber::parse_e164(&lossy);
        }

        #[test]
        fn whatever_is_accepted_is_strict_e164(s in "[0-9+() .\\-a]{0,24}") {
            if let Ok(number) = PhoneNumber::parse(&s) {
                let text = number.as_str();
                prop_assert!(text.starts_with('+'));
                let digits = &text[1..];
                prop_assert!((MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()));
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                prop_assert!(!digits.starts_with('0'));
            }
        }
    }
}
