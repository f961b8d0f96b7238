//! Cross-checks of the config against files it names: the variable sets and the variables
//! each environment's Terraform root declares.

use super::errors::ConfigError;
use super::sizes::{self, VariableSets};
use super::*;
use std::collections::{BTreeMap, BTreeSet};

impl Config {
    /// Cross-checks against files, skipping what does not exist yet: the sizes file, and
    /// each environment's Terraform root.
    pub fn check_files(&self) -> Vec<ConfigError> {
        if !self.terraform.sizes.is_file() {
            return Vec::new();
        }
        let sets = match VariableSets::load_all_errors(&self.terraform.sizes) {
            Ok(sets) => sets,
            Err(errors) => return errors.0,
        };
        let mut declared = BTreeMap::new();
        let mut errors = Vec::new();
        for env in self.environments.values() {
            if !env.terraform_dir.is_dir() {
                continue;
            }
            match sizes::declared_variables(&env.terraform_dir) {
                Ok(names) => {
                    declared.insert(env.name.clone(), names);
                }
                Err(error) => errors.push(ConfigError::new(
                    &self.file,
                    format!("environments.{}.terraform_dir", env.name),
                    format!("cannot read {}: {error}", env.terraform_dir.display()),
                )),
            }
        }
        errors.extend(self.check_against(&sets, &declared));
        errors
    }

    /// Pure cross-check: sizes named by schedules and approval rules exist, and each
    /// environment's sets and `tf_vars` only name variables its root declares (for the
    /// environments present in `declared`).
    pub fn check_against(
        &self,
        sets: &VariableSets,
        declared: &BTreeMap<EnvName, BTreeSet<String>>,
    ) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let size_list = || {
            sets.names()
                .iter()
                .map(|name| name.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (index, schedule) in self.schedules.iter().enumerate() {
            if let ScheduleAction::Up(size) = &schedule.action {
                if sets.get(size.as_str()).is_none() {
                    errors.push(ConfigError::new(
                        &self.file,
                        format!("schedules[{index}].action"),
                        format!("unknown size `{size}`; sizes: {}", size_list()),
                    ));
                }
            }
        }
        for (index, rule) in self.approval.required_for.iter().enumerate() {
            if let ApprovalRule::Up { size: Some(size) } = rule {
                if sets.get(size.as_str()).is_none() {
                    errors.push(ConfigError::new(
                        &self.file,
                        format!("approval.required_for[{index}]"),
                        format!("unknown size `{size}`; sizes: {}", size_list()),
                    ));
                }
            }
        }
        let sizes_file = self.terraform.sizes.display().to_string();
        for (env_name, names) in declared {
            let Some(env) = self.environments.get(env_name) else {
                continue;
            };
            let root = env.terraform_dir.display();
            for mut error in sets.check_declared(names) {
                error.file = sizes_file.clone();
                error.message = format!("{} (environment `{env_name}`, {root})", error.message);
                errors.push(error);
            }
            for variable in env.tf_vars.keys() {
                let key = format!("environments.{env_name}.tf_vars.{variable}");
                if !names.contains(variable) {
                    errors.push(ConfigError::new(
                        &self.file,
                        &key,
                        format!("the Terraform root {root} does not declare `{variable}`"),
                    ));
                }
                if let Some(set) = sets.iter().find(|set| set.variables.contains_key(variable)) {
                    errors.push(ConfigError::new(
                        &self.file,
                        &key,
                        format!(
                            "variable set `{}` sets `{variable}` too; sizes own it, so remove \
                             it here",
                            set.name
                        ),
                    ));
                }
            }
        }
        errors
    }
}
