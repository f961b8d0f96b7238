//! Reading a config file: TOML → the raw on-disk shapes → typed sections, collecting every
//! problem (file and key) instead of stopping at the first; then the environment overrides.

use super::errors::{from_toml_error, ConfigError, ConfigErrors};
use super::sections::{build_approval, build_environments, build_mask_patterns, build_schedules};
use super::*;
use crate::model::SlackUserId;
use chrono_tz::Tz;
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// On-disk shapes: strings where validation needs to say more than serde would
// ---------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTerraform {
    pub(super) binary: Option<String>,
    pub(super) plan_timeout: Option<String>,
    pub(super) apply_timeout: Option<String>,
    pub(super) interrupt_grace: Option<String>,
    pub(super) sizes: Option<String>,
    pub(super) templates: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) dir: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlack {
    pub(super) mode: Option<String>,
    pub(super) listen: Option<String>,
    pub(super) metrics_listen: Option<String>,
    #[serde(default)]
    pub(super) team_ids: Vec<String>,
    pub(super) api_app_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvironment {
    pub(super) terraform_dir: String,
    pub(super) workspace: Option<String>,
    #[serde(default)]
    pub(super) channels: Vec<String>,
    pub(super) timezone: Option<String>,
    pub(super) default_lease: Option<String>,
    pub(super) max_lease: Option<String>,
    pub(super) ready_timeout: Option<String>,
    pub(super) vcpu_quota: Option<u32>,
    #[serde(default)]
    pub(super) backend_config: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) default: bool,
    #[serde(default)]
    pub(super) tf_vars: toml::Table,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccess {
    #[serde(default)]
    pub(super) admins: Vec<String>,
    #[serde(default)]
    pub(super) operators: Vec<String>,
    #[serde(default)]
    pub(super) viewers: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApproval {
    #[serde(default)]
    pub(super) required_for: Vec<String>,
    #[serde(default)]
    pub(super) approvers: Vec<String>,
    #[serde(default)]
    pub(super) self_approve: bool,
    pub(super) expires: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) name: String,
    pub(super) cron: String,
    pub(super) timezone: Option<String>,
    pub(super) action: String,
    pub(super) environments: Vec<String>,
    pub(super) warn_before: Option<String>,
    #[serde(default)]
    pub(super) skip_dates: Vec<String>,
    pub(super) catch_up: Option<String>,
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

pub(super) fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static regex"))
}

pub(super) fn is_member_id(text: &str) -> bool {
    static MEMBER: OnceLock<Regex> = OnceLock::new();
    text == "*" || regex(&MEMBER, r"^[UWS][A-Z0-9]{2,20}$").is_match(text)
}

pub(super) fn is_channel_id(text: &str) -> bool {
    static CHANNEL: OnceLock<Regex> = OnceLock::new();
    regex(&CHANNEL, r"^[CGD][A-Z0-9]{2,20}$").is_match(text)
}

pub(super) fn is_plain_word(text: &str) -> bool {
    static WORD: OnceLock<Regex> = OnceLock::new();
    regex(&WORD, r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$").is_match(text)
}

/// Collects errors while building; `file` labels each.
pub(super) struct Checker<'a> {
    pub(super) file: &'a str,
    pub(super) errors: Vec<ConfigError>,
}

impl Checker<'_> {
    pub(super) fn push(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::new(self.file, key, message));
    }

    /// Deserializes `value` (at `key`), recording the error instead of returning it.
    pub(super) fn section<T: serde::de::DeserializeOwned>(
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

    pub(super) fn duration(&mut self, key: &str, text: Option<&str>, default: &str) -> Duration {
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

    pub(super) fn optional_duration(&mut self, key: &str, text: Option<&str>) -> Option<Duration> {
        text.map(|text| self.duration(key, Some(text), ""))
    }

    pub(super) fn timezone(&mut self, key: &str, text: Option<&str>) -> Tz {
        let text = text.unwrap_or("UTC");
        Tz::from_str(text).unwrap_or_else(|_| {
            self.push(
                key,
                format!("unknown time zone {text:?}; use an IANA name such as \"Europe/Berlin\""),
            );
            Tz::UTC
        })
    }

    pub(super) fn members(&mut self, key: &str, members: Vec<String>) -> Vec<SlackUserId> {
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
    if let Some(Err(message)) = raw.metrics_listen.as_deref().map(check_listen) {
        check.push("slack.metrics_listen", message);
    }
    static TEAM: OnceLock<Regex> = OnceLock::new();
    for (index, team) in raw.team_ids.iter().enumerate() {
        if !regex(&TEAM, r"^[TE][A-Z0-9]{2,20}$").is_match(team) {
            check.push(
                &format!("slack.team_ids[{index}]"),
                format!("{team:?} is not a workspace id (T… or E…)"),
            );
        }
    }
    static APP: OnceLock<Regex> = OnceLock::new();
    if let Some(app) = &raw.api_app_id {
        if !regex(&APP, r"^A[A-Z0-9]{2,20}$").is_match(app) {
            check.push(
                "slack.api_app_id",
                format!("{app:?} is not an app id (A…, on the app's Basic Information page)"),
            );
        }
    }
    SlackConfig {
        mode,
        listen,
        metrics_listen: raw.metrics_listen,
        team_ids: raw.team_ids,
        api_app_id: raw.api_app_id,
    }
}
