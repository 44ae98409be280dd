//! [`Vital`]: the kinds of vital sign the gateway knows, named as in API.md
//! (`blood_pressure_systolic`). What a reading of one means (its classification, its physical
//! bounds, its units) is the gateway's domain; the store keeps the API name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A kind of vital sign. Serialized in snake_case as in API.md (`blood_pressure_systolic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vital {
    Pulse,
    BloodGlucoseBeforeMeal,
    BloodGlucoseAfterMeal,
    BloodPressureSystolic,
    BloodPressureDiastolic,
    Spo2,
    PeakFlow,
    BodyWeight,
}

/// A vital name that is not one of [`Vital::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown vital `{0}`: use one of pulse, blood_glucose_before_meal, blood_glucose_after_meal, \
     blood_pressure_systolic, blood_pressure_diastolic, spo2, peak_flow, body_weight"
)]
pub struct UnknownVital(pub String);

impl Vital {
    /// Every vital, in the order API.md lists them.
    pub const ALL: [Vital; 8] = [
        Vital::Pulse,
        Vital::BloodGlucoseBeforeMeal,
        Vital::BloodGlucoseAfterMeal,
        Vital::BloodPressureSystolic,
        Vital::BloodPressureDiastolic,
        Vital::Spo2,
        Vital::PeakFlow,
        Vital::BodyWeight,
    ];

    /// The API name, e.g. `blood_glucose_before_meal`.
    pub fn as_str(self) -> &'static str {
        match self {
            Vital::Pulse => "pulse",
            Vital::BloodGlucoseBeforeMeal => "blood_glucose_before_meal",
            Vital::BloodGlucoseAfterMeal => "blood_glucose_after_meal",
            Vital::BloodPressureSystolic => "blood_pressure_systolic",
            Vital::BloodPressureDiastolic => "blood_pressure_diastolic",
            Vital::Spo2 => "spo2",
            Vital::PeakFlow => "peak_flow",
            Vital::BodyWeight => "body_weight",
        }
    }

    /// A name for people, e.g. in an alert text: "Blood glucose (before meal)".
    pub fn label(self) -> &'static str {
        match self {
            Vital::Pulse => "Pulse",
            Vital::BloodGlucoseBeforeMeal => "Blood glucose (before meal)",
            Vital::BloodGlucoseAfterMeal => "Blood glucose (after meal)",
            Vital::BloodPressureSystolic => "Blood pressure (systolic)",
            Vital::BloodPressureDiastolic => "Blood pressure (diastolic)",
            Vital::Spo2 => "SpO2",
            Vital::PeakFlow => "Peak flow",
            Vital::BodyWeight => "Body weight",
        }
    }

    /// Parses the API name exactly (lower case, no surrounding space).
    pub fn parse(name: &str) -> Result<Vital, UnknownVital> {
        Vital::ALL
            .into_iter()
            .find(|v| v.as_str() == name)
            .ok_or_else(|| UnknownVital(name.chars().take(64).collect()))
    }
}

impl fmt::Display for Vital {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Vital {
    type Err = UnknownVital;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Vital::parse(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vital_round_trips_through_its_name_parse_and_serde() {
        for vital in Vital::ALL {
            assert_eq!(Vital::parse(vital.as_str()), Ok(vital));
            assert_eq!(vital.as_str().parse::<Vital>(), Ok(vital));
            assert_eq!(vital.to_string(), vital.as_str());
            let json = serde_json::to_value(vital).unwrap();
            assert_eq!(json, serde_json::json!(vital.as_str()));
            assert_eq!(serde_json::from_value::<Vital>(json).unwrap(), vital);
            assert!(!vital.label().is_empty());
        }
    }

    #[test]
    fn all_lists_the_eight_vitals_of_the_api_in_its_order() {
        let names: Vec<_> = Vital::ALL.iter().map(|v| v.as_str()).collect();
        assert_eq!(
            names,
            [
                "pulse",
                "blood_glucose_before_meal",
                "blood_glucose_after_meal",
                "blood_pressure_systolic",
                "blood_pressure_diastolic",
                "spo2",
                "peak_flow",
                "body_weight",
            ]
        );
    }

    #[test]
    fn parse_refuses_unknown_vitals_and_lists_the_known_ones() {
        for name in [
            "",
            "Pulse",
            " pulse",
            "SPO2",
            "blood_pressure",
            "heart_rate",
        ] {
            let error = Vital::parse(name).unwrap_err();
            assert!(error.to_string().contains("body_weight"), "{error}");
        }
    }
}
