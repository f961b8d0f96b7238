//! What a run adds to its Terraform variables and to its result for the AWS side: the lease
//! backstop's `lease_ends_at`; after an apply the backstop's time in words and whether the
//! hosts it left up are ready.

use super::{RunCommand, RunSpec, Runs};
use crate::aws::backstop;
use crate::aws::quota::{quota_for, vcpu_need, verdict};
use crate::aws::readiness::{wait_ready, ReadinessTargets};
use crate::aws::AwsTarget;
use crate::terraform::state::{KeyOutputs, OutputValue};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Adds `lease_ends_at`: the lease end of an `up`, nothing (`""`, which removes the backstop)
/// for a scale-down, whose own scale-down is the point; a plan shows the lease in force.
pub(super) fn add_variables(
    runs: &Runs,
    spec: &RunSpec,
    now: DateTime<Utc>,
    variables: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let lease_end = match &spec.command {
        RunCommand::Up { lease, .. } => Some(now + chrono::Duration::from_std(*lease)?),
        RunCommand::Plan { target } if !target.is_scale_down() => runs
            .services
            .store
            .get_lease(&spec.env)?
            .map(|lease| lease.expires_at),
        _ => None,
    };
    variables.insert(
        "lease_ends_at".into(),
        backstop::lease_ends_at_value(lease_end).into(),
    );
    Ok(())
}

/// Fills in what the result shows besides Terraform's outputs: the backstop in words.
pub(super) fn describe_backstop(runs: &Runs, spec: &RunSpec, outputs: &mut KeyOutputs) {
    let services = &runs.services;
    let grace = services
        .config
        .env(&spec.env)
        .map(|env| backstop::grace_minutes(&env.tf_vars))
        .unwrap_or(60);
    outputs.backstop =
        backstop::status_text(outputs.lease_backstop_at.as_deref(), None, grace, |at| {
            services.format_time(&spec.env, at)
        });
}

/// How often the bot looks whether the hosts are ready.
const READY_POLL: Duration = Duration::from_secs(10);

/// After an apply: waits (at most the environment's `ready_timeout`) until the hosts it left
/// up say they are ready, and puts the answer in the result. Not being ready does not make
/// the run fail or undo the apply: Terraform did change the environment, and its record must
/// say what runs; a host that is slow or broken is a warning on a run that succeeded, for the
/// user to look at (or `up` again, which replaces an abandoned slave), not a reason to
/// destroy what works.
pub(super) async fn check_readiness(
    runs: &Runs,
    spec: &RunSpec,
    all_outputs: Option<&BTreeMap<String, OutputValue>>,
    outputs: &mut KeyOutputs,
) {
    let Some(targets) = all_outputs.and_then(ReadinessTargets::from_outputs) else {
        return;
    };
    let Some(env) = runs.services.config.env(&spec.env) else {
        return;
    };
    let target = AwsTarget::of_tf_vars(&env.tf_vars);
    let found = wait_ready(&target, &targets, env.ready_timeout, READY_POLL).await;
    if found.roles.is_empty() && found.slaves.is_none() && found.error.is_none() {
        return; // nothing up to be ready (e.g. `off`)
    }
    let waited = humantime::format_duration(env.ready_timeout).to_string();
    let text = runs.services.masker.mask(&found.text(&waited)).into_owned();
    outputs.readiness = Some(text);
}

/// Before the plan of an `up` (or a plan of a size): compares the size's vCPUs with the
/// account's On-Demand quota in a task of its own, so the run never waits for AWS. Past the
/// quota, a warning goes to the run's channel before the apply fails at launch; a quota that
/// cannot be read is only logged (every `up` would otherwise repeat the same note; `check`
/// shows it).
pub(super) fn warn_about_quota(runs: &Runs, spec: &RunSpec) {
    let size = spec.command.size();
    if size.is_scale_down() {
        return;
    }
    let services = Arc::clone(&runs.services);
    let Some(set) = services.sizes.get(size.as_str()) else {
        return;
    };
    let need = vcpu_need(&set.variables);
    let Some(env) = services.config.env(&spec.env).cloned() else {
        return;
    };
    if need.vcpus == 0 {
        return;
    }
    let channel = spec.channel.clone();
    tokio::spawn(async move {
        let target = AwsTarget::of_tf_vars(&env.tf_vars);
        let quota = quota_for(env.vcpu_quota, &target).await;
        match verdict(size.as_str(), &need, &quota, &target.region) {
            Some(text) if quota.is_ok() => {
                let text = format!("[{}] {text}", env.name);
                services.outlet.post(&channel, &services.notice(&text));
            }
            Some(text) => tracing::info!(env = %env.name, "{text}"),
            None => {}
        }
    });
}
