//! The data each message template shows. Plain serialisable values a caller fills from the
//! store or from a live run; no Terraform process types, no Slack wire types, no I/O.
//! Times and durations arrive already formatted in the environment's time zone, so rendering
//! stays pure and snapshot-testable.

use crate::model::{EnvName, RunId, RunOutcome, SlackUserId};
use serde::Serialize;
use std::fmt;

/// Which run a message is about: `[<env>] <verb> <args>`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRef {
    pub run_id: RunId,
    pub env: EnvName,
    pub verb: String,
    /// Arguments as the command was understood, space separated (may be empty).
    pub args: String,
    pub actor: SlackUserId,
    /// Who clicked Apply (or typed `approve`), for runs that needed an approval.
    pub approved_by: Option<SlackUserId>,
}

impl RunRef {
    /// `[<env>] <verb> <args>` (no trailing space when there are no args): the start of
    /// every run message's text, which users and their alerts match on.
    pub fn title(&self) -> String {
        if self.args.trim().is_empty() {
            format!("[{}] {}", self.env, self.verb)
        } else {
            format!("[{}] {} {}", self.env, self.verb, self.args.trim())
        }
    }
}

/// Terraform's closing counts: "N added, N changed, N destroyed".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChangeCounts {
    pub added: u64,
    pub changed: u64,
    pub destroyed: u64,
}

impl fmt::Display for ChangeCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} added, {} changed, {} destroyed",
            self.added, self.changed, self.destroyed
        )
    }
}

pub use crate::terraform::state::KeyOutputs;

/// A resource to be destroyed or replaced, listed in the warning block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DestructiveItem {
    pub address: String,
    /// `destroy` or `replace`.
    pub action: String,
    pub reason: Option<String>,
}

/// One of Terraform's diagnostics, for a failure report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiagnosticItem {
    /// `error` or `warning`.
    pub severity: String,
    pub summary: String,
    pub detail: String,
    pub address: Option<String>,
}

/// Counts for one module and resource type in a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanGroup {
    pub module: String,
    pub resource_type: String,
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub replace: usize,
}

/// What a plan will do.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PlanView {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub replace: usize,
    pub groups: Vec<PlanGroup>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunStartedView {
    pub run: RunRef,
    /// `Some(n)` when the run waits behind n others.
    pub queue_position: Option<usize>,
    /// The variable set's one-line description, when the command names one.
    pub size_description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProgressView {
    pub run: RunRef,
    /// `init`, `plan`, `awaiting approval`, `apply`, `done`.
    pub phase: String,
    pub done: usize,
    pub total: usize,
    /// The resource being worked on.
    pub current: Option<String>,
    pub elapsed: Option<String>,
}

/// The end of a run: succeeded, failed, no changes, cancelled, timed out or interrupted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FinishedView {
    pub run: RunRef,
    /// Terraform's counts after an apply; `None` for plan-only runs and runs that never applied.
    pub counts: Option<ChangeCounts>,
    pub duration: Option<String>,
    pub outputs: KeyOutputs,
    /// The plan, for `plan` runs (and failed applies, to show what was attempted).
    pub plan: Option<PlanView>,
    /// Every resource destroyed or replaced (or planned to be).
    pub destructive: Vec<DestructiveItem>,
    pub diagnostics: Vec<DiagnosticItem>,
    /// One line of plain context, e.g. "plan_timeout 30m reached" or a rejection's reason.
    pub note: Option<String>,
    /// Who cancelled or rejected the run, shown as a mention.
    pub stopped_by: Option<SlackUserId>,
    /// The full masked log was attached to the thread.
    pub log_attached: bool,
    /// Terraform's apply started but its end was never seen (the bot lost track of it, or it
    /// died without saying why): what it changed is unknown until someone runs `plan`.
    pub state_unknown: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApprovalView {
    pub run: RunRef,
    pub plan: PlanView,
    pub destructive: Vec<DestructiveItem>,
    /// Who may press Apply (user or group IDs, or `*`).
    pub approvers: Vec<SlackUserId>,
    /// When the approval lapses, formatted.
    pub expires: Option<String>,
}

/// A denial or bad input: answered in one line, nothing started.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RejectedView {
    pub env: Option<EnvName>,
    /// What was asked, as typed (sanitised and shortened by the renderer).
    pub command: String,
    /// The specific reason, e.g. `unknown size "lage"; did you mean "large"?`.
    pub reason: String,
}

/// A queued or running job in `status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobView {
    pub run_id: RunId,
    /// `up large`, `down`, ...
    pub command: String,
    pub actor: SlackUserId,
    /// `running (apply)`, `queued (position 2)`, `awaiting approval`, ...
    pub state: String,
    /// Resources done and total while running.
    pub done: Option<usize>,
    pub total: Option<usize>,
}

/// One line of `history` (and `status`'s last run).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryRow {
    pub run_id: RunId,
    pub actor: SlackUserId,
    /// Verb and arguments, e.g. `up large for 3h`.
    pub command: String,
    pub when: String,
    pub outcome: RunOutcome,
    pub counts: Option<ChangeCounts>,
    pub duration: Option<String>,
    /// Set when Slack refused the run's message, e.g. `not delivered: not_in_channel`.
    pub delivery: Option<String>,
}

/// Everything `status` shows for one environment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusView {
    pub env: EnvName,
    /// The variable set the environment is at, if known.
    pub size: Option<String>,
    /// What really runs, e.g. `running (c5.xlarge)` or `none`.
    pub master: Option<String>,
    pub slave_count: Option<u64>,
    /// `off`, `basic`, `full`.
    pub monitoring: Option<String>,
    pub outputs: KeyOutputs,
    pub lease_end: Option<String>,
    /// e.g. `down at 2024-05-01 22:00 JST (nightly-down)`.
    pub next_action: Option<String>,
    /// e.g. `until 2024-05-02 09:00 JST by <user>`.
    pub holds: Vec<String>,
    pub jobs: Vec<JobView>,
    pub last_run: Option<HistoryRow>,
    pub est_hourly_usd: Option<f64>,
    /// The starting or running load test, e.g. `#7 `smoke.jmx threads=10` by <@U1>: running`.
    pub load_test: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryView {
    pub env: EnvName,
    pub rows: Vec<HistoryRow>,
    /// The last load tests, newest first, one line each.
    pub tests: Vec<String>,
}

/// The help text comes from the command catalogue; rendering only frames it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HelpView {
    pub text: String,
}

/// A short answer that is not a run's message (acks, cancel, hold, schedule listing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NoticeView {
    pub text: String,
}

/// A load test's message: its text (mrkdwn lines) and which buttons it carries.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadTestView {
    pub env: EnvName,
    pub text: String,
    /// [Stop test] (`stop env=<env>`): while the test runs.
    pub stop_button: bool,
    /// [Keep 2h] (`hold 2h env=<env>`) too: a scale-down waits for the test.
    pub keep_button: bool,
}

/// A scale-down is near (schedule `warn_before`, or a lease about to end).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WarningView {
    pub env: EnvName,
    /// What will happen, e.g. `down`.
    pub action: String,
    /// When, in the environment's time zone.
    pub when: String,
    /// Why, e.g. "the schedule `nightly-down`".
    pub why: String,
    /// Keep 2h extends a lease (`extend 2h`) instead of holding a schedule (`hold 2h`).
    pub keep_extends_lease: bool,
}

/// Conversions from the Terraform summaries, so a live run can fill views directly.
mod from_terraform {
    use super::*;
    use crate::terraform::plan_summary::{DestructiveChange, PlanSummary};
    use crate::terraform::progress::ApplySummary;

    impl From<&PlanSummary> for PlanView {
        fn from(s: &PlanSummary) -> Self {
            PlanView {
                add: s.add,
                change: s.change,
                destroy: s.destroy,
                replace: s.replace,
                groups: s
                    .groups
                    .iter()
                    .map(|g| PlanGroup {
                        module: g.module.clone(),
                        resource_type: g.resource_type.clone(),
                        add: g.add,
                        change: g.change,
                        destroy: g.destroy,
                        replace: g.replace,
                    })
                    .collect(),
            }
        }
    }

    impl From<&DestructiveChange> for DestructiveItem {
        fn from(d: &DestructiveChange) -> Self {
            DestructiveItem {
                address: d.address.clone(),
                action: d.action.as_str().to_string(),
                reason: d.reason.clone(),
            }
        }
    }

    /// The counts a run recorded in the store.
    impl From<crate::store::ChangeCounts> for ChangeCounts {
        fn from(c: crate::store::ChangeCounts) -> Self {
            ChangeCounts {
                added: c.add.into(),
                changed: c.change.into(),
                destroyed: c.destroy.into(),
            }
        }
    }

    impl From<ApplySummary> for ChangeCounts {
        fn from(s: ApplySummary) -> Self {
            ChangeCounts {
                added: s.added,
                changed: s.changed,
                destroyed: s.destroyed,
            }
        }
    }

    impl From<&crate::terraform::events::Diagnostic> for DiagnosticItem {
        fn from(d: &crate::terraform::events::Diagnostic) -> Self {
            use crate::terraform::events::Severity;
            DiagnosticItem {
                severity: match &d.severity {
                    Severity::Error => "error".into(),
                    Severity::Warning => "warning".into(),
                    Severity::Other(s) => s.clone(),
                },
                summary: d.summary.clone(),
                detail: d.detail.clone(),
                address: d.address.clone(),
            }
        }
    }
}
