//! The JTL summariser on files written by real JMeter (tests/fixtures/jtl/, README there says
//! how each was made): CSV with JMeter's default columns and with another subset (a quoted
//! label with a comma), XML, and XML whose samples carry sub-results. Every figure is checked
//! against `expected.py`, which computes it independently (Python's csv and ElementTree,
//! exact sorted percentiles); percentiles may differ by the histogram's error (≤ 1 %).

use super::support::repo_root;
use loadtest_bot::results::{summarise, summarise_top, JtlFormat, TestSummary};
use serde_json::Value;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/jtl").join(name)
}

/// The figures `expected.py` computes for a fixture. Python 3 is required (the tests fail
/// without it, they never skip).
fn expected(name: &str) -> Value {
    let output = Command::new("python3")
        .arg(fixture("expected.py"))
        .arg(fixture(name))
        .output()
        .expect("python3 runs tests/fixtures/jtl/expected.py");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("expected.py prints JSON")
}

/// Every label as a row of its own, so each can be checked.
fn summary(name: &str) -> TestSummary {
    let file = File::open(fixture(name)).expect("fixture");
    let summary = summarise_top(BufReader::new(file), usize::MAX).expect("summarise");
    assert!(summary.others.is_none());
    summary
}

fn within_histogram_error(ours: u64, exact: &Value, what: &str) {
    let exact = exact.as_u64().expect("a number");
    let allowed = exact as f64 * 0.01;
    assert!(
        (ours as f64 - exact as f64).abs() <= allowed,
        "{what}: {ours} ms, exactly {exact} ms"
    );
}

/// Asserts a fixture's summary against the independent figures.
fn check(name: &str, format: JtlFormat) -> TestSummary {
    let s = summary(name);
    let want = expected(name);
    assert_eq!(s.format, format, "{name}");
    assert_eq!(s.samples, want["samples"], "{name}: samples");
    assert_eq!(s.errors, want["errors"], "{name}: errors");
    assert_eq!(s.first_start_ms, want["first_start_ms"].as_i64(), "{name}");
    assert_eq!(s.last_end_ms, want["last_end_ms"].as_i64(), "{name}");
    for p in ["p50_ms", "p95_ms", "p99_ms"] {
        let ours = serde_json::to_value(s.latency.percentiles).unwrap()[p]
            .as_u64()
            .unwrap();
        within_histogram_error(ours, &want["latency"][p], &format!("{name} {p}"));
    }
    let labels = want["labels"].as_object().expect("labels");
    assert_eq!(s.labels.len(), labels.len(), "{name}: labels");
    for row in &s.labels {
        let exact = &labels[&row.label];
        assert_eq!(row.samples, exact["samples"], "{name} {}", row.label);
        assert_eq!(row.errors, exact["errors"], "{name} {}", row.label);
        let percentiles = serde_json::to_value(row.latency.percentiles).unwrap();
        for p in ["p50_ms", "p95_ms", "p99_ms"] {
            let ours = percentiles[p].as_u64().unwrap();
            within_histogram_error(ours, &exact[p], &format!("{name} {} {p}", row.label));
        }
    }
    let codes = want["error_codes"].as_object().expect("codes");
    assert_eq!(s.error_codes.len(), codes.len().min(5), "{name}");
    for code in &s.error_codes {
        assert_eq!(code.count, codes[&code.code], "{name} code {}", code.code);
    }
    s
}

#[test]
fn csv_with_jmeters_default_columns() {
    let s = check("csv-default.jtl", JtlFormat::Csv);
    assert!(
        s.errors > 0 && s.errors < s.samples,
        "the fixture has both outcomes"
    );
    assert_eq!(s.first_errors[0].code, "404");
    assert_eq!(s.first_errors[0].message, "File not found");
    assert_eq!(s.first_errors[0].count, s.errors);
    assert!(s.max_threads.is_some());
}

#[test]
fn csv_with_another_column_subset_and_a_quoted_label() {
    let s = check("csv-subset.jtl", JtlFormat::Csv);
    assert!(
        s.labels.iter().any(|r| r.label == "GET /a,b"),
        "{:?}",
        s.labels
    );
}

#[test]
fn xml() {
    let s = check("xml.jtl", JtlFormat::Xml);
    assert!(s.errors > 0 && s.errors < s.samples);
}

#[test]
fn xml_sub_results_are_not_counted_only_their_parents() {
    let s = check("xml-subresults.jtl", JtlFormat::Xml);
    let text = std::fs::read_to_string(fixture("xml-subresults.jtl")).unwrap();
    let elements = text.matches("<httpSample ").count() + text.matches("<sample ").count();
    assert!(
        elements >= 4 * s.samples as usize,
        "the fixture nests sub-results: {elements}"
    );
    let labels: Vec<&str> = s.labels.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, ["checkout"]);
    // The same plan written as CSV (which holds parent samples only) gives the same counts.
    let csv = check("csv-subresults.jtl", JtlFormat::Csv);
    assert_eq!((csv.samples, csv.errors), (s.samples, s.errors));
    assert_eq!(csv.labels[0].label, "checkout");
}

#[test]
fn default_summary_has_top_ten_and_renders() {
    let file = File::open(fixture("csv-default.jtl")).unwrap();
    let s = summarise(BufReader::new(file)).unwrap();
    let text = loadtest_bot::results::summary_text(&s);
    assert!(
        text.starts_with(&format!("{} samples in ", s.samples)),
        "{text}"
    );
    assert!(text.contains("GET /missing"), "{text}");
    let json = serde_json::to_string(&s).unwrap();
    let back: TestSummary = serde_json::from_str(&json).unwrap();
    let rows = loadtest_bot::results::compare(&s, &back);
    assert!(rows.iter().all(|r| r.delta == 0.0), "{rows:?}");
}
