//! The variable sets ("sizes") of `commands/sizes.toml`: parsed, validated and ordered by cost.
//! Also scans a Terraform root for the variables it declares, so sets can be checked against
//! it at start-up. Reads files only; never runs Terraform and knows nothing of Slack.

use crate::config::{ConfigError, ConfigErrors};
use crate::model::SizeName;
use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;
use std::sync::OnceLock;

/// The sets every deployment must have: scheduled scale-downs and leases target them.
pub const REQUIRED_SETS: [&str; 2] = ["off", "down"];

/// Variables the bot sets itself (from the environment's name and `tf_vars`); a set that
/// also set them could point one environment's resources at another's.
pub const RESERVED_VARIABLES: [&str; 2] = ["environment_name", "aws_endpoint"];

/// One named variable set.
#[derive(Clone, Debug, PartialEq)]
pub struct VariableSet {
    pub name: SizeName,
    pub description: String,
    pub est_hourly_usd: f64,
    /// Terraform root variables; only strings, numbers and booleans (they go into a
    /// `.tfvars.json` verbatim).
    pub variables: BTreeMap<String, serde_json::Value>,
}

impl VariableSet {
    /// `jmeter_slave_count`, when the set names it as a non-negative integer.
    pub fn slave_count(&self) -> Option<u64> {
        self.variables.get("jmeter_slave_count")?.as_u64()
    }
}

/// All variable sets, cheapest first (by `est_hourly_usd`, then name).
#[derive(Clone, Debug, PartialEq)]
pub struct VariableSets {
    sets: Vec<VariableSet>,
}

/// The on-disk shape of one set; anything else in a set is a typo worth stopping for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    description: String,
    est_hourly_usd: f64,
    #[serde(default)]
    variables: toml::Table,
}

/// Names of sets and environments: short, lower-case, safe in a path and a shell word.
pub fn is_valid_name(name: &str) -> bool {
    static NAME: OnceLock<Regex> = OnceLock::new();
    NAME.get_or_init(|| Regex::new(r"^[a-z][a-z0-9-]{0,31}$").expect("static regex"))
        .is_match(name)
}

fn is_valid_variable_name(name: &str) -> bool {
    static VAR: OnceLock<Regex> = OnceLock::new();
    VAR.get_or_init(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$").expect("static regex"))
        .is_match(name)
}

impl VariableSets {
    /// Reads and validates the sets file; the first problem is the error.
    /// [`VariableSets::load_all_errors`] reports every problem.
    pub fn load(path: &Path) -> Result<VariableSets, ConfigError> {
        Self::load_all_errors(path).map_err(|errors| {
            errors.0.into_iter().next().unwrap_or_else(|| {
                ConfigError::new(path.display().to_string(), "", "invalid variable sets")
            })
        })
    }

    /// Reads and validates the sets file, collecting every problem.
    pub fn load_all_errors(path: &Path) -> Result<VariableSets, ConfigErrors> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigErrors(vec![ConfigError::new(
                &label,
                "",
                format!("cannot read: {error}"),
            )])
        })?;
        Self::from_str(&text, &label)
    }

    /// Parses sets from TOML text; `file_label` names the file in errors.
    #[allow(clippy::should_implement_trait)] // two arguments; FromStr cannot carry the label
    pub fn from_str(text: &str, file_label: &str) -> Result<VariableSets, ConfigErrors> {
        let mut errors = Vec::new();
        let err = |key: &str, message: String| ConfigError::new(file_label, key, message);
        let table: toml::Table = match toml::from_str(text) {
            Ok(table) => table,
            Err(error) => {
                return Err(ConfigErrors(vec![err("", error.message().to_string())]));
            }
        };
        let mut sets = Vec::new();
        for (name, value) in table {
            if !is_valid_name(&name) {
                errors.push(err(
                    &name,
                    format!(
                        "`{name}` is not a valid set name (lower-case letter, then up to 31 \
                         lower-case letters, digits or -)"
                    ),
                ));
                continue;
            }
            let raw: RawSet = match value.try_into() {
                Ok(raw) => raw,
                Err(error) => {
                    errors.push(crate::config::errors::from_toml_error(
                        file_label, &name, &error,
                    ));
                    continue;
                }
            };
            if !raw.est_hourly_usd.is_finite() || raw.est_hourly_usd < 0.0 {
                errors.push(err(
                    &format!("{name}.est_hourly_usd"),
                    format!("must be zero or more, not {}", raw.est_hourly_usd),
                ));
            }
            let variables = set_variables(&name, raw.variables, &mut |key, message| {
                errors.push(err(key, message))
            });
            sets.push(VariableSet {
                name: SizeName::new(name),
                description: raw.description,
                est_hourly_usd: raw.est_hourly_usd,
                variables,
            });
        }
        for required in REQUIRED_SETS {
            if !sets.iter().any(|set| set.name.as_str() == required) {
                errors.push(err(
                    required,
                    format!("the `{required}` variable set is required"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        sets.sort_by(|a, b| {
            a.est_hourly_usd
                .total_cmp(&b.est_hourly_usd)
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(VariableSets { sets })
    }

    pub fn get(&self, name: &str) -> Option<&VariableSet> {
        self.sets.iter().find(|set| set.name.as_str() == name)
    }

    /// Set names, cheapest first.
    pub fn names(&self) -> Vec<SizeName> {
        self.sets.iter().map(|set| set.name.clone()).collect()
    }

    /// The sets, cheapest first.
    pub fn iter(&self) -> std::slice::Iter<'_, VariableSet> {
        self.sets.iter()
    }

    /// Position in cost order (0 = cheapest). An environment at rank r is "at or below" a
    /// target at rank t when r <= t.
    pub fn rank(&self, name: &SizeName) -> Option<usize> {
        self.sets.iter().position(|set| &set.name == name)
    }

    /// One error per variable a set names that the Terraform root does not declare; Terraform
    /// would only warn and ignore it, so a typo would silently change nothing.
    pub fn check_declared(&self, declared: &BTreeSet<String>) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for set in &self.sets {
            for variable in set.variables.keys() {
                if !declared.contains(variable) {
                    errors.push(ConfigError::new(
                        "",
                        format!("{}.variables.{variable}", set.name),
                        format!(
                            "variable set `{}` names variable `{variable}` the Terraform root \
                             does not declare",
                            set.name
                        ),
                    ));
                }
            }
        }
        errors
    }
}

impl<'a> IntoIterator for &'a VariableSets {
    type Item = &'a VariableSet;
    type IntoIter = std::slice::Iter<'a, VariableSet>;
    fn into_iter(self) -> Self::IntoIter {
        self.sets.iter()
    }
}

pub(crate) fn scalar_to_json(value: &toml::Value) -> Option<serde_json::Value> {
    match value {
        toml::Value::String(text) => Some(serde_json::Value::String(text.clone())),
        toml::Value::Integer(number) => Some(serde_json::Value::from(*number)),
        toml::Value::Float(number) => serde_json::Number::from_f64(*number).map(Into::into),
        toml::Value::Boolean(flag) => Some(serde_json::Value::Bool(*flag)),
        toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

/// The variables declared by the `*.tf` files directly in `terraform_dir` (not in modules).
/// A line-based scan for `variable "name" {` is enough: `terraform fmt` keeps that shape.
pub fn declared_variables(terraform_dir: &Path) -> io::Result<BTreeSet<String>> {
    static VARIABLE: OnceLock<Regex> = OnceLock::new();
    let pattern = VARIABLE.get_or_init(|| {
        Regex::new(r#"(?m)^\s*variable\s+"([A-Za-z_][A-Za-z0-9_-]*)"\s*\{"#).expect("static regex")
    });
    let mut declared = BTreeSet::new();
    for entry in std::fs::read_dir(terraform_dir)? {
        let path = entry?.path();
        if path.extension().and_then(|ext| ext.to_str()) != Some("tf") || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        for captures in pattern.captures_iter(&text) {
            declared.insert(captures[1].to_string());
        }
    }
    Ok(declared)
}

/// A set's variables as JSON scalars; each bad one is reported through `report` (its key and
/// why) and left out.
fn set_variables(
    set: &str,
    raw: toml::Table,
    report: &mut dyn FnMut(&str, String),
) -> BTreeMap<String, serde_json::Value> {
    let mut variables = BTreeMap::new();
    for (variable, value) in raw {
        let key = format!("{set}.variables.{variable}");
        if !is_valid_variable_name(&variable) {
            report(&key, "not a valid Terraform variable name".into());
            continue;
        }
        if RESERVED_VARIABLES.contains(&variable.as_str()) {
            report(
                &key,
                format!(
                    "`{variable}` is set by the bot per environment; a variable set may \
                     not set it"
                ),
            );
            continue;
        }
        match scalar_to_json(&value) {
            Some(json) => {
                variables.insert(variable, json);
            }
            None => report(
                &key,
                format!(
                    "must be a string, number or boolean, not {}",
                    value.type_str()
                ),
            ),
        }
    }
    variables
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED_LIKE: &str = r#"
[off]
description = "nothing that costs money"
est_hourly_usd = 0
[off.variables]
jmeter_master_enabled = false
jmeter_slave_count = 0
monitoring = "off"

[down]
description = "idle"
est_hourly_usd = 0.08
[down.variables]
jmeter_master_enabled = true
jmeter_master_instance_type = "t3.micro"
jmeter_slave_count = 0
monitoring = "basic"

[small]
description = "2 slaves for smoke tests"
est_hourly_usd = 0.65
[small.variables]
jmeter_slave_count = 2
monitoring = "basic"

[large]
description = "20 slaves"
est_hourly_usd = 9.5
[large.variables]
jmeter_slave_count = 20
monitoring = "full"

[medium]
description = "8 slaves"
est_hourly_usd = 3.1
[medium.variables]
jmeter_slave_count = 8
"#;

    fn parse_ok(text: &str) -> VariableSets {
        match VariableSets::from_str(text, "sizes.toml") {
            Ok(sets) => sets,
            Err(errors) => panic!("expected valid sets, got:\n{errors}"),
        }
    }

    /// The rendered errors, one per line, as `check` prints them.
    fn parse_err(text: &str) -> Vec<String> {
        match VariableSets::from_str(text, "sizes.toml") {
            Ok(_) => panic!("expected errors"),
            Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn sets_are_ordered_cheapest_first_and_ranked() {
        let sets = parse_ok(SHIPPED_LIKE);
        let names: Vec<String> = sets.names().iter().map(|n| n.to_string()).collect();
        assert_eq!(names, ["off", "down", "small", "medium", "large"]);
        assert_eq!(sets.rank(&SizeName::OFF), Some(0));
        assert_eq!(sets.rank(&SizeName::new("large")), Some(4));
        assert_eq!(sets.rank(&SizeName::new("huge")), None);
        assert_eq!(
            sets.get("medium").and_then(VariableSet::slave_count),
            Some(8)
        );
        assert_eq!(sets.get("medium").map(|s| s.est_hourly_usd), Some(3.1));
        assert_eq!(
            sets.get("large").map(|s| s.variables["monitoring"].clone()),
            Some(serde_json::json!("full"))
        );
    }

    #[test]
    fn equal_cost_sets_are_ordered_by_name() {
        let sets = parse_ok(
            r#"
[off]
description = "x"
est_hourly_usd = 0
[down]
description = "x"
est_hourly_usd = 0
[beta]
description = "x"
est_hourly_usd = 1
[alpha]
description = "x"
est_hourly_usd = 1
"#,
        );
        let names: Vec<String> = sets.iter().map(|s| s.name.to_string()).collect();
        assert_eq!(names, ["down", "off", "alpha", "beta"]);
    }

    #[test]
    fn invalid_sets_are_reported_with_file_and_key() {
        let base = "[off]\ndescription = \"x\"\nest_hourly_usd = 0\n[down]\ndescription = \"x\"\nest_hourly_usd = 0\n";
        let table: &[(&str, &str)] = &[
            ("[off]\ndescription = \"x\"\nest_hourly_usd = 0\n", "sizes.toml: down: the `down` variable set is required"),
            ("[down]\ndescription = \"x\"\nest_hourly_usd = 0\n", "sizes.toml: off: the `off` variable set is required"),
            ("[\"../etc\"]\ndescription = \"x\"\nest_hourly_usd = 1\n", "sizes.toml: ../etc: `../etc` is not a valid set name"),
            ("[\"big;rm\"]\ndescription = \"x\"\nest_hourly_usd = 1\n", "sizes.toml: big;rm: `big;rm` is not a valid set name"),
            ("[Large]\ndescription = \"x\"\nest_hourly_usd = 1\n", "sizes.toml: Large: `Large` is not a valid set name"),
            ("[big]\ndescription = \"x\"\nest_hourly_usd = 1\ncolour = \"red\"\n", "sizes.toml: big.colour: unknown key"),
            ("[big]\ndescription = \"x\"\n", "sizes.toml: big: missing field `est_hourly_usd`"),
            ("[big]\ndescription = \"x\"\nest_hourly_usd = -1\n", "sizes.toml: big.est_hourly_usd: must be zero or more"),
            ("[big]\ndescription = \"x\"\nest_hourly_usd = 1\n[big.variables]\nzones = [\"a\"]\n", "sizes.toml: big.variables.zones: must be a string, number or boolean, not array"),
            ("[big]\ndescription = \"x\"\nest_hourly_usd = 1\n[big.variables]\nenvironment_name = \"prod\"\n", "sizes.toml: big.variables.environment_name: `environment_name` is set by the bot"),
            ("[big]\ndescription = \"x\"\nest_hourly_usd = 1\n[big.variables]\naws_endpoint = \"http://x\"\n", "sizes.toml: big.variables.aws_endpoint: `aws_endpoint` is set by the bot"),
            ("[big]\ndescription = \"x\"\nest_hourly_usd = 1\n[big.variables]\n\"a b\" = 1\n", "sizes.toml: big.variables.a b: not a valid Terraform variable name"),
            ("[big]\ndescription = 3\nest_hourly_usd = 1\n", "sizes.toml: big.description: invalid type: integer `3`, expected a string"),
        ];
        for (extra, expected) in table {
            let text = if extra.contains("[off]") || extra.contains("[down]") {
                extra.to_string()
            } else {
                format!("{base}{extra}")
            };
            let errors = parse_err(&text);
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "input:\n{text}\nexpected an error starting {expected:?}, got {errors:#?}"
            );
        }
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let errors = parse_err("[big]\ndescription = \"x\"\nest_hourly_usd = -2\n");
        assert_eq!(errors.len(), 3, "{errors:#?}"); // bad cost, no off, no down
    }

    #[test]
    fn check_declared_names_each_undeclared_variable() {
        let sets = parse_ok(SHIPPED_LIKE);
        let declared: BTreeSet<String> = [
            "jmeter_master_enabled",
            "jmeter_master_instance_type",
            "jmeter_slave_count",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let messages: Vec<String> = sets
            .check_declared(&declared)
            .iter()
            .map(|e| e.message.clone())
            .collect();
        assert_eq!(
            messages,
            [
                "variable set `off` names variable `monitoring` the Terraform root does not declare",
                "variable set `down` names variable `monitoring` the Terraform root does not declare",
                "variable set `small` names variable `monitoring` the Terraform root does not declare",
                "variable set `large` names variable `monitoring` the Terraform root does not declare",
            ]
        );
    }

    #[test]
    fn declared_variables_scans_only_tf_files_of_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("variables.tf"),
            "variable \"jmeter_slave_count\" {\n  type = number\n}\n\nvariable \"monitoring\"{\n}\n  # variable \"commented\" {\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("main.tf"),
            "variable \"aws_endpoint\" {\n default = \"\"\n}\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("notes.md"), "variable \"not_tf\" {\n").expect("write");
        std::fs::create_dir(dir.path().join("modules")).expect("mkdir");
        std::fs::write(
            dir.path().join("modules/x.tf"),
            "variable \"in_module\" {\n",
        )
        .expect("write");
        let declared = declared_variables(dir.path()).expect("scan");
        let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
        assert_eq!(
            declared,
            ["aws_endpoint", "jmeter_slave_count", "monitoring"]
        );
        assert!(declared_variables(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn shipped_sets_file_is_valid_when_present() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("commands/sizes.toml");
        if !path.exists() {
            return; // written by another part of the project; checked once it exists
        }
        let sets = VariableSets::load_all_errors(&path)
            .unwrap_or_else(|errors| panic!("commands/sizes.toml:\n{errors}"));
        assert_eq!(sets.rank(&SizeName::OFF), Some(0));
    }
}
