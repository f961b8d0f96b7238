//! The sections that need more than serde: environments, approval rules, schedules and mask
//! patterns, each checked key by key.

use super::raw::{
    is_channel_id, is_plain_word, Checker, RawApproval, RawEnvironment, RawPlan, RawSchedule,
};
use super::*;
use crate::config::crontab::parse_cron;
use chrono::NaiveDate;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

pub(super) fn build_environments(
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
        let environment = build_environment(check, &prefix, name, raw);
        if environment.default {
            if let Some(first) = &default_seen {
                check.push(
                    &format!("{prefix}.default"),
                    format!("only one environment can be the default; `{first}` already is"),
                );
            } else {
                default_seen = Some(environment.name.as_str().to_string());
            }
        }
        environments.insert(environment.name.clone(), environment);
    }
    environments
}

/// One `[environments.<name>]` section, checked key by key.
fn build_environment(
    check: &mut Checker,
    prefix: &str,
    name: String,
    raw: RawEnvironment,
) -> EnvironmentConfig {
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
    let (default_lease, max_lease) = leases_of(
        check,
        prefix,
        raw.default_lease.as_deref(),
        raw.max_lease.as_deref(),
    );
    for key in raw.backend_config.keys() {
        if !is_plain_word(key) {
            check.push(
                &format!("{prefix}.backend_config.{key}"),
                "not a backend setting name (letters, digits, - _ .)",
            );
        }
    }
    let (plans_dir, results_link_expiry, test_poll_interval) = test_settings(
        check,
        prefix,
        [
            raw.plans_dir.as_deref(),
            raw.results_link_expiry.as_deref(),
            raw.test_poll_interval.as_deref(),
        ],
    );
    let tf_vars = tf_vars_of(check, prefix, raw.tf_vars);
    let ready_timeout = check.duration(
        &format!("{prefix}.ready_timeout"),
        raw.ready_timeout.as_deref(),
        "10m",
    );
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
        ready_timeout,
        vcpu_quota: raw.vcpu_quota,
        plans_dir,
        shared_plans: raw.shared_plans,
        results_link_expiry,
        test_poll_interval,
    }
}

/// The keys of `run`: `plans_dir`, `results_link_expiry` (S3 links last at most 7 days),
/// `test_poll_interval`.
fn test_settings(
    check: &mut Checker,
    prefix: &str,
    [plans_dir, results_link_expiry, test_poll_interval]: [Option<&str>; 3],
) -> (Option<PathBuf>, Duration, Duration) {
    let results_link_expiry = check.duration(
        &format!("{prefix}.results_link_expiry"),
        results_link_expiry,
        "24h",
    );
    if results_link_expiry > Duration::from_secs(7 * 24 * 3600) {
        check.push(
            &format!("{prefix}.results_link_expiry"),
            "S3 links last at most 7 days (\"7d\")",
        );
    }
    let test_poll_interval = check.duration(
        &format!("{prefix}.test_poll_interval"),
        test_poll_interval,
        "15s",
    );
    if let Some(dir) = plans_dir {
        if dir.trim().is_empty() {
            check.push(&format!("{prefix}.plans_dir"), "must name a directory");
        }
    }
    (
        plans_dir.map(PathBuf::from),
        results_link_expiry,
        test_poll_interval,
    )
}

/// `default_lease` and `max_lease`, with the defaults that keep cost safe (8h, 24h); a default
/// longer than the maximum is refused.
fn leases_of(
    check: &mut Checker,
    prefix: &str,
    default_lease: Option<&str>,
    max_lease: Option<&str>,
) -> (Duration, Duration) {
    let default_lease_key = format!("{prefix}.default_lease");
    let default_lease = check.duration(&default_lease_key, default_lease, "8h");
    let max_lease = check.duration(&format!("{prefix}.max_lease"), max_lease, "24h");
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
    (default_lease, max_lease)
}

/// An environment's own Terraform variables: scalars only, and never `environment_name`
/// (the bot sets that from the environment's name).
fn tf_vars_of(
    check: &mut Checker,
    prefix: &str,
    raw: toml::Table,
) -> BTreeMap<String, serde_json::Value> {
    let mut tf_vars = BTreeMap::new();
    for (variable, value) in raw {
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
    tf_vars
}

pub(super) fn build_approval(check: &mut Checker, value: Option<toml::Value>) -> ApprovalConfig {
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

pub(super) fn build_schedules(
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
        if !is_plain_word(&raw.name) {
            check.push(
                &format!("{prefix}.name"),
                format!("{:?} is not a schedule name", raw.name),
            );
        } else if !names.insert(raw.name.clone()) {
            check.push(
                &format!("{prefix}.name"),
                format!("another schedule is named {:?}", raw.name),
            );
        }
        schedules.extend(build_schedule(check, &prefix, raw, environments));
    }
    schedules
}

/// One `[[schedules]]` entry; `None` when its cron or action is unusable (already reported).
fn build_schedule(
    check: &mut Checker,
    prefix: &str,
    raw: RawSchedule,
    environments: &BTreeMap<EnvName, EnvironmentConfig>,
) -> Option<ScheduleConfig> {
    let key = |field: &str| format!("{prefix}.{field}");
    let cron = parse_cron(&raw.cron)
        .map_err(|message| check.push(&key("cron"), message))
        .ok();
    let timezone = check.timezone(&key("timezone"), raw.timezone.as_deref());
    let action = ScheduleAction::parse(&raw.action)
        .map_err(|message| check.push(&key("action"), message))
        .ok();
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
    Some(ScheduleConfig {
        name: raw.name,
        cron_text: raw.cron,
        cron: cron?,
        timezone,
        action: action?,
        environments: raw.environments.into_iter().map(EnvName::new).collect(),
        warn_before,
        skip_dates,
        catch_up,
    })
}

pub(super) fn build_mask_patterns(check: &mut Checker, value: Option<toml::Value>) -> Vec<Regex> {
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

/// `[plans."<name>.jmx"]`: per plan, the `-J` properties a `run` may set and its error-rate
/// threshold. Names must be plan file names, property names JMeter property names.
pub(super) fn build_plans(
    check: &mut Checker,
    value: Option<toml::Value>,
) -> BTreeMap<String, PlanConfig> {
    let raw: BTreeMap<String, RawPlan> = check.section("plans", value).unwrap_or_default();
    let mut plans = BTreeMap::new();
    for (name, raw) in raw {
        let prefix = format!("plans.{name:?}");
        if !crate::config::is_plan_name(&name) {
            check.push(
                &prefix,
                "a plan is named by its file: letters, digits, - _ . ending in .jmx",
            );
        }
        for (index, property) in raw.properties.iter().enumerate() {
            if !crate::config::is_property_name(property) {
                check.push(
                    &format!("{prefix}.properties[{index}]"),
                    format!("{property:?} is not a property name (letters, digits, - _ .)"),
                );
            }
        }
        let max_error_percent = raw.max_error_percent.unwrap_or(1.0);
        if !(0.0..=100.0).contains(&max_error_percent) {
            check.push(
                &format!("{prefix}.max_error_percent"),
                "must be a percentage from 0 to 100",
            );
        }
        plans.insert(
            name,
            PlanConfig {
                properties: raw.properties,
                max_error_percent,
            },
        );
    }
    plans
}
