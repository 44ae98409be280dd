//! TwiML answers to Twilio's webhooks.
//!
//! The gateway never replies through TwiML: replies (confirmations, prompts) go through the
//! outbox so they are stored, paced and retried like every other message. Every webhook is answered
//! with the empty response, which tells Twilio there is nothing to send.

/// The empty TwiML document: no reply.
pub const EMPTY_RESPONSE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// The `Content-Type` to send with [`EMPTY_RESPONSE`].
pub const CONTENT_TYPE: &str = "text/xml";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_response_is_the_documented_document() {
        assert_eq!(
            EMPTY_RESPONSE,
            r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
        );
        assert_eq!(CONTENT_TYPE, "text/xml");
    }
}
