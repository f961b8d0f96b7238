//! `loadtest-bot check`: validates everything a start would (config, variable sets against
//! the Terraform roots, templates, schedules) and that the Terraform binary runs, and warns
//! about what works but is open wider than it should be (warnings never fail the check).

use crate::request::ExitClass;
use std::path::Path;
use std::sync::Arc;

/// `loadtest-bot check`: validates everything a start would, and the Terraform binary.
pub async fn run_check(config_path: &Path) -> anyhow::Result<ExitClass> {
    let config = match crate::app::load_config(config_path) {
        Ok(config) => config,
        Err(error) => {
            println!("{error}");
            return Ok(ExitClass::Rejected);
        }
    };
    println!(
        "ok: {} (config, variable sets, schedules)",
        config_path.display()
    );
    for warning in warnings(&config) {
        println!("warning: {warning}");
    }
    let sizes = match crate::config::sizes::VariableSets::load(&config.terraform.sizes) {
        Ok(sizes) => sizes,
        Err(error) => {
            println!("{error}");
            return Ok(ExitClass::Rejected);
        }
    };
    println!(
        "ok: {} ({} variable sets)",
        config.terraform.sizes.display(),
        sizes.names().len()
    );
    match crate::render::Renderer::load(&config.terraform.templates) {
        Ok(_) => println!(
            "ok: {} (templates compiled)",
            config.terraform.templates.display()
        ),
        Err(error) => {
            println!("{error}");
            return Ok(ExitClass::Rejected);
        }
    }
    let masker = match crate::masker::Masker::from_env(config.mask_regexes()) {
        Ok(masker) => Arc::new(masker),
        Err(error) => {
            println!("{error}");
            return Ok(ExitClass::Rejected);
        }
    };
    let runner = crate::terraform::runner::TerraformRunner::new(&config.terraform.binary, masker);
    match runner.version().await {
        Ok(version) => println!("ok: {} ({version})", config.terraform.binary),
        Err(error) => {
            println!("{}: [terraform].binary: {error:#}", config_path.display());
            return Ok(ExitClass::Rejected);
        }
    }
    check_quotas(&config, &sizes).await;
    Ok(ExitClass::Success)
}

/// What a start accepts but an operator should know: open access, unbound environments, a
/// state directory others can read.
fn warnings(config: &crate::config::Config) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(refusal) = config.serve_access_refusal() {
        warnings.push(refusal);
    }
    for env in config.unbound_envs() {
        warnings.push(format!(
            "{}: environments.{env}: no `channels`: commands for `{env}` are accepted from any \
             channel or DM; bind it with channels = [\"C…\"]",
            config.file
        ));
    }
    warnings.extend(crate::private_fs::wide_dir_warning(&config.store.dir));
    warnings
}

/// Warns about the variable sets that need more On-Demand vCPUs than an environment's account
/// has in its region (or notes that the quota could not be read). Never a failure: the quota
/// can be raised after the bot starts, and a bot without Service Quotas access still works.
async fn check_quotas(config: &crate::config::Config, sizes: &crate::config::sizes::VariableSets) {
    use crate::aws::quota::{check_lines, quota_for, vcpu_need};
    let needs: Vec<(String, crate::aws::quota::VcpuNeed)> = sizes
        .names()
        .into_iter()
        .filter_map(|name| {
            let set = sizes.get(name.as_str())?;
            Some((name.to_string(), vcpu_need(&set.variables)))
        })
        .collect();
    for (name, env) in &config.environments {
        let target = crate::aws::AwsTarget::of_tf_vars(&env.tf_vars);
        let quota = quota_for(env.vcpu_quota, &target).await;
        let lines = check_lines(name.as_str(), &needs, &quota, &target.region);
        if lines.is_empty() {
            if let Ok(quota) = quota {
                println!(
                    "ok: [{name}] every variable set fits the On-Demand vCPU quota ({quota} in {})",
                    target.region
                );
            }
        }
        for line in lines {
            println!("{line}");
        }
    }
}
