//! Form bodies (`application/x-www-form-urlencoded`) as Twilio posts them, and the error both form
//! parsers share.
//!
//! A webhook body is kept as a list of `(name, value)` pairs in arrival order, repeated names
//! included, because the signature covers every pair ([`crate::signature`]); a map would lose
//! some. [`decode`] and [`encode`] convert between that list and the raw body.
//!
//! `Fields` (crate-private) is the lookup the parsers use: it indexes the pairs once, treats a
//! name repeated with different values as an error rather than picking one, and produces
//! [`ParseError`]s that name the field without quoting its value.

use std::collections::BTreeMap;

use crate::sid::CarrierMessageId;

/// Why a form was refused. Names the field and what is wrong with it, never its value: values can
/// be message bodies or phone numbers, and this error is logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A field Twilio always sends is absent or empty.
    #[error("required field {0} is missing")]
    MissingField(&'static str),
    /// A field is present but unusable.
    #[error("field {field} is invalid: {reason}")]
    InvalidField {
        /// The form field's name as Twilio spells it (for indexed fields such as `MediaUrl3`,
        /// the name without the index; the reason gives the index).
        field: &'static str,
        /// What is wrong, without the value.
        reason: String,
    },
}

impl ParseError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> ParseError {
        ParseError::InvalidField {
            field,
            reason: reason.into(),
        }
    }

    /// The name of the field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            ParseError::MissingField(field) | ParseError::InvalidField { field, .. } => field,
        }
    }
}

/// Decodes a form body into its pairs, in order, repeated names kept. `+` is a space and
/// percent-escapes are decoded; invalid UTF-8 becomes U+FFFD, as in every form decoder.
pub fn decode(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Encodes pairs as a form body, in the order given. `decode(encode(p).as_bytes()) == p`.
pub fn encode(params: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// A form's pairs indexed by name, for the parsers.
pub(crate) struct Fields<'a> {
    by_name: BTreeMap<&'a str, Vec<&'a str>>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(params: &'a [(String, String)]) -> Fields<'a> {
        let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, value) in params {
            by_name.entry(name).or_default().push(value);
        }
        Fields { by_name }
    }

    /// The value sent under `name` (which may differ from `field` for indexed or fallback names),
    /// or `None` if absent. Repeats with the same value are fine; different values are an error
    /// because choosing one would act on something the sender may not have meant.
    pub(crate) fn lookup(
        &self,
        name: &str,
        field: &'static str,
    ) -> Result<Option<&'a str>, ParseError> {
        let Some(values) = self.by_name.get(name) else {
            return Ok(None);
        };
        let first = values[0];
        if values.iter().any(|v| *v != first) {
            return Err(ParseError::invalid(
                field,
                format!("{name} is repeated with different values"),
            ));
        }
        Ok(Some(first))
    }

    /// The value of `name`, `None` when absent or empty.
    pub(crate) fn optional(&self, name: &'static str) -> Result<Option<&'a str>, ParseError> {
        Ok(self.lookup(name, name)?.filter(|v| !v.is_empty()))
    }

    /// The value of `name`, which must be present and non-empty.
    pub(crate) fn required(&self, name: &'static str) -> Result<&'a str, ParseError> {
        self.optional(name)?.ok_or(ParseError::MissingField(name))
    }

    /// A count or code: ASCII digits only (no sign, no spaces), `None` when absent or empty.
    pub(crate) fn optional_u32(&self, name: &'static str) -> Result<Option<u32>, ParseError> {
        self.optional(name)?
            .map(|value| parse_u32(value).map_err(|reason| ParseError::invalid(name, reason)))
            .transpose()
    }
}

/// The message SID: `MessageSid`, or when that is absent its deprecated copies `SmsMessageSid` and
/// then `SmsSid`. A `MessageSid` that is present but malformed is an error, not a reason to look
/// at the copies.
pub(crate) fn message_sid(fields: &Fields<'_>) -> Result<CarrierMessageId, ParseError> {
    for name in ["MessageSid", "SmsMessageSid", "SmsSid"] {
        if let Some(value) = fields.optional(name)? {
            return CarrierMessageId::parse(value)
                .map_err(|e| ParseError::invalid(name, e.to_string()));
        }
    }
    Err(ParseError::MissingField("MessageSid"))
}

/// Checks a Twilio SID other than a message's: `prefix` and 32 hexadecimal digits.
pub(crate) fn check_sid(
    value: &str,
    prefix: &'static str,
    field: &'static str,
) -> Result<(), ParseError> {
    let ok = value.len() == prefix.len() + 32
        && value.starts_with(prefix)
        && value[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(ParseError::invalid(
            field,
            format!("is not {prefix} followed by 32 hexadecimal digits"),
        ))
    }
}

fn parse_u32(value: &str) -> Result<u32, &'static str> {
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a whole number");
    }
    value.parse().map_err(|_| "is too large")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_twilio_body_decodes_with_plus_as_space_and_escapes_decoded() {
        let body = b"Body=Hello+there%21+%F0%9F%91%8B&From=%2B14158675309&Tag=a&Tag=b";
        assert_eq!(
            decode(body),
            pairs(&[
                ("Body", "Hello there! 👋"),
                ("From", "+14158675309"),
                ("Tag", "a"),
                ("Tag", "b"),
            ])
        );
    }

    #[test]
    fn a_name_repeated_with_the_same_value_is_accepted() {
        let params = pairs(&[("To", "+1"), ("To", "+1")]);
        assert_eq!(Fields::new(&params).optional("To"), Ok(Some("+1")));
    }

    #[test]
    fn a_name_repeated_with_different_values_is_refused() {
        let params = pairs(&[("To", "+1"), ("To", "+2")]);
        assert_eq!(
            Fields::new(&params).optional("To"),
            Err(ParseError::invalid(
                "To",
                "To is repeated with different values"
            ))
        );
    }

    #[test]
    fn an_empty_value_counts_as_absent() {
        let params = pairs(&[("ErrorCode", "")]);
        let fields = Fields::new(&params);
        assert_eq!(fields.optional_u32("ErrorCode"), Ok(None));
        assert_eq!(
            fields.required("ErrorCode"),
            Err(ParseError::MissingField("ErrorCode"))
        );
    }

    #[test]
    fn numbers_must_be_plain_digits() {
        for bad in ["+1", "-1", " 1", "1.0", "0x10", "4294967296"] {
            let params = pairs(&[("NumMedia", bad)]);
            assert!(
                Fields::new(&params).optional_u32("NumMedia").is_err(),
                "{bad:?}"
            );
        }
        let params = pairs(&[("NumMedia", "007")]);
        assert_eq!(Fields::new(&params).optional_u32("NumMedia"), Ok(Some(7)));
    }

    proptest! {
        #[test]
        fn encoding_then_decoding_gives_the_same_pairs(
            params in prop::collection::vec(("\\PC{0,10}", "\\PC{0,30}"), 0..10)
        ) {
            prop_assert_eq!(decode(encode(&params).as_bytes()), params);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(
            body in prop::collection::vec(any::<u8>(), 0..200)
        ) {
            let _ = decode(&body);
        }
    }
}
