//! Block Kit → plain terminal text for the local console and `exec`: headers, sections,
//! fields, context, dividers, and buttons with the command that does the same when typed.
//! Reads messages only; knows nothing of templates or transport.

use super::actions::ButtonAction;
use super::message::Message;
use serde_json::Value;

/// The text of a Slack text object, decoded when it is mrkdwn.
fn text_object(obj: Option<&Value>) -> Option<String> {
    let obj = obj?;
    let text = obj.get("text")?.as_str()?;
    Some(
        if obj.get("type").and_then(Value::as_str) == Some("mrkdwn") {
            super::mrkdwn::to_plain(text)
        } else {
            text.to_string()
        },
    )
}

/// The message's blocks as terminal text: headers framed `== … ==`, sections as text with
/// fields indented, context lines, dividers as `---`, buttons as `[Apply] [Cancel]` followed by
/// the commands that do the same when typed (`approve 12` / `reject 12`).
pub fn to_console_text(msg: &Message) -> String {
    let mut lines: Vec<String> = Vec::new();
    for block in &msg.blocks {
        match block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "header" => {
                if let Some(text) = text_object(block.get("text")) {
                    lines.push(format!("== {text} =="));
                }
            }
            "section" => {
                if let Some(text) = text_object(block.get("text")) {
                    lines.push(text);
                }
                for field in block
                    .get("fields")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(text) = text_object(Some(field)) {
                        lines.push(format!("  {}", text.replace('\n', "\n  ")));
                    }
                }
            }
            "context" => {
                let parts: Vec<String> = block
                    .get("elements")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| text_object(Some(e)))
                    .collect();
                if !parts.is_empty() {
                    lines.push(parts.join("  ·  "));
                }
            }
            "divider" => lines.push("---".to_string()),
            "actions" => {
                let mut buttons = Vec::new();
                let mut typed = Vec::new();
                for element in block
                    .get("elements")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(label) = text_object(element.get("text")) {
                        buttons.push(format!("[{label}]"));
                    }
                    let action = element.get("action_id").and_then(Value::as_str);
                    let value = element.get("value").and_then(Value::as_str);
                    if let Some(command) = typed_equivalent(action, value) {
                        typed.push(command);
                    }
                }
                let mut line = buttons.join(" ");
                if !typed.is_empty() {
                    line.push_str(&format!("  (type: {})", typed.join(" / ")));
                }
                lines.push(line);
            }
            // Images and anything newer: nothing readable in a terminal.
            _ => {}
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// What to type in the console for one of the bot's buttons.
fn typed_equivalent(action: Option<&str>, value: Option<&str>) -> Option<String> {
    Some(ButtonAction::from_id(action?)?.command(value.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn buttons_show_typed_equivalents() {
        let msg = Message {
            text: "t".into(),
            blocks: vec![
                json!({"type": "header", "text": {"type": "plain_text", "text": "Plan & <apply>"}}),
                json!({"type": "section", "fields": [{"type": "mrkdwn", "text": "*Size*\nlarge"}]}),
                json!({"type": "divider"}),
                json!({"type": "actions", "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Apply"}, "action_id": "approve", "value": "12"},
                    {"type": "button", "text": {"type": "plain_text", "text": "Cancel"}, "action_id": "reject", "value": "12"}
                ]}),
            ],
        };
        assert_eq!(
            to_console_text(&msg),
            "== Plan & <apply> ==\n  *Size*\n  large\n---\n[Apply] [Cancel]  (type: approve 12 / reject 12)\n"
        );
    }
}
