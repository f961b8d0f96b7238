//! Summaries and comparisons as text: plain for the console and `exec`, mrkdwn for Slack (the
//! bot's templates can also use the structs through serde). The per-label table is
//! fixed-width, so in Slack it goes in a code block; text from the JTL (labels, messages) is
//! escaped for mrkdwn and cannot close that block.

use super::compare::ComparisonRow;
use super::summary::{LabelRow, TestSummary};
use crate::slack::mrkdwn;
use std::fmt::Write;

/// Widest label shown in a table; longer ones are cut with `…`.
const LABEL_WIDTH: usize = 40;

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn duration(ms: u64) -> String {
    let seconds = ms / 1000;
    match seconds {
        0..=59 => format!("{:.1} s", ms as f64 / 1000.0),
        60..=3599 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h {:02}m", seconds / 3600, seconds / 60 % 60),
    }
}

fn cut(label: &str) -> String {
    let label = label.replace(['\n', '\r', '\t'], " ");
    if label.chars().count() <= LABEL_WIDTH {
        return label;
    }
    let mut short: String = label.chars().take(LABEL_WIDTH - 1).collect();
    short.push('…');
    short
}

fn headline(s: &TestSummary) -> [String; 2] {
    let p = s.latency.percentiles;
    [
        format!(
            "{} samples in {} · {:.1}/s · errors {} ({:.2} %)",
            thousands(s.samples),
            duration(s.duration_ms),
            s.throughput_per_s,
            thousands(s.errors),
            s.error_pct
        ),
        format!(
            "latency ms: p50 {} · p95 {} · p99 {} (mean {:.1}, max {})",
            p.p50_ms, p.p95_ms, p.p99_ms, s.latency.mean_ms, s.latency.max_ms
        ),
    ]
}

fn table(s: &TestSummary) -> String {
    let mut out = format!(
        "{:<w$} {:>10} {:>7} {:>6} {:>6} {:>6} {:>8}\n",
        "label",
        "samples",
        "err %",
        "p50",
        "p95",
        "p99",
        "/s",
        w = LABEL_WIDTH
    );
    let line = |out: &mut String, r: &LabelRow| {
        let p = r.latency.percentiles;
        let _ = writeln!(
            out,
            "{:<w$} {:>10} {:>7.2} {:>6} {:>6} {:>6} {:>8.1}",
            cut(&r.label),
            thousands(r.samples),
            r.error_pct,
            p.p50_ms,
            p.p95_ms,
            p.p99_ms,
            r.throughput_per_s,
            w = LABEL_WIDTH
        );
    };
    s.all_rows().for_each(|r| line(&mut out, r));
    out
}

fn error_lines(s: &TestSummary) -> Vec<String> {
    let mut lines = Vec::new();
    if !s.error_codes.is_empty() {
        let codes: Vec<String> = s
            .error_codes
            .iter()
            .map(|c| format!("{} × {}", c.code, thousands(c.count)))
            .collect();
        lines.push(format!("error codes: {}", codes.join(", ")));
    }
    for e in &s.first_errors {
        lines.push(format!(
            "{} {} ({}) × {}",
            e.code,
            e.message,
            cut(&e.label),
            thousands(e.count)
        ));
    }
    lines
}

/// The summary as plain text: two headline lines, the label table, the errors.
pub fn summary_text(s: &TestSummary) -> String {
    let mut out = headline(s).join("\n");
    out.push_str("\n\n");
    out.push_str(&table(s));
    for line in error_lines(s) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Text from the JTL inside a code block: mrkdwn-escaped, and no backtick to end the block.
fn in_code_block(text: &str) -> String {
    mrkdwn::escape(&text.replace('`', "'"))
}

/// The summary as Slack mrkdwn: bold headline, the table in a code block, the errors.
pub fn summary_mrkdwn(s: &TestSummary) -> String {
    let [first, second] = headline(s);
    let mut out = format!(
        "*{}*\n{}\n```{}```",
        mrkdwn::escape(&first),
        mrkdwn::escape(&second),
        in_code_block(&table(s))
    );
    for line in error_lines(s) {
        out.push_str("\n• ");
        out.push_str(&mrkdwn::escape(&line));
    }
    out
}

fn comparison_table(rows: &[ComparisonRow]) -> String {
    let mut out = format!(
        "{:<w$} {:<12} {:>12} {:>12} {:>12} {:>9}\n",
        "label",
        "figure",
        "A",
        "B",
        "B − A",
        "change",
        w = LABEL_WIDTH
    );
    for r in rows {
        let change = r
            .delta_pct
            .map_or("–".to_string(), |p| format!("{p:+.1} %"));
        let _ = writeln!(
            out,
            "{:<w$} {:<12} {:>12.2} {:>12.2} {:>+12.2} {:>9}",
            cut(r.label.as_deref().unwrap_or("(all)")),
            r.figure.name(),
            r.a,
            r.b,
            r.delta,
            change,
            w = LABEL_WIDTH
        );
    }
    out
}

/// A comparison as plain text, one row per figure.
pub fn comparison_text(rows: &[ComparisonRow]) -> String {
    comparison_table(rows)
}

/// A comparison as Slack mrkdwn (the table in a code block).
pub fn comparison_mrkdwn(rows: &[ComparisonRow]) -> String {
    format!("```{}```", in_code_block(&comparison_table(rows)))
}
