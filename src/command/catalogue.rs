//! The command catalogue: one entry per verb with its usage, summary and the role it needs.
//! `help` is generated from here and the parser takes usage lines and verb names from here;
//! policy reads the roles. Adding a verb starts with a `VerbKind` and an entry below; a
//! read-only verb without arguments needs nothing else here or in the parser
//! ([`VerbSpec::is_plain_read`]).

use crate::model::Role;

macro_rules! verb_kinds {
    ($($kind:ident),* $(,)?) => {
        /// One per [`super::Verb`] variant, without the arguments.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum VerbKind { $($kind),* }

        impl VerbKind {
            /// Every kind; built by the same macro as the enum, so it cannot miss one.
            pub const ALL: &'static [VerbKind] = &[$(VerbKind::$kind),*];
        }
    };
}

verb_kinds!(
    Up,
    Down,
    Off,
    Plan,
    Status,
    History,
    Extend,
    Hold,
    HoldOff,
    Schedule,
    Cancel,
    Approve,
    Reject,
    Unlock,
    RefreshImage,
    Sizes,
    Run,
    Stop,
    StopNow,
    Plans,
    Compare,
    Help,
);

impl VerbKind {
    pub fn spec(self) -> &'static VerbSpec {
        // The catalogue test proves every kind has exactly one entry.
        VERBS
            .iter()
            .find(|spec| spec.kind == self)
            .unwrap_or(&VERBS[0])
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct VerbSpec {
    pub kind: VerbKind,
    /// The first word the user types.
    pub name: &'static str,
    /// Shown in help and in "usage:" answers to bad input.
    pub usage: &'static str,
    pub summary: &'static str,
    /// The lowest role that may run it.
    pub min_role: Role,
    /// Changes infrastructure, a lease, a hold, a job or a lock (audited as a change).
    pub mutating: bool,
    /// Reserved for admins, whatever role `min_role` names.
    pub admin_only: bool,
    /// Needs `[approval] approvers` membership on top of `min_role`.
    pub approver_only: bool,
    /// Says nothing about an environment (`help`, `sizes`), so it answers in any channel,
    /// even one bound to another environment.
    pub answers_anywhere: bool,
    /// A valid command, used by help and by the tests that keep parser and catalogue aligned.
    pub example: &'static str,
}

/// The catalogue, in the order `help` lists it.
pub static VERBS: &[VerbSpec] = &[
    VerbSpec {
        kind: VerbKind::Up,
        name: "up",
        usage: "up <size> [for <duration>]",
        summary: "scale to <size>; scales back down when the lease ends",
        min_role: Role::Operator,
        mutating: true,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "up large for 3h",
    },
    VerbSpec {
        kind: VerbKind::Down,
        name: "down",
        usage: "down",
        summary: "scale down to the idle set (monitoring kept)",
        min_role: Role::Operator,
        mutating: true,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "down",
    },
    VerbSpec {
        kind: VerbKind::Off,
        name: "off",
        usage: "off",
        summary: "remove everything that costs money",
        min_role: Role::Admin,
        mutating: true,
        admin_only: true,
        approver_only: false,
        answers_anywhere: false,
        example: "off",
    },
    VerbSpec {
        kind: VerbKind::Plan,
        name: "plan",
        usage: "plan <size|down|off>",
        summary: "show what a change would do; changes nothing",
        min_role: Role::Viewer,
        mutating: false,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "plan medium",
    },
    VerbSpec {
        kind: VerbKind::Status,
        name: "status",
        usage: "status",
        summary: "size, what runs, lease, next scheduled action, jobs and cost",
        min_role: Role::Viewer,
        mutating: false,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "status",
    },
    VerbSpec {
        kind: VerbKind::History,
        name: "history",
        usage: "history [n]",
        summary: "the last n runs (default 10, at most 100)",
        min_role: Role::Viewer,
        mutating: false,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "history 20",
    },
    VerbSpec {
        kind: VerbKind::Extend,
        name: "extend",
        usage: "extend <duration>",
        summary: "lengthen the current lease",
        min_role: Role::Operator,
        mutating: true,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "extend 2h",
    },
    VerbSpec {
        kind: VerbKind::Hold,
        name: "hold",
        usage: "hold <duration>",
        summary: "skip scheduled scale-downs for a while",
        min_role: Role::Operator,
        mutating: true,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "hold 2h",
    },
    VerbSpec {
        kind: VerbKind::HoldOff,
        name: "hold",
        usage: "hold off",
        summary: "cancel the hold",
        min_role: Role::Operator,
        mutating: true,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "hold off",
    },
    VerbSpec {
        kind: VerbKind::Schedule,
        name: "schedule",
        usage: "schedule",
        summary: "the schedules and their next fire times",
        min_role: Role::Viewer,
        mutating: false,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "schedule",
    },
    VerbSpec {
        kind: VerbKind::Cancel,
        name: "cancel",
        usage: "cancel",
        summary: "cancel the queued or running job",
        min_role: Role::Operator,
        mutating: true,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "cancel",
    },
    VerbSpec {
        kind: VerbKind::Approve,
        name: "approve",
        usage: "approve <run>",
        summary: "apply a run that awaits approval",
        min_role: Role::Viewer,
        mutating: true,
        admin_only: false,
        approver_only: true,
        answers_anywhere: false,
        example: "approve #41",
    },
    VerbSpec {
        kind: VerbKind::Reject,
        name: "reject",
        usage: "reject <run>",
        summary: "reject a run that awaits approval",
        min_role: Role::Viewer,
        mutating: true,
        admin_only: false,
        approver_only: true,
        answers_anywhere: false,
        example: "reject 41",
    },
    VerbSpec {
        kind: VerbKind::Unlock,
        name: "unlock",
        usage: "unlock <lock-id>",
        summary: "force-unlock a Terraform state lock left by a dead run",
        min_role: Role::Admin,
        mutating: true,
        admin_only: true,
        approver_only: false,
        answers_anywhere: false,
        example: "unlock 6f1c2a9e-1b2c-4d5e-8f90-123456789abc",
    },
    VerbSpec {
        kind: VerbKind::RefreshImage,
        name: "refresh-image",
        usage: "refresh-image",
        summary: "plan the hosts onto the newest Amazon Linux image, then pin it",
        min_role: Role::Admin,
        mutating: true,
        admin_only: true,
        approver_only: false,
        answers_anywhere: false,
        example: "refresh-image",
    },
    VerbSpec {
        kind: VerbKind::Sizes,
        name: "sizes",
        usage: "sizes",
        summary: "the variable sets with their key values and hourly cost",
        min_role: Role::Viewer,
        mutating: false,
        admin_only: false,
        approver_only: false,
        answers_anywhere: true,
        example: "sizes",
    },
    VerbSpec {
        kind: VerbKind::Run,
        name: "run",
        usage: "run <plan> [threads=N] [duration=D] [rampup=D] [-J<name>=<value>…]",
        summary: "start a JMeter test on the environment's master; results posted here",
        min_role: Role::Operator,
        mutating: true,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "run smoke.jmx threads=10 duration=5m",
    },
    VerbSpec {
        kind: VerbKind::Stop,
        name: "stop",
        usage: "stop",
        summary: "end the running test gracefully (samples in flight finish)",
        min_role: Role::Operator,
        mutating: true,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "stop",
    },
    VerbSpec {
        kind: VerbKind::StopNow,
        name: "stop",
        usage: "stop --now",
        summary: "end the running test at once",
        min_role: Role::Operator,
        mutating: true,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "stop --now",
    },
    VerbSpec {
        kind: VerbKind::Plans,
        name: "plans",
        usage: "plans",
        summary: "the JMeter plans `run` can start, with the properties each takes",
        min_role: Role::Viewer,
        mutating: false,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "plans",
    },
    VerbSpec {
        kind: VerbKind::Compare,
        name: "compare",
        usage: "compare <test> <test>",
        summary: "two tests' figures side by side",
        min_role: Role::Viewer,
        mutating: false,
        admin_only: false,
        approver_only: false,
        answers_anywhere: false,
        example: "compare #3 #4",
    },
    VerbSpec {
        kind: VerbKind::Help,
        name: "help",
        usage: "help [verb]",
        summary: "this list, or one verb in detail",
        min_role: Role::Viewer,
        mutating: false,
        admin_only: false,
        approver_only: false,
        answers_anywhere: true,
        example: "help up",
    },
];

impl VerbSpec {
    /// A read-only verb that takes no arguments (its usage is its bare name): parsed and
    /// dispatched from the catalogue alone as [`super::Verb::Read`], answered by its verb file.
    pub fn is_plain_read(&self) -> bool {
        !self.mutating && self.usage == self.name
    }
}

/// The plain read verb `name` is, if it is one (a word with two entries never is).
pub fn plain_read_named(name: &str) -> Option<VerbKind> {
    let mut specs = specs_named(name);
    match (specs.next(), specs.next()) {
        (Some(spec), None) if spec.is_plain_read() => Some(spec.kind),
        _ => None,
    }
}

/// Distinct verb words, in catalogue order (`hold` once).
pub fn verb_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for spec in VERBS {
        if !names.contains(&spec.name) {
            names.push(spec.name);
        }
    }
    names
}

/// The entries a verb word covers (`hold` has two).
pub fn specs_named(name: &str) -> impl Iterator<Item = &'static VerbSpec> + '_ {
    VERBS.iter().filter(move |spec| spec.name == name)
}

/// The usage lines of a verb word, joined for "usage:" answers.
pub fn usage_of(name: &str) -> String {
    specs_named(name)
        .map(|spec| format!("`{}`", spec.usage))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The `help` answer: the whole list, or one verb when `topic` names one.
pub fn help_text(topic: Option<&str>) -> String {
    match topic.and_then(verb_help) {
        Some(text) => text,
        None => full_help(),
    }
}

fn full_help() -> String {
    // Aligned on the usual usage lengths; a longer one (`run`'s) stands on its own.
    let width = VERBS
        .iter()
        .map(|spec| spec.usage.chars().count())
        .filter(|len| *len <= 30)
        .max()
        .unwrap_or(0);
    let mut text = String::from("Usage: /loadtest <verb> [args] [env=<name>]\n");
    for spec in VERBS {
        let role = match (spec.approver_only, spec.min_role) {
            (true, _) => " (approvers)".to_string(),
            (false, crate::model::Role::Viewer) => String::new(),
            (false, role) => format!(" ({role})"),
        };
        text.push_str(&format!(
            "  {:width$}  {}{role}\n",
            spec.usage, spec.summary
        ));
    }
    text.push_str("Durations look like 3h, 90m or 1h30m. `help <verb>` shows one verb.");
    text
}

/// `help <verb>`: usage, summary, the role needed and an example; `None` for unknown verbs.
pub fn verb_help(name: &str) -> Option<String> {
    let lines: Vec<String> = specs_named(name)
        .map(|spec| {
            let who = if spec.approver_only {
                "approvers".to_string()
            } else {
                format!("{} role or above", spec.min_role)
            };
            format!(
                "`/loadtest {}` — {}. Needs: {who}. Example: `/loadtest {}`",
                spec.usage, spec.summary, spec.example
            )
        })
        .collect();
    if lines.is_empty() {
        None
    } else {
        Some(format!(
            "{}\nAdd env=<name> to target another environment.",
            lines.join("\n")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_only_verbs_need_the_admin_role_and_only_they_do() {
        for spec in VERBS {
            assert_eq!(
                spec.admin_only,
                spec.min_role == Role::Admin,
                "{}",
                spec.usage
            );
            assert!(spec.usage.starts_with(spec.name), "{}", spec.usage);
            assert!(spec.example.starts_with(spec.name), "{}", spec.example);
        }
    }

    #[test]
    fn roles_follow_the_spec() {
        let role_of = |kind: VerbKind| kind.spec().min_role;
        for kind in [
            VerbKind::Status,
            VerbKind::History,
            VerbKind::Schedule,
            VerbKind::Sizes,
            VerbKind::Help,
            VerbKind::Plan,
        ] {
            assert_eq!(role_of(kind), Role::Viewer, "{kind:?}");
            assert!(!kind.spec().mutating, "{kind:?}");
        }
        for kind in [
            VerbKind::Up,
            VerbKind::Down,
            VerbKind::Extend,
            VerbKind::Hold,
            VerbKind::HoldOff,
            VerbKind::Cancel,
        ] {
            assert_eq!(role_of(kind), Role::Operator, "{kind:?}");
        }
        assert_eq!(role_of(VerbKind::Off), Role::Admin);
        assert_eq!(role_of(VerbKind::Unlock), Role::Admin);
        assert_eq!(role_of(VerbKind::RefreshImage), Role::Admin);
        assert!(VerbKind::Approve.spec().approver_only && VerbKind::Reject.spec().approver_only);
    }

    #[test]
    fn help_lists_every_verb_from_the_catalogue() {
        assert_eq!(help_text(Some("nonsense")), help_text(None));
        assert!(help_text(Some("up")).starts_with("`/loadtest up <size> [for <duration>]`"));
        assert_eq!(
            help_text(None),
            "Usage: /loadtest <verb> [args] [env=<name>]
  up <size> [for <duration>]  scale to <size>; scales back down when the lease ends (operator)
  down                        scale down to the idle set (monitoring kept) (operator)
  off                         remove everything that costs money (admin)
  plan <size|down|off>        show what a change would do; changes nothing
  status                      size, what runs, lease, next scheduled action, jobs and cost
  history [n]                 the last n runs (default 10, at most 100)
  extend <duration>           lengthen the current lease (operator)
  hold <duration>             skip scheduled scale-downs for a while (operator)
  hold off                    cancel the hold (operator)
  schedule                    the schedules and their next fire times
  cancel                      cancel the queued or running job (operator)
  approve <run>               apply a run that awaits approval (approvers)
  reject <run>                reject a run that awaits approval (approvers)
  unlock <lock-id>            force-unlock a Terraform state lock left by a dead run (admin)
  refresh-image               plan the hosts onto the newest Amazon Linux image, then pin it (admin)
  sizes                       the variable sets with their key values and hourly cost
  run <plan> [threads=N] [duration=D] [rampup=D] [-J<name>=<value>…]  start a JMeter test on the environment's master; results posted here (operator)
  stop                        end the running test gracefully (samples in flight finish) (operator)
  stop --now                  end the running test at once (operator)
  plans                       the JMeter plans `run` can start, with the properties each takes
  compare <test> <test>       two tests' figures side by side
  help [verb]                 this list, or one verb in detail
Durations look like 3h, 90m or 1h30m. `help <verb>` shows one verb."
        );
    }

    #[test]
    fn verb_help_covers_both_forms_of_hold() {
        assert_eq!(
            verb_help("hold").as_deref(),
            Some(
                "`/loadtest hold <duration>` — skip scheduled scale-downs for a while. Needs: operator role or above. Example: `/loadtest hold 2h`
`/loadtest hold off` — cancel the hold. Needs: operator role or above. Example: `/loadtest hold off`
Add env=<name> to target another environment."
            )
        );
        assert_eq!(verb_help("deploy"), None);
        for name in verb_names() {
            assert!(verb_help(name).is_some(), "{name}");
        }
    }
}
