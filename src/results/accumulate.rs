//! Folds samples, one at a time, into per-label counters and histograms, then into a
//! [`TestSummary`]. The only state that grows is one entry per distinct label (capped) and per
//! distinct error code (capped), never per sample.

use super::histogram::LatencyHistogram;
use super::summary::{CodeCount, ErrorExample, JtlFormat, LabelRow, LatencyFigures, TestSummary};
use std::collections::HashMap;

/// Distinct labels tracked one by one; samples of any further label are counted under one
/// overflow label. A plan has tens of labels; thousands mean labels carry ids or URLs, and each
/// tracked label costs up to 26 KB of histogram.
pub const MAX_LABELS: usize = 2_000;
/// Label of the samples beyond `MAX_LABELS`.
pub const OVERFLOW_LABEL: &str = "(labels beyond the first 2000)";
/// Distinct error codes counted; further codes are counted as `other`.
const MAX_CODES: usize = 1_000;
const FIRST_ERRORS: usize = 5;
const TOP_CODES: usize = 5;

/// One sample as read from either format; fields borrow from the reader's buffer.
#[derive(Debug)]
pub struct Sample<'a> {
    /// Start of the sample, ms since the epoch (JMeter's `timeStamp`/`ts`, which is the start
    /// time unless `sampleresult.timestamp.start=false`).
    pub timestamp_ms: i64,
    pub elapsed_ms: u32,
    pub label: &'a str,
    pub success: bool,
    pub code: &'a str,
    pub message: &'a str,
    pub bytes: u64,
    pub all_threads: Option<u32>,
}

#[derive(Default)]
struct LabelStats {
    samples: u64,
    errors: u64,
    sum_ms: u64,
    min_ms: u32,
    max_ms: u32,
    histogram: LatencyHistogram,
}

impl LabelStats {
    fn add(&mut self, sample: &Sample) {
        if self.samples == 0 || sample.elapsed_ms < self.min_ms {
            self.min_ms = sample.elapsed_ms;
        }
        self.max_ms = self.max_ms.max(sample.elapsed_ms);
        self.samples += 1;
        self.errors += u64::from(!sample.success);
        self.sum_ms += u64::from(sample.elapsed_ms);
        self.histogram.record(sample.elapsed_ms);
    }

    fn merge(&mut self, other: &LabelStats) {
        if other.samples == 0 {
            return;
        }
        if self.samples == 0 || other.min_ms < self.min_ms {
            self.min_ms = other.min_ms;
        }
        self.max_ms = self.max_ms.max(other.max_ms);
        self.samples += other.samples;
        self.errors += other.errors;
        self.sum_ms += other.sum_ms;
        self.histogram.merge(&other.histogram);
    }

    fn row(&self, label: String, duration_ms: u64) -> LabelRow {
        LabelRow {
            label,
            samples: self.samples,
            errors: self.errors,
            error_pct: pct(self.errors, self.samples),
            throughput_per_s: per_second(self.samples, duration_ms),
            latency: self.figures(),
        }
    }

    fn figures(&self) -> LatencyFigures {
        LatencyFigures {
            mean_ms: if self.samples == 0 {
                0.0
            } else {
                self.sum_ms as f64 / self.samples as f64
            },
            min_ms: u64::from(self.min_ms),
            max_ms: u64::from(self.max_ms),
            percentiles: self.histogram.percentiles(),
        }
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn per_second(count: u64, duration_ms: u64) -> f64 {
    if duration_ms == 0 {
        0.0
    } else {
        count as f64 * 1000.0 / duration_ms as f64
    }
}

/// Everything a summary needs, accumulated sample by sample.
pub struct Accumulator {
    format: JtlFormat,
    index: HashMap<String, usize>,
    labels: Vec<(String, LabelStats)>,
    first_start_ms: Option<i64>,
    last_end_ms: Option<i64>,
    bytes: u64,
    max_threads: Option<u32>,
    codes: HashMap<String, u64>,
    first_errors: Vec<ErrorExample>,
}

impl Accumulator {
    pub fn new(format: JtlFormat) -> Accumulator {
        Accumulator {
            format,
            index: HashMap::new(),
            labels: Vec::new(),
            first_start_ms: None,
            last_end_ms: None,
            bytes: 0,
            max_threads: None,
            codes: HashMap::new(),
            first_errors: Vec::new(),
        }
    }

    pub fn add(&mut self, sample: &Sample) {
        let slot = self.slot(sample.label);
        self.labels[slot].1.add(sample);
        let end = sample
            .timestamp_ms
            .saturating_add(i64::from(sample.elapsed_ms));
        self.first_start_ms = Some(
            self.first_start_ms
                .map_or(sample.timestamp_ms, |t| t.min(sample.timestamp_ms)),
        );
        self.last_end_ms = Some(self.last_end_ms.map_or(end, |t| t.max(end)));
        self.bytes = self.bytes.saturating_add(sample.bytes);
        if let Some(threads) = sample.all_threads {
            self.max_threads = Some(self.max_threads.map_or(threads, |t| t.max(threads)));
        }
        if !sample.success {
            self.add_error(sample);
        }
    }

    /// The label's index, adding it (or the overflow label) on first sight. Looks up by `&str`
    /// so a label already seen costs no allocation.
    fn slot(&mut self, label: &str) -> usize {
        if let Some(&slot) = self.index.get(label) {
            return slot;
        }
        let label = if self.labels.len() < MAX_LABELS {
            label
        } else {
            OVERFLOW_LABEL
        };
        if let Some(&slot) = self.index.get(label) {
            return slot;
        }
        self.labels.push((label.to_string(), LabelStats::default()));
        self.index.insert(label.to_string(), self.labels.len() - 1);
        self.labels.len() - 1
    }

    fn add_error(&mut self, sample: &Sample) {
        if let Some(count) = self.codes.get_mut(sample.code) {
            *count += 1;
        } else if self.codes.len() < MAX_CODES {
            self.codes.insert(sample.code.to_string(), 1);
        } else {
            *self.codes.entry("other".to_string()).or_default() += 1;
        }
        let known = self
            .first_errors
            .iter()
            .position(|e| e.code == sample.code && e.message == sample.message);
        match known {
            Some(i) => self.first_errors[i].count += 1,
            None if self.first_errors.len() < FIRST_ERRORS => {
                self.first_errors.push(ErrorExample {
                    code: sample.code.to_string(),
                    message: sample.message.to_string(),
                    label: sample.label.to_string(),
                    count: 1,
                })
            }
            None => {}
        }
    }

    /// The summary, with the `top` busiest labels as rows and the rest rolled up.
    pub fn finish(mut self, top: usize) -> TestSummary {
        let duration_ms = match (self.first_start_ms, self.last_end_ms) {
            (Some(first), Some(last)) => last.saturating_sub(first).max(0) as u64,
            _ => 0,
        };
        let mut total = LabelStats::default();
        for (_, stats) in &self.labels {
            total.merge(stats);
        }
        let label_count = self.labels.len();
        self.labels
            .sort_by(|a, b| b.1.samples.cmp(&a.1.samples).then_with(|| a.0.cmp(&b.0)));
        let rest = self.labels.split_off(top.min(self.labels.len()));
        let others = (!rest.is_empty()).then(|| {
            let mut rolled = LabelStats::default();
            rest.iter().for_each(|(_, stats)| rolled.merge(stats));
            rolled.row(format!("others ({} labels)", rest.len()), duration_ms)
        });
        let mut error_codes: Vec<CodeCount> = self
            .codes
            .into_iter()
            .map(|(code, count)| CodeCount { code, count })
            .collect();
        error_codes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
        error_codes.truncate(TOP_CODES);
        TestSummary {
            format: self.format,
            samples: total.samples,
            errors: total.errors,
            error_pct: pct(total.errors, total.samples),
            first_start_ms: self.first_start_ms,
            last_end_ms: self.last_end_ms,
            duration_ms,
            throughput_per_s: per_second(total.samples, duration_ms),
            latency: total.figures(),
            bytes: self.bytes,
            max_threads: self.max_threads,
            label_count,
            labels: self
                .labels
                .into_iter()
                .map(|(label, s)| s.row(label, duration_ms))
                .collect(),
            others,
            error_codes,
            first_errors: self.first_errors,
        }
    }
}
