//! A vital's alert settings, as API.md names them: `{ranges, change}`: the four bounds of its
//! range bar ([`Ranges`]) and an optional "changed by this much within so many hours" rule
//! ([`ChangeRule`]), each with its validation. The gateway's API reads and answers these types,
//! its domain classifies readings against them and the store keeps them, so all three agree on
//! one shape.
//!
//! Must never classify a reading: what a value means against these settings is the gateway's
//! `domain::readings`. With the `openapi` feature the API's types describe themselves to utoipa
//! under the schema names the API has always published (`RangesBody`, `ChangeBody`,
//! `ChangeUnitBody`).

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Longest window a change rule may look back over: 30 days. It bounds how many earlier
/// readings a caller loads; clinically useful windows (a day, a week) are far shorter.
pub const MAX_CHANGE_WITHIN_HOURS: u32 = 30 * 24;

/// Why alert settings (or a reading value) were refused. [`AlertSettingsError::field`] names
/// the offending field as it appears in the API body, e.g. `ranges.normal_low`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlertSettingsError {
    #[error("`{field}` must be a finite number")]
    NotFinite { field: &'static str },
    #[error(
        "`{field}` ({value}) must not be below `{lower_field}` ({lower}): bounds go \
         critical_low <= normal_low <= normal_high <= critical_high"
    )]
    OutOfOrder {
        field: &'static str,
        value: f64,
        lower_field: &'static str,
        lower: f64,
    },
    #[error("`change.amount` must be greater than 0, not {0}")]
    ChangeAmountNotPositive(f64),
    #[error("`change.within_hours` must be from 1 to {max}, not {0}", max = MAX_CHANGE_WITHIN_HOURS)]
    ChangeWindowOutOfRange(u32),
}

impl AlertSettingsError {
    /// The offending field, as a path into the API body.
    pub fn field(&self) -> &'static str {
        match self {
            AlertSettingsError::NotFinite { field }
            | AlertSettingsError::OutOfOrder { field, .. } => field,
            AlertSettingsError::ChangeAmountNotPositive(_) => "change.amount",
            AlertSettingsError::ChangeWindowOutOfRange(_) => "change.within_hours",
        }
    }
}

/// The four bounds of a vital's range bar: below `critical_low` or above `critical_high` is
/// critical, `normal_low` to `normal_high` normal, anything else caution. They must not
/// decrease; equal bounds leave a band empty.
// `expecting`: a body of the wrong type is refused naming the schema the API publishes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "struct RangesBody")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RangesBody))]
pub struct Ranges {
    pub critical_low: f64,
    pub normal_low: f64,
    pub normal_high: f64,
    pub critical_high: f64,
}

impl Ranges {
    /// Finite and `critical_low <= normal_low <= normal_high <= critical_high`: reports the
    /// first non-finite bound, else the first bound below its lower neighbour.
    pub fn validate(&self) -> Result<(), AlertSettingsError> {
        let bounds = [
            ("ranges.critical_low", self.critical_low),
            ("ranges.normal_low", self.normal_low),
            ("ranges.normal_high", self.normal_high),
            ("ranges.critical_high", self.critical_high),
        ];
        if let Some(&(field, _)) = bounds.iter().find(|(_, value)| !value.is_finite()) {
            return Err(AlertSettingsError::NotFinite { field });
        }
        for pair in bounds.windows(2) {
            let [(lower_field, lower), (field, value)] = [pair[0], pair[1]];
            if value < lower {
                return Err(AlertSettingsError::OutOfOrder {
                    field,
                    value,
                    lower_field,
                    lower,
                });
            }
        }
        Ok(())
    }
}

// How a change rule's `amount` is measured, serialized `percent` or `units`. (A `//` comment:
// the published schema has no description of its own.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ChangeUnitBody))]
pub enum ChangeUnit {
    /// Percent of the earlier reading's value.
    Percent,
    /// The vital's own unit.
    Units,
}

impl ChangeUnit {
    /// The API name: `percent` or `units`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeUnit::Percent => "percent",
            ChangeUnit::Units => "units",
        }
    }

    /// The unit with this exact API name.
    pub fn parse(name: &str) -> Option<ChangeUnit> {
        [ChangeUnit::Percent, ChangeUnit::Units]
            .into_iter()
            .find(|unit| unit.as_str() == name)
    }
}

/// "When the value changes by `amount` `unit` within `within_hours`": the reading is critical.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "struct ChangeBody")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ChangeBody))]
pub struct ChangeRule {
    /// Greater than 0.
    pub amount: f64,
    pub unit: ChangeUnit,
    /// 1 to 720.
    pub within_hours: u32,
}

impl ChangeRule {
    /// `amount` finite and above 0 (0 would make every reading critical); `within_hours` from 1
    /// to [`MAX_CHANGE_WITHIN_HOURS`].
    pub fn validate(&self) -> Result<(), AlertSettingsError> {
        if !self.amount.is_finite() {
            return Err(AlertSettingsError::NotFinite {
                field: "change.amount",
            });
        }
        if self.amount <= 0.0 {
            return Err(AlertSettingsError::ChangeAmountNotPositive(self.amount));
        }
        if !(1..=MAX_CHANGE_WITHIN_HOURS).contains(&self.within_hours) {
            return Err(AlertSettingsError::ChangeWindowOutOfRange(
                self.within_hours,
            ));
        }
        Ok(())
    }

    /// The instants between which another reading counts against one taken at `taken_at`:
    /// `within_hours` either side, both ends included. The store loads these readings and the
    /// domain compares with them, so both use this one window.
    pub fn window(&self, taken_at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let hours = TimeDelta::hours(i64::from(self.within_hours));
        (
            taken_at
                .checked_sub_signed(hours)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            taken_at
                .checked_add_signed(hours)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    }
}

/// A vital's alert settings, as in API.md: `{ranges, change: {...} or null}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlertSettings {
    pub ranges: Ranges,
    #[serde(default)]
    pub change: Option<ChangeRule>,
}

impl AlertSettings {
    /// Validates the ranges, then the change rule if there is one.
    pub fn validate(&self) -> Result<(), AlertSettingsError> {
        self.ranges.validate()?;
        if let Some(change) = &self.change {
            change.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Pulse-like ranges: critical < 40 <= caution < 60 <= normal <= 100 < caution <= 120 < critical.
    fn ranges() -> Ranges {
        Ranges {
            critical_low: 40.0,
            normal_low: 60.0,
            normal_high: 100.0,
            critical_high: 120.0,
        }
    }

    fn settings(change: Option<ChangeRule>) -> AlertSettings {
        AlertSettings {
            ranges: ranges(),
            change,
        }
    }

    fn rule(amount: f64, unit: ChangeUnit, within_hours: u32) -> ChangeRule {
        ChangeRule {
            amount,
            unit,
            within_hours,
        }
    }

    #[test]
    fn ranges_in_order_validate_including_equal_bounds() {
        for (cl, nl, nh, ch) in [
            (40.0, 60.0, 100.0, 120.0),
            (60.0, 60.0, 100.0, 120.0),
            (40.0, 60.0, 120.0, 120.0),
            (40.0, 80.0, 80.0, 120.0),
            (70.0, 70.0, 70.0, 70.0),
            (-5.0, 0.0, 0.0, 3.5),
        ] {
            let ranges = Ranges {
                critical_low: cl,
                normal_low: nl,
                normal_high: nh,
                critical_high: ch,
            };
            assert_eq!(ranges.validate(), Ok(()), "{ranges:?}");
        }
    }

    type Setter = fn(&mut Ranges, f64);

    #[test]
    fn ranges_with_a_non_finite_bound_are_refused_naming_the_field() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let cases: [(&str, Setter); 4] = [
                ("ranges.critical_low", |r, v| r.critical_low = v),
                ("ranges.normal_low", |r, v| r.normal_low = v),
                ("ranges.normal_high", |r, v| r.normal_high = v),
                ("ranges.critical_high", |r, v| r.critical_high = v),
            ];
            for (field, set) in cases {
                let mut ranges = ranges();
                set(&mut ranges, bad);
                let error = ranges.validate().unwrap_err();
                assert_eq!(error, AlertSettingsError::NotFinite { field });
                assert_eq!(error.field(), field);
                assert!(error.to_string().contains(field));
            }
        }
    }

    #[test]
    fn ranges_out_of_order_are_refused_naming_the_field_and_its_neighbour() {
        // (critical_low, normal_low, normal_high, critical_high, blamed field, neighbour)
        let table = [
            (
                61.0,
                60.0,
                100.0,
                120.0,
                "ranges.normal_low",
                "ranges.critical_low",
            ),
            (
                40.0,
                101.0,
                100.0,
                120.0,
                "ranges.normal_high",
                "ranges.normal_low",
            ),
            (
                40.0,
                60.0,
                100.0,
                99.0,
                "ranges.critical_high",
                "ranges.normal_high",
            ),
            (
                200.0,
                60.0,
                100.0,
                120.0,
                "ranges.normal_low",
                "ranges.critical_low",
            ),
        ];
        for (cl, nl, nh, ch, field, neighbour) in table {
            let error = Ranges {
                critical_low: cl,
                normal_low: nl,
                normal_high: nh,
                critical_high: ch,
            }
            .validate()
            .unwrap_err();
            assert_eq!(error.field(), field);
            assert!(
                matches!(error, AlertSettingsError::OutOfOrder { lower_field, .. } if lower_field == neighbour)
            );
            let message = error.to_string();
            assert!(
                message.contains(field) && message.contains(neighbour),
                "{message}"
            );
        }
    }

    #[test]
    fn change_rules_need_a_positive_finite_amount_and_a_window_of_1_to_720_hours() {
        use ChangeUnit::{Percent, Units};
        let table = [
            (rule(10.0, Percent, 24), None),
            (rule(0.5, Units, 1), None),
            (rule(150.0, Percent, MAX_CHANGE_WITHIN_HOURS), None),
            (rule(0.0, Units, 24), Some("change.amount")),
            (rule(-5.0, Units, 24), Some("change.amount")),
            (rule(f64::NAN, Units, 24), Some("change.amount")),
            (rule(f64::INFINITY, Units, 24), Some("change.amount")),
            (rule(5.0, Units, 0), Some("change.within_hours")),
            (
                rule(5.0, Units, MAX_CHANGE_WITHIN_HOURS + 1),
                Some("change.within_hours"),
            ),
        ];
        for (rule, field) in table {
            let result = settings(Some(rule)).validate();
            assert_eq!(result.as_ref().err().map(|e| e.field()), field, "{rule:?}");
            if let Err(error) = result {
                assert!(error.to_string().contains(field.unwrap()), "{error}");
            }
        }
    }

    #[test]
    fn alert_settings_validate_ranges_before_the_change_rule() {
        let mut bad = settings(Some(rule(0.0, ChangeUnit::Units, 24)));
        bad.ranges.normal_high = 10.0;
        assert_eq!(bad.validate().unwrap_err().field(), "ranges.normal_high");
        assert_eq!(settings(None).validate(), Ok(()));
    }

    #[test]
    fn alert_settings_use_the_apis_json_shape() {
        let json = serde_json::json!({
            "ranges": {"critical_low": 40.0, "normal_low": 60.0, "normal_high": 100.0, "critical_high": 120.0},
            "change": {"amount": 20.0, "unit": "percent", "within_hours": 24},
        });
        let parsed: AlertSettings = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(parsed, settings(Some(rule(20.0, ChangeUnit::Percent, 24))));
        assert_eq!(serde_json::to_value(parsed).unwrap(), json);

        let units: ChangeUnit = serde_json::from_value(serde_json::json!("units")).unwrap();
        assert_eq!(units, ChangeUnit::Units);
        for without in [
            serde_json::json!({"ranges": json["ranges"], "change": null}),
            serde_json::json!({"ranges": json["ranges"]}),
        ] {
            let parsed: AlertSettings = serde_json::from_value(without).unwrap();
            assert_eq!(parsed.change, None);
        }
    }

    #[test]
    fn the_api_shapes_refuse_unknown_fields_and_name_their_published_schema() {
        let ranges = serde_json::json!({"critical_low": 1.0, "normal_low": 2.0, "normal_high": 3.0,
            "critical_high": 4.0, "extra": 0});
        let error = serde_json::from_value::<Ranges>(ranges).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `extra`"),
            "{error}"
        );
        let change = serde_json::json!({"amount": 1.0, "unit": "units", "within_hours": 1, "x": 0});
        assert!(serde_json::from_value::<ChangeRule>(change).is_err());
        let error = serde_json::from_value::<Ranges>(serde_json::json!(null)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid type: null, expected struct RangesBody"
        );
    }

    #[test]
    fn a_change_window_spans_within_hours_either_side_and_saturates_at_the_calendars_ends() {
        let at: DateTime<Utc> = "2026-05-10T12:00:00Z".parse().unwrap();
        let (from, to) = rule(1.0, ChangeUnit::Units, 24).window(at);
        assert_eq!(
            from,
            "2026-05-09T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(to, "2026-05-11T12:00:00Z".parse::<DateTime<Utc>>().unwrap());
        let wide = rule(1.0, ChangeUnit::Units, u32::MAX);
        assert_eq!(
            wide.window(DateTime::<Utc>::MIN_UTC).0,
            DateTime::<Utc>::MIN_UTC
        );
        assert_eq!(
            wide.window(DateTime::<Utc>::MAX_UTC).1,
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn change_units_round_trip_through_their_api_names() {
        for unit in [ChangeUnit::Percent, ChangeUnit::Units] {
            assert_eq!(ChangeUnit::parse(unit.as_str()), Some(unit));
            assert_eq!(serde_json::to_value(unit).unwrap(), unit.as_str());
        }
        assert_eq!(ChangeUnit::parse("Percent"), None);
    }

    proptest! {
        #[test]
        fn ranges_validate_exactly_when_finite_and_ordered(
            bounds in prop::array::uniform4(prop_oneof![
                8 => -100.0..100.0f64,
                1 => Just(f64::NAN),
                1 => Just(f64::INFINITY),
            ])
        ) {
            let [cl, nl, nh, ch] = bounds;
            let ranges = Ranges { critical_low: cl, normal_low: nl, normal_high: nh, critical_high: ch };
            let ok = bounds.iter().all(|b| b.is_finite()) && cl <= nl && nl <= nh && nh <= ch;
            prop_assert_eq!(ranges.validate().is_ok(), ok);
        }
    }
}
