//! Failed-login throttling as a generic cell rate (GCRA): each key may fail `burst` times in a row,
//! then once per `period`. Two kinds of key: a blocking one (a username from one address, or one
//! address) refuses while full; the delaying one (a username from anywhere) only makes the next
//! attempt wait for room ([`delay`]), so no one can lock a user out by failing on purpose. The state is two instants per key, so it can live in the store and
//! hold across every gateway instance (DESIGN.md: limits that must hold across instances live in
//! the store).
//!
//! A failure advances the key's theoretical arrival time (`tat`) by one period; a failure that
//! would put it more than `burst` periods ahead is refused instead, and blocks the key until the
//! next failure would be accepted. While blocked every login is refused without checking the
//! password, so a blocked guesser learns nothing.

use chrono::{DateTime, Duration, Utc};

/// How many failures in a row, then how often one more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub burst: i32,
    pub period: Duration,
}

/// Five failures in a row for one username from one client address, then one more every three
/// minutes: refused (429) while over, so one address cannot keep guessing, while the right
/// password from another address still gets in.
pub const PER_PAIR: Limit = Limit {
    burst: 5,
    period: Duration::seconds(180),
};

/// Twenty failures from one address (a clinic's shared NAT has many users), then one per 30 s.
pub const PER_ADDRESS: Limit = Limit {
    burst: 20,
    period: Duration::seconds(30),
};

/// Ten failures in a row for one username from anywhere, then each further login of that
/// username waits for the next slot (one per ten seconds): a delay, never a refusal, so guessing
/// from many addresses is slowed while the account's owner is never locked out.
pub const PER_USERNAME: Limit = Limit {
    burst: 10,
    period: Duration::seconds(10),
};

/// Verification restarts a patient may begin by texting START or UNSTOP: three in a row, then
/// one a day. Each restart gives three fresh date-of-birth attempts, so without this limit the
/// holder of a number could guess a date of birth by restarting over and over.
pub const PATIENT_RESTARTS: Limit = Limit {
    burst: 3,
    period: Duration::hours(24),
};

/// One key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub tat: DateTime<Utc>,
    pub blocked_until: Option<DateTime<Utc>>,
}

/// What a failure at `now` does to the key: its new state, and whether it was refused.
pub fn on_failure(cell: Option<Cell>, now: DateTime<Utc>, limit: Limit) -> (Cell, bool) {
    let tat = cell.map(|c| c.tat).unwrap_or(now).max(now);
    let next = tat + limit.period;
    if next - now > limit.period * limit.burst {
        // Refused: the state does not advance; blocked until one more failure fits.
        let until = tat - limit.period * (limit.burst - 1);
        (
            Cell {
                tat,
                blocked_until: Some(until.max(now)),
            },
            true,
        )
    } else {
        (
            Cell {
                tat: next,
                blocked_until: cell.and_then(|c| c.blocked_until),
            },
            false,
        )
    }
}

/// Whether one more counted event at `now` would be refused.
pub fn is_full(cell: Option<Cell>, now: DateTime<Utc>, limit: Limit) -> bool {
    on_failure(cell, now, limit).1
}

/// How long one more event must wait at `now` until the key has room again; `None` when it has
/// room now. Never longer than one period (a full key's state stops advancing).
pub fn delay(cell: Option<Cell>, now: DateTime<Utc>, limit: Limit) -> Option<Duration> {
    let cell = cell?;
    if !is_full(Some(cell), now, limit) {
        return None;
    }
    let room_at = cell.tat - limit.period * (limit.burst - 1);
    Some((room_at - now).max(Duration::zero()))
}

/// How long the key stays blocked from `now`, if it is.
pub fn blocked_for(cell: Option<Cell>, now: DateTime<Utc>) -> Option<Duration> {
    let until = cell?.blocked_until?;
    (until > now).then(|| until - now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    /// Applies failures at the given seconds; returns which were refused.
    fn run(limit: Limit, at: &[i64]) -> (Option<Cell>, Vec<bool>) {
        let mut cell = None;
        let mut refused = Vec::new();
        for s in at {
            if blocked_for(cell, t(*s)).is_some() {
                refused.push(true);
                continue;
            }
            let (next, no) = on_failure(cell, t(*s), limit);
            cell = Some(next);
            refused.push(no);
        }
        (cell, refused)
    }

    #[test]
    fn five_failures_pass_the_sixth_blocks_for_three_minutes_then_one_more_fits() {
        let (cell, refused) = run(PER_PAIR, &[0, 0, 0, 0, 0, 0]);
        assert_eq!(refused, [false, false, false, false, false, true]);
        assert_eq!(blocked_for(cell, t(0)), Some(Duration::seconds(180)));
        assert_eq!(blocked_for(cell, t(179)), Some(Duration::seconds(1)));
        assert_eq!(blocked_for(cell, t(180)), None);
        let (_, refused) = run(PER_PAIR, &[0, 0, 0, 0, 0, 0, 180, 180]);
        assert_eq!(
            refused[6..],
            [false, true],
            "one per period after the burst"
        );
    }

    #[test]
    fn a_full_username_delays_the_next_login_by_at_most_one_period_and_never_refuses_it() {
        let mut cell = None;
        for _ in 0..10 {
            assert_eq!(delay(cell, t(0), PER_USERNAME), None);
            cell = Some(on_failure(cell, t(0), PER_USERNAME).0);
        }
        assert_eq!(delay(cell, t(0), PER_USERNAME), Some(Duration::seconds(10)));
        assert_eq!(delay(cell, t(4), PER_USERNAME), Some(Duration::seconds(6)));
        assert_eq!(delay(cell, t(10), PER_USERNAME), None);
        // Failures while full do not push the delay further out.
        for _ in 0..50 {
            cell = Some(on_failure(cell, t(0), PER_USERNAME).0);
        }
        assert_eq!(delay(cell, t(0), PER_USERNAME), Some(Duration::seconds(10)));
    }

    #[test]
    fn three_patient_restarts_fit_then_one_a_day() {
        let mut cell = None;
        for _ in 0..3 {
            assert!(!is_full(cell, t(0), PATIENT_RESTARTS));
            cell = Some(on_failure(cell, t(0), PATIENT_RESTARTS).0);
        }
        assert!(is_full(cell, t(0), PATIENT_RESTARTS));
        assert!(is_full(cell, t(86_399), PATIENT_RESTARTS));
        assert!(!is_full(cell, t(86_400), PATIENT_RESTARTS));
    }

    #[test]
    fn failures_far_apart_are_never_refused() {
        let at: Vec<i64> = (0..50).map(|i| i * 180).collect();
        assert!(run(PER_PAIR, &at).1.iter().all(|r| !r));
    }

    proptest! {
        /// In any stretch of time of length L, at most burst + L/period failures are accepted.
        #[test]
        fn accepted_failures_never_exceed_burst_plus_one_per_period(
            mut at in proptest::collection::vec(0i64..3600, 1..80),
        ) {
            at.sort_unstable();
            let (_, refused) = run(PER_PAIR, &at);
            let accepted: Vec<i64> = at
                .iter()
                .zip(&refused)
                .filter(|(_, r)| !**r)
                .map(|(s, _)| *s)
                .collect();
            for (i, start) in accepted.iter().enumerate() {
                for (j, end) in accepted.iter().enumerate().skip(i) {
                    let count = (j - i + 1) as i64;
                    let allowed = i64::from(PER_PAIR.burst) + (end - start) / 180;
                    prop_assert!(count <= allowed, "{count} accepted in {}s", end - start);
                }
            }
        }
    }
}
