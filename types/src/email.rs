//! [`EmailState`]: where a row of the email outbox is in its life.

use crate::named::named_enum;

named_enum! {
    /// Where a notification email is in its life.
    pub enum EmailState("email state") {
        /// Waiting to be claimed (first try, or a retry).
        Queued = "queued",
        /// Claimed by a dispatcher under a lease.
        Sending = "sending",
        /// The SMTP server accepted it.
        Sent = "sent",
        /// Given up.
        Failed = "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::named::check;

    #[test]
    fn every_email_state_round_trips_through_its_name() {
        check::round_trips(EmailState::ALL, &["queued", "sending", "sent", "failed"]);
    }

    #[test]
    fn unknown_email_states_are_refused() {
        check::refused::<EmailState>(&["cancelled", "Sent", "delivered", ""]);
    }
}
