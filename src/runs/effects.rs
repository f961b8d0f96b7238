//! What a run writes besides Terraform's own files: the var file Terraform reads (only the
//! variable sets' and the environment's values, never user text), and after an apply the size
//! the environment is at and its lease.

use super::{RunSpec, Runs};
use crate::store::Lease;
use std::path::Path;

/// After an apply (or a plan with nothing to change): the size the environment is at now,
/// and its lease (set by `up`, cleared by a scale-down).
pub(super) fn record_size_and_lease(runs: &Runs, spec: &RunSpec) -> anyhow::Result<()> {
    let store = &runs.services.store;
    let now = chrono::Utc::now();
    let size = spec.command.size();
    store.set_env_size(&spec.env, &size, now)?;
    if size.is_scale_down() {
        store.clear_lease(&spec.env)?;
    } else if let Some(lease) = spec.command.lease() {
        store.set_lease(&Lease {
            env: spec.env.clone(),
            size,
            expires_at: now + chrono::Duration::from_std(lease).unwrap_or_default(),
            set_by: spec.requester.clone(),
            set_at: now,
        })?;
    }
    Ok(())
}

/// Writes the run's variables: the environment's own (e.g. `aws_endpoint`), then the set's,
/// then `environment_name`. Only these values ever reach Terraform.
pub(super) async fn write_var_file(runs: &Runs, spec: &RunSpec, path: &Path) -> anyhow::Result<()> {
    let services = &runs.services;
    let size = spec.command.size();
    let set = services
        .sizes
        .get(size.as_str())
        .ok_or_else(|| anyhow::anyhow!("variable set {size} is not defined"))?;
    let mut variables = serde_json::Map::new();
    if let Some(env_config) = services.config.env(&spec.env) {
        for (key, value) in &env_config.tf_vars {
            // A TF_VAR_<name> in the bot's environment wins over the config (so
            // TF_VAR_aws_endpoint can point a deployment elsewhere); a var file would beat it.
            if std::env::var_os(format!("TF_VAR_{key}")).is_some() {
                continue;
            }
            variables.insert(key.clone(), value.clone());
        }
    }
    for (key, value) in &set.variables {
        variables.insert(key.clone(), value.clone());
    }
    super::aws_vars::add_variables(runs, spec, chrono::Utc::now(), &mut variables)?;
    variables.insert(
        "environment_name".into(),
        serde_json::Value::String(spec.env.to_string()),
    );
    let text = serde_json::to_vec_pretty(&serde_json::Value::Object(variables))?;
    crate::private_fs::write_private(path, &text)?;
    Ok(())
}
