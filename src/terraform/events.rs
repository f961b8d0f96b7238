//! Typed reader of Terraform's machine-readable UI (`plan -json`, `apply -json`, Terraform ≥ 1.0)
//! and recognition of the state-lock error. Pure parsing: spawns nothing, decides nothing.
//!
//! Like rust-analyzer's reader of `cargo check` output, a line that is not what we expect is
//! kept as a value ([`TfEvent::Unknown`], [`TfEvent::Malformed`]) instead of ending the run:
//! Terraform adds message types over time and a log line must never kill a deploy.

use serde_json::Value;
use std::collections::BTreeMap;

/// A resource action as Terraform's UI names it (`planned_change`, `apply_*` hooks).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    Create,
    Update,
    Delete,
    Replace,
    Read,
    Noop,
    Move,
    /// An action newer than this reader (e.g. `forget`, `import`); kept verbatim.
    Other(String),
}

impl ChangeAction {
    pub fn parse(word: &str) -> ChangeAction {
        match word {
            "create" => ChangeAction::Create,
            "update" => ChangeAction::Update,
            "delete" => ChangeAction::Delete,
            "replace" => ChangeAction::Replace,
            "read" => ChangeAction::Read,
            "noop" | "no-op" => ChangeAction::Noop,
            "move" => ChangeAction::Move,
            other => ChangeAction::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ChangeAction::Create => "create",
            ChangeAction::Update => "update",
            ChangeAction::Delete => "delete",
            ChangeAction::Replace => "replace",
            ChangeAction::Read => "read",
            ChangeAction::Noop => "noop",
            ChangeAction::Move => "move",
            ChangeAction::Other(word) => word,
        }
    }
}

/// `error` or `warning`; anything else Terraform might invent is kept.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Other(String),
}

/// One of Terraform's diagnostics, as shown to users on failure.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub summary: String,
    pub detail: String,
    /// The resource address the diagnostic is about, when Terraform names one.
    pub address: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// One output as announced by the `outputs` message. A sensitive output's value is dropped
/// here, at the edge, so no later layer can leak it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputEvent {
    pub sensitive: bool,
    /// `create`, `update`, `delete`, `noop` (plan only); `None` after apply.
    pub action: Option<String>,
    /// Always `None` when `sensitive`.
    pub value: Option<Value>,
}

/// One line of Terraform's machine-readable UI.
#[derive(Clone, Debug, PartialEq)]
pub enum TfEvent {
    Version {
        terraform: String,
        ui: String,
    },
    PlannedChange {
        address: String,
        action: ChangeAction,
    },
    ChangeSummary {
        add: u64,
        change: u64,
        remove: u64,
        /// `plan`, `apply` or `destroy`.
        operation: String,
    },
    ApplyStart {
        address: String,
        action: ChangeAction,
    },
    ApplyProgress {
        address: String,
        elapsed_seconds: u64,
    },
    ApplyComplete {
        address: String,
        action: ChangeAction,
        elapsed_seconds: u64,
    },
    ApplyErrored {
        address: String,
        action: ChangeAction,
    },
    RefreshStart {
        address: String,
    },
    RefreshComplete {
        address: String,
    },
    Outputs {
        outputs: BTreeMap<String, OutputEvent>,
    },
    Diagnostic(Diagnostic),
    /// `log` messages and any other line whose only content is `@message`.
    Log {
        level: String,
        message: String,
    },
    /// Valid JSON with a `type` this reader does not model (`resource_drift`, `provision_*`,
    /// future types). `raw` is the whole line.
    Unknown {
        type_name: String,
        raw: String,
    },
    /// Not a JSON object (or truncated at [`crate::terraform::lines::MAX_JSON_LINE_BYTES`]). `raw` is the line as read.
    Malformed {
        raw: String,
    },
}

/// Parses one line of `-json` output. Never fails: what cannot be understood is kept as a value.
pub fn parse_line(line: &str) -> TfEvent {
    let trimmed = line.trim_end_matches(['\n', '\r']);
    let value: Value = match serde_json::from_str(trimmed) {
        Ok(value @ Value::Object(_)) => value,
        _ => {
            return TfEvent::Malformed {
                raw: trimmed.to_string(),
            }
        }
    };
    let type_name = str_at(&value, &["type"]).unwrap_or_default();
    let hook = value.get("hook").unwrap_or(&Value::Null);
    let hook_address = || resource_address(hook);
    let hook_action = || ChangeAction::parse(&str_at(hook, &["action"]).unwrap_or_default());
    let elapsed = || {
        hook.get("elapsed_seconds")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };

    match type_name.as_str() {
        "version" => TfEvent::Version {
            terraform: str_at(&value, &["terraform"]).unwrap_or_default(),
            ui: str_at(&value, &["ui"]).unwrap_or_default(),
        },
        "planned_change" => {
            let change = value.get("change").unwrap_or(&Value::Null);
            TfEvent::PlannedChange {
                address: resource_address(change),
                action: ChangeAction::parse(&str_at(change, &["action"]).unwrap_or_default()),
            }
        }
        "change_summary" => change_summary(&value),
        "apply_start" => TfEvent::ApplyStart {
            address: hook_address(),
            action: hook_action(),
        },
        "apply_progress" => TfEvent::ApplyProgress {
            address: hook_address(),
            elapsed_seconds: elapsed(),
        },
        "apply_complete" => TfEvent::ApplyComplete {
            address: hook_address(),
            action: hook_action(),
            elapsed_seconds: elapsed(),
        },
        "apply_errored" => TfEvent::ApplyErrored {
            address: hook_address(),
            action: hook_action(),
        },
        "refresh_start" => TfEvent::RefreshStart {
            address: hook_address(),
        },
        "refresh_complete" => TfEvent::RefreshComplete {
            address: hook_address(),
        },
        "outputs" => TfEvent::Outputs {
            outputs: parse_outputs(value.get("outputs")),
        },
        "diagnostic" => TfEvent::Diagnostic(diagnostic(value.get("diagnostic"))),
        "log" => TfEvent::Log {
            level: str_at(&value, &["@level"]).unwrap_or_default(),
            message: str_at(&value, &["@message"]).unwrap_or_default(),
        },
        _ => TfEvent::Unknown {
            type_name,
            raw: trimmed.to_string(),
        },
    }
}

/// A `change_summary` line: Terraform's own counts of a plan, apply or destroy.
fn change_summary(value: &Value) -> TfEvent {
    let count = |key: &str| {
        value
            .get("changes")
            .and_then(|c| c.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    TfEvent::ChangeSummary {
        add: count("add"),
        change: count("change"),
        remove: count("remove"),
        operation: str_at(value, &["changes", "operation"]).unwrap_or_default(),
    }
}

/// The `diagnostic` object of a diagnostic line.
fn diagnostic(diag: Option<&Value>) -> Diagnostic {
    let diag = diag.unwrap_or(&Value::Null);
    Diagnostic {
        severity: match str_at(diag, &["severity"]).as_deref() {
            Some("error") => Severity::Error,
            Some("warning") => Severity::Warning,
            other => Severity::Other(other.unwrap_or_default().to_string()),
        },
        summary: str_at(diag, &["summary"]).unwrap_or_default(),
        detail: str_at(diag, &["detail"]).unwrap_or_default(),
        address: str_at(diag, &["address"]).filter(|a| !a.is_empty()),
    }
}

fn str_at(value: &Value, path: &[&str]) -> Option<String> {
    let mut at = value;
    for key in path {
        at = at.get(key)?;
    }
    at.as_str().map(str::to_string)
}

/// `{resource: {addr: ...}}` as carried by hooks and planned changes.
fn resource_address(holder: &Value) -> String {
    str_at(holder, &["resource", "addr"]).unwrap_or_default()
}

fn parse_outputs(outputs: Option<&Value>) -> BTreeMap<String, OutputEvent> {
    let Some(Value::Object(map)) = outputs else {
        return BTreeMap::new();
    };
    map.iter()
        .map(|(name, out)| {
            // Unknown sensitivity is treated as sensitive: fail closed.
            let sensitive = out
                .get("sensitive")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let event = OutputEvent {
                sensitive,
                action: str_at(out, &["action"]),
                value: if sensitive {
                    None
                } else {
                    out.get("value").cloned()
                },
            };
            (name.clone(), event)
        })
        .collect()
}

/// What Terraform's "Error acquiring the state lock" message says about the holder.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StateLock {
    pub id: String,
    pub path: String,
    pub who: String,
    pub operation: String,
    pub created: String,
}

/// Recognises the state-lock error in plain output or in a diagnostic's detail, including
/// the `│ ` frame Terraform draws around errors on a terminal. `None` when `text` is not
/// about a held lock or names no lock ID.
pub fn state_lock_info(text: &str) -> Option<StateLock> {
    let start = text.find("Lock Info:")?;
    let mut lock = StateLock {
        id: String::new(),
        path: String::new(),
        who: String::new(),
        operation: String::new(),
        created: String::new(),
    };
    for line in text[start..].lines().skip(1) {
        let line = line.trim_start_matches(['│', '|', ' ', '\t']).trim_end();
        let Some((key, value)) = line.split_once(':') else {
            if line.is_empty() {
                continue;
            }
            break;
        };
        let value = value.trim().to_string();
        match key.trim() {
            "ID" => lock.id = value,
            "Path" => lock.path = value,
            "Who" => lock.who = value,
            "Operation" => lock.operation = value,
            "Created" => lock.created = value,
            "Version" | "Info" => {}
            _ => break,
        }
    }
    (!lock.id.is_empty()).then_some(lock)
}

/// A log line as a person reads it: a `-json` line's human `@message`, any other line as is
/// (init output, the bot's own `$ terraform …` lines).
pub fn human_line(line: &str) -> String {
    serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|json| {
            json.get("@message")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str, expected: TfEvent) {
        assert_eq!(parse_line(line), expected, "line: {line}");
    }

    #[test]
    fn parses_plan_and_apply_messages() {
        check(
            r#"{"@level":"info","@message":"Terraform 1.0.3","@module":"terraform.ui","@timestamp":"2021-08-01T10:00:00Z","terraform":"1.0.3","type":"version","ui":"0.1.0"}"#,
            TfEvent::Version {
                terraform: "1.0.3".into(),
                ui: "0.1.0".into(),
            },
        );
        check(
            r#"{"@level":"info","@message":"module.jmeter.aws_instance.master: Plan to create","type":"planned_change","change":{"resource":{"addr":"module.jmeter.aws_instance.master","module":"module.jmeter","resource":"aws_instance.master","implied_provider":"aws","resource_type":"aws_instance","resource_name":"master","resource_key":null},"action":"create"}}"#,
            TfEvent::PlannedChange {
                address: "module.jmeter.aws_instance.master".into(),
                action: ChangeAction::Create,
            },
        );
        check(
            r#"{"type":"change_summary","changes":{"add":3,"change":1,"remove":2,"operation":"apply"}}"#,
            TfEvent::ChangeSummary {
                add: 3,
                change: 1,
                remove: 2,
                operation: "apply".into(),
            },
        );
        check(
            r#"{"type":"apply_start","hook":{"resource":{"addr":"aws_vpc.main"},"action":"create"}}"#,
            TfEvent::ApplyStart {
                address: "aws_vpc.main".into(),
                action: ChangeAction::Create,
            },
        );
        check(
            r#"{"type":"apply_progress","hook":{"resource":{"addr":"aws_vpc.main"},"action":"create","elapsed_seconds":10}}"#,
            TfEvent::ApplyProgress {
                address: "aws_vpc.main".into(),
                elapsed_seconds: 10,
            },
        );
        check(
            r#"{"type":"apply_complete","hook":{"resource":{"addr":"aws_vpc.main"},"action":"create","id_key":"id","id_value":"vpc-1","elapsed_seconds":12}}"#,
            TfEvent::ApplyComplete {
                address: "aws_vpc.main".into(),
                action: ChangeAction::Create,
                elapsed_seconds: 12,
            },
        );
        check(
            r#"{"type":"apply_errored","hook":{"resource":{"addr":"aws_vpc.main"},"action":"delete","elapsed_seconds":3}}"#,
            TfEvent::ApplyErrored {
                address: "aws_vpc.main".into(),
                action: ChangeAction::Delete,
            },
        );
    }

    #[test]
    fn parses_refresh_diagnostic_and_log_messages() {
        check(
            r#"{"type":"refresh_start","hook":{"resource":{"addr":"data.aws_ami.ubuntu"}}}"#,
            TfEvent::RefreshStart {
                address: "data.aws_ami.ubuntu".into(),
            },
        );
        check(
            r#"{"type":"refresh_complete","hook":{"resource":{"addr":"data.aws_ami.ubuntu"},"id_key":"id","id_value":"ami-1"}}"#,
            TfEvent::RefreshComplete {
                address: "data.aws_ami.ubuntu".into(),
            },
        );
        check(
            r#"{"@level":"error","type":"diagnostic","diagnostic":{"severity":"error","summary":"Invalid count","detail":"count must be >= 0","address":"module.jmeter.aws_instance.slave"}}"#,
            TfEvent::Diagnostic(Diagnostic {
                severity: Severity::Error,
                summary: "Invalid count".into(),
                detail: "count must be >= 0".into(),
                address: Some("module.jmeter.aws_instance.slave".into()),
            }),
        );
        check(
            r#"{"@level":"warn","type":"diagnostic","diagnostic":{"severity":"warning","summary":"Deprecated"}}"#,
            TfEvent::Diagnostic(Diagnostic {
                severity: Severity::Warning,
                summary: "Deprecated".into(),
                detail: String::new(),
                address: None,
            }),
        );
        check(
            r#"{"@level":"info","@message":"Apply complete!","type":"log"}"#,
            TfEvent::Log {
                level: "info".into(),
                message: "Apply complete!".into(),
            },
        );
    }

    #[test]
    fn sensitive_output_values_are_dropped_at_the_edge() {
        let event = parse_line(
            r#"{"type":"outputs","outputs":{"jmeter_master_ip":{"sensitive":false,"type":"string","value":"10.0.0.5"},"db_password":{"sensitive":true,"type":"string","value":"hunter22"},"odd":{"value":"x"}}}"#,
        );
        let TfEvent::Outputs { outputs } = event else {
            panic!("not outputs: {event:?}")
        };
        assert_eq!(
            outputs["jmeter_master_ip"].value,
            Some(Value::from("10.0.0.5"))
        );
        assert_eq!(outputs["db_password"].value, None);
        // No `sensitive` key at all: treated as sensitive.
        assert_eq!(outputs["odd"].value, None);
    }

    #[test]
    fn unknown_and_malformed_lines_are_values() {
        let drift = r#"{"type":"resource_drift","change":{}}"#;
        check(
            drift,
            TfEvent::Unknown {
                type_name: "resource_drift".into(),
                raw: drift.into(),
            },
        );
        check(
            "not json",
            TfEvent::Malformed {
                raw: "not json".into(),
            },
        );
        check(
            "[1,2]",
            TfEvent::Malformed {
                raw: "[1,2]".into(),
            },
        );
        check(
            r#"{"type":"log""#,
            TfEvent::Malformed {
                raw: r#"{"type":"log""#.into(),
            },
        );
        check(
            r#"{"type":"apply_start"}"#,
            TfEvent::ApplyStart {
                address: String::new(),
                action: ChangeAction::Other(String::new()),
            },
        );
    }

    const LOCK_TEXT: &str = "Error acquiring the state lock\n\nError message: ConditionalCheckFailedException: The conditional request failed\nLock Info:\n  ID:        8f7c1f7e-1b0a-4c1e-9f0e-3c2d9a1b2c3d\n  Path:      loadtest-state/lt1/terraform.tfstate\n  Operation: OperationTypeApply\n  Who:       runner@bot-host\n  Version:   1.0.3\n  Created:   2024-05-01 10:02:03.123456 +0000 UTC\n  Info:      \n\n\nTerraform acquires a state lock to protect the state from being written\nby multiple users at the same time.";

    #[test]
    fn state_lock_is_recognised() {
        let expected = Some(StateLock {
            id: "8f7c1f7e-1b0a-4c1e-9f0e-3c2d9a1b2c3d".into(),
            path: "loadtest-state/lt1/terraform.tfstate".into(),
            who: "runner@bot-host".into(),
            operation: "OperationTypeApply".into(),
            created: "2024-05-01 10:02:03.123456 +0000 UTC".into(),
        });
        assert_eq!(state_lock_info(LOCK_TEXT), expected);
        // Terminal form, framed with `│ `.
        let framed: String = LOCK_TEXT
            .lines()
            .map(|l| format!("│ {l}\n"))
            .collect::<Vec<_>>()
            .concat();
        assert_eq!(state_lock_info(&framed), expected);
        // Inside a JSON diagnostic's detail.
        let line = serde_json::json!({
            "type": "diagnostic",
            "diagnostic": {"severity": "error", "summary": "Error acquiring the state lock", "detail": LOCK_TEXT}
        })
        .to_string();
        let TfEvent::Diagnostic(diag) = parse_line(&line) else {
            panic!("not a diagnostic")
        };
        assert_eq!(state_lock_info(&diag.detail), expected);
    }

    #[test]
    fn text_without_a_lock_is_not_a_lock() {
        assert_eq!(state_lock_info("Error: Invalid count argument"), None);
        assert_eq!(state_lock_info("Lock Info:\n  Path: x\n"), None);
    }
}
