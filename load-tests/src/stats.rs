//! Latency recording and its summary: an HDR histogram of microseconds per step, the status
//! counts, and the figures a run reports (count, errors, p50/p90/p99/max, achieved rate).
//!
//! Latency is measured from the moment a request was *due* (its slot in the steady schedule),
//! not from when it was actually sent, so a generator that falls behind shows up as latency
//! instead of silently lowering the load (no coordinated omission).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histogram holds (60 s, in µs); anything slower is clamped to it.
const HIGHEST_US: u64 = 60_000_000;

/// The latencies and outcomes of one kind of request.
#[derive(Debug, Clone)]
pub struct Recorder {
    histogram: Histogram<u64>,
    ok: u64,
    errors: u64,
    statuses: BTreeMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            histogram: Histogram::new_with_bounds(1, HIGHEST_US, 3)
                .expect("valid histogram bounds"),
            ok: 0,
            errors: 0,
            statuses: BTreeMap::new(),
        }
    }

    /// One finished request: its latency and `outcome`, an HTTP status or an error kind such as
    /// `timeout`. Any outcome but 2xx counts as an error.
    pub fn record(&mut self, latency: Duration, outcome: &str, success: bool) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, HIGHEST_US);
        self.histogram.saturating_record(micros);
        if success {
            self.ok += 1;
        } else {
            self.errors += 1;
        }
        // Looked up before inserting: no allocation per request once an outcome has been seen.
        match self.statuses.get_mut(outcome) {
            Some(count) => *count += 1,
            None => {
                self.statuses.insert(outcome.to_owned(), 1);
            }
        }
    }

    /// Adds everything `other` recorded (per-worker recorders are merged after a run).
    pub fn merge(&mut self, other: &Recorder) {
        self.histogram
            .add(&other.histogram)
            .expect("recorders share their bounds");
        self.ok += other.ok;
        self.errors += other.errors;
        for (outcome, count) in &other.statuses {
            *self.statuses.entry(outcome.clone()).or_default() += count;
        }
    }

    pub fn count(&self) -> u64 {
        self.ok + self.errors
    }

    /// The figures of this recorder, for a phase that lasted `elapsed`.
    pub fn summary(&self, elapsed: Duration) -> LatencySummary {
        let ms = |us: u64| us as f64 / 1000.0;
        let empty = self.histogram.is_empty();
        let at = |q: f64| {
            if empty {
                0.0
            } else {
                ms(self.histogram.value_at_quantile(q))
            }
        };
        let secs = elapsed.as_secs_f64();
        LatencySummary {
            count: self.count(),
            ok: self.ok,
            errors: self.errors,
            statuses: self.statuses.clone(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: if empty { 0.0 } else { ms(self.histogram.max()) },
            mean_ms: if empty {
                0.0
            } else {
                self.histogram.mean() / 1000.0
            },
            elapsed_secs: secs,
            achieved_rps: if secs > 0.0 {
                self.count() as f64 / secs
            } else {
                0.0
            },
        }
    }
}

/// What a run reports for one kind of request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub ok: u64,
    pub errors: u64,
    /// Outcomes by HTTP status (`"200"`) or error kind (`"timeout"`, `"connect"`).
    pub statuses: BTreeMap<String, u64>,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub elapsed_secs: f64,
    /// Finished requests per second over the phase.
    pub achieved_rps: f64,
}

impl LatencySummary {
    /// One line for people: `count 4000, errors 0, p50 1.2 ms, …`.
    pub fn line(&self) -> String {
        format!(
            "count {}, errors {}, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms, \
             achieved {:.1}/s over {:.1} s",
            self.count,
            self.errors,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
            self.achieved_rps,
            self.elapsed_secs
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b.abs() * 0.03 + 0.002
    }

    #[test]
    fn an_empty_recorder_summarises_to_zeroes() {
        let s = Recorder::new().summary(Duration::ZERO);
        assert_eq!(s.count, 0);
        assert_eq!(
            (s.p50_ms, s.p99_ms, s.max_ms, s.achieved_rps),
            (0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn quantiles_counts_and_rate_come_out_of_the_histogram() {
        let mut rec = Recorder::new();
        // 1 ms .. 100 ms, one each: p50 ≈ 50 ms, p90 ≈ 90 ms, p99 ≈ 99 ms, max 100 ms.
        for ms in 1..=100u64 {
            rec.record(Duration::from_millis(ms), "200", true);
        }
        rec.record(Duration::from_secs(2), "timeout", false);
        rec.record(Duration::from_millis(3), "503", false);
        let s = rec.summary(Duration::from_secs(2));
        assert_eq!((s.count, s.ok, s.errors), (102, 100, 2));
        assert_eq!(s.statuses["200"], 100);
        assert_eq!(s.statuses["timeout"], 1);
        assert_eq!(s.statuses["503"], 1);
        assert!(close(s.p50_ms, 50.0), "{}", s.p50_ms);
        assert!(close(s.p90_ms, 90.0), "{}", s.p90_ms);
        assert!(close(s.p99_ms, 100.0), "{}", s.p99_ms);
        assert!(close(s.max_ms, 2000.0), "{}", s.max_ms);
        assert!(close(s.achieved_rps, 51.0), "{}", s.achieved_rps);
        assert!(s.line().contains("errors 2"));
    }

    #[test]
    fn merged_recorders_count_and_rank_as_one() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        for ms in 1..=50u64 {
            a.record(Duration::from_millis(ms), "200", true);
        }
        for ms in 51..=100u64 {
            b.record(Duration::from_millis(ms), "200", true);
        }
        b.record(Duration::from_millis(7), "403", false);
        a.merge(&b);
        let s = a.summary(Duration::from_secs(1));
        assert_eq!((s.count, s.ok, s.errors), (101, 100, 1));
        assert_eq!((s.statuses["200"], s.statuses["403"]), (100, 1));
        assert!(close(s.p50_ms, 50.0), "{}", s.p50_ms);
        assert!(close(s.p99_ms, 99.0), "{}", s.p99_ms);
        assert!(close(s.max_ms, 100.0), "{}", s.max_ms);
    }

    #[test]
    fn extreme_latencies_are_clamped_not_lost() {
        let mut rec = Recorder::new();
        rec.record(Duration::ZERO, "200", true);
        rec.record(Duration::from_secs(3600), "timeout", false);
        let s = rec.summary(Duration::from_secs(1));
        assert_eq!(s.count, 2);
        assert!(close(s.max_ms, 60_000.0), "{}", s.max_ms);
    }
}
