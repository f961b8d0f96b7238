//! Two tests' summaries side by side: each figure of test A, of test B, and the change
//! (absolute and in per cent of A). Overall figures first, then p95 and error % of every label
//! both tests have a row for, in A's order.

use super::summary::{LabelRow, TestSummary};
use serde::{Deserialize, Serialize};

/// What a comparison row measures; decides its unit and whether up is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    Samples,
    Errors,
    ErrorPct,
    ThroughputPerS,
    DurationS,
    MeanMs,
    P50Ms,
    P95Ms,
    P99Ms,
}

impl Figure {
    pub fn name(self) -> &'static str {
        match self {
            Figure::Samples => "samples",
            Figure::Errors => "errors",
            Figure::ErrorPct => "error %",
            Figure::ThroughputPerS => "throughput/s",
            Figure::DurationS => "duration s",
            Figure::MeanMs => "mean ms",
            Figure::P50Ms => "p50 ms",
            Figure::P95Ms => "p95 ms",
            Figure::P99Ms => "p99 ms",
        }
    }

    /// True when a larger value is worse (latency, errors).
    pub fn lower_is_better(self) -> bool {
        !matches!(
            self,
            Figure::Samples | Figure::ThroughputPerS | Figure::DurationS
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// `None` for the whole test, else the label the figure is of.
    pub label: Option<String>,
    pub figure: Figure,
    pub a: f64,
    pub b: f64,
    /// b − a.
    pub delta: f64,
    /// (b − a) / a × 100; `None` when a is 0 (no base to compare with).
    pub delta_pct: Option<f64>,
}

fn row(label: Option<&str>, figure: Figure, a: f64, b: f64) -> ComparisonRow {
    ComparisonRow {
        label: label.map(str::to_string),
        figure,
        a,
        b,
        delta: b - a,
        delta_pct: (a != 0.0).then(|| (b - a) / a * 100.0),
    }
}

/// The rows comparing test `a` (the baseline) with test `b`.
pub fn compare(a: &TestSummary, b: &TestSummary) -> Vec<ComparisonRow> {
    let mut rows = vec![
        row(None, Figure::Samples, a.samples as f64, b.samples as f64),
        row(None, Figure::Errors, a.errors as f64, b.errors as f64),
        row(None, Figure::ErrorPct, a.error_pct, b.error_pct),
        row(
            None,
            Figure::ThroughputPerS,
            a.throughput_per_s,
            b.throughput_per_s,
        ),
        row(
            None,
            Figure::DurationS,
            a.duration_ms as f64 / 1000.0,
            b.duration_ms as f64 / 1000.0,
        ),
        row(None, Figure::MeanMs, a.latency.mean_ms, b.latency.mean_ms),
        row(
            None,
            Figure::P50Ms,
            a.latency.percentiles.p50_ms as f64,
            b.latency.percentiles.p50_ms as f64,
        ),
        row(
            None,
            Figure::P95Ms,
            a.latency.percentiles.p95_ms as f64,
            b.latency.percentiles.p95_ms as f64,
        ),
        row(
            None,
            Figure::P99Ms,
            a.latency.percentiles.p99_ms as f64,
            b.latency.percentiles.p99_ms as f64,
        ),
    ];
    for mine in &a.labels {
        let Some(theirs) = b.labels.iter().find(|r| r.label == mine.label) else {
            continue;
        };
        rows.extend(label_rows(mine, theirs));
    }
    rows
}

fn label_rows(a: &LabelRow, b: &LabelRow) -> [ComparisonRow; 2] {
    let label = Some(a.label.as_str());
    [
        row(
            label,
            Figure::P95Ms,
            a.latency.percentiles.p95_ms as f64,
            b.latency.percentiles.p95_ms as f64,
        ),
        row(label, Figure::ErrorPct, a.error_pct, b.error_pct),
    ]
}
