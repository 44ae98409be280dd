//! Per-number pacing inside one gateway: a `governor` rate limiter keyed by the sending number at
//! `SMS_SENDER_MPS`, with a burst of one so that two sends of a number are never closer than
//! 1/MPS seconds.
//!
//! This limiter alone would let the rate multiply with the number of gateways. The rate across
//! gateways is kept by the store: each claim reserves the number's next send slots (1/MPS apart)
//! in `outbox_senders` under a row lock, and a dispatcher sends a row no earlier than its slot.
//! This limiter is the second line: it also holds when clocks of gateways disagree slightly, and
//! it is what keeps the rate on the embedded store's single instance.
//!
//! It must never block a send of one number behind another number's pacing.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct SenderPacer {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl SenderPacer {
    pub fn new(per_second: NonZeroU32) -> SenderPacer {
        let quota = Quota::per_second(per_second).allow_burst(NonZeroU32::MIN);
        SenderPacer {
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// Waits until `sender` may send one more message.
    pub async fn until_ready(&self, sender: &str) {
        self.limiter.until_key_ready(&sender.to_owned()).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[tokio::test]
    async fn one_number_is_spaced_by_its_rate_and_another_is_not_held_up() {
        let pacer = SenderPacer::new(NonZeroU32::new(20).unwrap());
        let started = Instant::now();
        for _ in 0..5 {
            pacer.until_ready("+15555550100").await;
        }
        // Four gaps of 50 ms after the first send.
        assert!(
            started.elapsed() >= Duration::from_millis(190),
            "{:?}",
            started.elapsed()
        );
        let other = Instant::now();
        pacer.until_ready("+15555550101").await;
        assert!(other.elapsed() < Duration::from_millis(20));
    }
}
