//! What a run adds to its Terraform variables and to its result for the AWS side: the lease
//! backstop's `lease_ends_at`; after an apply the backstop's time in words and whether the
//! hosts it left up are ready.

use super::{RunCommand, RunSpec, Runs};
use crate::aws::backstop;
use crate::aws::quota::{quota_for, vcpu_need, verdict};
use crate::aws::readiness::{wait_ready, ReadinessTargets};
use crate::aws::AwsTarget;
use crate::terraform::runner::CancelSignal;
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
        RunCommand::Plan { target } | RunCommand::RefreshImage { size: target }
            if !target.is_scale_down() =>
        {
            runs.services
                .store
                .get_lease(&spec.env)?
                .map(|lease| lease.expires_at)
        }
        _ => None,
    };
    variables.insert(
        "lease_ends_at".into(),
        backstop::lease_ends_at_value(lease_end).into(),
    );
    if let Some(ami_id) = ami_id_value(runs, spec)? {
        variables.insert("ami_id".into(), ami_id.into());
    }
    Ok(())
}

/// `ami_id` for the var file: the environment's pin, so a new Amazon Linux release never
/// rolls hosts by itself; `""` for `refresh-image`, so the root resolves the newest image and
/// the plan shows it. `None` (the config's value stands) when the config or a `TF_VAR_ami_id`
/// names an image: an operator's explicit choice (a baked image) beats the pin.
fn ami_id_value(runs: &Runs, spec: &RunSpec) -> anyhow::Result<Option<String>> {
    let configured = runs
        .services
        .config
        .env(&spec.env)
        .and_then(|env| env.tf_vars.get("ami_id"))
        .and_then(|value| value.as_str())
        .is_some_and(|value| !value.is_empty());
    if configured || std::env::var_os("TF_VAR_ami_id").is_some() {
        return Ok(None);
    }
    if matches!(spec.command, RunCommand::RefreshImage { .. }) {
        return Ok(Some(String::new()));
    }
    Ok(runs.services.store.pinned_ami(&spec.env)?)
}

/// After a successful apply: pins the image the hosts use (`resolved_ami_id`) when the
/// environment has no pin yet, or when `refresh-image` moved it.
pub(super) fn pin_image(
    runs: &Runs,
    spec: &RunSpec,
    all_outputs: Option<&BTreeMap<String, OutputValue>>,
) -> anyhow::Result<()> {
    let resolved = all_outputs
        .and_then(|outputs| outputs.get("resolved_ami_id"))
        .and_then(|output| output.value.as_ref())
        .and_then(|value| value.as_str())
        .filter(|id| !id.is_empty());
    let Some(resolved) = resolved else {
        return Ok(());
    };
    let store = &runs.services.store;
    let refresh = matches!(spec.command, RunCommand::RefreshImage { .. });
    if refresh || store.pinned_ami(&spec.env)?.is_none() {
        store.pin_ami(&spec.env, resolved, Utc::now())?;
    }
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
/// destroy what works. A `cancel` while waiting ends the wait (the apply is already done).
pub(super) async fn check_readiness(
    runs: &Runs,
    spec: &RunSpec,
    all_outputs: Option<&BTreeMap<String, OutputValue>>,
    cancel: &CancelSignal,
    outputs: &mut KeyOutputs,
) {
    let Some(targets) = all_outputs.and_then(ReadinessTargets::from_outputs) else {
        return;
    };
    let Some(env) = runs.services.config.env(&spec.env) else {
        return;
    };
    let target = AwsTarget::of_tf_vars(&env.tf_vars);
    let found = tokio::select! {
        found = wait_ready(&target, &targets, env.ready_timeout, READY_POLL) => found,
        () = cancel.cancelled() => {
            outputs.readiness =
                Some("not checked: cancelled while waiting (the apply itself succeeded)".into());
            return;
        }
    };
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
