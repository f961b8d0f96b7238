//! The running test's figures for its live message, from the master's JTL exporter: the bot
//! asks the master (SSM Run Command) for the exporter's Prometheus text file and reads
//! throughput, error %, p95 and active threads from it. The same numbers feed the Grafana
//! dashboard; reading the file the master already keeps needs no route from the bot to
//! Prometheus and no query language, only one small command per poll.

use std::collections::BTreeMap;
use std::time::Instant;

/// Where `loadtest-run`'s exporter writes its figures on the master (node_exporter's textfile
/// directory).
pub const EXPORTER_FILE: &str = "/var/lib/node_exporter/textfile/loadtest-jmeter.prom";

/// The master's command line for one reading: only the series the message needs, so the
/// answer stays within what SSM returns inline (24,000 characters).
pub fn read_argv() -> Vec<String> {
    [
        "grep",
        "-hE",
        "^jmeter_(samples_total|active_threads|response_time_seconds_bucket)\\{",
        EXPORTER_FILE,
    ]
    .iter()
    .map(|word| word.to_string())
    .collect()
}

/// One reading of the exporter's series for one test.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub at: Instant,
    pub samples: u64,
    pub errors: u64,
    pub threads: u64,
    /// Cumulative counts by upper bound in seconds, summed over labels (`+Inf` is infinity).
    buckets: BTreeMap<u64, u64>,
}

impl Reading {
    /// The series of test `key` in the exporter's text; `None` when it has none yet.
    pub fn parse(text: &str, key: &str, at: Instant) -> Option<Reading> {
        let test = format!("test_id=\"{key}\"");
        let mut reading = Reading {
            at,
            samples: 0,
            errors: 0,
            threads: 0,
            buckets: BTreeMap::new(),
        };
        let mut seen = false;
        for line in text.lines() {
            let (Some(open), Some(close)) = (line.find('{'), line.rfind('}')) else {
                continue;
            };
            let labels = &line[open + 1..close];
            if !labels.contains(&test) {
                continue;
            }
            let Ok(value) = line[close + 1..].trim().parse::<f64>() else {
                continue;
            };
            let value = value.max(0.0) as u64;
            seen = true;
            match &line[..open] {
                "jmeter_samples_total" => {
                    reading.samples += value;
                    if labels.contains("success=\"false\"") {
                        reading.errors += value;
                    }
                }
                "jmeter_active_threads" => reading.threads += value,
                "jmeter_response_time_seconds_bucket" => {
                    if let Some(bound) = label(labels, "le").and_then(bound_micros) {
                        *reading.buckets.entry(bound).or_default() += value;
                    }
                }
                _ => {}
            }
        }
        seen.then_some(reading)
    }

    /// `throughput 412.5/s · errors 0.21 % · p95 ≤ 250 ms · 50 threads`; throughput needs an
    /// earlier reading.
    pub fn figures(&self, earlier: Option<&Reading>) -> String {
        let mut parts = Vec::new();
        if let Some(earlier) = earlier {
            let seconds = self.at.duration_since(earlier.at).as_secs_f64();
            if seconds > 0.0 && self.samples >= earlier.samples {
                let rate = (self.samples - earlier.samples) as f64 / seconds;
                parts.push(format!("throughput {rate:.1}/s"));
            }
        }
        let error_pct = if self.samples == 0 {
            0.0
        } else {
            self.errors as f64 * 100.0 / self.samples as f64
        };
        parts.push(format!("{} samples", self.samples));
        parts.push(format!("errors {error_pct:.2} %"));
        if let Some(p95) = self.p95_micros() {
            if p95 == u64::MAX {
                parts.push("p95 over the largest bucket".to_string());
            } else {
                parts.push(format!("p95 ≤ {} ms", p95 as f64 / 1000.0));
            }
        }
        parts.push(format!("{} threads", self.threads));
        parts.join(" · ")
    }

    /// The smallest bucket bound holding 95 % of the samples (`u64::MAX`: `+Inf`).
    fn p95_micros(&self) -> Option<u64> {
        let total = *self.buckets.get(&u64::MAX)?;
        if total == 0 {
            return None;
        }
        let wanted = (total as f64 * 0.95).ceil() as u64;
        self.buckets
            .iter()
            .find(|(_, count)| **count >= wanted)
            .map(|(bound, _)| *bound)
    }
}

/// The value of `name="…"` in a label set.
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let end = labels[start..].find('"')? + start;
    Some(&labels[start..end])
}

/// A bucket bound (`0.25`, `+Inf`) in microseconds, so bounds order as integers.
fn bound_micros(text: &str) -> Option<u64> {
    if text == "+Inf" {
        return Some(u64::MAX);
    }
    let seconds: f64 = text.parse().ok()?;
    Some((seconds * 1_000_000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// What the exporter writes (its `render`), for two labels of test `7-x` and another test.
    const EXPORTED: &str = r#"jmeter_samples_total{test_id="7-x",label="GET /",success="true"} 900
jmeter_samples_total{test_id="7-x",label="GET /",success="false"} 10
jmeter_samples_total{test_id="7-x",label="POST \"a,b\"",success="true"} 90
jmeter_samples_total{test_id="other",label="GET /",success="false"} 5000
jmeter_response_time_seconds_bucket{test_id="7-x",label="GET /",le="0.1"} 500
jmeter_response_time_seconds_bucket{test_id="7-x",label="GET /",le="0.25"} 900
jmeter_response_time_seconds_bucket{test_id="7-x",label="GET /",le="+Inf"} 910
jmeter_response_time_seconds_bucket{test_id="7-x",label="POST \"a,b\"",le="0.1"} 10
jmeter_response_time_seconds_bucket{test_id="7-x",label="POST \"a,b\"",le="0.25"} 60
jmeter_response_time_seconds_bucket{test_id="7-x",label="POST \"a,b\"",le="+Inf"} 90
jmeter_active_threads{test_id="7-x",host="10.0.1.5"} 25
jmeter_active_threads{test_id="7-x",host="10.0.1.6"} 25
"#;

    #[test]
    fn the_exporters_series_become_the_messages_figures() {
        let start = Instant::now();
        let first = Reading::parse(EXPORTED, "7-x", start).expect("series of 7-x");
        assert_eq!((first.samples, first.errors, first.threads), (1000, 10, 50));
        // 95 % of 1,000 is 950: the 0.25 s bucket holds 960.
        assert_eq!(
            first.figures(None),
            "1000 samples · errors 1.00 % · p95 ≤ 250 ms · 50 threads"
        );
        let later_text = EXPORTED.replace("} 900\n", "} 1900\n");
        let later = Reading::parse(&later_text, "7-x", start + Duration::from_secs(10)).unwrap();
        assert!(later
            .figures(Some(&first))
            .starts_with("throughput 100.0/s · 2000 samples"));
        assert_eq!(Reading::parse(EXPORTED, "8-y", start), None);
        assert_eq!(Reading::parse("", "7-x", start), None);
    }
}
