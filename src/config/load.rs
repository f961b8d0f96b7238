//! Reading a config file: TOML → the raw on-disk shapes → typed sections, collecting every
//! problem (file and key) instead of stopping at the first; then the environment overrides.

use super::errors::{ConfigError, ConfigErrors};
use super::raw::{regex, Checker, RawAccess, RawSlack, RawStore, RawTerraform, TOP_LEVEL_KEYS};
use super::sections::{
    build_approval, build_environments, build_mask_patterns, build_plans, build_schedules,
};
use super::*;
use regex::Regex;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
                open_access: raw.open_access,
            }
        });
        let approval = build_approval(&mut check, table.remove("approval"));
        let schedules = build_schedules(&mut check, table.remove("schedules"), &environments);
        let mask_patterns = build_mask_patterns(&mut check, table.remove("mask_patterns"));
        let plans = build_plans(&mut check, table.remove("plans"));

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
                plans,
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
        env_passthrough: check_env_passthrough(check, raw.env_passthrough),
    }
}

/// `[terraform] env_passthrough`: variable names only, and never the bot's own Slack secrets,
/// which must not reach Terraform, its providers or a `local-exec`.
fn check_env_passthrough(check: &mut Checker, names: Vec<String>) -> Vec<String> {
    static NAME: OnceLock<Regex> = OnceLock::new();
    for (index, name) in names.iter().enumerate() {
        let key = format!("terraform.env_passthrough[{index}]");
        if !regex(&NAME, r"^[A-Za-z_][A-Za-z0-9_]{0,127}$").is_match(name) {
            check.push(
                &key,
                format!("{name:?} is not an environment variable name"),
            );
        } else if name.to_ascii_uppercase().starts_with("SLACK_") {
            check.push(
                &key,
                format!("{name} is one of the bot's Slack settings; they never reach Terraform"),
            );
        }
    }
    names
}

fn build_store(check: &mut Checker, value: Option<toml::Value>) -> StoreConfig {
    let raw: RawStore = check.section("store", value).unwrap_or_default();
    let dir = raw.dir.unwrap_or_else(|| ".state".into());
    if dir.is_empty() {
        check.push("store.dir", "must name a directory");
    }
    StoreConfig {
        dir: PathBuf::from(dir),
        keep_runs: check.duration("store.keep_runs", raw.keep_runs.as_deref(), "30d"),
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
