//! The carrier's limits that template checks and error messages share (a leaf module within the
//! crate, so the error and the checks can both use it without importing each other).

/// The longest body the carrier accepts (Twilio's `Body` limit), in characters: the one limit of
/// `types::body`, which staff messages are held to as well.
pub const MAX_RENDERED_CHARS: usize = types::body::MAX_CHARS;
