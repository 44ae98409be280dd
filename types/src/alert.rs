//! [`AlertState`]: whether an alert still needs someone.

use crate::named::named_enum;

named_enum! {
    /// Whether an alert still needs someone: it escalates while `open`.
    pub enum AlertState("alert state") {
        Open = "open",
        Acknowledged = "acknowledged",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::named::check;

    #[test]
    fn every_alert_state_round_trips_through_its_name() {
        check::round_trips(AlertState::ALL, &["open", "acknowledged"]);
    }

    #[test]
    fn unknown_alert_states_are_refused() {
        check::refused::<AlertState>(&["closed", "Open", "acked", ""]);
    }
}
