//! No-loss accounting: what the generator sent, per patient and per `MessageSid`, and the verdict
//! once the gateway's own record (its `message.inbound` audit rows per patient) is read back.
//!
//! Each sid ends in one of three states:
//! - **accepted**: at least one delivery was answered 200, so the gateway committed it: it must
//!   be recorded exactly once, however often it was (deliberately) repeated;
//! - **refused**: every delivery got a 4xx (signature or form refused before the store): it must
//!   not be recorded;
//! - **unknown**: no 200, and at least one 5xx, timeout or connection error: it may or may not
//!   have been committed (a timeout can come after the commit), so it may be recorded at most once.
//!
//! Per patient, the recorded rows must therefore number between `accepted` and
//! `accepted + unknown`, and no message may appear twice. Pure: no I/O.

use std::collections::HashMap;

use serde::Serialize;

/// How one delivery of a webhook ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// 200: committed.
    Accepted,
    /// A 4xx: refused before anything was stored.
    Refused,
    /// A 5xx, a timeout or a transport error: may or may not have been committed.
    Unknown,
}

impl Delivery {
    /// Classifies an HTTP status; `None` is a transport error or timeout.
    pub fn from_status(status: Option<u16>) -> Delivery {
        match status {
            Some(200) => Delivery::Accepted,
            Some(400..=499) => Delivery::Refused,
            _ => Delivery::Unknown,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct SidRecord {
    patient: usize,
    deliveries: u32,
    accepted: bool,
    unknown: bool,
}

/// Every webhook sent in a run, keyed by `MessageSid`.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    sids: HashMap<String, SidRecord>,
}

/// What the gateway recorded for one patient.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observed {
    /// `message.inbound` audit rows of the patient.
    pub rows: u64,
    /// Distinct message ids among them.
    pub distinct_messages: u64,
}

/// The verdict over all patients.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NoLossReport {
    pub passed: bool,
    pub patients: usize,
    /// Webhooks sent, repeats included.
    pub deliveries: u64,
    /// Distinct `MessageSid`s sent.
    pub unique_sids: u64,
    /// Deliveries that repeated an earlier sid.
    pub repeats: u64,
    pub accepted: u64,
    pub refused: u64,
    pub unknown: u64,
    /// `message.inbound` rows found.
    pub recorded: u64,
    /// Accepted messages not found (summed over patients).
    pub missing: u64,
    /// Rows beyond what was sent (summed over patients).
    pub extra: u64,
    /// Rows naming a message another row already named.
    pub doubled: u64,
    /// Up to 20 patients that failed, for the report.
    pub failures: Vec<PatientFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientFailure {
    pub patient: usize,
    pub accepted: u64,
    pub unknown: u64,
    pub recorded: u64,
    pub distinct: u64,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// One delivery of `sid` on behalf of patient number `patient`.
    pub fn record(&mut self, patient: usize, sid: &str, delivery: Delivery) {
        let entry = self
            .sids
            .entry(sid.to_owned())
            .or_insert_with(|| SidRecord {
                patient,
                ..SidRecord::default()
            });
        debug_assert_eq!(entry.patient, patient, "a sid belongs to one patient");
        entry.deliveries += 1;
        match delivery {
            Delivery::Accepted => entry.accepted = true,
            Delivery::Unknown => entry.unknown = true,
            Delivery::Refused => {}
        }
    }

    /// Compares the ledger with what the gateway recorded, `observed[i]` being patient `i`.
    pub fn check(&self, observed: &[Observed]) -> NoLossReport {
        let mut accepted = vec![0u64; observed.len()];
        let mut unknown = vec![0u64; observed.len()];
        let mut report = NoLossReport {
            patients: observed.len(),
            ..NoLossReport::default()
        };
        let mut stray = false;
        for record in self.sids.values() {
            report.deliveries += u64::from(record.deliveries);
            report.unique_sids += 1;
            report.repeats += u64::from(record.deliveries.saturating_sub(1));
            let (acc, unk) = match (
                accepted.get_mut(record.patient),
                unknown.get_mut(record.patient),
            ) {
                (Some(a), Some(u)) => (a, u),
                _ => {
                    // A sid for a patient that was not observed: count it, fail the check.
                    stray = true;
                    continue;
                }
            };
            if record.accepted {
                report.accepted += 1;
                *acc += 1;
            } else if record.unknown {
                report.unknown += 1;
                *unk += 1;
            } else {
                report.refused += 1;
            }
        }
        for (patient, seen) in observed.iter().enumerate() {
            let (acc, unk) = (accepted[patient], unknown[patient]);
            report.recorded += seen.rows;
            let doubled = seen.rows.saturating_sub(seen.distinct_messages);
            let missing = acc.saturating_sub(seen.distinct_messages);
            let extra = seen.distinct_messages.saturating_sub(acc + unk);
            report.doubled += doubled;
            report.missing += missing;
            report.extra += extra;
            if doubled + missing + extra > 0 && report.failures.len() < 20 {
                report.failures.push(PatientFailure {
                    patient,
                    accepted: acc,
                    unknown: unk,
                    recorded: seen.rows,
                    distinct: seen.distinct_messages,
                });
            }
        }
        report.passed = !stray && report.missing == 0 && report.extra == 0 && report.doubled == 0;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(rows: u64) -> Observed {
        Observed {
            rows,
            distinct_messages: rows,
        }
    }

    #[test]
    fn statuses_classify_as_committed_refused_or_unknown() {
        assert_eq!(Delivery::from_status(Some(200)), Delivery::Accepted);
        assert_eq!(Delivery::from_status(Some(403)), Delivery::Refused);
        assert_eq!(Delivery::from_status(Some(422)), Delivery::Refused);
        assert_eq!(Delivery::from_status(Some(503)), Delivery::Unknown);
        assert_eq!(Delivery::from_status(Some(500)), Delivery::Unknown);
        assert_eq!(Delivery::from_status(None), Delivery::Unknown);
    }

    #[test]
    fn repeated_sids_must_be_recorded_once() {
        let mut ledger = Ledger::new();
        ledger.record(0, "SM1", Delivery::Accepted);
        ledger.record(0, "SM1", Delivery::Accepted);
        ledger.record(0, "SM2", Delivery::Accepted);
        ledger.record(1, "SM3", Delivery::Accepted);
        let report = ledger.check(&[seen(2), seen(1)]);
        assert!(report.passed, "{report:?}");
        assert_eq!(
            (
                report.deliveries,
                report.unique_sids,
                report.repeats,
                report.accepted
            ),
            (4, 3, 1, 3)
        );
        assert_eq!(report.recorded, 3);

        // The repeat recorded a second time: an extra row.
        let report = ledger.check(&[seen(3), seen(1)]);
        assert!(!report.passed);
        assert_eq!(report.extra, 1);
        assert_eq!(report.failures[0].patient, 0);
    }

    #[test]
    fn a_lost_message_fails_the_check() {
        let mut ledger = Ledger::new();
        ledger.record(0, "SM1", Delivery::Accepted);
        ledger.record(0, "SM2", Delivery::Accepted);
        let report = ledger.check(&[seen(1)]);
        assert!(!report.passed);
        assert_eq!(report.missing, 1);
    }

    #[test]
    fn a_message_named_by_two_rows_fails_the_check() {
        let mut ledger = Ledger::new();
        ledger.record(0, "SM1", Delivery::Accepted);
        ledger.record(0, "SM2", Delivery::Accepted);
        let report = ledger.check(&[Observed {
            rows: 2,
            distinct_messages: 1,
        }]);
        assert!(!report.passed);
        assert_eq!((report.doubled, report.missing), (1, 1));
    }

    #[test]
    fn unknown_outcomes_may_or_may_not_be_recorded_refused_ones_never() {
        let mut ledger = Ledger::new();
        ledger.record(0, "SM1", Delivery::Accepted);
        ledger.record(0, "SM2", Delivery::Unknown);
        ledger.record(0, "SM3", Delivery::Refused);
        // A timed-out delivery retried and then accepted counts as accepted.
        ledger.record(0, "SM4", Delivery::Unknown);
        ledger.record(0, "SM4", Delivery::Accepted);
        for rows in [2, 3] {
            let report = ledger.check(&[seen(rows)]);
            assert!(report.passed, "{rows}: {report:?}");
            assert_eq!((report.accepted, report.unknown, report.refused), (2, 1, 1));
        }
        assert_eq!(ledger.check(&[seen(1)]).missing, 1);
        assert_eq!(ledger.check(&[seen(4)]).extra, 1);
    }

    #[test]
    fn a_patient_with_nothing_sent_must_have_nothing_recorded() {
        let ledger = Ledger::new();
        assert!(ledger.check(&[seen(0), seen(0)]).passed);
        assert_eq!(ledger.check(&[seen(0), seen(1)]).extra, 1);
    }

    #[test]
    fn a_sid_of_an_unobserved_patient_fails_the_check() {
        let mut ledger = Ledger::new();
        ledger.record(3, "SM1", Delivery::Accepted);
        assert!(!ledger.check(&[seen(0)]).passed);
    }
}
