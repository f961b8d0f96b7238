//! Reads of an environment's Terraform state: what really runs (`terraform show -json` of
//! the state, walked for instances per role and the slaves' desired capacity) and the outputs
//! worth showing (`terraform output -json`, or the outputs an apply streams at its end).
//! Sensitive outputs never leave this module with a value.

use super::events::OutputEvent;
use super::runner::{TerraformRunner, Workspace};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a state read may take before it counts as failed.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// One value of `terraform output -json`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OutputValue {
    /// `None` for sensitive outputs, always.
    pub value: Option<Value>,
    pub sensitive: bool,
}

/// The outputs of `terraform output -json`. An output whose sensitivity is not stated is
/// treated as sensitive (fail closed). A document that is not an object gives no outputs.
pub fn outputs_from_json(v: &Value) -> BTreeMap<String, OutputValue> {
    let Value::Object(map) = v else {
        return BTreeMap::new();
    };
    map.iter()
        .map(|(name, out)| {
            let sensitive = out
                .get("sensitive")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let value = if sensitive {
                None
            } else {
                out.get("value").cloned()
            };
            (name.clone(), OutputValue { value, sensitive })
        })
        .collect()
}

/// Outputs from the `outputs` event an apply streams at its end: the same values as a
/// `terraform output -json` afterwards, without starting Terraform again.
pub fn outputs_from_event(
    outputs: &BTreeMap<String, OutputEvent>,
) -> BTreeMap<String, OutputValue> {
    outputs
        .iter()
        .map(|(name, output)| {
            let value = OutputValue {
                value: if output.sensitive {
                    None
                } else {
                    output.value.clone()
                },
                sensitive: output.sensitive,
            };
            (name.clone(), value)
        })
        .collect()
}

/// The outputs worth showing in chat. `None` when absent (e.g. no Kibana below `full`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KeyOutputs {
    pub master_ip: Option<String>,
    pub grafana_url: Option<String>,
    pub kibana_url: Option<String>,
    /// `lease_backstop_at` as Terraform reports it (RFC 3339 UTC); `None` without a backstop.
    /// Not shown as is: [`KeyOutputs::backstop`] is its text in the environment's time zone.
    pub lease_backstop_at: Option<String>,
    /// Shown: when AWS itself sets the slaves to 0 (filled in by the bot from the time above).
    pub backstop: Option<String>,
    /// Shown after an apply that leaves hosts up: which hosts are ready (filled in by the bot,
    /// from AWS, not from Terraform).
    pub readiness: Option<String>,
}

/// The outputs worth a line in a message; sensitive ones never appear.
pub fn key_outputs(outputs: &BTreeMap<String, OutputValue>) -> KeyOutputs {
    let text = |name: &str| -> Option<String> {
        let output = outputs.get(name)?;
        if output.sensitive {
            return None;
        }
        match output.value.as_ref()? {
            Value::Null => None,
            Value::String(text) if text.is_empty() => None,
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    };
    KeyOutputs {
        master_ip: text("jmeter_master_ip"),
        grafana_url: text("grafana_url"),
        kibana_url: text("kibana_url"),
        lease_backstop_at: text("lease_backstop_at"),
        backstop: None,
        readiness: None,
    }
}

/// What really runs, counted from Terraform state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deployed {
    /// Instances per `loadtest:role` tag.
    pub instances_by_role: BTreeMap<String, usize>,
    /// Desired capacity of the slave autoscaling group(s).
    pub slave_desired: usize,
    pub load_balancers: usize,
}

impl Deployed {
    pub fn master_running(&self) -> bool {
        self.instances_by_role
            .get("jmeter-master")
            .copied()
            .unwrap_or(0)
            > 0
    }

    /// "basic", "full" or "off", from the monitoring roles present.
    pub fn monitoring(&self) -> &'static str {
        let has = |role: &str| self.instances_by_role.get(role).copied().unwrap_or(0) > 0;
        if has("elasticsearch") || has("kibana") {
            "full"
        } else if has("prometheus") || has("grafana") {
            "basic"
        } else {
            "off"
        }
    }
}

/// Counts instances per role and the slave group's desired capacity in `terraform show -json`
/// of the state.
pub fn deployed_from_state(state: &Value) -> Deployed {
    let mut deployed = Deployed::default();
    if let Some(root) = state.pointer("/values/root_module") {
        visit_module(root, &mut deployed);
    }
    deployed
}

fn visit_module(module: &Value, deployed: &mut Deployed) {
    for resource in module
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if resource.get("mode").and_then(Value::as_str) != Some("managed") {
            continue;
        }
        let values = resource.get("values").cloned().unwrap_or(Value::Null);
        match resource.get("type").and_then(Value::as_str) {
            Some("aws_instance") => {
                let role = values
                    .pointer("/tags/loadtest:role")
                    .and_then(Value::as_str)
                    .unwrap_or("untagged")
                    .to_string();
                *deployed.instances_by_role.entry(role).or_default() += 1;
            }
            Some("aws_autoscaling_group") => {
                deployed.slave_desired += values
                    .get("desired_capacity")
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as usize;
            }
            Some("aws_lb") | Some("aws_alb") | Some("aws_elb") => deployed.load_balancers += 1,
            _ => {}
        }
    }
    for child in module
        .get("child_modules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        visit_module(child, deployed);
    }
}

/// What `status` shows from Terraform, read once for many `status` commands.
#[derive(Clone, Debug, Default)]
pub struct StateView {
    /// `running`, `none`, or `unknown (state unreadable: …)`.
    pub master: Option<String>,
    pub slave_count: Option<u64>,
    pub monitoring: Option<String>,
    pub outputs: KeyOutputs,
}

/// `terraform show -json` and `terraform output -json` of the environment's state, and whether
/// both could be read.
pub async fn read_state(runner: &TerraformRunner, workspace: &Workspace) -> (StateView, bool) {
    let mut view = StateView::default();
    let mut succeeded = false;
    match runner.show_json(workspace, None, READ_TIMEOUT).await {
        Ok(result) if result.succeeded() => {
            if let Some(Ok(state)) = result.stdout.as_deref().map(serde_json::from_str::<Value>) {
                let deployed = deployed_from_state(&state);
                let master = if deployed.master_running() {
                    "running"
                } else {
                    "none"
                };
                view.master = Some(master.to_string());
                view.slave_count = Some(deployed.slave_desired as u64);
                view.monitoring = Some(deployed.monitoring().to_string());
                succeeded = true;
            }
        }
        Ok(result) => {
            view.master = Some(format!(
                "unknown (state unreadable: {})",
                result.error_headline()
            ))
        }
        Err(error) => view.master = Some(format!("unknown (state unreadable: {error})")),
    }
    match read_key_outputs(runner, workspace).await {
        Some(outputs) => view.outputs = outputs,
        None => succeeded = false,
    }
    (view, succeeded)
}

/// `terraform output -json` as the outputs worth showing; `None` when Terraform could not be
/// asked or did not answer JSON.
pub async fn read_key_outputs(
    runner: &TerraformRunner,
    workspace: &Workspace,
) -> Option<KeyOutputs> {
    Some(key_outputs(&read_outputs(runner, workspace).await?))
}

/// Every output of `terraform output -json`; `None` when Terraform could not be asked or did
/// not answer JSON.
pub async fn read_outputs(
    runner: &TerraformRunner,
    workspace: &Workspace,
) -> Option<BTreeMap<String, OutputValue>> {
    let result = runner.output_json(workspace, READ_TIMEOUT).await.ok()?;
    let json: Value = serde_json::from_str(result.stdout.as_deref()?).ok()?;
    Some(outputs_from_json(&json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn output_json_never_exposes_sensitive_values() {
        let v = json!({
            "jmeter_master_ip": {"sensitive": false, "type": "string", "value": "10.0.1.5"},
            "kibana_url": {"sensitive": false, "type": "string", "value": null},
            "admin_password": {"sensitive": true, "type": "string", "value": "s3cr3t-pw"},
            "unmarked": {"value": "maybe-secret"},
        });
        let outputs = outputs_from_json(&v);
        assert_eq!(outputs["jmeter_master_ip"].value, Some(json!("10.0.1.5")));
        assert_eq!(outputs["kibana_url"].value, Some(Value::Null));
        assert_eq!(
            outputs["admin_password"],
            OutputValue {
                value: None,
                sensitive: true
            }
        );
        assert_eq!(outputs["unmarked"].value, None);
        assert!(outputs_from_json(&json!("nope")).is_empty());
    }
}
