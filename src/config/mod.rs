//! The TOML configuration: read once at start, validated as a whole, and turned into typed
//! values (durations, time zones, cron schedules, regexes) so nothing later re-parses
//! strings. Every problem names the file and the key path; all are collected.
//!
//! Relative paths (`terraform_dir`, `[terraform] sizes`/`templates`, `[store] dir`) are kept
//! as written and so resolve against the process's working directory (the project root when
//! started by `make run`), not against the config file's directory.
//!
//! - [`types`]: the typed sections; [`load`] and `sections`: text → types;
//!   `cross_check`: against the variable sets and Terraform roots; [`sizes`]: the variable
//!   sets of `commands/sizes.toml`; [`crontab`]: cron expressions; [`errors`]: keyed errors.
//!
//! Owns no I/O beyond reading the config, the sizes file and `*.tf` files of the roots.

pub mod crontab;
mod cross_check;
pub mod errors;
pub mod load;
mod raw;
mod sections;
pub mod sizes;
pub mod types;

pub use errors::{ConfigError, ConfigErrors};
pub use types::*;

use crate::model::{ChannelId, EnvName};
use regex::Regex;
use std::collections::BTreeMap;
use std::time::Duration;

/// Parses "3h", "90m", "1h30m" (humantime syntax).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("invalid duration {text:?}: {error}"))
}

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
    /// `[plans."<name>.jmx"]`: what `run` may set per plan, and its error threshold.
    pub plans: BTreeMap<String, PlanConfig>,
}

/// A JMeter plan's file name as `run` and `[plans]` accept it: `smoke.jmx`, `checkout-v2.jmx`.
/// The same rule as the master's `loadtest-run`.
pub fn is_plan_name(text: &str) -> bool {
    text.len() <= 128
        && text.ends_with(".jmx")
        && text.len() > 4
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A JMeter property name as `-J<name>=` takes it (the master's `loadtest-run` rule).
pub fn is_property_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl Config {
    /// What `run` may set for `plan`: its `[plans]` section, or the defaults.
    pub fn plan(&self, plan: &str) -> PlanConfig {
        self.plans.get(plan).cloned().unwrap_or_default()
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

    /// Why `serve` must not start with this config: without `[access]` every Slack user could
    /// operate every environment, so that has to be asked for explicitly.
    pub fn serve_access_refusal(&self) -> Option<String> {
        self.access.is_none().then(|| {
            format!(
                "{}: `serve` refuses to start without [access]: every Slack user could scale \
                 every environment. List who may do what ([access] admins, operators, viewers), \
                 or write [access] open_access = true to let everyone operate",
                self.file
            )
        })
    }

    /// Environments that accept commands from any channel or DM (no `channels`).
    pub fn unbound_envs(&self) -> Vec<EnvName> {
        self.environments
            .values()
            .filter(|env| env.channels.is_empty())
            .map(|env| env.name.clone())
            .collect()
    }

    /// Every environment's `backend_config` value: masked like secrets (they may name a
    /// bucket, a role or carry credentials), in everything sent or stored.
    pub fn backend_config_values(&self) -> Vec<String> {
        self.environments
            .values()
            .flat_map(|env| env.backend_config.values().cloned())
            .collect()
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
mod tests;
