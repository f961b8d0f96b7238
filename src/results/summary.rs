//! The summary of one test's JTL file: what the results message shows and what the bot stores
//! (as JSON, through serde) to compare two tests later.

use super::histogram::Percentiles;
use serde::{Deserialize, Serialize};

/// Which of JMeter's two result formats the file was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JtlFormat {
    Csv,
    Xml,
}

/// The figures of one test. Latencies are in milliseconds; `elapsed` of each top-level sample
/// (sub-results of a parent sample are not counted: see the crate's `results` module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestSummary {
    pub format: JtlFormat,
    pub samples: u64,
    pub errors: u64,
    /// errors / samples × 100; 0 when there are no samples.
    pub error_pct: f64,
    /// Start of the earliest sample (ms since the epoch), if there was one.
    pub first_start_ms: Option<i64>,
    /// End of the latest sample (its start + elapsed).
    pub last_end_ms: Option<i64>,
    /// last_end − first_start.
    pub duration_ms: u64,
    /// samples / duration, per second; 0 for a zero duration.
    pub throughput_per_s: f64,
    pub latency: LatencyFigures,
    /// Response bytes of every sample, if the file has them.
    pub bytes: u64,
    /// The most active threads in the whole test JMeter recorded (`allThreads`/`na`), if any.
    pub max_threads: Option<u32>,
    /// How many distinct labels the file had.
    pub label_count: usize,
    /// The busiest labels, most samples first (ties by label).
    pub labels: Vec<LabelRow>,
    /// Every label beyond `labels`, rolled up into one row (label `others (N labels)`).
    pub others: Option<LabelRow>,
    /// The response codes of failed samples, most frequent first (at most five).
    pub error_codes: Vec<CodeCount>,
    /// The first distinct (code, message) pairs among failed samples, in file order, with how
    /// many failed samples carried each (at most five).
    pub first_errors: Vec<ErrorExample>,
}

/// Latency figures over a set of samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyFigures {
    pub mean_ms: f64,
    pub min_ms: u64,
    pub max_ms: u64,
    #[serde(flatten)]
    pub percentiles: Percentiles,
}

/// One label's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelRow {
    pub label: String,
    pub samples: u64,
    pub errors: u64,
    pub error_pct: f64,
    /// This label's samples over the whole test's duration, per second.
    pub throughput_per_s: f64,
    pub latency: LatencyFigures,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeCount {
    pub code: String,
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorExample {
    pub code: String,
    /// JMeter's failure message if the file has one for the sample, else its response message.
    pub message: String,
    /// The label of the first sample that failed this way.
    pub label: String,
    pub count: u64,
}

impl TestSummary {
    /// Every label row, the roll-up last.
    pub fn all_rows(&self) -> impl Iterator<Item = &LabelRow> {
        self.labels.iter().chain(self.others.as_ref())
    }
}
