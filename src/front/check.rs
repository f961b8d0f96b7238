//! `loadtest-bot check`: validates everything a start would (config, variable sets against
//! the Terraform roots, templates, schedules) and that the Terraform binary runs.

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
    let masker = Arc::new(crate::masker::Masker::from_env(config.mask_regexes()));
    let runner = crate::terraform::runner::TerraformRunner::new(&config.terraform.binary, masker);
    match runner.version().await {
        Ok(version) => println!("ok: {} ({version})", config.terraform.binary),
        Err(error) => {
            println!("{}: [terraform].binary: {error:#}", config_path.display());
            return Ok(ExitClass::Rejected);
        }
    }
    Ok(ExitClass::Success)
}
