//! results: a JMeter results file (JTL) → a [`TestSummary`] (samples, errors, throughput,
//! p50/p95/p99 overall and per label, the first errors), two summaries → a comparison, and
//! both as plain text or Slack mrkdwn. Pure: reads from any `BufRead`, no files, no Slack.
//!
//! Both of JMeter's formats are read, told apart by the first non-blank byte (`<` is XML):
//! - CSV ([`csv_jtl`]): a header line with JMeter's column names, in any order and subset;
//! - XML ([`xml_jtl`]): `<testResults>` of `<httpSample>`/`<sample>` elements. Nested
//!   sub-results are not counted, only the top-level samples, as JMeter's Aggregate Report
//!   counts a parent sample (the reasons are in `xml_jtl`).
//!
//! Streamed: one sample is in memory at a time; what grows is one entry per distinct label,
//! each holding a fixed-bucket latency histogram ([`histogram`]), so a file of any length is
//! summarised in a few megabytes. Bad input is a [`JtlError`] naming the line and the problem.
//!
//! Timestamps are taken as the samples' start times in ms since the epoch, JMeter's default
//! (`sampleresult.timestamp.start=true`); the test's duration runs from the earliest start to
//! the latest end (start + elapsed).

mod accumulate;
mod compare;
mod csv_jtl;
mod error;
mod histogram;
mod render;
mod summary;
mod xml_jtl;

pub use accumulate::{MAX_LABELS, OVERFLOW_LABEL};
pub use compare::{compare, ComparisonRow, Figure};
pub use error::{JtlError, Problem};
pub use histogram::{LatencyHistogram, Percentiles};
pub use render::{comparison_mrkdwn, comparison_text, summary_mrkdwn, summary_text};
pub use summary::{CodeCount, ErrorExample, JtlFormat, LabelRow, LatencyFigures, TestSummary};

use std::io::BufRead;

/// How many labels get a row of their own in a summary by default (the rest are rolled up).
pub const DEFAULT_TOP_LABELS: usize = 10;

/// Summarises a JTL file (CSV or XML) with the [`DEFAULT_TOP_LABELS`] busiest labels as rows.
pub fn summarise<R: BufRead>(reader: R) -> Result<TestSummary, JtlError> {
    summarise_top(reader, DEFAULT_TOP_LABELS)
}

/// Summarises a JTL file with the `top` busiest labels as rows and the rest as `others`.
pub fn summarise_top<R: BufRead>(mut reader: R, top: usize) -> Result<TestSummary, JtlError> {
    let skipped_lines = skip_blank(&mut reader)?;
    let first = reader.fill_buf()?;
    match first.first() {
        None => Err(JtlError::Empty),
        Some(b'<') => xml_jtl::summarise_xml(reader, skipped_lines, top),
        Some(_) => {
            let delimiter = delimiter_of(first);
            csv_jtl::summarise_csv(reader, delimiter, skipped_lines, top)
        }
    }
}

/// Consumes a UTF-8 byte-order mark and leading whitespace; returns the newlines skipped.
fn skip_blank<R: BufRead>(reader: &mut R) -> Result<u64, JtlError> {
    let mut newlines = 0;
    let mut at_start = true;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(newlines);
        }
        let mut skip = 0;
        if at_start && buffer.starts_with(b"\xEF\xBB\xBF") {
            skip = 3;
        }
        at_start = false;
        while skip < buffer.len() && buffer[skip].is_ascii_whitespace() {
            newlines += u64::from(buffer[skip] == b'\n');
            skip += 1;
        }
        let done = skip < buffer.len();
        reader.consume(skip);
        if done {
            return Ok(newlines);
        }
    }
}

/// JMeter's CSV delimiter is a comma unless `jmeter.save.saveservice.default_delimiter` says
/// otherwise; a tab in a header line without commas is the one other delimiter in use.
fn delimiter_of(start: &[u8]) -> u8 {
    let first_line = start.split(|&b| b == b'\n').next().unwrap_or(start);
    if first_line.contains(&b'\t') && !first_line.contains(&b',') {
        b'\t'
    } else {
        b','
    }
}

#[cfg(test)]
mod tests;
