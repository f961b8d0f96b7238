//! Whether the hosts an apply left up can take load. The hosts say so themselves: the master
//! and monitoring hosts write the SSM parameter `<prefix><role>` = `ok <time>` or
//! `failed: <reason>` at the end of their boot, and a slave is InService in its group only
//! after its launch lifecycle hook was completed by a boot that has `jmeter-server` listening.
//! The bot reads both, polling until everything is ready, a host failed, or the wait is over.

use super::{error_text, AwsTarget};
use crate::terraform::state::OutputValue;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What one apply's outputs say to check: the parameter prefix, the roles this size runs,
/// the slaves' group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadinessTargets {
    pub prefix: String,
    pub roles: Vec<String>,
    pub slave_group: Option<String>,
}

impl ReadinessTargets {
    /// `None` when the root reports no readiness prefix (a root without readiness).
    pub fn from_outputs(outputs: &BTreeMap<String, OutputValue>) -> Option<ReadinessTargets> {
        let value = |name: &str| outputs.get(name).and_then(|output| output.value.as_ref());
        let prefix = value("ready_parameter_prefix")?.as_str()?.to_string();
        if prefix.is_empty() {
            return None;
        }
        let roles = match value("ready_roles") {
            Some(Value::Array(roles)) => roles
                .iter()
                .filter_map(|role| role.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let slave_group = value("slave_asg_name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .map(str::to_string);
        Some(ReadinessTargets {
            prefix,
            roles,
            slave_group,
        })
    }
}

/// One host role's readiness parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleState {
    Ready,
    /// The host reported a failure (final: its boot is over).
    Failed(String),
    /// No parameter yet, or one that says neither.
    Waiting,
}

/// What the last look found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    pub roles: Vec<(String, RoleState)>,
    /// `(in service, desired)` of the slaves' group; `None` without slaves.
    pub slaves: Option<(usize, usize)>,
    /// The last AWS error, when a look failed.
    pub error: Option<String>,
}

impl Readiness {
    fn all_ready(&self) -> bool {
        self.error.is_none()
            && self
                .roles
                .iter()
                .all(|(_, state)| *state == RoleState::Ready)
            && self.slaves.is_none_or(|(ready, desired)| ready >= desired)
    }

    /// Whether waiting longer can change nothing: everything is ready, or every host role
    /// that is not ready has failed and the slaves are all in service.
    fn settled(&self) -> bool {
        self.error.is_none()
            && self
                .roles
                .iter()
                .all(|(_, state)| !matches!(state, RoleState::Waiting))
            && self.slaves.is_none_or(|(ready, desired)| ready >= desired)
    }

    /// `master ✓, 2/2 slaves ✓, grafana ✓` when all is ready, else a ⚠️ line naming what is
    /// not (`master: failed: <reason>`, `grafana: not ready after 10m`).
    pub fn text(&self, waited: &str) -> String {
        let mut parts = Vec::new();
        let mut slaves_done = self.slaves.is_none();
        for (role, state) in &self.roles {
            parts.push(match state {
                RoleState::Ready => format!("{role} ✓"),
                RoleState::Failed(reason) => format!("{role}: failed: {reason}"),
                RoleState::Waiting => format!("{role}: not ready after {waited}"),
            });
            if role == "master" && !slaves_done {
                parts.push(self.slaves_text(waited));
                slaves_done = true;
            }
        }
        if !slaves_done {
            parts.insert(0, self.slaves_text(waited));
        }
        if let Some(error) = &self.error {
            parts.push(format!("could not be read from AWS ({error})"));
        }
        let text = parts.join(", ");
        if self.all_ready() {
            text
        } else {
            format!("⚠️ {text} (the apply itself succeeded)")
        }
    }

    fn slaves_text(&self, waited: &str) -> String {
        match self.slaves {
            Some((ready, desired)) if ready >= desired => format!("{desired}/{desired} slaves ✓"),
            Some((ready, desired)) => {
                format!("{ready}/{desired} slaves ready after {waited}")
            }
            None => String::new(),
        }
    }
}

/// The meaning of one readiness parameter's value.
pub fn role_state(value: Option<&str>) -> RoleState {
    match value.map(str::trim) {
        Some(text) if text == "ok" || text.starts_with("ok ") => RoleState::Ready,
        Some(text) if text.starts_with("failed") => {
            let reason = text
                .trim_start_matches("failed")
                .trim_start_matches(':')
                .trim();
            RoleState::Failed(if reason.is_empty() {
                "no reason given".to_string()
            } else {
                reason.to_string()
            })
        }
        _ => RoleState::Waiting,
    }
}

/// Looks until everything is ready, nothing can change any more, or `timeout` is over;
/// every `poll`. Never fails: what could not be read is part of the answer.
pub async fn wait_ready(
    target: &AwsTarget,
    targets: &ReadinessTargets,
    timeout: Duration,
    poll: Duration,
) -> Readiness {
    let config = target.sdk_config().await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let autoscaling = aws_sdk_autoscaling::Client::new(&config);
    let deadline = Instant::now() + timeout;
    loop {
        let found = look(&ssm, &autoscaling, targets).await;
        let now = Instant::now();
        if found.settled() || now >= deadline {
            return found;
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
    }
}

/// One look at the parameters and the slaves' group.
async fn look(
    ssm: &aws_sdk_ssm::Client,
    autoscaling: &aws_sdk_autoscaling::Client,
    targets: &ReadinessTargets,
) -> Readiness {
    let mut found = Readiness::default();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    // GetParameters takes at most 10 names a call.
    for chunk in targets.roles.chunks(10) {
        let names: Vec<String> = chunk
            .iter()
            .map(|role| format!("{}{role}", targets.prefix))
            .collect();
        match ssm.get_parameters().set_names(Some(names)).send().await {
            Ok(answer) => {
                for parameter in answer.parameters() {
                    if let (Some(name), Some(value)) = (parameter.name(), parameter.value()) {
                        values.insert(name.to_string(), value.to_string());
                    }
                }
            }
            Err(error) => found.error = Some(error_text(&error)),
        }
    }
    found.roles = targets
        .roles
        .iter()
        .map(|role| {
            let name = format!("{}{role}", targets.prefix);
            (
                role.clone(),
                role_state(values.get(&name).map(String::as_str)),
            )
        })
        .collect();
    if let Some(group) = &targets.slave_group {
        match slaves_in_service(autoscaling, group).await {
            Ok(Some((ready, desired))) if desired > 0 => found.slaves = Some((ready, desired)),
            Ok(_) => {}
            Err(error) => found.error = Some(error),
        }
    }
    found
}

/// `(InService instances, desired capacity)` of the group; `None` when it does not exist.
async fn slaves_in_service(
    autoscaling: &aws_sdk_autoscaling::Client,
    group: &str,
) -> Result<Option<(usize, usize)>, String> {
    let answer = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .map_err(|error| error_text(&error))?;
    let Some(group) = answer.auto_scaling_groups().first() else {
        return Ok(None);
    };
    let in_service = group
        .instances()
        .iter()
        .filter(|instance| {
            instance.lifecycle_state()
                == Some(&aws_sdk_autoscaling::types::LifecycleState::InService)
        })
        .count();
    let desired = group.desired_capacity().unwrap_or(0).max(0) as usize;
    Ok(Some((in_service, desired)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readiness(roles: &[(&str, RoleState)], slaves: Option<(usize, usize)>) -> Readiness {
        Readiness {
            roles: roles
                .iter()
                .map(|(role, state)| (role.to_string(), state.clone()))
                .collect(),
            slaves,
            error: None,
        }
    }

    #[test]
    fn parameter_values_read_as_hosts_write_them() {
        assert_eq!(
            role_state(Some("ok 2026-05-01T10:00:00Z")),
            RoleState::Ready
        );
        assert_eq!(role_state(Some("ok")), RoleState::Ready);
        assert_eq!(
            role_state(Some("failed: jmeter-server did not listen")),
            RoleState::Failed("jmeter-server did not listen".into())
        );
        assert_eq!(
            role_state(Some("failed")),
            RoleState::Failed("no reason given".into())
        );
        assert_eq!(role_state(Some("okay")), RoleState::Waiting);
        assert_eq!(role_state(None), RoleState::Waiting);
    }

    #[test]
    fn all_ready_reads_like_the_result_line() {
        let found = readiness(
            &[("master", RoleState::Ready), ("grafana", RoleState::Ready)],
            Some((2, 2)),
        );
        assert!(found.settled());
        assert_eq!(found.text("10m"), "master ✓, 2/2 slaves ✓, grafana ✓");
    }

    #[test]
    fn what_is_not_ready_is_named() {
        let found = readiness(
            &[
                ("master", RoleState::Failed("no java".into())),
                ("grafana", RoleState::Waiting),
            ],
            Some((1, 2)),
        );
        assert!(!found.settled());
        let text = found.text("10m");
        assert!(
            text.starts_with("⚠️ master: failed: no java, 1/2 slaves ready after 10m"),
            "{text}"
        );
        assert!(text.contains("grafana: not ready after 10m"), "{text}");
        // A failure is final: nothing left to wait for once the rest is ready.
        let failed = readiness(&[("master", RoleState::Failed("x".into()))], Some((2, 2)));
        assert!(failed.settled() && !failed.all_ready());
    }

    #[test]
    fn targets_come_from_the_outputs() {
        let output = |value: Value| OutputValue {
            value: Some(value),
            sensitive: false,
        };
        let mut outputs = BTreeMap::new();
        assert_eq!(ReadinessTargets::from_outputs(&outputs), None);
        outputs.insert(
            "ready_parameter_prefix".to_string(),
            output("/loadtest/lt1/ready/".into()),
        );
        outputs.insert(
            "ready_roles".to_string(),
            output(serde_json::json!(["master", "grafana"])),
        );
        outputs.insert("slave_asg_name".to_string(), output("lt-lt1-slaves".into()));
        let targets = ReadinessTargets::from_outputs(&outputs).unwrap();
        assert_eq!(targets.roles, vec!["master", "grafana"]);
        assert_eq!(targets.slave_group.as_deref(), Some("lt-lt1-slaves"));
    }
}
