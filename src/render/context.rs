//! Views → the JSON context each template sees: computed wording (titles, counts, bars, costs)
//! and long lists cut to what fits in one Slack section, with the exact count left out.
//! No templates and no I/O here.

use super::views::*;
use crate::model::RunOutcome;
use crate::slack::actions::ButtonAction;
use crate::slack::mrkdwn::escape as mrkdwn_escape;
use serde_json::{json, Value};

/// Characters of list lines per section, below Slack's 3,000 to leave room for a heading and
/// the "… and N more" line.
const LIST_BUDGET: usize = 2600;
const MAX_DIAGNOSTICS: usize = 10;
const MAX_DIAGNOSTIC_DETAIL: usize = 1000;
const BAR_WIDTH: usize = 10;
/// Longest user text echoed back in a refusal.
const MAX_ECHO: usize = 80;

pub(super) fn run(r: &RunRef) -> Value {
    json!({
        "run_id": r.run_id,
        "env": r.env,
        "verb": r.verb,
        "args": r.args,
        "actor": r.actor,
        "approved_by": r.approved_by,
        "title": r.title(),
    })
}

/// How many leading items fit in `budget` characters of mrkdwn, given each one's line.
fn fitting<T>(items: &[T], line: impl Fn(&T) -> String) -> usize {
    let mut used = 0;
    for (i, item) in items.iter().enumerate() {
        used += mrkdwn_escape(&line(item)).chars().count() + 1;
        if used > LIST_BUDGET {
            return i;
        }
    }
    items.len()
}

fn counts(c: &Option<ChangeCounts>) -> Value {
    match c {
        Some(c) => json!({
            "added": c.added, "changed": c.changed, "destroyed": c.destroyed, "text": c.to_string(),
        }),
        None => Value::Null,
    }
}

fn outputs(o: &KeyOutputs) -> Value {
    // (label, value, link, plain): a link is shown as one, plain text (a sentence, not an
    // address) without code formatting.
    let items: Vec<Value> = [
        ("JMeter master", &o.master_ip, false, false),
        ("Grafana", &o.grafana_url, true, false),
        ("Kibana", &o.kibana_url, true, false),
        ("Ready", &o.readiness, false, true),
        ("AWS backstop", &o.backstop, false, true),
    ]
    .into_iter()
    .filter_map(|(label, value, link, plain)| {
        value
            .as_ref()
            .map(|v| json!({"label": label, "value": v, "link": link, "plain": plain}))
    })
    .collect();
    json!({
        "master_ip": o.master_ip,
        "grafana_url": o.grafana_url,
        "kibana_url": o.kibana_url,
        "items": items,
    })
}

fn plan_counts_text(add: usize, change: usize, destroy: usize, replace: usize) -> String {
    let mut text = format!("{add} to add, {change} to change, {destroy} to destroy");
    if replace > 0 {
        text.push_str(&format!(", {replace} to replace"));
    }
    text
}

fn plan(p: &PlanView) -> Value {
    let group_text = |g: &PlanGroup| {
        let parts: Vec<String> = [
            (g.add, "to add"),
            (g.change, "to change"),
            (g.destroy, "to destroy"),
            (g.replace, "to replace"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, words)| format!("{n} {words}"))
        .collect();
        parts.join(", ")
    };
    let line = |g: &PlanGroup| format!("• {} {}: {}", g.module, g.resource_type, group_text(g));
    let shown = fitting(&p.groups, line);
    let groups: Vec<Value> = p.groups[..shown]
        .iter()
        .map(|g| json!({"module": g.module, "resource_type": g.resource_type, "text": group_text(g)}))
        .collect();
    json!({
        "add": p.add,
        "change": p.change,
        "destroy": p.destroy,
        "replace": p.replace,
        "text": plan_counts_text(p.add, p.change, p.destroy, p.replace),
        "groups": groups,
        "hidden": p.groups.len() - shown,
    })
}

fn destructive(items: &[DestructiveItem]) -> Value {
    if items.is_empty() {
        return Value::Null;
    }
    let line = |d: &DestructiveItem| {
        format!(
            "• `{}` {} ({})",
            d.address,
            d.action,
            d.reason.as_deref().unwrap_or_default()
        )
    };
    let shown = fitting(items, line);
    json!({
        "total": items.len(),
        "items": &items[..shown],
        "hidden": items.len() - shown,
    })
}

fn diagnostics(items: &[DiagnosticItem]) -> Value {
    if items.is_empty() {
        return Value::Null;
    }
    let shown: Vec<Value> = items
        .iter()
        .take(MAX_DIAGNOSTICS)
        .map(|d| {
            let mut detail: String = d.detail.chars().take(MAX_DIAGNOSTIC_DETAIL).collect();
            if detail.len() < d.detail.len() {
                detail.push('…');
            }
            json!({
                "severity": d.severity,
                "severity_title": if d.severity == "error" { "Error" } else { "Warning" },
                "summary": d.summary,
                "detail": detail,
                "address": d.address,
            })
        })
        .collect();
    json!({
        "items": shown,
        "hidden": items.len().saturating_sub(MAX_DIAGNOSTICS),
        "first_error": items.iter().find(|d| d.severity == "error").map(|d| d.summary.clone()),
    })
}

pub(super) fn run_started(v: &RunStartedView) -> Value {
    json!({
        "run": run(&v.run),
        "queue_position": v.queue_position,
        "size_description": v.size_description,
    })
}

pub(super) fn progress(v: &ProgressView) -> Value {
    json!({
        "run": run(&v.run),
        "phase": v.phase,
        "done": v.done,
        "total": v.total,
        "bar": progress_bar(v.done, v.total, BAR_WIDTH),
        "current": v.current,
        "elapsed": v.elapsed,
    })
}

pub(super) fn finished(outcome: RunOutcome, v: &FinishedView) -> Value {
    json!({
        "run": run(&v.run),
        "outcome": outcome.as_str(),
        "counts": counts(&v.counts),
        "duration": v.duration,
        "outputs": outputs(&v.outputs),
        "plan": v.plan.as_ref().map(plan),
        "destructive": destructive(&v.destructive),
        "diagnostics": diagnostics(&v.diagnostics),
        "note": v.note.as_deref().map(one_line),
        "stopped_by": v.stopped_by,
        "plan_only": v.run.verb == "plan",
        "log_attached": v.log_attached,
        "state_unknown": v.state_unknown,
    })
}

pub(super) fn approval(v: &ApprovalView) -> Value {
    json!({
        "actions": ButtonAction::template_ids(),
        "run": run(&v.run),
        "plan": plan(&v.plan),
        "destructive": destructive(&v.destructive),
        "approvers": v.approvers,
        "expires": v.expires,
    })
}

/// User text made safe to echo on one line: control characters become spaces, long text is
/// shortened.
fn one_line_max(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_control() || is_invisible_format(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if cleaned.chars().count() > max {
        let mut cut: String = cleaned.chars().take(max - 1).collect();
        cut.push('…');
        cut
    } else {
        cleaned
    }
}

/// Zero-width and bidirectional formatting characters (Unicode Cf) that would let echoed
/// user text reorder or hide what a message shows.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

fn one_line(text: &str) -> String {
    one_line_max(text, 500)
}

pub(super) fn rejected(v: &RejectedView) -> Value {
    let command = one_line_max(&v.command, MAX_ECHO);
    let command = if command.is_empty() {
        "(empty command)".to_string()
    } else {
        command
    };
    let title = match &v.env {
        Some(env) => format!("[{env}] {command}"),
        None => command,
    };
    json!({"title": title, "reason": one_line(&v.reason), "by": null})
}

pub(super) fn rejected_run(v: &FinishedView) -> Value {
    json!({
        "title": v.run.title(),
        "reason": one_line(v.note.as_deref().unwrap_or("not approved")),
        "by": v.stopped_by,
    })
}

fn cost(usd: Option<f64>) -> Value {
    match usd {
        Some(usd) => json!(format!("${usd:.2}/h")),
        None => Value::Null,
    }
}

fn history_row(r: &HistoryRow) -> Value {
    json!({
        "run_id": r.run_id,
        "actor": r.actor,
        "command": r.command,
        "when": r.when,
        "outcome": r.outcome.as_str(),
        "counts": r.counts.map(|c| c.to_string()),
        "duration": r.duration,
        "delivery": r.delivery,
    })
}

pub(super) fn status(v: &StatusView) -> Value {
    let jobs: Vec<Value> = v
        .jobs
        .iter()
        .map(|j| {
            let bar = match (j.done, j.total) {
                (Some(done), Some(total)) => Some(progress_bar(done, total, BAR_WIDTH)),
                _ => None,
            };
            json!({
                "run_id": j.run_id, "command": j.command, "actor": j.actor,
                "state": j.state, "bar": bar,
            })
        })
        .collect();
    json!({
        "env": v.env,
        "size": v.size,
        "master": v.master,
        "slaves": v.slave_count.map(|n| n.to_string()),
        "monitoring": v.monitoring,
        "outputs": outputs(&v.outputs),
        "lease_end": v.lease_end,
        "next_action": v.next_action,
        "holds": v.holds,
        "jobs": jobs,
        "load_test": v.load_test,
        "last_run": v.last_run.as_ref().map(history_row),
        "cost": cost(v.est_hourly_usd),
    })
}

pub(super) fn history(v: &HistoryView) -> Value {
    json!({
        "env": v.env,
        "count": v.rows.len(),
        "rows": v.rows.iter().map(history_row).collect::<Vec<_>>(),
        "tests": v.tests,
    })
}

pub(super) fn help(v: &HelpView) -> Value {
    json!({"chunks": line_chunks(&v.text)})
}

pub(super) fn warning(v: &WarningView) -> Value {
    json!({
        "env": v.env, "action": v.action, "when": v.when, "why": v.why,
        "keep_action": if v.keep_extends_lease { ButtonAction::KeepExtend.id() } else { ButtonAction::KeepHold.id() },
        "actions": ButtonAction::template_ids(),
    })
}

pub(super) fn load_test(v: &LoadTestView) -> Value {
    json!({
        "env": v.env, "text": v.text, "chunks": line_chunks(&v.text),
        "stop_button": v.stop_button, "keep_button": v.keep_button,
        "actions": ButtonAction::template_ids(),
    })
}

pub(super) fn notice(v: &NoticeView) -> Value {
    json!({"text": v.text, "chunks": line_chunks(&v.text)})
}

/// Whole lines grouped into chunks that each fit Slack's section limit.
fn line_chunks(text: &str) -> Vec<String> {
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.trim_end().lines() {
        let cost = mrkdwn_escape(line).chars().count() + 1;
        if !current.is_empty() && mrkdwn_escape(&current).chars().count() + cost > LIST_BUDGET {
            chunks.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// `▓▓▓▓░░░░░░ 12/30`. `done` is clamped to `total`; a zero total gives an empty bar.
pub fn progress_bar(done: usize, total: usize, width: usize) -> String {
    let done = done.min(total);
    let filled = (done * width).checked_div(total).unwrap_or(0);
    format!(
        "{}{} {done}/{total}",
        "▓".repeat(filled),
        "░".repeat(width - filled)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bar_cases() {
        let table = [
            ((12, 30, 10), "▓▓▓▓░░░░░░ 12/30"),
            ((0, 30, 10), "░░░░░░░░░░ 0/30"),
            ((30, 30, 10), "▓▓▓▓▓▓▓▓▓▓ 30/30"),
            ((0, 0, 5), "░░░░░ 0/0"),
            ((9, 4, 4), "▓▓▓▓ 4/4"),
        ];
        for ((done, total, width), expected) in table {
            assert_eq!(progress_bar(done, total, width), expected);
        }
    }
}
