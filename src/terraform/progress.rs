//! Folds Terraform UI events into what a progress message shows: the phase, resources done of
//! total, the resource being worked on, and the diagnostics for a failure report.
//! Pure state; reads no process and renders nothing.

use super::events::{ChangeAction, Diagnostic, TfEvent};
use std::fmt;

/// Where a run stands. The runner moves between phases the stream cannot announce
/// (`Init`, `AwaitingApproval`) with [`Progress::set_phase`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Init,
    Plan,
    AwaitingApproval,
    Apply,
    Done,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Init => "init",
            Phase::Plan => "plan",
            Phase::AwaitingApproval => "awaiting approval",
            Phase::Apply => "apply",
            Phase::Done => "done",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Terraform's own closing counts of an apply or destroy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ApplySummary {
    pub added: u64,
    pub changed: u64,
    pub destroyed: u64,
}

impl fmt::Display for ApplySummary {
    /// Exactly Terraform's wording (`N added, N changed, N destroyed`), so the result a run
    /// posts reads like the apply someone would have run by hand.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} added, {} changed, {} destroyed",
            self.added, self.changed, self.destroyed
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub phase: Phase,
    /// Apply hooks finished (complete or errored). A replace finishes twice (delete and
    /// create), which is why totals count it twice too.
    pub resources_done: usize,
    pub resources_total: usize,
    /// The resource last started and not yet finished.
    pub current: Option<String>,
    pub errored: usize,
    /// Errors and warnings in arrival order, for the failure report.
    pub diagnostics: Vec<Diagnostic>,
    /// Set by the apply's (or destroy's) `change_summary`.
    pub apply_summary: Option<ApplySummary>,
    /// Completed apply hooks by action: the honest counts of a run that ends without
    /// Terraform's own summary (failure, cancel, timeout).
    applied: ApplySummary,
    /// Counted from `planned_change` until a plan `change_summary` gives the exact total.
    planned_from_changes: usize,
    total_from_summary: bool,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            phase: Phase::Init,
            resources_done: 0,
            resources_total: 0,
            current: None,
            errored: 0,
            diagnostics: Vec::new(),
            apply_summary: None,
            applied: ApplySummary::default(),
            planned_from_changes: 0,
            total_from_summary: false,
        }
    }

    pub fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
    }

    /// The error diagnostics only (warnings are kept in `diagnostics` for the log).
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// Terraform's summary when the apply finished, else what completed so far.
    pub fn applied(&self) -> ApplySummary {
        self.apply_summary.unwrap_or(self.applied)
    }

    pub fn observe(&mut self, event: &TfEvent) {
        match event {
            TfEvent::PlannedChange { action, .. } => {
                self.enter(Phase::Plan);
                let weight = match action {
                    ChangeAction::Noop | ChangeAction::Read | ChangeAction::Move => 0,
                    ChangeAction::Replace => 2,
                    _ => 1,
                };
                self.planned_from_changes += weight;
                if !self.total_from_summary {
                    self.resources_total = self.planned_from_changes.max(self.resources_done);
                }
            }
            TfEvent::RefreshStart { address } => {
                self.enter(Phase::Plan);
                self.current = Some(address.clone());
            }
            TfEvent::RefreshComplete { address } => self.finish_current(address),
            TfEvent::ChangeSummary {
                add,
                change,
                remove,
                operation,
            } => {
                let total = (add + change + remove) as usize;
                if operation == "plan" {
                    self.resources_total = total.max(self.resources_done);
                    self.total_from_summary = true;
                } else {
                    self.apply_summary = Some(ApplySummary {
                        added: *add,
                        changed: *change,
                        destroyed: *remove,
                    });
                    self.resources_total = self.resources_total.max(self.resources_done);
                    self.current = None;
                    self.phase = Phase::Done;
                }
            }
            TfEvent::ApplyStart { address, .. } | TfEvent::ApplyProgress { address, .. } => {
                self.phase = Phase::Apply;
                self.current = Some(address.clone());
            }
            TfEvent::ApplyComplete {
                address, action, ..
            } => {
                self.phase = Phase::Apply;
                match action {
                    ChangeAction::Create => self.applied.added += 1,
                    ChangeAction::Update => self.applied.changed += 1,
                    ChangeAction::Delete => self.applied.destroyed += 1,
                    ChangeAction::Replace => {
                        self.applied.added += 1;
                        self.applied.destroyed += 1;
                    }
                    _ => {}
                }
                self.resources_done += 1;
                self.resources_total = self.resources_total.max(self.resources_done);
                self.finish_current(address);
            }
            TfEvent::ApplyErrored { address, .. } => {
                self.phase = Phase::Apply;
                self.resources_done += 1;
                self.errored += 1;
                self.resources_total = self.resources_total.max(self.resources_done);
                self.finish_current(address);
            }
            TfEvent::Diagnostic(diagnostic) => self.diagnostics.push(diagnostic.clone()),
            TfEvent::Version { .. }
            | TfEvent::Outputs { .. }
            | TfEvent::Log { .. }
            | TfEvent::Unknown { .. }
            | TfEvent::Malformed { .. } => {}
        }
    }

    /// Moves forward from `Init` only; the stream never moves a run backwards.
    fn enter(&mut self, phase: Phase) {
        if self.phase == Phase::Init {
            self.phase = phase;
        }
    }

    fn finish_current(&mut self, address: &str) {
        if self.current.as_deref() == Some(address) {
            self.current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terraform::events::parse_line;

    fn run(lines: &[&str]) -> Progress {
        let mut progress = Progress::new();
        for line in lines {
            progress.observe(&parse_line(line));
        }
        progress
    }

    fn planned(addr: &str, action: &str) -> String {
        format!(
            r#"{{"type":"planned_change","change":{{"resource":{{"addr":"{addr}"}},"action":"{action}"}}}}"#
        )
    }

    fn hook(kind: &str, addr: &str) -> String {
        format!(
            r#"{{"type":"{kind}","hook":{{"resource":{{"addr":"{addr}"}},"action":"create","elapsed_seconds":1}}}}"#
        )
    }

    #[test]
    fn plan_total_excludes_noop_and_read_and_counts_replace_twice() {
        let lines = [
            planned("a.one", "create"),
            planned("a.two", "noop"),
            planned("data.a.three", "read"),
            planned("a.four", "replace"),
            planned("a.five", "delete"),
        ];
        let progress = run(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(progress.phase, Phase::Plan);
        assert_eq!((progress.resources_done, progress.resources_total), (0, 4));
    }

    #[test]
    fn plan_summary_total_wins_over_counted_changes() {
        let p = planned("a.one", "create");
        let progress = run(&[
            &p,
            r#"{"type":"change_summary","changes":{"add":5,"change":1,"remove":0,"operation":"plan"}}"#,
            &planned("a.two", "create"),
        ]);
        assert_eq!(progress.resources_total, 6);
        assert_eq!(progress.apply_summary, None);
    }

    #[test]
    fn apply_counts_done_errors_and_current() {
        let mut progress = Progress::new();
        progress.resources_total = 3;
        for line in [
            hook("apply_start", "a.one"),
            hook("apply_complete", "a.one"),
            hook("apply_start", "a.two"),
            hook("apply_progress", "a.two"),
        ] {
            progress.observe(&parse_line(&line));
        }
        assert_eq!(progress.phase, Phase::Apply);
        assert_eq!(progress.current.as_deref(), Some("a.two"));
        assert_eq!((progress.resources_done, progress.resources_total), (1, 3));

        progress.observe(&parse_line(&hook("apply_errored", "a.two")));
        progress.observe(&parse_line(
            r#"{"type":"diagnostic","diagnostic":{"severity":"error","summary":"boom","detail":"d","address":"a.two"}}"#,
        ));
        progress.observe(&parse_line(
            r#"{"type":"diagnostic","diagnostic":{"severity":"warning","summary":"meh"}}"#,
        ));
        assert_eq!((progress.resources_done, progress.errored), (2, 1));
        // No change_summary after a failure: counts come from completed hooks.
        assert_eq!(
            progress.applied().to_string(),
            "1 added, 0 changed, 0 destroyed"
        );
        assert_eq!(progress.current, None);
        assert_eq!(
            progress
                .errors()
                .map(|d| d.summary.as_str())
                .collect::<Vec<_>>(),
            ["boom"]
        );
        assert_eq!(progress.diagnostics.len(), 2);
    }

    #[test]
    fn apply_summary_ends_the_run_with_terraform_wording() {
        let progress = run(&[
            &hook("apply_complete", "a.one"),
            r#"{"type":"change_summary","changes":{"add":12,"change":0,"remove":3,"operation":"apply"}}"#,
        ]);
        assert_eq!(progress.phase, Phase::Done);
        let summary = progress.applied();
        assert_eq!(summary.to_string(), "12 added, 0 changed, 3 destroyed");
        // Done never exceeds total, even when the plan's total was never seen.
        assert_eq!((progress.resources_done, progress.resources_total), (1, 1));
    }

    #[test]
    fn stream_does_not_move_phase_backwards() {
        let mut progress = Progress::new();
        progress.set_phase(Phase::AwaitingApproval);
        progress.observe(&parse_line(&planned("a.one", "create")));
        assert_eq!(progress.phase, Phase::AwaitingApproval);
    }
}
