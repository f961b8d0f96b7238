//! Counters and histograms for `GET /metrics`, in Prometheus' text format. Plain atomics: a
//! handful of series, so a metrics crate would add more than it saves.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// A histogram with fixed upper bounds (seconds).
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(value.as_micros() as u64, Ordering::Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

const ACK_BOUNDS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0];
const RUN_BOUNDS: &[f64] = &[
    10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

/// The process's own metrics; the store and the Slack client report theirs when rendered.
pub struct Metrics {
    pub ack_latency: Histogram,
    pub unauthorized_requests: AtomicU64,
    /// Slack requests from a workspace or app the config does not name.
    pub foreign_requests: AtomicU64,
    /// Event deliveries Slack repeated, acknowledged and not handled again.
    pub duplicate_deliveries: AtomicU64,
    /// Commands by (verb, outcome); the verb is `invalid` when the text did not parse.
    commands: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Runs by outcome.
    runs: Mutex<BTreeMap<&'static str, u64>>,
    pub run_duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            ack_latency: Histogram::new(ACK_BOUNDS),
            unauthorized_requests: AtomicU64::new(0),
            foreign_requests: AtomicU64::new(0),
            duplicate_deliveries: AtomicU64::new(0),
            commands: Mutex::new(BTreeMap::new()),
            runs: Mutex::new(BTreeMap::new()),
            run_duration: Histogram::new(RUN_BOUNDS),
        }
    }
}

/// One counter or gauge line with its HELP and TYPE.
pub fn write_simple(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

impl Metrics {
    pub fn count_command(&self, verb: &'static str, outcome: &'static str) {
        *self
            .commands
            .lock()
            .expect("metrics lock poisoned")
            .entry((verb, outcome))
            .or_default() += 1;
    }

    pub fn count_run(&self, outcome: &'static str, duration: Option<Duration>) {
        *self
            .runs
            .lock()
            .expect("metrics lock poisoned")
            .entry(outcome)
            .or_default() += 1;
        if let Some(duration) = duration {
            self.run_duration.observe(duration);
        }
    }

    pub fn render_into(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP loadtest_commands_total Chat commands by verb and outcome.\n# TYPE loadtest_commands_total counter"
        );
        for ((verb, outcome), count) in self.commands.lock().expect("metrics lock poisoned").iter()
        {
            let _ = writeln!(
                out,
                "loadtest_commands_total{{verb=\"{verb}\",outcome=\"{outcome}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP loadtest_runs_total Finished runs by outcome.\n# TYPE loadtest_runs_total counter"
        );
        for (outcome, count) in self.runs.lock().expect("metrics lock poisoned").iter() {
            let _ = writeln!(out, "loadtest_runs_total{{outcome=\"{outcome}\"}} {count}");
        }
        self.run_duration.write(
            out,
            "loadtest_run_duration_seconds",
            "Wall time of finished runs, from the command to the result.",
        );
        self.ack_latency.write(
            out,
            "loadtest_slack_ack_seconds",
            "Time from receiving a slash command to its acknowledgement.",
        );
        write_simple(
            out,
            "loadtest_http_unauthorized_total",
            "counter",
            "Slack requests refused for a missing, forged or stale signature.",
            self.unauthorized_requests.load(Ordering::Relaxed),
        );
        write_simple(
            out,
            "loadtest_slack_foreign_requests_total",
            "counter",
            "Slack requests refused because their workspace or app is not configured.",
            self.foreign_requests.load(Ordering::Relaxed),
        );
        write_simple(
            out,
            "loadtest_slack_duplicate_deliveries_total",
            "counter",
            "Event deliveries Slack repeated, acknowledged and not handled again.",
            self.duplicate_deliveries.load(Ordering::Relaxed),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_into_cumulative_buckets() {
        let histogram = Histogram::new(&[0.01, 0.1]);
        histogram.observe(Duration::from_millis(5));
        histogram.observe(Duration::from_millis(50));
        histogram.observe(Duration::from_secs(2));
        let mut out = String::new();
        histogram.write(&mut out, "x_seconds", "test");
        assert!(out.contains("x_seconds_bucket{le=\"0.01\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"0.1\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_count 3\n"), "{out}");
        assert!(out.contains("x_seconds_sum 2.055\n"), "{out}");
    }
}
