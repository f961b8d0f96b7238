//! The TOML configuration of SPEC §11: read once at start, validated as a whole, and turned
//! into typed values (durations, time zones, cron schedules, regexes) so nothing later
//! re-parses strings. Every problem names the file and the key path; all are collected.
//!
//! Relative paths (`terraform_dir`, `[terraform] sizes`/`templates`, `[store] dir`) are kept
//! as written and so resolve against the process's working directory (the project root when
//! started by `make run`), not against the config file's directory.
//!
//! Owns no I/O beyond reading the config, the sizes file and `*.tf` files of the roots.

use crate::model::{ChannelId, EnvName, SizeName, SlackUserId};
use crate::sizes::{self, VariableSets};
use chrono::NaiveDate;
use chrono_tz::Tz;
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

/// One problem in a configuration or variable-set file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `environment` for environment variables); empty when the caller adds it.
    pub file: String,
    /// Dotted key path, e.g. `environments.lt1.max_lease`; empty for the whole file.
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(
        file: impl Into<String>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            write!(f, "{}: ", self.file)?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found, one per line when displayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Turns a serde error from deserializing the value at `prefix` into a keyed error.
/// toml reports the inner key path only in its `Display` ("in `a.b`"), and serde names an
/// unknown field only in the message, so both are lifted into the key.
pub(crate) fn from_toml_error(file: &str, prefix: &str, error: &toml::de::Error) -> ConfigError {
    let mut key = prefix.to_string();
    let rendered = error.to_string();
    if let Some(inner) = rendered
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("in `")?.strip_suffix('`'))
    {
        key = join_key(&key, inner);
    }
    let message = error.message().trim();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((field, expected)) = rest.split_once('`') {
            let expected = expected.trim_start_matches(',').trim();
            let message = if expected.is_empty() {
                "unknown key".to_string()
            } else {
                format!("unknown key; {expected}")
            };
            return ConfigError::new(file, join_key(&key, field), message);
        }
    }
    ConfigError::new(file, key, message)
}

fn join_key(prefix: &str, key: &str) -> String {
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}.{key}"),
    }
}

/// Parses "3h", "90m", "1h30m" (humantime syntax).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("invalid duration {text:?}: {error}"))
}

// ---------------------------------------------------------------------------------------
// Typed configuration
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Config {
    /// How the file was named when loaded; used in messages.
    pub file: String,
    pub terraform: TerraformConfig,
    pub store: StoreConfig,
    pub slack: SlackConfig,
    pub environments: BTreeMap<EnvName, EnvironmentConfig>,
    /// `None` without an `[access]` section: everyone is an operator, nobody an admin.
    pub access: Option<AccessConfig>,
    /// Empty `required_for` without an `[approval]` section.
    pub approval: ApprovalConfig,
    pub schedules: Vec<ScheduleConfig>,
    /// Matches are replaced by `***` in everything sent or stored.
    pub mask_patterns: Vec<Regex>,
}

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
}

#[derive(Clone, Debug, PartialEq)]
pub struct StoreConfig {
    /// Everything mutable (database, plans, logs, Terraform data dirs) lives under here.
    pub dir: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlackMode {
    Socket,
    Http,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SlackConfig {
    /// `None`: Socket Mode when `SLACK_APP_TOKEN` is set, else HTTP (SPEC §11 `serve`).
    pub mode: Option<SlackMode>,
    /// `host:port` for `/healthz`, `/metrics` and, in HTTP mode, `/slack/*`.
    pub listen: String,
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
}

/// Members are user IDs (`U…`/`W…`), user-group IDs (`S…`) or `*` (everyone).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccessConfig {
    pub admins: Vec<SlackUserId>,
    pub operators: Vec<SlackUserId>,
    pub viewers: Vec<SlackUserId>,
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
    fn parse(text: &str) -> Result<Self, String> {
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
            Self::Down => SizeName::new("down"),
            Self::Off => SizeName::new("off"),
            Self::Up(size) => size.clone(),
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
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
    /// Ready to iterate; see [`parse_cron`] for the day-of-week translation.
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

impl ScheduleConfig {
    /// The next `count` fire times strictly after `after`: DST-correct (a time in a gap fires
    /// once at the first valid instant, an ambiguous one once at the earlier), `skip_dates`
    /// left out. See [`crate::schedule::calendar`].
    pub fn next_fires(
        &self,
        after: chrono::DateTime<chrono::Utc>,
        count: usize,
    ) -> Vec<chrono::DateTime<chrono::Utc>> {
        crate::schedule::calendar::next_fires(self, after, count)
            .into_iter()
            .map(|occurrence| occurrence.at)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// On-disk shapes: strings where validation needs to say more than serde would
// ---------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTerraform {
    binary: Option<String>,
    plan_timeout: Option<String>,
    apply_timeout: Option<String>,
    interrupt_grace: Option<String>,
    sizes: Option<String>,
    templates: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    dir: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    mode: Option<String>,
    listen: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    terraform_dir: String,
    workspace: Option<String>,
    #[serde(default)]
    channels: Vec<String>,
    timezone: Option<String>,
    default_lease: Option<String>,
    max_lease: Option<String>,
    #[serde(default)]
    backend_config: BTreeMap<String, String>,
    #[serde(default)]
    default: bool,
    #[serde(default)]
    tf_vars: toml::Table,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAccess {
    #[serde(default)]
    admins: Vec<String>,
    #[serde(default)]
    operators: Vec<String>,
    #[serde(default)]
    viewers: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    #[serde(default)]
    required_for: Vec<String>,
    #[serde(default)]
    approvers: Vec<String>,
    #[serde(default)]
    self_approve: bool,
    expires: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    name: String,
    cron: String,
    timezone: Option<String>,
    action: String,
    environments: Vec<String>,
    warn_before: Option<String>,
    #[serde(default)]
    skip_dates: Vec<String>,
    catch_up: Option<String>,
}

const TOP_LEVEL_KEYS: [&str; 8] = [
    "terraform",
    "store",
    "slack",
    "environments",
    "access",
    "approval",
    "schedules",
    "mask_patterns",
];

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static regex"))
}

fn is_member_id(text: &str) -> bool {
    static MEMBER: OnceLock<Regex> = OnceLock::new();
    text == "*" || regex(&MEMBER, r"^[UWS][A-Z0-9]{2,20}$").is_match(text)
}

fn is_channel_id(text: &str) -> bool {
    static CHANNEL: OnceLock<Regex> = OnceLock::new();
    regex(&CHANNEL, r"^[CGD][A-Z0-9]{2,20}$").is_match(text)
}

fn is_plain_word(text: &str) -> bool {
    static WORD: OnceLock<Regex> = OnceLock::new();
    regex(&WORD, r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$").is_match(text)
}

/// Collects errors while building; `file` labels each.
struct Checker<'a> {
    file: &'a str,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn push(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::new(self.file, key, message));
    }

    /// Deserializes `value` (at `key`), recording the error instead of returning it.
    fn section<T: serde::de::DeserializeOwned>(
        &mut self,
        key: &str,
        value: Option<toml::Value>,
    ) -> Option<T> {
        let value = value?;
        match value.try_into() {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                self.errors.push(from_toml_error(self.file, key, &error));
                None
            }
        }
    }

    fn duration(&mut self, key: &str, text: Option<&str>, default: &str) -> Duration {
        let text = text.unwrap_or(default);
        match parse_duration(text) {
            Ok(duration) if duration.is_zero() => {
                self.push(key, format!("must be longer than zero, not {text:?}"));
                Duration::ZERO
            }
            Ok(duration) => duration,
            Err(message) => {
                self.push(key, message);
                Duration::ZERO
            }
        }
    }

    fn optional_duration(&mut self, key: &str, text: Option<&str>) -> Option<Duration> {
        text.map(|text| self.duration(key, Some(text), ""))
    }

    fn timezone(&mut self, key: &str, text: Option<&str>) -> Tz {
        let text = text.unwrap_or("UTC");
        Tz::from_str(text).unwrap_or_else(|_| {
            self.push(
                key,
                format!("unknown time zone {text:?}; use an IANA name such as \"Europe/Berlin\""),
            );
            Tz::UTC
        })
    }

    fn members(&mut self, key: &str, members: Vec<String>) -> Vec<SlackUserId> {
        for (index, member) in members.iter().enumerate() {
            if !is_member_id(member) {
                self.push(
                    &format!("{key}[{index}]"),
                    format!(
                        "{member:?} is not a member ID; use a user ID (U…/W…), a user-group ID \
                         (S…) or \"*\""
                    ),
                );
            }
        }
        members.into_iter().map(SlackUserId::new).collect()
    }
}

impl Config {
    /// Reads, parses and validates the file, applies `LOADTEST_STATE_DIR`/`LOADTEST_LISTEN`,
    /// and, when the sizes file exists, checks the variable sets against it and against each
    /// environment's Terraform root that exists (see the module docs for relative paths).
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigErrors(vec![ConfigError::new(
                &label,
                "",
                format!("cannot read: {error}"),
            )])
        })?;
        let mut config = Config::from_str(&text, &label)?;
        let mut errors = config.apply_env_overrides(|name| std::env::var(name).ok());
        errors.extend(config.check_files());
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Parses and validates config text without touching the filesystem or the environment.
    #[allow(clippy::should_implement_trait)] // two arguments; FromStr cannot carry the label
    pub fn from_str(text: &str, file_label: &str) -> Result<Config, ConfigErrors> {
        let mut check = Checker {
            file: file_label,
            errors: Vec::new(),
        };
        let mut table: toml::Table = match toml::from_str(text) {
            Ok(table) => table,
            Err(error) => {
                // A syntax error: toml's own message carries line and column.
                let rendered = error.to_string();
                return Err(ConfigErrors(vec![ConfigError::new(
                    file_label,
                    "",
                    rendered.trim_end().to_string(),
                )]));
            }
        };
        let unknown: Vec<String> = table
            .keys()
            .filter(|key| !TOP_LEVEL_KEYS.contains(&key.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            check.push(
                &key,
                format!("unknown key; expected one of {}", TOP_LEVEL_KEYS.join(", ")),
            );
        }

        let terraform = build_terraform(&mut check, table.remove("terraform"));
        let store = build_store(&mut check, table.remove("store"));
        let slack = build_slack(&mut check, table.remove("slack"));
        let environments = build_environments(&mut check, table.remove("environments"));
        let access = table.remove("access").map(|value| {
            let raw: RawAccess = check.section("access", Some(value)).unwrap_or_default();
            AccessConfig {
                admins: check.members("access.admins", raw.admins),
                operators: check.members("access.operators", raw.operators),
                viewers: check.members("access.viewers", raw.viewers),
            }
        });
        let approval = build_approval(&mut check, table.remove("approval"));
        let schedules = build_schedules(&mut check, table.remove("schedules"), &environments);
        let mask_patterns = build_mask_patterns(&mut check, table.remove("mask_patterns"));

        if check.errors.is_empty() {
            Ok(Config {
                file: file_label.to_string(),
                terraform,
                store,
                slack,
                environments,
                access,
                approval,
                schedules,
                mask_patterns,
            })
        } else {
            Err(ConfigErrors(check.errors))
        }
    }

    /// Applies the environment variables that override the file; `lookup` is
    /// `std::env::var` in production.
    pub fn apply_env_overrides(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Some(dir) = lookup("LOADTEST_STATE_DIR").filter(|dir| !dir.is_empty()) {
            self.store.dir = PathBuf::from(dir);
        }
        if let Some(listen) = lookup("LOADTEST_LISTEN").filter(|listen| !listen.is_empty()) {
            match check_listen(&listen) {
                Ok(()) => self.slack.listen = listen,
                Err(message) => {
                    errors.push(ConfigError::new("environment", "LOADTEST_LISTEN", message))
                }
            }
        }
        errors
    }

    /// Cross-checks against files, skipping what does not exist yet: the sizes file, and
    /// each environment's Terraform root.
    pub fn check_files(&self) -> Vec<ConfigError> {
        if !self.terraform.sizes.is_file() {
            return Vec::new();
        }
        let sets = match VariableSets::load_all_errors(&self.terraform.sizes) {
            Ok(sets) => sets,
            Err(errors) => return errors.0,
        };
        let mut declared = BTreeMap::new();
        let mut errors = Vec::new();
        for env in self.environments.values() {
            if !env.terraform_dir.is_dir() {
                continue;
            }
            match sizes::declared_variables(&env.terraform_dir) {
                Ok(names) => {
                    declared.insert(env.name.clone(), names);
                }
                Err(error) => errors.push(ConfigError::new(
                    &self.file,
                    format!("environments.{}.terraform_dir", env.name),
                    format!("cannot read {}: {error}", env.terraform_dir.display()),
                )),
            }
        }
        errors.extend(self.check_against(&sets, &declared));
        errors
    }

    /// Pure cross-check: sizes named by schedules and approval rules exist, and each
    /// environment's sets and `tf_vars` only name variables its root declares (for the
    /// environments present in `declared`).
    pub fn check_against(
        &self,
        sets: &VariableSets,
        declared: &BTreeMap<EnvName, BTreeSet<String>>,
    ) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let size_list = || {
            sets.names()
                .iter()
                .map(|name| name.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (index, schedule) in self.schedules.iter().enumerate() {
            if let ScheduleAction::Up(size) = &schedule.action {
                if sets.get(size.as_str()).is_none() {
                    errors.push(ConfigError::new(
                        &self.file,
                        format!("schedules[{index}].action"),
                        format!("unknown size `{size}`; sizes: {}", size_list()),
                    ));
                }
            }
        }
        for (index, rule) in self.approval.required_for.iter().enumerate() {
            if let ApprovalRule::Up { size: Some(size) } = rule {
                if sets.get(size.as_str()).is_none() {
                    errors.push(ConfigError::new(
                        &self.file,
                        format!("approval.required_for[{index}]"),
                        format!("unknown size `{size}`; sizes: {}", size_list()),
                    ));
                }
            }
        }
        let sizes_file = self.terraform.sizes.display().to_string();
        for (env_name, names) in declared {
            let Some(env) = self.environments.get(env_name) else {
                continue;
            };
            let root = env.terraform_dir.display();
            for mut error in sets.check_declared(names) {
                error.file = sizes_file.clone();
                error.message = format!("{} (environment `{env_name}`, {root})", error.message);
                errors.push(error);
            }
            for variable in env.tf_vars.keys() {
                let key = format!("environments.{env_name}.tf_vars.{variable}");
                if !names.contains(variable) {
                    errors.push(ConfigError::new(
                        &self.file,
                        &key,
                        format!("the Terraform root {root} does not declare `{variable}`"),
                    ));
                }
                if let Some(set) = sets.iter().find(|set| set.variables.contains_key(variable)) {
                    errors.push(ConfigError::new(
                        &self.file,
                        &key,
                        format!(
                            "variable set `{}` sets `{variable}` too; sizes own it, so remove \
                             it here",
                            set.name
                        ),
                    ));
                }
            }
        }
        errors
    }

    pub fn env(&self, name: &EnvName) -> Option<&EnvironmentConfig> {
        self.environments.get(name)
    }

    /// The environment marked `default = true`, else the only one there is.
    pub fn default_env(&self) -> Option<&EnvName> {
        self.environments
            .values()
            .find(|env| env.default)
            .or_else(|| match self.environments.len() {
                1 => self.environments.values().next(),
                _ => None,
            })
            .map(|env| &env.name)
    }

    /// The environments bound to `channel`, by name.
    pub fn envs_bound_to(&self, channel: &ChannelId) -> Vec<EnvName> {
        self.environments
            .values()
            .filter(|env| env.channels.contains(channel))
            .map(|env| env.name.clone())
            .collect()
    }

    /// Which environment a command targets: `env=` if given, else the one environment the
    /// channel is bound to, else the default. `Err` is a one-line answer for the user.
    pub fn resolve_env(
        &self,
        explicit: Option<&EnvName>,
        channel: &ChannelId,
    ) -> Result<EnvName, String> {
        let list = |names: &[EnvName]| {
            names
                .iter()
                .map(|name| format!("`env={name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(name) = explicit {
            return match self.env(name) {
                Some(env) => Ok(env.name.clone()),
                None => Err(format!("there is no environment `{name}`")),
            };
        }
        match self.envs_bound_to(channel).as_slice() {
            [env] => Ok(env.clone()),
            [] => self.default_env().cloned().ok_or_else(|| {
                format!("which environment? add one of {}", list(&self.env_names()))
            }),
            several => Err(format!(
                "this channel has {} environments; add one of {}",
                several.len(),
                list(several)
            )),
        }
    }

    /// Environment names, sorted.
    pub fn env_names(&self) -> Vec<EnvName> {
        self.environments.keys().cloned().collect()
    }

    /// How long an approval stays open.
    pub fn approval_expires(&self) -> Duration {
        self.approval.expires
    }

    /// The compiled `mask_patterns` (for the masker, which owns masking).
    pub fn mask_regexes(&self) -> Vec<Regex> {
        self.mask_patterns.clone()
    }

    /// The longest `max_lease` of any environment (for parsing before the target is known).
    pub fn largest_max_lease(&self) -> Duration {
        self.environments
            .values()
            .map(|env| env.max_lease)
            .max()
            .unwrap_or(Duration::from_secs(24 * 3600))
    }
}

fn check_listen(listen: &str) -> Result<(), String> {
    listen
        .parse::<std::net::SocketAddr>()
        .map(|_| ())
        .map_err(|_| format!("{listen:?} is not an address; use host:port such as 127.0.0.1:3000"))
}

fn build_terraform(check: &mut Checker, value: Option<toml::Value>) -> TerraformConfig {
    let raw: RawTerraform = check.section("terraform", value).unwrap_or_default();
    let binary = raw.binary.unwrap_or_else(|| "terraform".into());
    if binary.trim().is_empty() {
        check.push("terraform.binary", "must name a program");
    }
    TerraformConfig {
        binary,
        plan_timeout: check.duration("terraform.plan_timeout", raw.plan_timeout.as_deref(), "15m"),
        apply_timeout: check.duration(
            "terraform.apply_timeout",
            raw.apply_timeout.as_deref(),
            "45m",
        ),
        interrupt_grace: check.duration(
            "terraform.interrupt_grace",
            raw.interrupt_grace.as_deref(),
            "60s",
        ),
        sizes: PathBuf::from(raw.sizes.unwrap_or_else(|| "commands/sizes.toml".into())),
        templates: PathBuf::from(raw.templates.unwrap_or_else(|| "commands/templates".into())),
    }
}

fn build_store(check: &mut Checker, value: Option<toml::Value>) -> StoreConfig {
    let raw: RawStore = check.section("store", value).unwrap_or_default();
    let dir = raw.dir.unwrap_or_else(|| ".state".into());
    if dir.is_empty() {
        check.push("store.dir", "must name a directory");
    }
    StoreConfig {
        dir: PathBuf::from(dir),
    }
}

fn build_slack(check: &mut Checker, value: Option<toml::Value>) -> SlackConfig {
    let raw: RawSlack = check.section("slack", value).unwrap_or_default();
    let mode = match raw.mode.as_deref() {
        None => None,
        Some("socket") => Some(SlackMode::Socket),
        Some("http") => Some(SlackMode::Http),
        Some(other) => {
            check.push(
                "slack.mode",
                format!("{other:?} is not a mode; use \"socket\" or \"http\""),
            );
            None
        }
    };
    let listen = raw.listen.unwrap_or_else(|| "127.0.0.1:3000".into());
    if let Err(message) = check_listen(&listen) {
        check.push("slack.listen", message);
    }
    SlackConfig { mode, listen }
}

fn build_environments(
    check: &mut Checker,
    value: Option<toml::Value>,
) -> BTreeMap<EnvName, EnvironmentConfig> {
    let mut environments = BTreeMap::new();
    let table = match value {
        None => {
            check.push("environments", "at least one environment is required");
            return environments;
        }
        Some(toml::Value::Table(table)) => table,
        Some(other) => {
            check.push(
                "environments",
                format!("must be a table of environments, not {}", other.type_str()),
            );
            return environments;
        }
    };
    if table.is_empty() {
        check.push("environments", "at least one environment is required");
    }
    let mut default_seen: Option<String> = None;
    for (name, value) in table {
        let prefix = format!("environments.{name}");
        if !sizes::is_valid_name(&name) {
            check.push(
                &prefix,
                format!(
                    "`{name}` is not a valid environment name (lower-case letter, then up to 31 \
                     lower-case letters, digits or -)"
                ),
            );
            continue;
        }
        let Some(raw) = check.section::<RawEnvironment>(&prefix, Some(value)) else {
            continue;
        };
        if raw.terraform_dir.trim().is_empty() {
            check.push(&format!("{prefix}.terraform_dir"), "must name a directory");
        }
        let workspace = raw.workspace.unwrap_or_else(|| "default".into());
        if !is_plain_word(&workspace) {
            check.push(
                &format!("{prefix}.workspace"),
                format!("{workspace:?} is not a workspace name (letters, digits, - _ .)"),
            );
        }
        for (index, channel) in raw.channels.iter().enumerate() {
            if !is_channel_id(channel) {
                check.push(
                    &format!("{prefix}.channels[{index}]"),
                    format!("{channel:?} is not a channel ID (C…, G… or D…)"),
                );
            }
        }
        let timezone = check.timezone(&format!("{prefix}.timezone"), raw.timezone.as_deref());
        let default_lease_key = format!("{prefix}.default_lease");
        let default_lease = check.duration(&default_lease_key, raw.default_lease.as_deref(), "8h");
        let max_lease = check.duration(
            &format!("{prefix}.max_lease"),
            raw.max_lease.as_deref(),
            "24h",
        );
        if default_lease > max_lease && !max_lease.is_zero() {
            check.push(
                &default_lease_key,
                format!(
                    "{} is longer than max_lease {}",
                    format_duration(default_lease),
                    format_duration(max_lease)
                ),
            );
        }
        for key in raw.backend_config.keys() {
            if !is_plain_word(key) {
                check.push(
                    &format!("{prefix}.backend_config.{key}"),
                    "not a backend setting name (letters, digits, - _ .)",
                );
            }
        }
        let mut tf_vars = BTreeMap::new();
        for (variable, value) in raw.tf_vars {
            let key = format!("{prefix}.tf_vars.{variable}");
            if sizes::RESERVED_VARIABLES[0] == variable {
                check.push(
                    &key,
                    "`environment_name` is the environment's name; it cannot be set",
                );
            } else if let Some(json) = sizes::scalar_to_json(&value) {
                tf_vars.insert(variable, json);
            } else {
                check.push(
                    &key,
                    format!(
                        "must be a string, number or boolean, not {}",
                        value.type_str()
                    ),
                );
            }
        }
        if raw.default {
            if let Some(first) = &default_seen {
                check.push(
                    &format!("{prefix}.default"),
                    format!("only one environment can be the default; `{first}` already is"),
                );
            } else {
                default_seen = Some(name.clone());
            }
        }
        environments.insert(
            EnvName::new(&name),
            EnvironmentConfig {
                name: EnvName::new(name),
                terraform_dir: PathBuf::from(raw.terraform_dir),
                workspace,
                channels: raw.channels.into_iter().map(ChannelId::new).collect(),
                timezone,
                default_lease,
                max_lease,
                backend_config: raw.backend_config,
                default: raw.default,
                tf_vars,
            },
        );
    }
    environments
}

fn build_approval(check: &mut Checker, value: Option<toml::Value>) -> ApprovalConfig {
    let Some(value) = value else {
        return ApprovalConfig::default();
    };
    let raw: RawApproval = check.section("approval", Some(value)).unwrap_or_default();
    let mut required_for = Vec::new();
    for (index, text) in raw.required_for.iter().enumerate() {
        match ApprovalRule::parse(text) {
            Ok(rule) => required_for.push(rule),
            Err(message) => check.push(&format!("approval.required_for[{index}]"), message),
        }
    }
    if !raw.required_for.is_empty() && raw.approvers.is_empty() {
        check.push(
            "approval.approvers",
            "required_for is set but nobody can approve; list approvers",
        );
    }
    let approvers = check.members("approval.approvers", raw.approvers);
    let expires = check.duration("approval.expires", raw.expires.as_deref(), "30m");
    ApprovalConfig {
        required_for,
        approvers,
        self_approve: raw.self_approve,
        expires,
    }
}

fn build_schedules(
    check: &mut Checker,
    value: Option<toml::Value>,
    environments: &BTreeMap<EnvName, EnvironmentConfig>,
) -> Vec<ScheduleConfig> {
    let mut schedules = Vec::new();
    let list = match value {
        None => return schedules,
        Some(toml::Value::Array(list)) => list,
        Some(other) => {
            check.push(
                "schedules",
                format!(
                    "must be an array of tables ([[schedules]]), not {}",
                    other.type_str()
                ),
            );
            return schedules;
        }
    };
    let mut names = BTreeSet::new();
    for (index, value) in list.into_iter().enumerate() {
        let prefix = format!("schedules[{index}]");
        let Some(raw) = check.section::<RawSchedule>(&prefix, Some(value)) else {
            continue;
        };
        let key = |field: &str| format!("{prefix}.{field}");
        if !is_plain_word(&raw.name) {
            check.push(
                &key("name"),
                format!("{:?} is not a schedule name", raw.name),
            );
        } else if !names.insert(raw.name.clone()) {
            check.push(
                &key("name"),
                format!("another schedule is named {:?}", raw.name),
            );
        }
        let cron = match parse_cron(&raw.cron) {
            Ok(cron) => Some(cron),
            Err(message) => {
                check.push(&key("cron"), message);
                None
            }
        };
        let timezone = check.timezone(&key("timezone"), raw.timezone.as_deref());
        let action = match ScheduleAction::parse(&raw.action) {
            Ok(action) => Some(action),
            Err(message) => {
                check.push(&key("action"), message);
                None
            }
        };
        if raw.environments.is_empty() {
            check.push(&key("environments"), "name at least one environment");
        }
        for (env_index, env) in raw.environments.iter().enumerate() {
            if !environments.contains_key(&EnvName::new(env)) {
                check.push(
                    &format!("{prefix}.environments[{env_index}]"),
                    format!("there is no environment `{env}`"),
                );
            }
        }
        let warn_before = check.optional_duration(&key("warn_before"), raw.warn_before.as_deref());
        let catch_up = check.optional_duration(&key("catch_up"), raw.catch_up.as_deref());
        let mut skip_dates = Vec::new();
        for (date_index, text) in raw.skip_dates.iter().enumerate() {
            match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                Ok(date) => skip_dates.push(date),
                Err(_) => check.push(
                    &format!("{prefix}.skip_dates[{date_index}]"),
                    format!("{text:?} is not a date; use YYYY-MM-DD"),
                ),
            }
        }
        if let (Some(cron), Some(action)) = (cron, action) {
            schedules.push(ScheduleConfig {
                name: raw.name,
                cron_text: raw.cron,
                cron,
                timezone,
                action,
                environments: raw.environments.into_iter().map(EnvName::new).collect(),
                warn_before,
                skip_dates,
                catch_up,
            });
        }
    }
    schedules
}

fn build_mask_patterns(check: &mut Checker, value: Option<toml::Value>) -> Vec<Regex> {
    let patterns: Vec<String> = check.section("mask_patterns", value).unwrap_or_default();
    let mut compiled = Vec::new();
    for (index, pattern) in patterns.iter().enumerate() {
        let key = format!("mask_patterns[{index}]");
        match Regex::new(pattern) {
            // A pattern that matches nothing at all would mask between every character.
            Ok(regex) if regex.is_match("") => {
                check.push(&key, format!("{pattern:?} matches the empty string"))
            }
            Ok(regex) => compiled.push(regex),
            Err(error) => check.push(&key, format!("{pattern:?} is not a regex: {error}")),
        }
    }
    compiled
}

/// Parses a cron expression. Five fields are a crontab line (minute hour day month weekday,
/// weekday 0-7 with 0 and 7 = Sunday); it gets a leading seconds field and its numeric
/// weekdays are translated to the `cron` crate's 1 = Sunday … 7 = Saturday, so `1-5` keeps
/// meaning Monday to Friday. Six or seven fields (seconds first, optional year) go to the
/// `cron` crate as written, with its numbering; weekday names (`MON-FRI`) mean the same in both.
pub fn parse_cron(text: &str) -> Result<cron::Schedule, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let expression = match fields.len() {
        5 => {
            let weekday = crontab_weekdays(fields[4])
                .map_err(|message| format!("invalid cron expression {text:?}: {message}"))?;
            format!(
                "0 {} {} {} {} {weekday}",
                fields[0], fields[1], fields[2], fields[3]
            )
        }
        6 | 7 => fields.join(" "),
        _ => {
            return Err(format!(
                "invalid cron expression {text:?}: expected 5 fields (minute hour day month \
                 weekday), or 6/7 with seconds first"
            ))
        }
    };
    let schedule = cron::Schedule::from_str(&expression)
        .map_err(|error| format!("invalid cron expression {text:?}: {error}"))?;
    if schedule.upcoming(chrono::Utc).next().is_none() {
        return Err(format!("cron expression {text:?} never fires"));
    }
    Ok(schedule)
}

fn crontab_weekdays(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let numeric = field
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | ',' | '/' | '*'));
    if !numeric {
        if field.chars().any(|c| c.is_ascii_digit()) {
            return Err("use either weekday names or numbers, not both".into());
        }
        return Ok(field.to_string());
    }
    let bad = || format!("{field:?} is not a weekday list (0-7, 0 and 7 = Sunday)");
    let number = |text: &str| text.parse::<u32>().ok().filter(|n| *n <= 7).ok_or_else(bad);
    let mut days = BTreeSet::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (
                range,
                step.parse::<usize>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(bad)?,
            ),
            None => (item, 1),
        };
        let (start, end) = if range == "*" {
            (0, 7)
        } else if let Some((start, end)) = range.split_once('-') {
            (number(start)?, number(end)?)
        } else if item.contains('/') {
            (number(range)?, 7)
        } else {
            let day = number(range)?;
            (day, day)
        };
        if start > end {
            return Err(bad());
        }
        days.extend((start..=end).step_by(step).map(|day| day % 7));
    }
    Ok(days
        .iter()
        .map(|day| (day + 1).to_string())
        .collect::<Vec<_>>()
        .join(","))
}

/// Compact form for messages: `1h30m`, `24h`, `45s`.
pub fn format_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let (hours, minutes, seconds) = (total / 3600, total % 3600 / 60, total % 60);
    let mut text = String::new();
    if hours > 0 {
        text.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        text.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 || text.is_empty() {
        text.push_str(&format!("{seconds}s"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Weekday};

    const MINIMAL: &str = "[environments.lt1]\nterraform_dir = \"terraform/envs/local\"\n";

    fn load_ok(text: &str) -> Config {
        Config::from_str(text, "test.toml").unwrap_or_else(|errors| panic!("{errors}"))
    }

    fn errors_of(text: &str) -> Vec<String> {
        match Config::from_str(text, "test.toml") {
            Ok(_) => panic!("expected errors for:\n{text}"),
            Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn defaults_keep_cost_safe() {
        let config = load_ok(MINIMAL);
        assert_eq!(config.terraform.binary, "terraform");
        assert_eq!(config.terraform.plan_timeout, Duration::from_secs(15 * 60));
        assert_eq!(config.terraform.apply_timeout, Duration::from_secs(45 * 60));
        assert_eq!(config.terraform.sizes, PathBuf::from("commands/sizes.toml"));
        assert_eq!(
            config.terraform.templates,
            PathBuf::from("commands/templates")
        );
        assert_eq!(config.store.dir, PathBuf::from(".state"));
        assert_eq!(config.slack.listen, "127.0.0.1:3000");
        assert_eq!(config.slack.mode, None);
        let env = config.env(&EnvName::new("lt1")).expect("lt1");
        assert_eq!(env.workspace, "default");
        assert_eq!(env.timezone, Tz::UTC);
        assert_eq!(env.default_lease, Duration::from_secs(8 * 3600));
        assert_eq!(env.max_lease, Duration::from_secs(24 * 3600));
        assert!(env.channels.is_empty() && env.backend_config.is_empty());
        assert!(config.access.is_none());
        assert!(config.approval.required_for.is_empty());
        assert_eq!(config.approval.expires, Duration::from_secs(30 * 60));
        // The only environment is the default even without `default = true`.
        assert_eq!(config.default_env().map(|e| e.as_str()), Some("lt1"));
    }

    #[test]
    fn every_kind_of_mistake_names_file_and_key() {
        let table: &[(&str, &str)] = &[
            ("", "test.toml: environments: at least one environment is required"),
            ("[environments]\n", "test.toml: environments: at least one environment is required"),
            ("colour = 1\n", "test.toml: colour: unknown key; expected one of terraform, store"),
            ("[terraform]\nbinnary = \"x\"\n", "test.toml: terraform.binnary: unknown key; expected one of `binary`"),
            ("[terraform]\nplan_timeout = \"abc\"\n", "test.toml: terraform.plan_timeout: invalid duration \"abc\": "),
            ("[terraform]\napply_timeout = \"0\"\n", "test.toml: terraform.apply_timeout: must be longer than zero"),
            ("[terraform]\nplan_timeout = 15\n", "test.toml: terraform.plan_timeout: invalid type: integer `15`, expected a string"),
            ("[store]\ndir = \"\"\n", "test.toml: store.dir: must name a directory"),
            ("[slack]\nmode = \"rtm\"\n", "test.toml: slack.mode: \"rtm\" is not a mode; use \"socket\" or \"http\""),
            ("[slack]\nlisten = \"everywhere\"\n", "test.toml: slack.listen: \"everywhere\" is not an address"),
            ("[access]\nsuperusers = [\"U123\"]\n", "test.toml: access.superusers: unknown key; expected one of `admins`, `operators`, `viewers`"),
            ("[access]\nadmins = [\"U123\", \"alice\"]\n", "test.toml: access.admins[1]: \"alice\" is not a member ID"),
            ("[access]\nviewers = [\"C123\"]\n", "test.toml: access.viewers[0]: \"C123\" is not a member ID"),
            ("[approval]\nrequired_for = [\"up:large\"]\n", "test.toml: approval.approvers: required_for is set but nobody can approve"),
            ("[approval]\nrequired_for = [\"destroy\"]\napprovers = [\"U1A\"]\n", "test.toml: approval.required_for[0]: \"destroy\" is not an approval rule"),
            ("[approval]\nexpires = \"soon\"\n", "test.toml: approval.expires: invalid duration \"soon\""),
            ("mask_patterns = [\"(unclosed\"]\n", "test.toml: mask_patterns[0]: \"(unclosed\" is not a regex"),
            ("mask_patterns = [\"x*\"]\n", "test.toml: mask_patterns[0]: \"x*\" matches the empty string"),
            ("mask_patterns = \"secret\"\n", "test.toml: mask_patterns: invalid type: string \"secret\", expected a sequence"),
        ];
        for (extra, expected) in table {
            let text = if extra.contains("environments") || extra.is_empty() {
                extra.to_string()
            } else {
                format!("{extra}\n{MINIMAL}")
            };
            let errors = errors_of(&text);
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "input:\n{text}\nexpected an error starting {expected:?}, got {errors:#?}"
            );
        }
    }

    #[test]
    fn environment_mistakes() {
        let table: &[(&str, &str)] = &[
            ("[environments.lt1]\n", "test.toml: environments.lt1: missing field `terraform_dir`"),
            ("[environments.LT1]\nterraform_dir = \"x\"\n", "test.toml: environments.LT1: `LT1` is not a valid environment name"),
            ("[environments.\"../x\"]\nterraform_dir = \"x\"\n", "test.toml: environments.../x: `../x` is not a valid environment name"),
            ("[environments.lt1]\nterraform_dir = \"x\"\nmax_lease = \"abc\"\n", "test.toml: environments.lt1.max_lease: invalid duration \"abc\": "),
            ("[environments.lt1]\nterraform_dir = \"x\"\ndefault_lease = \"30h\"\n", "test.toml: environments.lt1.default_lease: 30h is longer than max_lease 24h"),
            ("[environments.lt1]\nterraform_dir = \"x\"\ntimezone = \"Mars/Olympus\"\n", "test.toml: environments.lt1.timezone: unknown time zone \"Mars/Olympus\""),
            ("[environments.lt1]\nterraform_dir = \"x\"\nchannels = [\"general\"]\n", "test.toml: environments.lt1.channels[0]: \"general\" is not a channel ID"),
            ("[environments.lt1]\nterraform_dir = \"x\"\nworkspace = \"a b\"\n", "test.toml: environments.lt1.workspace: \"a b\" is not a workspace name"),
            ("[environments.lt1]\nterraform_dir = \"x\"\nregion = \"eu\"\n", "test.toml: environments.lt1.region: unknown key"),
            ("[environments.lt1]\nterraform_dir = \"x\"\n[environments.lt1.tf_vars]\nenvironment_name = \"prod\"\n", "test.toml: environments.lt1.tf_vars.environment_name: `environment_name` is the environment's name"),
            ("[environments.lt1]\nterraform_dir = \"x\"\n[environments.lt1.tf_vars]\nzones = [1]\n", "test.toml: environments.lt1.tf_vars.zones: must be a string, number or boolean, not array"),
            ("[environments.lt1]\nterraform_dir = \"x\"\n[environments.lt1.backend_config]\nbucket = 3\n", "test.toml: environments.lt1.backend_config.bucket: invalid type: integer `3`, expected a string"),
            ("[environments.a]\nterraform_dir = \"x\"\ndefault = true\n[environments.b]\nterraform_dir = \"x\"\ndefault = true\n", "test.toml: environments.b.default: only one environment can be the default; `a` already is"),
        ];
        for (text, expected) in table {
            let errors = errors_of(text);
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "input:\n{text}\nexpected an error starting {expected:?}, got {errors:#?}"
            );
        }
    }

    #[test]
    fn schedule_mistakes() {
        let schedule = |body: &str| {
            format!(
                "{MINIMAL}[[schedules]]\nname = \"nightly\"\ncron = \"0 22 * * *\"\naction = \"down\"\nenvironments = [\"lt1\"]\n{body}"
            )
        };
        let table: &[(String, &str)] = &[
            (schedule("timezone = \"Asia/Tokio\"\n"), "test.toml: schedules[0].timezone: unknown time zone \"Asia/Tokio\""),
            (schedule("warn_before = \"15\"\n"), "test.toml: schedules[0].warn_before: invalid duration \"15\""),
            (schedule("catch_up = \"soon\"\n"), "test.toml: schedules[0].catch_up: invalid duration \"soon\""),
            (schedule("skip_dates = [\"31/12/2026\"]\n"), "test.toml: schedules[0].skip_dates[0]: \"31/12/2026\" is not a date; use YYYY-MM-DD"),
            (schedule("colour = \"red\"\n"), "test.toml: schedules[0].colour: unknown key"),
            (schedule("").replace("0 22 * * *", "0 25 * * *"), "test.toml: schedules[0].cron: invalid cron expression \"0 25 * * *\""),
            (schedule("").replace("0 22 * * *", "22 * *"), "test.toml: schedules[0].cron: invalid cron expression \"22 * *\": expected 5 fields"),
            (schedule("").replace("0 22 * * *", "0 0 30 2 *"), "test.toml: schedules[0].cron: cron expression \"0 0 30 2 *\" never fires"),
            (schedule("").replace("0 22 * * *", "0 22 * * 1-FRI"), "test.toml: schedules[0].cron: invalid cron expression \"0 22 * * 1-FRI\": use either weekday names or numbers"),
            (schedule("").replace("\"down\"", "\"destroy\""), "test.toml: schedules[0].action: \"destroy\" is not an action"),
            (schedule("").replace("\"down\"", "\"up\""), "test.toml: schedules[0].action: \"up\" is not an action"),
            (schedule("").replace("[\"lt1\"]", "[\"lt9\"]"), "test.toml: schedules[0].environments[0]: there is no environment `lt9`"),
            (schedule("").replace("[\"lt1\"]", "[]"), "test.toml: schedules[0].environments: name at least one environment"),
            (format!("{}{}", schedule(""), "[[schedules]]\nname = \"nightly\"\ncron = \"0 23 * * *\"\naction = \"off\"\nenvironments = [\"lt1\"]\n"), "test.toml: schedules[1].name: another schedule is named \"nightly\""),
            (format!("schedules = 3\n{MINIMAL}"), "test.toml: schedules: must be an array of tables"),
        ];
        for (text, expected) in table {
            let errors = errors_of(text);
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "input:\n{text}\nexpected an error starting {expected:?}, got {errors:#?}"
            );
        }
    }

    #[test]
    fn all_errors_are_collected_not_just_the_first() {
        let errors = errors_of(
            "[terraform]\nplan_timeout = \"x\"\n[access]\nsuperusers = []\n\
             [environments.lt1]\nterraform_dir = \"x\"\nmax_lease = \"abc\"\ntimezone = \"Nowhere\"\n\
             [environments.lt2]\nterraform_dir = \"x\"\nregion = \"eu\"\n",
        );
        assert_eq!(
            errors,
            [
                "test.toml: terraform.plan_timeout: invalid duration \"x\": expected number at 0",
                "test.toml: environments.lt1.timezone: unknown time zone \"Nowhere\"; use an IANA name such as \"Europe/Berlin\"",
                "test.toml: environments.lt1.max_lease: invalid duration \"abc\": expected number at 0",
                "test.toml: environments.lt2.region: unknown key; expected one of `terraform_dir`, `workspace`, `channels`, `timezone`, `default_lease`, `max_lease`, `backend_config`, `default`, `tf_vars`",
                "test.toml: access.superusers: unknown key; expected one of `admins`, `operators`, `viewers`",
            ]
        );
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let errors = errors_of("[environments.lt1\n");
        assert!(
            errors[0].starts_with("test.toml: TOML parse error at line 1"),
            "{errors:?}"
        );
    }

    #[test]
    fn schedules_are_typed() {
        let config = load_ok(&format!(
            "{MINIMAL}[[schedules]]\nname = \"nightly-down\"\ncron = \"0 22 * * *\"\ntimezone = \"Asia/Tokyo\"\naction = \"up small\"\nenvironments = [\"lt1\"]\nwarn_before = \"15m\"\nskip_dates = [\"2026-12-31\"]\ncatch_up = \"6h\"\n"
        ));
        let schedule = &config.schedules[0];
        assert_eq!(schedule.action, ScheduleAction::Up(SizeName::new("small")));
        assert_eq!(schedule.action.to_string(), "up small");
        assert_eq!(schedule.timezone, chrono_tz::Asia::Tokyo);
        assert_eq!(schedule.warn_before, Some(Duration::from_secs(900)));
        assert_eq!(schedule.catch_up, Some(Duration::from_secs(6 * 3600)));
        assert_eq!(
            schedule.skip_dates,
            [NaiveDate::from_ymd_opt(2026, 12, 31).expect("date")]
        );
        // 22:00 in Tokyo is 13:00 UTC.
        let after = chrono_tz::Asia::Tokyo
            .with_ymd_and_hms(2026, 1, 5, 12, 0, 0)
            .single()
            .expect("time");
        let next = schedule.cron.after(&after).next().expect("fires");
        assert_eq!(next.to_rfc3339(), "2026-01-05T22:00:00+09:00");
    }

    #[test]
    fn next_fires_skip_holidays_in_the_schedule_zone() {
        let config = load_ok(&format!(
            "{MINIMAL}[[schedules]]\nname = \"n\"\ncron = \"0 22 * * *\"\ntimezone = \"Asia/Tokyo\"\naction = \"down\"\nenvironments = [\"lt1\"]\nskip_dates = [\"2026-12-31\"]\n"
        ));
        let after = chrono::Utc
            .with_ymd_and_hms(2026, 12, 30, 14, 0, 0)
            .single()
            .expect("time");
        let fires: Vec<String> = config.schedules[0]
            .next_fires(after, 2)
            .iter()
            .map(|time| time.to_rfc3339())
            .collect();
        // 2026-12-30 22:00 JST has passed (13:00 UTC); the 31st is a holiday.
        assert_eq!(
            fires,
            ["2027-01-01T13:00:00+00:00", "2027-01-02T13:00:00+00:00"]
        );
    }

    /// Weekdays a cron expression fires on in the week starting Monday 2026-01-05.
    fn fire_days(expression: &str) -> Vec<Weekday> {
        let schedule = parse_cron(expression).unwrap_or_else(|e| panic!("{e}"));
        let start = chrono::Utc
            .with_ymd_and_hms(2026, 1, 4, 23, 59, 0)
            .single()
            .expect("time");
        schedule
            .after(&start)
            .take_while(|time| time.day() <= 11)
            .map(|time| time.weekday())
            .collect()
    }

    #[test]
    fn crontab_weekdays_keep_their_meaning() {
        use Weekday::*;
        let table: &[(&str, &[Weekday])] = &[
            ("0 22 * * *", &[Mon, Tue, Wed, Thu, Fri, Sat, Sun]),
            ("0 22 * * 1-5", &[Mon, Tue, Wed, Thu, Fri]),
            ("0 22 * * MON-FRI", &[Mon, Tue, Wed, Thu, Fri]),
            ("0 22 * * 0", &[Sun]),
            ("0 22 * * 7", &[Sun]),
            ("0 22 * * 5-7", &[Fri, Sat, Sun]),
            ("0 22 * * 1,3", &[Mon, Wed]),
            ("0 22 * * */2", &[Tue, Thu, Sat, Sun]),
            ("0 22 * * 1-5/2", &[Mon, Wed, Fri]),
            // Six fields go to the cron crate as written: 1 = Sunday there.
            ("0 0 22 * * 1", &[Sun]),
            ("0 0 22 * * MON", &[Mon]),
        ];
        for (expression, expected) in table {
            assert_eq!(&fire_days(expression), expected, "{expression}");
        }
    }

    #[test]
    fn env_overrides_replace_file_values() {
        let mut config = load_ok(MINIMAL);
        let errors = config.apply_env_overrides(|name| match name {
            "LOADTEST_STATE_DIR" => Some("/var/lib/loadtest".into()),
            "LOADTEST_LISTEN" => Some("0.0.0.0:8080".into()),
            _ => None,
        });
        assert!(errors.is_empty());
        assert_eq!(config.store.dir, PathBuf::from("/var/lib/loadtest"));
        assert_eq!(config.slack.listen, "0.0.0.0:8080");
        let errors = config
            .apply_env_overrides(|name| (name == "LOADTEST_LISTEN").then(|| "port 80".to_string()));
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["environment: LOADTEST_LISTEN: \"port 80\" is not an address; use host:port such as 127.0.0.1:3000"]
        );
        assert_eq!(config.slack.listen, "0.0.0.0:8080");
    }

    #[test]
    fn commands_find_their_environment() {
        let config = load_ok(
            "[environments.a]\nterraform_dir = \"x\"\nchannels = [\"C1A\"]\n\
             [environments.b]\nterraform_dir = \"x\"\nchannels = [\"C1A\", \"C2B\"]\n\
             [environments.c]\nterraform_dir = \"x\"\ndefault = true\n",
        );
        let resolve = |explicit: Option<&str>, channel: &str| {
            config
                .resolve_env(
                    explicit.map(EnvName::new).as_ref(),
                    &ChannelId::new(channel),
                )
                .map(|env| env.to_string())
        };
        assert_eq!(resolve(None, "C2B"), Ok("b".into()));
        assert_eq!(resolve(None, "C9Z"), Ok("c".into()));
        assert_eq!(resolve(None, "console"), Ok("c".into()));
        assert_eq!(resolve(Some("a"), "C2B"), Ok("a".into()));
        assert_eq!(
            resolve(None, "C1A"),
            Err("this channel has 2 environments; add one of `env=a`, `env=b`".into())
        );
        assert_eq!(
            resolve(Some("zz"), "C1A"),
            Err("there is no environment `zz`".into())
        );
        assert_eq!(
            config.envs_bound_to(&ChannelId::new("C1A")),
            [EnvName::new("a"), EnvName::new("b")]
        );
        assert_eq!(config.default_env(), Some(&EnvName::new("c")));
        assert_eq!(config.largest_max_lease(), Duration::from_secs(24 * 3600));

        let no_default = load_ok(
            "[environments.a]\nterraform_dir = \"x\"\n[environments.b]\nterraform_dir = \"x\"\n",
        );
        assert_eq!(no_default.default_env(), None);
        assert_eq!(
            no_default
                .resolve_env(None, &ChannelId::new("C1A"))
                .map(|env| env.to_string()),
            Err("which environment? add one of `env=a`, `env=b`".into())
        );
    }

    #[test]
    fn durations_format_compactly() {
        for (seconds, text) in [
            (5400, "1h30m"),
            (86400, "24h"),
            (45, "45s"),
            (0, "0s"),
            (600, "10m"),
        ] {
            assert_eq!(format_duration(Duration::from_secs(seconds)), text);
        }
    }

    fn write(path: &Path, text: &str) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn load_checks_sizes_against_each_terraform_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(
            &root.join("commands/sizes.toml"),
            "[off]\ndescription = \"x\"\nest_hourly_usd = 0\n[off.variables]\njmeter_slave_count = 0\n\
             [down]\ndescription = \"x\"\nest_hourly_usd = 0.1\n[down.variables]\njmeter_slave_count = 0\nmonitoring = \"basic\"\n\
             [small]\ndescription = \"x\"\nest_hourly_usd = 1\n[small.variables]\njmeter_slave_count = 2\n",
        );
        // `good` declares everything; `bad` lacks `monitoring` and `aws_endpoint`.
        write(
            &root.join("tf/good/variables.tf"),
            "variable \"jmeter_slave_count\" {}\nvariable \"monitoring\" {}\nvariable \"aws_endpoint\" {}\n",
        );
        write(
            &root.join("tf/bad/variables.tf"),
            "variable \"jmeter_slave_count\" {}\n",
        );
        let config_text = format!(
            "[terraform]\nsizes = \"{sizes}\"\n\
             [environments.good]\nterraform_dir = \"{good}\"\n[environments.good.tf_vars]\naws_endpoint = \"http://127.0.0.1:4566\"\n\
             [environments.bad]\nterraform_dir = \"{bad}\"\n[environments.bad.tf_vars]\naws_endpoint = \"\"\njmeter_slave_count = 3\n\
             [environments.later]\nterraform_dir = \"{missing}\"\n\
             [approval]\nrequired_for = [\"up:huge\", \"up:small\"]\napprovers = [\"U1A\"]\n\
             [[schedules]]\nname = \"n\"\ncron = \"0 22 * * *\"\naction = \"up tiny\"\nenvironments = [\"good\"]\n",
            sizes = root.join("commands/sizes.toml").display(),
            good = root.join("tf/good").display(),
            bad = root.join("tf/bad").display(),
            missing = root.join("tf/missing").display(),
        );
        let config_path = root.join("loadtest.toml");
        write(&config_path, &config_text);
        let errors = match Config::load(&config_path) {
            Ok(_) => panic!("expected cross-check errors"),
            Err(errors) => errors.0,
        };
        let config_label = config_path.display().to_string();
        let sizes_label = root.join("commands/sizes.toml").display().to_string();
        let bad_root = root.join("tf/bad").display().to_string();
        let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            [
                format!("{config_label}: schedules[0].action: unknown size `tiny`; sizes: off, down, small"),
                format!("{config_label}: approval.required_for[0]: unknown size `huge`; sizes: off, down, small"),
                format!("{sizes_label}: down.variables.monitoring: variable set `down` names variable `monitoring` the Terraform root does not declare (environment `bad`, {bad_root})"),
                format!("{config_label}: environments.bad.tf_vars.aws_endpoint: the Terraform root {bad_root} does not declare `aws_endpoint`"),
                format!("{config_label}: environments.bad.tf_vars.jmeter_slave_count: variable set `off` sets `jmeter_slave_count` too; sizes own it, so remove it here"),
            ]
        );

        // Fixed, the same files load.
        let fixed = config_text
            .replace("up tiny", "up small")
            .replace("\"up:huge\", ", "")
            .replace(&format!("[environments.bad]\nterraform_dir = \"{bad_root}\"\n[environments.bad.tf_vars]\naws_endpoint = \"\"\njmeter_slave_count = 3\n"), "");
        write(&config_path, &fixed);
        let config = Config::load(&config_path).unwrap_or_else(|errors| panic!("{errors}"));
        assert_eq!(config.environments.len(), 2);
    }

    #[test]
    fn shipped_examples_load() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        for name in ["examples/local.toml", "examples/aws.toml"] {
            let path = manifest.join(name);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let config = Config::from_str(&text, name).unwrap_or_else(|errors| panic!("{errors}"));
            // Cross-check against the shipped sizes and roots where they exist already;
            // paths in the examples are relative to the project root.
            let sizes = manifest.join(&config.terraform.sizes);
            if let Ok(sets) = VariableSets::load_all_errors(&sizes) {
                let mut declared = BTreeMap::new();
                for env in config.environments.values() {
                    if let Ok(names) = sizes::declared_variables(&manifest.join(&env.terraform_dir))
                    {
                        declared.insert(env.name.clone(), names);
                    }
                }
                let errors = config.check_against(&sets, &declared);
                assert!(errors.is_empty(), "{name}: {}", ConfigErrors(errors));
            }
        }
    }
}
