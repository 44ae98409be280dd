//! Reply accounting: which texts the gateway queued for each synthetic patient (read from the dev
//! outbox) against the ones the opt-in flow must queue, no more and no fewer. Replies are told
//! apart by the opening words of the default templates, so the practice must use the defaults
//! (the demo practice does). Pure: no I/O.

use std::collections::BTreeMap;

use serde::Serialize;

/// The kinds of reply the scenarios expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    OptInRequest,
    OptInRetry,
    OptInConfirmed,
    Other,
}

/// Which reply `body` is.
pub fn classify(body: &str) -> ReplyKind {
    if body.starts_with("A member of your care team at ") {
        ReplyKind::OptInRequest
    } else if body.starts_with("Sorry, we could not confirm your identity.") {
        ReplyKind::OptInRetry
    } else if body.starts_with("Thank you, your identity is confirmed.") {
        ReplyKind::OptInConfirmed
    } else {
        ReplyKind::Other
    }
}

/// The verdict over all patients.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepliesReport {
    pub passed: bool,
    pub patients: usize,
    /// Replies queued for the run's patients.
    pub queued: u64,
    /// Replies the flow must have queued.
    pub expected: u64,
    /// Patients whose replies differ from the expected ones.
    pub mismatched: u64,
    /// Up to 20 of them: patient index and what was queued.
    pub failures: Vec<(usize, BTreeMap<ReplyKind, u64>)>,
}

/// Compares each patient's queued replies (`queued[i]` for patient `i`, any order) with
/// `expected`, the same for every patient.
pub fn check(expected: &[ReplyKind], queued: &[Vec<ReplyKind>]) -> RepliesReport {
    let tally = |kinds: &[ReplyKind]| {
        let mut counts = BTreeMap::new();
        for kind in kinds {
            *counts.entry(*kind).or_insert(0u64) += 1;
        }
        counts
    };
    let want = tally(expected);
    let mut report = RepliesReport {
        patients: queued.len(),
        expected: (expected.len() * queued.len()) as u64,
        ..RepliesReport::default()
    };
    for (patient, kinds) in queued.iter().enumerate() {
        report.queued += kinds.len() as u64;
        let got = tally(kinds);
        if got != want {
            report.mismatched += 1;
            if report.failures.len() < 20 {
                report.failures.push((patient, got));
            }
        }
    }
    report.passed = report.mismatched == 0;
    report
}

#[cfg(test)]
mod tests {
    use super::ReplyKind::*;
    use super::*;

    #[test]
    fn default_template_texts_are_recognised() {
        assert_eq!(
            classify(
                "A member of your care team at Demo Family Clinic is trying to get in contact"
            ),
            OptInRequest
        );
        assert_eq!(
            classify("Sorry, we could not confirm your identity. Attempts left: 2."),
            OptInRetry
        );
        assert_eq!(
            classify("Thank you, your identity is confirmed. You can now text"),
            OptInConfirmed
        );
        assert_eq!(classify("Demo Family Clinic care team texts."), Other);
    }

    #[test]
    fn each_patient_needs_exactly_the_expected_replies() {
        let expected = [OptInRequest, OptInRetry, OptInConfirmed];
        let good = vec![OptInConfirmed, OptInRequest, OptInRetry];
        let report = check(&expected, &[good.clone(), good.clone()]);
        assert!(report.passed);
        assert_eq!((report.queued, report.expected), (6, 6));

        let doubled = vec![OptInRequest, OptInRetry, OptInConfirmed, OptInConfirmed];
        let missing = vec![OptInRequest, OptInRetry];
        let report = check(&expected, &[good, doubled, missing]);
        assert!(!report.passed);
        assert_eq!(report.mismatched, 2);
        assert_eq!(report.failures[0].0, 1);
        assert_eq!(report.failures[0].1[&OptInConfirmed], 2);
        assert_eq!(report.failures[1].0, 2);
    }
}
