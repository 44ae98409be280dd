//! Plausible values: what a request may carry before anything is stored or classified.
//!
//! Owns the physical bounds of each vital (a pulse of 9,000 or an SpO2 of 140 is a broken
//! device or a typo, never a patient), the time bounds of instants (a reading from before
//! 2000 or from the future, a timestamp PostgreSQL cannot store), and the sizes and characters
//! allowed in passwords, names and lists. Pure: time is an argument; the caller names the field
//! in its 422.
//!
//! Used by the HTTP edge for readings, reading-alert ranges and every timestamp parameter, so a
//! value refused here never reaches the store (where PostgreSQL and SQLite would disagree).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use types::{Ranges, Vital};

/// The lowest and highest value of a vital a body can show, in the vital's canonical unit (the
/// one its ranges and stored values are in: mg/dL for glucose, kg for weight); a value sent in
/// another unit is converted before it is checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub min: f64,
    pub max: f64,
    /// The unit the bounds are in (the vital's canonical unit; convert before checking).
    pub unit: &'static str,
}

/// Physical bounds per vital, generous enough for every recorded extreme.
pub fn of(vital: Vital) -> Bounds {
    let (min, max, unit) = match vital {
        Vital::Pulse => (0.0, 350.0, "beats per minute"),
        Vital::BloodGlucoseBeforeMeal | Vital::BloodGlucoseAfterMeal => (0.0, 3000.0, "mg/dL"),
        Vital::BloodPressureSystolic => (0.0, 400.0, "mmHg"),
        Vital::BloodPressureDiastolic => (0.0, 300.0, "mmHg"),
        Vital::Spo2 => (0.0, 100.0, "%"),
        Vital::PeakFlow => (0.0, 1000.0, "L/min"),
        Vital::BodyWeight => (0.0, 700.0, "kg"),
    };
    Bounds { min, max, unit }
}

/// Why a value is not plausible; the caller's 422 names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Implausible {
    #[error("must be a finite number")]
    NotFinite,
    #[error("must be between {min} and {max} {unit} for {vital}")]
    OutOfBounds {
        vital: &'static str,
        min: f64,
        max: f64,
        unit: &'static str,
    },
    #[error("must not be before {earliest}")]
    TooEarly { earliest: DateTime<Utc> },
    #[error("must not be more than {ahead} after the gateway's clock")]
    TooLate { ahead: String },
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control or bidirectional-override characters")]
    ForbiddenCharacters,
    #[error("must have at most {max} entries")]
    TooMany { max: usize },
}

/// A reading's value, or a range bound, of `vital`: finite and within the vital's bounds.
pub fn value(vital: Vital, value: f64) -> Result<(), Implausible> {
    if !value.is_finite() {
        return Err(Implausible::NotFinite);
    }
    let bounds = of(vital);
    if value < bounds.min || value > bounds.max {
        return Err(Implausible::OutOfBounds {
            vital: vital.as_str(),
            min: bounds.min,
            max: bounds.max,
            unit: bounds.unit,
        });
    }
    Ok(())
}

/// Every bound of a reading-alert range bar within the vital's bounds: `Err((field, why))`
/// naming the first one that is not.
pub fn ranges(vital: Vital, ranges: &Ranges) -> Result<(), (&'static str, Implausible)> {
    [
        ("ranges.critical_low", ranges.critical_low),
        ("ranges.normal_low", ranges.normal_low),
        ("ranges.normal_high", ranges.normal_high),
        ("ranges.critical_high", ranges.critical_high),
    ]
    .into_iter()
    .try_for_each(|(field, bound)| value(vital, bound).map_err(|why| (field, why)))
}

/// The earliest instant a reading may have been taken.
pub fn earliest_reading() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid instant")
}

/// How far ahead of the gateway's clock a reading may be (device clocks drift).
pub const READING_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// When a reading was taken: from 2000-01-01 to five minutes after `now`.
pub fn reading_taken_at(taken_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Implausible> {
    if taken_at < earliest_reading() {
        return Err(Implausible::TooEarly {
            earliest: earliest_reading(),
        });
    }
    if taken_at > now + READING_CLOCK_SKEW {
        return Err(Implausible::TooLate {
            ahead: "5 minutes".into(),
        });
    }
    Ok(())
}

/// Any other instant a request carries (a query's `since`, an on-call override's ends): from
/// 2000-01-01 to a year after `now`. Inside what both stores can hold, and wide enough for any
/// real use.
pub fn instant(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Implausible> {
    if at < earliest_reading() {
        return Err(Implausible::TooEarly {
            earliest: earliest_reading(),
        });
    }
    if at > now + TimeDelta::days(366) {
        return Err(Implausible::TooLate {
            ahead: "a year".into(),
        });
    }
    Ok(())
}

/// Longest password accepted (hashing cost must not be the caller's to choose).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A password's length.
pub fn password(value: &str) -> Result<(), Implausible> {
    if value.chars().count() > MAX_PASSWORD_CHARS {
        return Err(Implausible::TooLong {
            max: MAX_PASSWORD_CHARS,
        });
    }
    Ok(())
}

/// Whether a character may not appear in a name: control characters, and the bidirectional
/// embedding, override and isolate characters that make a name display as something else.
pub fn is_forbidden_in_names(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A person's or a practice's name (or a title, a program): no control or bidirectional
/// characters.
pub fn name(value: &str) -> Result<(), Implausible> {
    if value.chars().any(is_forbidden_in_names) {
        return Err(Implausible::ForbiddenCharacters);
    }
    Ok(())
}

/// Most programs one patient may be enrolled in.
pub const MAX_PROGRAMS: usize = 20;

/// A patient's program list.
pub fn programs(count: usize) -> Result<(), Implausible> {
    if count > MAX_PROGRAMS {
        return Err(Implausible::TooMany { max: MAX_PROGRAMS });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(y: i32, mo: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn each_vital_accepts_its_bounds_and_refuses_beyond_them() {
        let table = [
            (Vital::Pulse, 0.0, 350.0),
            (Vital::BloodGlucoseBeforeMeal, 0.0, 3000.0),
            (Vital::BloodGlucoseAfterMeal, 0.0, 3000.0),
            (Vital::BloodPressureSystolic, 0.0, 400.0),
            (Vital::BloodPressureDiastolic, 0.0, 300.0),
            (Vital::Spo2, 0.0, 100.0),
            (Vital::PeakFlow, 0.0, 1000.0),
            (Vital::BodyWeight, 0.0, 700.0),
        ];
        for (vital, min, max) in table {
            assert_eq!(value(vital, min), Ok(()), "{vital:?} min");
            assert_eq!(value(vital, max), Ok(()), "{vital:?} max");
            assert!(
                matches!(
                    value(vital, max + 0.5),
                    Err(Implausible::OutOfBounds { .. })
                ),
                "{vital:?} above"
            );
            assert!(
                matches!(
                    value(vital, min - 0.5),
                    Err(Implausible::OutOfBounds { .. })
                ),
                "{vital:?} below"
            );
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                assert_eq!(value(vital, bad), Err(Implausible::NotFinite), "{vital:?}");
            }
        }
        assert_eq!(Vital::ALL.len(), table.len(), "every vital has bounds");
    }

    #[test]
    fn an_out_of_bounds_message_names_the_vital_and_its_unit() {
        let message = value(Vital::Spo2, 140.0).unwrap_err().to_string();
        assert_eq!(message, "must be between 0 and 100 % for spo2");
    }

    #[test]
    fn ranges_name_the_first_bound_outside_the_vitals_bounds() {
        let mut bar = Ranges {
            critical_low: 40.0,
            normal_low: 50.0,
            normal_high: 100.0,
            critical_high: 130.0,
        };
        assert_eq!(ranges(Vital::Pulse, &bar), Ok(()));
        bar.critical_high = 1e9;
        assert_eq!(
            ranges(Vital::Pulse, &bar).unwrap_err().0,
            "ranges.critical_high"
        );
        bar.critical_low = -1.0;
        assert_eq!(
            ranges(Vital::Pulse, &bar).unwrap_err().0,
            "ranges.critical_low"
        );
    }

    #[test]
    fn readings_are_from_2000_up_to_five_minutes_ahead() {
        let now = t(2026, 3, 2);
        assert_eq!(reading_taken_at(t(2000, 1, 1), now), Ok(()));
        assert!(reading_taken_at(t(1999, 12, 31), now).is_err());
        assert_eq!(reading_taken_at(now + TimeDelta::minutes(5), now), Ok(()));
        assert!(
            reading_taken_at(now + TimeDelta::minutes(5) + TimeDelta::seconds(1), now).is_err()
        );
        // Far outside what PostgreSQL can store.
        assert!(reading_taken_at(DateTime::<Utc>::MIN_UTC, now).is_err());
        assert!(reading_taken_at(DateTime::<Utc>::MAX_UTC, now).is_err());
    }

    #[test]
    fn other_instants_are_from_2000_up_to_a_year_ahead() {
        let now = t(2026, 3, 2);
        assert_eq!(instant(t(2000, 1, 1), now), Ok(()));
        assert_eq!(instant(t(2027, 3, 2), now), Ok(()));
        assert!(instant(t(2027, 3, 4), now).is_err());
        assert!(instant(DateTime::<Utc>::MIN_UTC, now).is_err());
    }

    #[test]
    fn passwords_are_at_most_256_characters() {
        assert_eq!(password(&"a1".repeat(128)), Ok(()));
        assert!(password(&"a".repeat(257)).is_err());
        // Characters, not bytes.
        assert_eq!(password(&"é".repeat(256)), Ok(()));
    }

    #[test]
    fn names_refuse_control_and_bidirectional_override_characters() {
        assert_eq!(name("Zoë O'Brien-Müller"), Ok(()));
        assert_eq!(name("محمد"), Ok(()));
        for bad in [
            "a\u{0}b",
            "a\nb",
            "\u{202E}evil",
            "x\u{2066}y",
            "x\u{2069}",
            "\u{202A}",
        ] {
            assert_eq!(name(bad), Err(Implausible::ForbiddenCharacters), "{bad:?}");
        }
    }

    #[test]
    fn a_patient_has_at_most_twenty_programs() {
        assert_eq!(programs(20), Ok(()));
        assert_eq!(programs(21), Err(Implausible::TooMany { max: 20 }));
    }
}
