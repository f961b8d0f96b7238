//! Summaries of `terraform show -json <planfile>` (what a plan will do, grouped for people, and
//! every destructive change named) and of `terraform output -json` (sensitive values dropped).
//! Reads JSON only; never runs Terraform and never keeps attribute values.
//!
//! Parsing is typed with `#[serde(default)]` everywhere so a field missing in an older or newer
//! Terraform degrades to "unknown" instead of an error, and so `before`/`after` attribute blobs
//! are skipped without being built into a tree (that keeps a 10,000-resource plan fast).
//!
//! `no_changes` decision: output-only changes count as changes. Applying them is cheap and
//! keeps the outputs in state (what `status` reads) current; reporting "no changes" while
//! Terraform would change an output would be a lie.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum PlanSummaryError {
    #[error("plan JSON is not readable: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DestructiveAction {
    Destroy,
    Replace,
}

impl DestructiveAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DestructiveAction::Destroy => "destroy",
            DestructiveAction::Replace => "replace",
        }
    }
}

/// A resource the plan destroys or replaces; each one is listed in the warning block.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DestructiveChange {
    pub address: String,
    pub action: DestructiveAction,
    /// Terraform's `action_reason`, in words when we know it (e.g. "tainted").
    pub reason: Option<String>,
}

/// Counts for one (module, resource type) pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChangeGroup {
    /// `root` or the module address, e.g. `module.jmeter`.
    pub module: String,
    pub resource_type: String,
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub replace: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputAction {
    Create,
    Update,
    Delete,
}

/// An output the plan changes. Values are never carried: only the name and what happens.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OutputChange {
    pub name: String,
    pub action: OutputAction,
    pub sensitive: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlanSummary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub replace: usize,
    /// Sorted by module, then resource type.
    pub groups: Vec<ChangeGroup>,
    /// In plan order.
    pub destructive: Vec<DestructiveChange>,
    pub no_changes: bool,
    /// Sorted by name.
    pub output_changes: Vec<OutputChange>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PlanJson {
    resource_changes: Vec<ResourceChange>,
    output_changes: BTreeMap<String, OutputChangeJson>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResourceChange {
    address: String,
    module_address: Option<String>,
    #[serde(rename = "type")]
    resource_type: String,
    change: ChangeJson,
    action_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChangeJson {
    actions: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OutputChangeJson {
    actions: Vec<String>,
    /// `true`, or a structure of flags for partly sensitive values; either means sensitive.
    before_sensitive: Value,
    after_sensitive: Value,
}

/// What a `resource_changes[].change.actions` list means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Add,
    Change,
    Destroy,
    Replace,
    Nothing,
}

fn kind_of(actions: &[String]) -> Kind {
    let has = |word: &str| actions.iter().any(|a| a == word);
    match (has("create"), has("delete")) {
        (true, true) => Kind::Replace,
        (true, false) => Kind::Add,
        (false, true) => Kind::Destroy,
        (false, false) if has("update") => Kind::Change,
        (false, false) => {
            // `no-op` and `read` change nothing. Anything newer (e.g. `forget`) counts as a
            // change so it is never hidden behind "no changes".
            if actions.iter().all(|a| a == "no-op" || a == "read") {
                Kind::Nothing
            } else {
                Kind::Change
            }
        }
    }
}

/// Known `action_reason` values in words; unknown ones are shown as Terraform wrote them.
fn reason_words(reason: &str) -> String {
    match reason {
        "replace_because_tainted" => "tainted".into(),
        "replace_because_cannot_update" => "a changed argument forces replacement".into(),
        "replace_by_request" => "replacement requested".into(),
        "replace_by_triggers" => "replace_triggered_by".into(),
        "delete_because_no_resource_config" => "removed from configuration".into(),
        "delete_because_no_module" => "its module was removed".into(),
        "delete_because_wrong_repetition" => "count/for_each changed".into(),
        "delete_because_count_index" => "count reduced".into(),
        "delete_because_each_key" => "for_each key removed".into(),
        other => other.into(),
    }
}

impl PlanSummary {
    /// From the bytes `terraform show -json <planfile>` printed.
    pub fn from_json_slice(bytes: &[u8]) -> Result<PlanSummary, PlanSummaryError> {
        let plan: PlanJson = serde_json::from_slice(bytes)?;
        Ok(Self::from_plan(plan))
    }

    /// From an already parsed document.
    pub fn from_value(value: &Value) -> Result<PlanSummary, PlanSummaryError> {
        let plan = PlanJson::deserialize(value)?;
        Ok(Self::from_plan(plan))
    }

    fn from_plan(plan: PlanJson) -> PlanSummary {
        let mut summary = PlanSummary::default();
        let mut groups: BTreeMap<(String, String), ChangeGroup> = BTreeMap::new();
        for rc in plan.resource_changes {
            let kind = kind_of(&rc.change.actions);
            if kind == Kind::Nothing {
                continue;
            }
            let module = rc
                .module_address
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "root".to_string());
            let group = groups
                .entry((module.clone(), rc.resource_type.clone()))
                .or_insert_with(|| ChangeGroup {
                    module,
                    resource_type: rc.resource_type.clone(),
                    ..ChangeGroup::default()
                });
            let destructive = match kind {
                Kind::Add => {
                    summary.add += 1;
                    group.add += 1;
                    None
                }
                Kind::Change => {
                    summary.change += 1;
                    group.change += 1;
                    None
                }
                Kind::Destroy => {
                    summary.destroy += 1;
                    group.destroy += 1;
                    Some(DestructiveAction::Destroy)
                }
                Kind::Replace => {
                    summary.replace += 1;
                    group.replace += 1;
                    Some(DestructiveAction::Replace)
                }
                Kind::Nothing => None,
            };
            if let Some(action) = destructive {
                summary.destructive.push(DestructiveChange {
                    address: rc.address,
                    action,
                    reason: rc.action_reason.as_deref().map(reason_words),
                });
            }
        }
        summary.groups = groups.into_values().collect();
        summary.output_changes = plan
            .output_changes
            .into_iter()
            .filter_map(|(name, oc)| {
                let has = |word: &str| oc.actions.iter().any(|a| a == word);
                let action = if has("create") && !has("delete") {
                    OutputAction::Create
                } else if has("delete") && !has("create") {
                    OutputAction::Delete
                } else if has("update") || (has("create") && has("delete")) {
                    OutputAction::Update
                } else {
                    return None;
                };
                let sensitive = is_marked(&oc.before_sensitive) || is_marked(&oc.after_sensitive);
                Some(OutputChange {
                    name,
                    action,
                    sensitive,
                })
            })
            .collect();
        summary.no_changes = summary.add + summary.change + summary.destroy + summary.replace == 0
            && summary.output_changes.is_empty();
        summary
    }
}

/// A sensitivity marker: `true`, or any structure containing `true`.
fn is_marked(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Array(items) => items.iter().any(is_marked),
        Value::Object(map) => map.values().any(is_marked),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rc(address: &str, module: Option<&str>, rtype: &str, actions: &[&str]) -> Value {
        let mut v = json!({
            "address": address, "mode": "managed", "type": rtype, "name": "x",
            "change": {"actions": actions, "before": {"big": "blob"}, "after": null}
        });
        if let Some(m) = module {
            v["module_address"] = json!(m);
        }
        v
    }

    fn check(actions: &[&str], expected: (usize, usize, usize, usize, bool)) {
        let plan = json!({"resource_changes": [rc("aws_vpc.main", None, "aws_vpc", actions)]});
        let s = PlanSummary::from_value(&plan).expect("summary");
        assert_eq!(
            (s.add, s.change, s.destroy, s.replace, s.no_changes),
            expected,
            "actions {actions:?}"
        );
    }

    #[test]
    fn actions_map_to_counts() {
        check(&["create"], (1, 0, 0, 0, false));
        check(&["update"], (0, 1, 0, 0, false));
        check(&["delete"], (0, 0, 1, 0, false));
        check(&["delete", "create"], (0, 0, 0, 1, false));
        check(&["create", "delete"], (0, 0, 0, 1, false));
        check(&["no-op"], (0, 0, 0, 0, true));
        check(&["read"], (0, 0, 0, 0, true));
        check(&["forget"], (0, 1, 0, 0, false));
    }

    #[test]
    fn groups_are_sorted_and_destructive_changes_named() {
        let plan = json!({
            "format_version": "0.2",
            "resource_changes": [
                rc("module.jmeter.aws_instance.slave[0]", Some("module.jmeter"), "aws_instance", &["create"]),
                rc("module.jmeter.aws_instance.master", Some("module.jmeter"), "aws_instance", &["delete", "create"]),
                rc("aws_vpc.main", None, "aws_vpc", &["update"]),
                rc("module.monitoring.aws_instance.es", Some("module.monitoring"), "aws_instance", &["delete"]),
                rc("module.jmeter.aws_autoscaling_group.slaves", Some("module.jmeter"), "aws_autoscaling_group", &["no-op"]),
            ]
        });
        let mut plan = plan;
        plan["resource_changes"][1]["action_reason"] = json!("replace_because_cannot_update");
        let s = PlanSummary::from_value(&plan).expect("summary");
        let groups: Vec<_> = s
            .groups
            .iter()
            .map(|g| {
                (
                    g.module.as_str(),
                    g.resource_type.as_str(),
                    g.add,
                    g.change,
                    g.destroy,
                    g.replace,
                )
            })
            .collect();
        assert_eq!(
            groups,
            [
                ("module.jmeter", "aws_instance", 1, 0, 0, 1),
                ("module.monitoring", "aws_instance", 0, 0, 1, 0),
                ("root", "aws_vpc", 0, 1, 0, 0),
            ]
        );
        assert_eq!(
            s.destructive,
            [
                DestructiveChange {
                    address: "module.jmeter.aws_instance.master".into(),
                    action: DestructiveAction::Replace,
                    reason: Some("a changed argument forces replacement".into()),
                },
                DestructiveChange {
                    address: "module.monitoring.aws_instance.es".into(),
                    action: DestructiveAction::Destroy,
                    reason: None,
                },
            ]
        );
    }

    #[test]
    fn missing_fields_degrade_and_output_only_changes_count() {
        let s = PlanSummary::from_json_slice(b"{}").expect("empty plan");
        assert!(s.no_changes);
        let s = PlanSummary::from_json_slice(br#"{"resource_changes":[{}]}"#).expect("bare rc");
        assert!(s.no_changes, "no actions means nothing to do");
        assert!(PlanSummary::from_json_slice(b"[").is_err());

        let plan = json!({"output_changes": {
            "grafana_url": {"actions": ["update"], "before": "a", "after": "b", "after_sensitive": false},
            "token": {"actions": ["create"], "after_sensitive": true},
            "same": {"actions": ["no-op"]},
        }});
        let s = PlanSummary::from_value(&plan).expect("summary");
        assert!(!s.no_changes);
        assert_eq!(
            s.output_changes,
            [
                OutputChange {
                    name: "grafana_url".into(),
                    action: OutputAction::Update,
                    sensitive: false
                },
                OutputChange {
                    name: "token".into(),
                    action: OutputAction::Create,
                    sensitive: true
                },
            ]
        );
    }

    /// Speed check for a production-sized plan; prints the time, asserts only correctness.
    /// `cargo test --lib plan_summary -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn ten_thousand_resources_summary_time() {
        let changes: Vec<Value> = (0..10_000)
            .map(|i| {
                let actions: &[&str] = match i % 4 {
                    0 => &["create"],
                    1 => &["update"],
                    2 => &["delete"],
                    _ => &["delete", "create"],
                };
                let mut v = rc(
                    &format!("module.m{}.aws_instance.i[{i}]", i % 7),
                    Some(&format!("module.m{}", i % 7)),
                    "aws_instance",
                    actions,
                );
                v["change"]["after"] =
                    json!({"ami": "ami-123", "tags": {"a": "b"}, "user_data": "x".repeat(200)});
                v
            })
            .collect();
        let bytes = serde_json::to_vec(&json!({"resource_changes": changes})).expect("encode");
        let started = std::time::Instant::now();
        let s = PlanSummary::from_json_slice(&bytes).expect("summary");
        let elapsed = started.elapsed();
        println!(
            "10,000-resource plan ({} KiB) summarised in {elapsed:?}",
            bytes.len() / 1024
        );
        assert_eq!(
            (s.add, s.change, s.destroy, s.replace),
            (2500, 2500, 2500, 2500)
        );
        assert_eq!(s.destructive.len(), 5000);
        assert_eq!(s.groups.len(), 7);
    }
}
