//! Units of vital-sign readings: which units a vital may be sent in, and the conversion to the
//! vital's canonical unit, which ranges, change rules and stored values use.
//!
//! Devices report blood glucose in mg/dL (US) or mmol/L (most of the world) and body weight in kg
//! or lb; a value classified against ranges of the other unit would be wrong by a factor of 18 or
//! 2.2, so a reading in a second unit is converted before anything else looks at it. A reading
//! sent without a unit is in the canonical unit. Pure: no I/O.

use std::fmt;

use types::Vital;

/// A unit a reading may be sent in. Parsed case-insensitively from its symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    BeatsPerMinute,
    MilligramsPerDecilitre,
    MillimolesPerLitre,
    MillimetresOfMercury,
    Percent,
    LitresPerMinute,
    Kilograms,
    Pounds,
}

/// mg/dL of glucose in one mmol/L: its molar mass (180.156 g/mol) divided by 10.
const GLUCOSE_MG_DL_PER_MMOL_L: f64 = 18.0156;
/// Kilograms in one pound (exact, by definition).
const KG_PER_LB: f64 = 0.453_592_37;

impl Unit {
    const ALL: [Unit; 8] = [
        Unit::BeatsPerMinute,
        Unit::MilligramsPerDecilitre,
        Unit::MillimolesPerLitre,
        Unit::MillimetresOfMercury,
        Unit::Percent,
        Unit::LitresPerMinute,
        Unit::Kilograms,
        Unit::Pounds,
    ];

    /// The symbol as the API writes it.
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::BeatsPerMinute => "bpm",
            Unit::MilligramsPerDecilitre => "mg/dL",
            Unit::MillimolesPerLitre => "mmol/L",
            Unit::MillimetresOfMercury => "mmHg",
            Unit::Percent => "%",
            Unit::LitresPerMinute => "L/min",
            Unit::Kilograms => "kg",
            Unit::Pounds => "lb",
        }
    }

    /// Parses a symbol, ignoring case and surrounding space.
    pub fn parse(symbol: &str) -> Option<Unit> {
        let symbol = symbol.trim();
        Unit::ALL
            .into_iter()
            .find(|u| u.symbol().eq_ignore_ascii_case(symbol))
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// The units each vital may be sent in, the canonical one first.
pub fn units_of(vital: Vital) -> &'static [Unit] {
    match vital {
        Vital::Pulse => &[Unit::BeatsPerMinute],
        Vital::BloodGlucoseBeforeMeal | Vital::BloodGlucoseAfterMeal => {
            &[Unit::MilligramsPerDecilitre, Unit::MillimolesPerLitre]
        }
        Vital::BloodPressureSystolic | Vital::BloodPressureDiastolic => {
            &[Unit::MillimetresOfMercury]
        }
        Vital::Spo2 => &[Unit::Percent],
        Vital::PeakFlow => &[Unit::LitresPerMinute],
        Vital::BodyWeight => &[Unit::Kilograms, Unit::Pounds],
    }
}

/// The unit ranges, change rules and stored values of a vital are in.
pub fn canonical_unit(vital: Vital) -> Unit {
    units_of(vital)[0]
}

/// A unit the vital is not measured in, or no unit at all that the gateway knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`unit` {given:?} is not a unit of {vital}: use one of {allowed}")]
pub struct UnitError {
    pub vital: &'static str,
    pub given: String,
    pub allowed: String,
}

/// A value in the vital's canonical unit, and what was sent when that was another unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Converted {
    pub value: f64,
    pub sent: Option<(f64, Unit)>,
}

/// Converts `value`, sent in `unit` (none: the canonical unit), to the vital's canonical unit.
pub fn to_canonical(vital: Vital, value: f64, unit: Option<&str>) -> Result<Converted, UnitError> {
    let refuse = |given: &str| UnitError {
        vital: vital.as_str(),
        given: given.chars().take(32).collect(),
        allowed: units_of(vital)
            .iter()
            .map(|u| u.symbol())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let unit = match unit {
        None => return Ok(Converted { value, sent: None }),
        Some(given) => Unit::parse(given)
            .filter(|u| units_of(vital).contains(u))
            .ok_or_else(|| refuse(given))?,
    };
    let canonical = match unit {
        Unit::MillimolesPerLitre => value * GLUCOSE_MG_DL_PER_MMOL_L,
        Unit::Pounds => value * KG_PER_LB,
        _ => return Ok(Converted { value, sent: None }),
    };
    Ok(Converted {
        // Conversion noise below a millionth is dropped, so 5.5 mmol/L stores as 99.0858.
        value: (canonical * 1e6).round() / 1e6,
        sent: Some((value, unit)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_vital_has_a_canonical_unit_and_only_glucose_and_weight_have_two() {
        for vital in Vital::ALL {
            let units = units_of(vital);
            assert_eq!(canonical_unit(vital), units[0]);
            let several = matches!(
                vital,
                Vital::BloodGlucoseBeforeMeal | Vital::BloodGlucoseAfterMeal | Vital::BodyWeight
            );
            assert_eq!(units.len() > 1, several, "{vital}");
        }
    }

    #[test]
    fn glucose_in_mmol_per_litre_and_weight_in_pounds_are_converted() {
        let table = [
            (Vital::BloodGlucoseBeforeMeal, 5.5, "mmol/L", 99.0858),
            (Vital::BloodGlucoseAfterMeal, 10.0, "MMOL/L", 180.156),
            (Vital::BodyWeight, 200.0, "lb", 90.718474),
        ];
        for (vital, value, unit, expected) in table {
            let got = to_canonical(vital, value, Some(unit)).unwrap();
            assert!((got.value - expected).abs() < 1e-9, "{vital} {got:?}");
            assert_eq!(got.sent.map(|(v, _)| v), Some(value));
        }
    }

    #[test]
    fn the_canonical_unit_or_none_leaves_the_value_as_it_is() {
        for (vital, unit) in [
            (Vital::Pulse, None),
            (Vital::Pulse, Some("bpm")),
            (Vital::BloodGlucoseBeforeMeal, Some("mg/dl")),
            (Vital::Spo2, Some(" % ")),
            (Vital::BodyWeight, Some("kg")),
        ] {
            assert_eq!(
                to_canonical(vital, 72.5, unit),
                Ok(Converted {
                    value: 72.5,
                    sent: None
                }),
                "{vital} {unit:?}"
            );
        }
    }

    #[test]
    fn a_unit_of_another_vital_or_an_unknown_one_is_refused_naming_the_allowed_ones() {
        for (vital, unit) in [
            (Vital::Pulse, "mmol/L"),
            (Vital::BloodGlucoseBeforeMeal, "kg"),
            (Vital::BodyWeight, "stone"),
            (Vital::Spo2, ""),
        ] {
            let error = to_canonical(vital, 1.0, Some(unit)).unwrap_err();
            assert_eq!(error.vital, vital.as_str());
            assert!(
                error.to_string().contains(units_of(vital)[0].symbol()),
                "{error}"
            );
        }
    }

    proptest! {
        #[test]
        fn conversion_keeps_order_so_ranges_mean_the_same(a in 0.0..60.0f64, b in 0.0..60.0f64) {
            let vital = Vital::BloodGlucoseBeforeMeal;
            let (ca, cb) = (
                to_canonical(vital, a, Some("mmol/L")).unwrap().value,
                to_canonical(vital, b, Some("mmol/L")).unwrap().value,
            );
            if a < b { prop_assert!(ca <= cb) } else { prop_assert!(ca >= cb) }
        }
    }
}
