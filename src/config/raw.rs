//! The config file's on-disk shapes (strings where validation needs to say more than serde
//! would) and the [`Checker`] that turns them into typed values while collecting every problem
//! with its file and key. Shared by `load` (top-level sections) and `sections` (the rest).

use super::errors::{from_toml_error, ConfigError};
use super::*;
use crate::model::SlackUserId;
use chrono_tz::Tz;
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
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
    #[serde(default)]
    pub(super) env_passthrough: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) dir: Option<String>,
    pub(super) keep_runs: Option<String>,
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
    pub(super) plans_dir: Option<String>,
    pub(super) results_link_expiry: Option<String>,
    pub(super) test_poll_interval: Option<String>,
    #[serde(default)]
    pub(super) shared_plans: bool,
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
    #[serde(default)]
    pub(super) open_access: bool,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlan {
    #[serde(default)]
    pub(super) properties: Vec<String>,
    pub(super) max_error_percent: Option<f64>,
}

pub(super) const TOP_LEVEL_KEYS: [&str; 9] = [
    "terraform",
    "store",
    "slack",
    "environments",
    "access",
    "approval",
    "schedules",
    "mask_patterns",
    "plans",
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
