//! Every message the shipped templates render (the renderer's fixed samples, the fullest and
//! the emptiest form of each view) is Block Kit Slack takes, judged twice: by Slack's own
//! Python SDK (`tests/support/validate_blocks.py`, slack_sdk in the virtualenv
//! `scripts/bootstrap` makes) and by the fake Slack's checks. Each message is judged as the
//! bot sends it, after the renderer's limits (`enforce_limits`) are applied.
//!
//! slack_sdk missing is a failure naming `scripts/bootstrap`, never a skip.

use crate::support::fake_slack::block_kit;
use crate::support::{repo_root, tools_dir};
use loadtest_bot::render::Renderer;
use loadtest_bot::slack::limits::enforce_limits;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The virtualenv's Python, which has slack_sdk; panics naming the fix when it is missing.
fn python_with_slack_sdk() -> PathBuf {
    let python = tools_dir().join("moto-venv/bin/python");
    let has_sdk = Command::new(&python)
        .args(["-c", "import slack_sdk.models.blocks"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        has_sdk,
        "slack_sdk is missing from {}: run `scripts/bootstrap` (it installs the pinned slack_sdk \
         next to moto)",
        python.display()
    );
    python
}

/// Runs validate_blocks.py on `messages` (an object of named messages): exit code and output.
fn validate_with_slack_sdk(messages: &Value) -> (i32, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("messages.json");
    std::fs::write(&input, serde_json::to_string_pretty(messages).unwrap()).expect("write");
    let script = repo_root().join("tests/support/validate_blocks.py");
    let output = Command::new(python_with_slack_sdk())
        .arg(&script)
        .arg(&input)
        .output()
        .unwrap_or_else(|error| panic!("run {}: {error}", script.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// The samples as Slack would receive them: `{name: {"text": …, "blocks": […]}}`.
fn rendered_samples(templates: &Path) -> Map<String, Value> {
    let renderer = Renderer::load(templates).expect("the shipped templates load");
    renderer
        .sample_messages()
        .expect("the samples render")
        .into_iter()
        .map(|(name, message)| {
            let sent = serde_json::to_value(enforce_limits(message)).expect("as JSON");
            (name.to_owned(), sent)
        })
        .collect()
}

#[test]
fn every_rendered_sample_passes_slack_sdk_and_the_fake_slacks_block_kit_checks() {
    let samples = rendered_samples(&repo_root().join("commands/templates"));
    assert!(
        samples.len() >= 16,
        "one sample per template at least: {}",
        samples.len()
    );

    let (code, output) = validate_with_slack_sdk(&Value::Object(samples.clone()));
    assert_eq!(code, 0, "slack_sdk refused rendered messages:\n{output}");
    assert!(
        output.contains(&format!("{} messages, 0 problems", samples.len())),
        "{output}"
    );

    let mut refused = Vec::new();
    for (name, message) in &samples {
        if let Err(refusal) =
            block_kit::check_message(message["text"].as_str(), message.get("blocks"))
        {
            refused.push(format!("{name}: {}", refusal.answer()));
        }
    }
    assert!(
        refused.is_empty(),
        "the fake Slack refused rendered messages:\n{}",
        refused.join("\n")
    );
}

#[test]
fn a_broken_message_is_refused_by_slack_sdk_and_by_the_fake() {
    let samples = rendered_samples(&repo_root().join("commands/templates"));
    let mut broken = samples["awaiting_approval"].clone();
    // A header may only hold plain_text of at most 150 characters; a button's text 75.
    broken["blocks"][0]["text"]["text"] = json!("h".repeat(151));
    let buttons = broken["blocks"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|block| block["type"] == "actions")
        .expect("the approval message has buttons");
    buttons["elements"][0]["text"]["text"] = json!("b".repeat(76));
    broken["blocks"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "banner", "text": "not a block"}));

    let (code, output) = validate_with_slack_sdk(&json!({
        "broken": broken,
        "fine": samples["status"],
    }));
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("broken: /blocks/0 (header)"), "{output}");
    assert!(output.contains("150 characters"), "{output}");
    assert!(output.contains("75 characters"), "{output}");
    assert!(output.contains("does not know this block"), "{output}");
    assert!(!output.contains("fine:"), "{output}");
    assert!(output.contains("2 messages, 3 problems"), "{output}");

    let refusal = block_kit::check_message(broken["text"].as_str(), broken.get("blocks"))
        .expect_err("the fake refuses it too");
    assert_eq!(refusal.error, "invalid_blocks");
    assert_eq!(refusal.messages.len(), 3, "{:?}", refusal.messages);
}
