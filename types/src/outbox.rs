//! [`OutboxState`]: where a row of the text outbox is in its life.

use crate::named::named_enum;

named_enum! {
    /// Where an outbox row is in its life.
    pub enum OutboxState("outbox state") {
        /// Waiting to be claimed (first try, or a retry at `next_attempt_at`).
        Queued = "queued",
        /// Claimed by a dispatcher until `claimed_until`.
        Sending = "sending",
        /// The carrier accepted it (later callbacks may still report it undelivered: then `Failed`).
        Sent = "sent",
        /// Given up: a permanent error, too many attempts, a second lost claim, or a failed delivery.
        Failed = "failed",
        /// Never sent, and never will be: see `cancel_reason` (the number opted out).
        Cancelled = "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::named::check;

    #[test]
    fn every_outbox_state_round_trips_through_its_name() {
        check::round_trips(
            OutboxState::ALL,
            &["queued", "sending", "sent", "failed", "cancelled"],
        );
    }

    #[test]
    fn unknown_outbox_states_are_refused() {
        check::refused::<OutboxState>(&["canceled", "Queued", "delivered", ""]);
    }
}
