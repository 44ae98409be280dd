//! Failed-login throttling per username and per client address.
//!
//! Only failures count. Each key has a governor bucket; when a failure finds the bucket empty the
//! key is blocked until the bucket would next allow one, and every login for a blocked key gets 429
//! with `Retry-After` without checking the password (so a locked-out guesser learns nothing).
//! The limits are per gateway instance; several instances multiply them.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct LoginLimiter {
    by_username: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    blocked: DashMap<Key, Instant>,
    clock: DefaultClock,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Username(String),
    Address(IpAddr),
}

impl Default for LoginLimiter {
    fn default() -> Self {
        // 5 failures in a row for one username, then one more try every 3 minutes.
        let per_username = Quota::with_period(Duration::from_secs(180))
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(5).expect("non-zero"));
        // 20 failures from one address (a shared clinic NAT has many users), then one per 30 s.
        let per_address = Quota::with_period(Duration::from_secs(30))
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(20).expect("non-zero"));
        LoginLimiter::new(per_username, per_address)
    }
}

impl LoginLimiter {
    pub fn new(per_username: Quota, per_address: Quota) -> LoginLimiter {
        LoginLimiter {
            by_username: RateLimiter::keyed(per_username),
            by_address: RateLimiter::keyed(per_address),
            blocked: DashMap::new(),
            clock: DefaultClock::default(),
        }
    }

    /// `Some(wait)` while either key is blocked.
    pub fn blocked_for(&self, username: &str, address: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        [
            Key::Username(username.to_lowercase()),
            Key::Address(address),
        ]
        .into_iter()
        .filter_map(|key| {
            let until = *self.blocked.get(&key)?;
            if until > now {
                Some(until - now)
            } else {
                self.blocked.remove(&key);
                None
            }
        })
        .max()
    }

    /// Records a failed login; `Some(wait)` when this failure exhausted a key's allowance.
    pub fn record_failure(&self, username: &str, address: IpAddr) -> Option<Duration> {
        let username = username.to_lowercase();
        let mut wait = None;
        if let Err(not_until) = self.by_username.check_key(&username) {
            let w = not_until.wait_time_from(self.clock.now());
            self.blocked
                .insert(Key::Username(username), Instant::now() + w);
            wait = Some(w);
        }
        if let Err(not_until) = self.by_address.check_key(&address) {
            let w = not_until.wait_time_from(self.clock.now());
            self.blocked
                .insert(Key::Address(address), Instant::now() + w);
            wait = wait.max(Some(w));
        }
        wait
    }
}

pub type SharedLoginLimiter = Arc<LoginLimiter>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixth_failure_for_one_username_blocks_it_but_not_another_username() {
        let limiter = LoginLimiter::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..5 {
            assert!(limiter.record_failure("alice", ip).is_none());
        }
        assert!(limiter.record_failure("Alice", ip).is_some());
        assert!(limiter.blocked_for("ALICE", ip).is_some());
        let other_ip: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.blocked_for("bob", other_ip).is_none());
    }

    #[test]
    fn many_usernames_from_one_address_block_the_address() {
        let limiter = LoginLimiter::default();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        for i in 0..20 {
            assert!(limiter.record_failure(&format!("user{i}"), ip).is_none());
        }
        assert!(limiter.record_failure("user-x", ip).is_some());
        assert!(limiter.blocked_for("someone-else", ip).is_some());
    }
}
