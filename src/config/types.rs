//! The typed configuration sections: durations, time zones, cron schedules and member ids
//! already parsed, so nothing later re-reads strings.

use super::sizes;
use crate::model::{ChannelId, EnvName, SizeName, SlackUserId};
use chrono::NaiveDate;
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct TerraformConfig {
    /// A name looked up on PATH (`terraform`, `tofu`) or a path.
    pub binary: String,
    pub plan_timeout: Duration,
    pub apply_timeout: Duration,
    /// How long Terraform gets to stop after SIGINT (cancel, timeout) before it is killed.
    pub interrupt_grace: Duration,
    /// The variable-sets file.
    pub sizes: PathBuf,
    /// Handlebars message templates.
    pub templates: PathBuf,
    /// Variables passed to Terraform besides the built-in allow-list (PATH, HOME, `AWS_*`,
    /// `TF_*`, proxy, CA and locale variables, TMPDIR); nothing else of the bot's environment
    /// reaches it.
    pub env_passthrough: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StoreConfig {
    /// Everything mutable (database, plans, logs, Terraform data dirs) lives under here.
    pub dir: PathBuf,
    /// Finished runs (with their directories), audit rows and delivered messages older than
    /// this are pruned daily.
    pub keep_runs: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlackMode {
    Socket,
    Http,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SlackConfig {
    /// `None`: Socket Mode when `SLACK_APP_TOKEN` is set, else HTTP (`serve`).
    pub mode: Option<SlackMode>,
    /// `host:port` for `/healthz`, `/metrics` and, in HTTP mode, `/slack/*`.
    pub listen: String,
    /// When set, `/metrics` is served here only (e.g. a private address) instead of on
    /// `listen`, which in HTTP mode faces the internet.
    pub metrics_listen: Option<String>,
    /// When not empty, requests from any other workspace are refused (and audited).
    pub team_ids: Vec<String>,
    /// When set, requests for any other Slack app are refused (and audited).
    pub api_app_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EnvironmentConfig {
    pub name: EnvName,
    pub terraform_dir: PathBuf,
    pub workspace: String,
    /// Empty: commands are accepted from any channel.
    pub channels: Vec<ChannelId>,
    pub timezone: Tz,
    pub default_lease: Duration,
    pub max_lease: Duration,
    /// Passed as `-backend-config=key=value` to `terraform init`.
    pub backend_config: BTreeMap<String, String>,
    pub default: bool,
    /// Extra root variables for every run of this environment (e.g. `aws_endpoint`).
    pub tf_vars: BTreeMap<String, serde_json::Value>,
    /// How long the bot waits after an apply for the hosts to report ready.
    pub ready_timeout: Duration,
    /// The account's On-Demand vCPU quota as the config states it, for a bot that cannot
    /// read Service Quotas; `None`: ask Service Quotas.
    pub vcpu_quota: Option<u32>,
    /// A checkout of the team's JMeter plans, CSV data and plugin jars on the bot's host,
    /// copied to the environment's bucket (`plans/`) before every test; `None`: `run` is off.
    pub plans_dir: Option<PathBuf>,
    /// A `.jmx` shared in the environment's channel (Slack's `file_shared`, scope `files:read`)
    /// becomes a plan `run` can start, next to those of `plans_dir`.
    pub shared_plans: bool,
    /// How long the links to a test's report and JTL stay valid (S3 allows at most 7 days).
    pub results_link_expiry: Duration,
    /// How often a running test is looked at (its results in the bucket, its live message).
    pub test_poll_interval: Duration,
}

/// One `[plans."<name>.jmx"]` section: what a `run` of that plan may set, and when its
/// result counts as failed.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanConfig {
    /// The `-J<name>=<value>` properties `run` accepts for this plan; others are refused.
    pub properties: Vec<String>,
    /// Above this error percentage the test failed (`exec -- run` exits 1).
    pub max_error_percent: f64,
}

impl Default for PlanConfig {
    /// A plan without a section: no properties, at most 1 % errors.
    fn default() -> Self {
        Self {
            properties: Vec::new(),
            max_error_percent: 1.0,
        }
    }
}

/// Members are user IDs (`U…`/`W…`), user-group IDs (`S…`) or `*` (everyone).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccessConfig {
    pub admins: Vec<SlackUserId>,
    pub operators: Vec<SlackUserId>,
    pub viewers: Vec<SlackUserId>,
    /// `open_access = true`: every Slack user not listed above is an operator. Written out,
    /// because `serve` refuses to start open by accident.
    pub open_access: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalConfig {
    pub required_for: Vec<ApprovalRule>,
    pub approvers: Vec<SlackUserId>,
    pub self_approve: bool,
    pub expires: Duration,
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        Self {
            required_for: Vec::new(),
            approvers: Vec::new(),
            self_approve: false,
            expires: Duration::from_secs(30 * 60),
        }
    }
}

/// One `required_for` entry: `up`, `up:<size>`, `down` or `off`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApprovalRule {
    /// `size: None` matches every `up`.
    Up {
        size: Option<SizeName>,
    },
    Down,
    Off,
}

impl ApprovalRule {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        match text {
            "up" => Ok(Self::Up { size: None }),
            "down" => Ok(Self::Down),
            "off" => Ok(Self::Off),
            _ => match text.strip_prefix("up:") {
                Some(size) if sizes::is_valid_name(size) => Ok(Self::Up {
                    size: Some(SizeName::new(size)),
                }),
                _ => Err(format!(
                    "{text:?} is not an approval rule; use \"up\", \"up:<size>\", \"down\" or \"off\""
                )),
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScheduleAction {
    Down,
    Off,
    Up(SizeName),
}

impl ScheduleAction {
    /// The variable set the action applies.
    pub fn target(&self) -> SizeName {
        match self {
            Self::Down => SizeName::DOWN,
            Self::Off => SizeName::OFF,
            Self::Up(size) => size.clone(),
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["down"] => Ok(Self::Down),
            ["off"] => Ok(Self::Off),
            ["up", size] if sizes::is_valid_name(size) => Ok(Self::Up(SizeName::new(*size))),
            _ => Err(format!(
                "{text:?} is not an action; use \"down\", \"off\" or \"up <size>\""
            )),
        }
    }
}

impl fmt::Display for ScheduleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Down => f.write_str("down"),
            Self::Off => f.write_str("off"),
            Self::Up(size) => write!(f, "up {size}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ScheduleConfig {
    pub name: String,
    /// As written, for messages.
    pub cron_text: String,
    /// Ready to iterate; see [`crate::schedule::cron::parse_cron`] for the day-of-week translation.
    pub cron: cron::Schedule,
    pub timezone: Tz,
    pub action: ScheduleAction,
    pub environments: Vec<EnvName>,
    /// `None`: no warning is posted.
    pub warn_before: Option<Duration>,
    pub skip_dates: Vec<NaiveDate>,
    /// `None`: a fire missed while the bot was down is not made up.
    pub catch_up: Option<Duration>,
}
