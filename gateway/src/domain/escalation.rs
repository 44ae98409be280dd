//! Escalation of an unacknowledged critical alert: which audience each step reaches.
//!
//! Step 0 is the opening notification (on-call users of that moment and the care team). Each
//! later step comes one escalation delay after the previous one and cycles through: the alert
//! again to whoever is on call then and the care team, the practice's fallback users (its
//! default users), then the customer's admins; and round again until someone acknowledges, so
//! a critical alert never goes unseen. A step whose audience is nobody is skipped at once, not
//! waited out. Pure: the caller resolves audiences and supplies the clock.

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// On-call users at that moment, and the care team per their "reading critical" setting.
    OnCallAndCareTeam,
    /// The practice's default users (its group's, or the customer's).
    PracticeFallback,
    /// The customer's admins.
    CustomerAdmins,
}

const CYCLE: [Audience; 3] = [
    Audience::OnCallAndCareTeam,
    Audience::PracticeFallback,
    Audience::CustomerAdmins,
];

/// The audience of step `step` (1 and later).
pub fn audience_of(step: u32) -> Audience {
    CYCLE[((step.max(1) - 1) % 3) as usize]
}

/// The next step to take after `taken`, skipping steps whose audience is empty; `None` when every
/// audience is empty (there is nobody at all to tell).
pub fn next_step(taken: u32, has_members: impl Fn(Audience) -> bool) -> Option<(u32, Audience)> {
    (1..=CYCLE.len() as u32)
        .map(|k| taken + k)
        .map(|s| (s, audience_of(s)))
        .find(|(_, a)| has_members(*a))
}

/// When the step after this one is due.
pub fn next_due(now: DateTime<Utc>, delay_minutes: i32) -> DateTime<Utc> {
    now + Duration::minutes(i64::from(delay_minutes.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_cycle_through_resend_fallback_and_admins() {
        let order: Vec<_> = (1..=7).map(audience_of).collect();
        assert_eq!(
            order,
            [
                Audience::OnCallAndCareTeam,
                Audience::PracticeFallback,
                Audience::CustomerAdmins,
                Audience::OnCallAndCareTeam,
                Audience::PracticeFallback,
                Audience::CustomerAdmins,
                Audience::OnCallAndCareTeam,
            ]
        );
    }

    #[test]
    fn a_step_that_resolves_to_nobody_is_skipped_at_once() {
        let only_admins = |a| a == Audience::CustomerAdmins;
        assert_eq!(
            next_step(0, only_admins),
            Some((3, Audience::CustomerAdmins))
        );
        assert_eq!(
            next_step(3, only_admins),
            Some((6, Audience::CustomerAdmins))
        );
        let no_fallback = |a| a != Audience::PracticeFallback;
        assert_eq!(
            next_step(1, no_fallback),
            Some((3, Audience::CustomerAdmins))
        );
        assert_eq!(next_step(0, |_| false), None);
    }

    #[test]
    fn the_next_step_is_one_delay_later() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(next_due(now, 10), now + Duration::minutes(10));
        assert_eq!(
            next_due(now, 0),
            now + Duration::minutes(1),
            "never a zero delay"
        );
    }
}
