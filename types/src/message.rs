//! A conversation message's [`Channel`], [`Direction`] and [`MessageStatus`], as the store keeps
//! them and the API shows them.

use crate::named::named_enum;

named_enum! {
    /// How a message travels: a text, or the patient portal.
    pub enum Channel("message channel") {
        Sms = "sms",
        Portal = "portal",
    }
}

named_enum! {
    /// Which way a message went: from the patient, or to them.
    pub enum Direction("message direction") {
        Inbound = "inbound",
        Outbound = "outbound",
    }
}

named_enum! {
    /// Where a message is in its life. An outbound text follows its outbox row (`queued`, then
    /// `failed` or `cancelled`) until the carrier names its own status; from then on it is the
    /// carrier's (Twilio's spelling, `canceled` included). Inbound messages are `received`; a
    /// portal message to the patient is `delivered` at once.
    pub enum MessageStatus("message status") {
        /// A Messaging Service took the text and has not picked a sender yet.
        Accepted = "accepted",
        /// The carrier will send it later.
        Scheduled = "scheduled",
        /// Waiting in the outbox, or in the carrier's queue.
        Queued = "queued",
        /// Being handed to the network.
        Sending = "sending",
        /// The network took it; not yet confirmed on the handset.
        Sent = "sent",
        /// Some, not all, parts reached the handset.
        PartiallyDelivered = "partially_delivered",
        /// On the handset (or, for the portal, in the patient's inbox).
        Delivered = "delivered",
        /// The network could not deliver it.
        Undelivered = "undelivered",
        /// It could not be sent: given up by the outbox, or refused by the carrier.
        Failed = "failed",
        /// Cancelled by the carrier before it was sent (the carrier's spelling).
        Canceled = "canceled",
        /// Never sent by the outbox (see the message's `status_reason`).
        Cancelled = "cancelled",
        /// The recipient opened it.
        Read = "read",
        /// An inbound message still arriving.
        Receiving = "receiving",
        /// An inbound message that has arrived.
        Received = "received",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::named::check;

    #[test]
    fn every_channel_round_trips_through_its_name() {
        check::round_trips(Channel::ALL, &["sms", "portal"]);
    }

    #[test]
    fn every_direction_round_trips_through_its_name() {
        check::round_trips(Direction::ALL, &["inbound", "outbound"]);
    }

    #[test]
    fn every_message_status_round_trips_through_its_name() {
        check::round_trips(
            MessageStatus::ALL,
            &[
                "accepted",
                "scheduled",
                "queued",
                "sending",
                "sent",
                "partially_delivered",
                "delivered",
                "undelivered",
                "failed",
                "canceled",
                "cancelled",
                "read",
                "receiving",
                "received",
            ],
        );
    }

    #[test]
    fn unknown_names_are_refused() {
        check::refused::<Channel>(&["SMS", "email", "", " sms"]);
        check::refused::<Direction>(&["in", "Outbound", "outbound "]);
        check::refused::<MessageStatus>(&["Delivered", "pending", "opted_out", ""]);
    }

    #[test]
    fn the_refusal_names_the_vocabulary_and_the_value() {
        let error = MessageStatus::parse("exploded").unwrap_err();
        assert_eq!(error.to_string(), "unknown message status \"exploded\"");
        let long = "x".repeat(500);
        assert_eq!(Channel::parse(&long).unwrap_err().name.len(), 64);
    }
}
