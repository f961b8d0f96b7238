//! Chat text → a validated [`ChatCommand`]. Pure: no I/O, no Slack, no Terraform.
//! The verbs, their usage lines and the roles they need live in one catalogue
//! ([`catalogue::VERBS`]); the parser and `help` both read it, so they cannot drift.
//!
//! Every value in a parsed command is either one of the known names handed in through
//! [`ParseContext`] or a number/duration, so user text cannot reach a shell or Terraform.

mod answers;
pub mod catalogue;
pub mod parse;
mod run_args;

pub use catalogue::{help_text, verb_help, VerbKind, VerbSpec, VERBS};
pub use parse::{parse, ParseError, ParseErrorKind};
pub use run_args::MAX_TEST_DURATION;

use crate::config::sizes::VariableSets;
use crate::config::{format_duration, Config, ScheduleAction};
use crate::model::{EnvName, RunId, SizeName};
use std::time::Duration;

/// What the parser needs to know about the deployment.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseContext {
    /// Known variable-set names, cheapest first (the order shown in "sizes: …").
    pub sizes: Vec<SizeName>,
    pub envs: Vec<EnvName>,
    /// The longest lease (and hold): the `max_lease` of the environment the command will
    /// target, or the largest of all when that is not known before parsing. In that case the
    /// caller re-checks against the resolved environment's own `max_lease`.
    pub max_lease: Duration,
}

impl ParseContext {
    /// The context for a command whose target is `target` (`None`: the largest `max_lease`).
    pub fn from_config(config: &Config, sets: &VariableSets, target: Option<&EnvName>) -> Self {
        let max_lease = target
            .and_then(|name| config.env(name))
            .map(|env| env.max_lease)
            .unwrap_or_else(|| config.largest_max_lease());
        Self {
            sizes: sets.names(),
            envs: config.env_names(),
            max_lease,
        }
    }
}

/// A parsed command: the verb and the `env=` it named, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatCommand {
    pub verb: Verb,
    pub env: Option<EnvName>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verb {
    /// `lease: None` means the environment's `default_lease`.
    Up {
        size: SizeName,
        lease: Option<Duration>,
    },
    Down,
    Off,
    Plan {
        target: SizeName,
    },
    /// A read-only verb without arguments (`status`, `schedule`, `sizes`, `plans`, and any
    /// the catalogue adds): see [`catalogue::VerbSpec::is_plain_read`].
    Read(VerbKind),
    History {
        count: usize,
    },
    Extend {
        by: Duration,
    },
    Hold {
        for_: Duration,
    },
    HoldOff,
    Cancel,
    Approve {
        run: RunId,
    },
    Reject {
        run: RunId,
    },
    Unlock {
        lock_id: String,
    },
    /// Plans the environment's current size with the image pin cleared, then pins the image
    /// the apply used.
    RefreshImage,
    Help {
        topic: Option<String>,
    },
    /// A JMeter test on the environment's master.
    Run(TestRequest),
    /// Ends the running test: JMeter's graceful shutdown, or at once with `--now`.
    Stop {
        now: bool,
    },
    /// Two tests' figures side by side, by test number.
    Compare {
        a: i64,
        b: i64,
    },
}

/// What `run` asked for, every value checked by the parser (see `run_args`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRequest {
    /// A `.jmx` file name (letters, digits, `-`, `_`, `.`).
    pub plan: String,
    pub threads: Option<u32>,
    pub duration: Option<Duration>,
    pub rampup: Option<Duration>,
    /// `-J<name>=<value>` in the order given; allowed names are checked per plan later.
    pub properties: Vec<(String, String)>,
}

impl TestRequest {
    /// `smoke.jmx threads=10 duration=30m -Jhost=a`: canonical, re-parses to itself.
    pub fn args_text(&self) -> String {
        let mut words = vec![self.plan.clone()];
        if let Some(threads) = self.threads {
            words.push(format!("threads={threads}"));
        }
        if let Some(duration) = self.duration {
            words.push(format!("duration={}", format_duration(duration)));
        }
        if let Some(rampup) = self.rampup {
            words.push(format!("rampup={}", format_duration(rampup)));
        }
        for (name, value) in &self.properties {
            words.push(format!("-J{name}={value}"));
        }
        words.join(" ")
    }
}

impl Verb {
    pub fn kind(&self) -> VerbKind {
        match self {
            Verb::Up { .. } => VerbKind::Up,
            Verb::Down => VerbKind::Down,
            Verb::Off => VerbKind::Off,
            Verb::Plan { .. } => VerbKind::Plan,
            Verb::Read(kind) => *kind,
            Verb::History { .. } => VerbKind::History,
            Verb::Extend { .. } => VerbKind::Extend,
            Verb::Hold { .. } => VerbKind::Hold,
            Verb::HoldOff => VerbKind::HoldOff,
            Verb::Cancel => VerbKind::Cancel,
            Verb::Approve { .. } => VerbKind::Approve,
            Verb::Reject { .. } => VerbKind::Reject,
            Verb::Unlock { .. } => VerbKind::Unlock,
            Verb::RefreshImage => VerbKind::RefreshImage,
            Verb::Help { .. } => VerbKind::Help,
            Verb::Run(_) => VerbKind::Run,
            Verb::Stop { now: false } => VerbKind::Stop,
            Verb::Stop { now: true } => VerbKind::StopNow,
            Verb::Compare { .. } => VerbKind::Compare,
        }
    }

    /// The catalogue entry of this verb.
    pub fn spec(&self) -> &'static VerbSpec {
        self.kind().spec()
    }

    /// The word the user typed first (`hold off` is `hold` with args `off`).
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// The arguments in canonical form, e.g. `large for 3h`, `#41`; empty when none.
    pub fn args_text(&self) -> String {
        match self {
            Verb::Up { size, lease: None } => size.to_string(),
            Verb::Up {
                size,
                lease: Some(lease),
            } => format!("{size} for {}", format_duration(*lease)),
            Verb::Plan { target } => target.to_string(),
            Verb::History { count } => count.to_string(),
            Verb::Extend { by } => format_duration(*by),
            Verb::Hold { for_ } => format_duration(*for_),
            Verb::HoldOff => "off".into(),
            Verb::Approve { run } | Verb::Reject { run } => format!("#{run}"),
            Verb::Unlock { lock_id } => lock_id.clone(),
            Verb::Help { topic } => topic.clone().unwrap_or_default(),
            Verb::Run(test) => test.args_text(),
            Verb::Stop { now: true } => "--now".into(),
            Verb::Compare { a, b } => format!("#{a} #{b}"),
            Verb::Stop { now: false }
            | Verb::Read(_)
            | Verb::Down
            | Verb::Off
            | Verb::Cancel
            | Verb::RefreshImage => String::new(),
        }
    }

    /// `up large for 3h`: the verb as the final message's text quotes it.
    pub fn display_text(&self) -> String {
        let args = self.args_text();
        if args.is_empty() {
            self.name().to_string()
        } else {
            format!("{} {args}", self.name())
        }
    }

    /// Changes something: infrastructure, a lease, a hold, a job or a lock.
    pub fn is_mutating(&self) -> bool {
        self.spec().mutating
    }

    /// Creates a Terraform run in the environment's queue (plan included: it takes the
    /// state lock too).
    pub fn queues_run(&self) -> bool {
        matches!(
            self,
            Verb::Up { .. } | Verb::Down | Verb::Off | Verb::Plan { .. } | Verb::RefreshImage
        )
    }

    /// The variable set a run applies or plans.
    pub fn target_size(&self) -> Option<SizeName> {
        match self {
            Verb::Up { size, .. } => Some(size.clone()),
            Verb::Down => Some(SizeName::DOWN),
            Verb::Off => Some(SizeName::OFF),
            Verb::Plan { target } => Some(target.clone()),
            _ => None,
        }
    }

    /// What a schedule fires, as the verb a chat command would have produced.
    pub fn from_schedule_action(action: &ScheduleAction) -> Verb {
        match action {
            ScheduleAction::Down => Verb::Down,
            ScheduleAction::Off => Verb::Off,
            ScheduleAction::Up(size) => Verb::Up {
                size: size.clone(),
                lease: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_print_their_canonical_text() {
        let table: &[(Verb, &str, bool, bool)] = &[
            (
                Verb::Up {
                    size: SizeName::new("large"),
                    lease: Some(Duration::from_secs(3 * 3600)),
                },
                "up large for 3h",
                true,
                true,
            ),
            (
                Verb::Up {
                    size: SizeName::new("small"),
                    lease: Some(Duration::from_secs(90 * 60)),
                },
                "up small for 1h30m",
                true,
                true,
            ),
            (
                Verb::Up {
                    size: SizeName::new("small"),
                    lease: None,
                },
                "up small",
                true,
                true,
            ),
            (Verb::Down, "down", true, true),
            (Verb::Off, "off", true, true),
            (
                Verb::Plan {
                    target: SizeName::OFF,
                },
                "plan off",
                false,
                true,
            ),
            (Verb::Read(VerbKind::Status), "status", false, false),
            (Verb::History { count: 10 }, "history 10", false, false),
            (
                Verb::Extend {
                    by: Duration::from_secs(7200),
                },
                "extend 2h",
                true,
                false,
            ),
            (
                Verb::Hold {
                    for_: Duration::from_secs(1800),
                },
                "hold 30m",
                true,
                false,
            ),
            (Verb::HoldOff, "hold off", true, false),
            (Verb::Read(VerbKind::Schedule), "schedule", false, false),
            (Verb::Cancel, "cancel", true, false),
            (Verb::Approve { run: RunId(41) }, "approve #41", true, false),
            (Verb::Reject { run: RunId(41) }, "reject #41", true, false),
            (
                Verb::Unlock {
                    lock_id: "abc-1".into(),
                },
                "unlock abc-1",
                true,
                false,
            ),
            (Verb::RefreshImage, "refresh-image", true, true),
            (Verb::Read(VerbKind::Sizes), "sizes", false, false),
            (Verb::Help { topic: None }, "help", false, false),
            (
                Verb::Help {
                    topic: Some("up".into()),
                },
                "help up",
                false,
                false,
            ),
        ];
        for (verb, text, mutating, queues) in table {
            assert_eq!(verb.display_text(), *text);
            assert_eq!(verb.is_mutating(), *mutating, "{text}");
            assert_eq!(verb.queues_run(), *queues, "{text}");
        }
    }

    #[test]
    fn schedule_actions_become_the_chat_verbs() {
        assert_eq!(
            Verb::from_schedule_action(&ScheduleAction::Down),
            Verb::Down
        );
        assert_eq!(Verb::from_schedule_action(&ScheduleAction::Off), Verb::Off);
        assert_eq!(
            Verb::from_schedule_action(&ScheduleAction::Up(SizeName::new("small"))).display_text(),
            "up small"
        );
        assert_eq!(Verb::Down.target_size(), Some(SizeName::DOWN));
        assert_eq!(Verb::Read(VerbKind::Status).target_size(), None);
    }

    #[test]
    fn context_from_config_uses_the_target_env_max_lease() {
        let config = Config::from_str(
            "[environments.a]\nterraform_dir = \"x\"\nmax_lease = \"12h\"\n\
             [environments.b]\nterraform_dir = \"x\"\nmax_lease = \"48h\"\ndefault_lease = \"8h\"\n",
            "t.toml",
        )
        .expect("config");
        let sets = VariableSets::from_str(
            "[off]\ndescription = \"x\"\nest_hourly_usd = 0\n[down]\ndescription = \"x\"\nest_hourly_usd = 1\n",
            "s.toml",
        )
        .expect("sets");
        let for_a = ParseContext::from_config(&config, &sets, Some(&EnvName::new("a")));
        assert_eq!(for_a.max_lease, Duration::from_secs(12 * 3600));
        let unknown = ParseContext::from_config(&config, &sets, None);
        assert_eq!(unknown.max_lease, Duration::from_secs(48 * 3600));
        assert_eq!(unknown.sizes, [SizeName::OFF, SizeName::DOWN]);
        let error = parse("extend 20h", &for_a).expect_err("over a's max");
        assert_eq!(error.message, "the longest lease is 12h");
        assert!(parse("extend 20h", &unknown).is_ok());
    }
}
