//! Block Kit → plain terminal text for the local console and `exec`, and the progress bar.
//! Reads rendered messages only; knows nothing of templates or Slack transport.

use super::Message;
use regex::Regex;
use serde_json::Value;
use std::sync::OnceLock;

/// `▓▓▓▓░░░░░░ 12/30`. `done` is clamped to `total`; a zero total gives an empty bar.
pub fn progress_bar(done: usize, total: usize, width: usize) -> String {
    let done = done.min(total);
    let filled = (done * width).checked_div(total).unwrap_or(0);
    format!(
        "{}{} {done}/{total}",
        "▓".repeat(filled),
        "░".repeat(width - filled)
    )
}

/// Slack mrkdwn as a person reads it in a terminal: entities decoded, mentions as `@U…`,
/// links as `label (url)`, code fences dropped. Bold and inline-code markers are left: they
/// read fine as plain text.
pub fn mrkdwn_to_plain(text: &str) -> String {
    static LINK: OnceLock<Regex> = OnceLock::new();
    let link = LINK.get_or_init(|| {
        Regex::new(r"<([@#!])(?:subteam\^)?([^>|]+)(?:\|[^>]*)?>|<([^>|]+)\|([^>]*)>|<([^>]+)>")
            .expect("static regex")
    });
    let replaced = link.replace_all(text, |c: &regex::Captures<'_>| {
        if let (Some(sigil), Some(id)) = (c.get(1), c.get(2)) {
            match sigil.as_str() {
                "#" => format!("#{}", id.as_str()),
                _ => format!("@{}", id.as_str()),
            }
        } else if let (Some(url), Some(label)) = (c.get(3), c.get(4)) {
            format!("{} ({})", label.as_str(), url.as_str())
        } else {
            c.get(5).map(|m| m.as_str().to_string()).unwrap_or_default()
        }
    });
    replaced
        .replace("```", "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text of a Slack text object, decoded when it is mrkdwn.
fn text_object(obj: Option<&Value>) -> Option<String> {
    let obj = obj?;
    let text = obj.get("text")?.as_str()?;
    Some(
        if obj.get("type").and_then(Value::as_str) == Some("mrkdwn") {
            mrkdwn_to_plain(text)
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
    for block in msg.blocks.values().iter() {
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

/// What to type in the console for one of the bot's buttons (the Slack front end maps the
/// same action ids, see `slack::front`).
fn typed_equivalent(action: Option<&str>, value: Option<&str>) -> Option<String> {
    let value = value.unwrap_or_default();
    Some(match action? {
        "keep_hold" => format!("hold 2h env={value}"),
        "keep_extend" => format!("extend 2h env={value}"),
        "scale_down" => format!("down env={value}"),
        other if value.is_empty() => other.to_string(),
        other => format!("{other} {value}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Blocks;
    use serde_json::json;

    #[test]
    fn progress_bar_cases() {
        let table = [
            ((12, 30, 10), "▓▓▓▓░░░░░░ 12/30"),
            ((0, 30, 10), "░░░░░░░░░░ 0/30"),
            ((30, 30, 10), "▓▓▓▓▓▓▓▓▓▓ 30/30"),
            ((0, 0, 5), "░░░░░ 0/0"),
            ((9, 4, 4), "▓▓▓▓ 4/4"),
        ];
        for ((done, total, width), expected) in table {
            assert_eq!(progress_bar(done, total, width), expected);
        }
    }

    #[test]
    fn mrkdwn_is_made_plain() {
        let table = [
            ("by <@U123ABC>", "by @U123ABC"),
            ("group <!subteam^S999|@ops>", "group @S999"),
            ("in <#C42>", "in #C42"),
            (
                "<http://10.0.0.5:3000|Grafana>",
                "Grafana (http://10.0.0.5:3000)",
            ),
            ("<http://x>", "http://x"),
            ("a &lt;b&gt; &amp;amp; c", "a <b> &amp; c"),
        ];
        for (input, expected) in table {
            assert_eq!(mrkdwn_to_plain(input), expected, "{input}");
        }
    }

    #[test]
    fn buttons_show_typed_equivalents() {
        let msg = Message {
            text: "t".into(),
            blocks: Blocks::Parsed(vec![
                json!({"type": "header", "text": {"type": "plain_text", "text": "Plan & <apply>"}}),
                json!({"type": "section", "fields": [{"type": "mrkdwn", "text": "*Size*\nlarge"}]}),
                json!({"type": "divider"}),
                json!({"type": "actions", "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Apply"}, "action_id": "approve", "value": "12"},
                    {"type": "button", "text": {"type": "plain_text", "text": "Cancel"}, "action_id": "reject", "value": "12"}
                ]}),
            ]),
        };
        assert_eq!(
            to_console_text(&msg),
            "== Plan & <apply> ==\n  *Size*\n  large\n---\n[Apply] [Cancel]  (type: approve 12 / reject 12)\n"
        );
    }
}
