//! Field validation: each helper turns raw input into a checked value or a 422 that names the
//! field. Handlers and services check what they are given with these, so nothing invalid reaches
//! the domain or the store.

use store::IanaTimeZone;
use webhooks::PhoneNumber;

use super::AppError;

/// For `#[serde(default, deserialize_with = "validate::nullable")]` on an `Option<Option<T>>`
/// field of a `PATCH` body: absent leaves the value as it is (`None`), `null` clears it
/// (`Some(None)`), a value sets it.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// A trimmed, non-empty text of at most `max` characters, without control or bidirectional
/// override characters (`domain::bounds::name`).
pub fn text(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(AppError::invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    crate::domain::bounds::name(trimmed)
        .map_err(|why| AppError::invalid(field, why.to_string()))?;
    Ok(trimmed.to_string())
}

/// Like [`text`] but an empty value is allowed (and kept empty).
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    if value.trim().is_empty() {
        Ok(String::new())
    } else {
        text(field, value, max)
    }
}

/// A phone number normalised to E.164 (US numbers may be typed without +1).
pub fn phone(field: &str, value: &str) -> Result<String, AppError> {
    PhoneNumber::parse(value)
        .map(|p| p.as_str().to_string())
        .map_err(|e| AppError::invalid(field, e.to_string()))
}

/// An IANA time zone name such as `America/New_York`, parsed as the store parses it back, so a
/// zone is refused here rather than read back as something else.
pub fn timezone(field: &str, value: &str) -> Result<IanaTimeZone, AppError> {
    IanaTimeZone::parse(value.trim())
        .map_err(|_| AppError::invalid(field, "must be an IANA time zone such as America/New_York"))
}

/// A loose e-mail check: something@something.something, no spaces.
pub fn email(field: &str, value: &str) -> Result<String, AppError> {
    let value = value.trim();
    let valid = value.len() <= 254
        && !value.contains(char::is_whitespace)
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(value.to_string())
    } else {
        Err(AppError::invalid(field, "must be an e-mail address"))
    }
}

/// A whole number in `min..=max`.
pub fn range(field: &str, value: i64, min: i64, max: i64) -> Result<i32, AppError> {
    if (min..=max).contains(&value) {
        Ok(value as i32)
    } else {
        Err(AppError::invalid(
            field,
            format!("must be between {min} and {max}"),
        ))
    }
}

/// A patient's program names: at most `domain::bounds::MAX_PROGRAMS`, each as [`programs`].
pub fn patient_programs(field: &str, values: &[String]) -> Result<Vec<String>, AppError> {
    let programs = programs(field, values)?;
    crate::domain::bounds::programs(programs.len())
        .map_err(|why| AppError::invalid(field, why.to_string()))?;
    Ok(programs)
}

/// Program names: trimmed, non-empty, de-duplicated.
pub fn programs(field: &str, values: &[String]) -> Result<Vec<String>, AppError> {
    let mut out = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let program = text(&format!("{field}[{i}]"), value, 64)?;
        if !out.contains(&program) {
            out.push(program);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(text("name", "  Clinic ", 10).unwrap(), "Clinic");
        assert!(text("name", "   ", 10).is_err());
        assert!(text("name", "abcdefghijk", 10).is_err());
        assert!(text("name", "a\u{0}b", 10).is_err());
        assert!(text("name", "\u{202E}kcilc", 10).is_err());
    }

    #[test]
    fn phones_normalise_to_e164_or_name_the_field() {
        assert_eq!(
            phone("sms_number", "(415) 555-0100").unwrap(),
            "+14155550100"
        );
        let err = phone("sms_number", "12").unwrap_err();
        assert!(err.to_string().starts_with("sms_number"));
    }

    #[test]
    fn time_zones_must_be_iana_names() {
        assert_eq!(
            timezone("timezone", " Europe/London ").unwrap(),
            "Europe/London"
        );
        for bad in [
            "Mars/Olympus",
            "",
            "europe/london",
            "Europe/London\u{0}",
            "+05:00",
        ] {
            let error = timezone("timezone", bad).unwrap_err();
            assert!(
                error.to_string().starts_with("timezone"),
                "{bad:?}: {error}"
            );
        }
    }

    #[test]
    fn emails_need_a_domain() {
        assert!(email("email", "a@b.org").is_ok());
        for bad in ["a", "a@b", "@b.org", "a b@c.org", "a@.org"] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
    }
}
