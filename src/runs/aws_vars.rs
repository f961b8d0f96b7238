//! What a run adds to its Terraform variables and to its result for the AWS side: the lease
//! backstop's `lease_ends_at`, and after an apply the backstop's time in words.

use super::{RunCommand, RunSpec, Runs};
use crate::aws::backstop;
use crate::terraform::state::KeyOutputs;
use chrono::{DateTime, Utc};

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
