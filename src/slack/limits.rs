//! Slack's size limits applied to a rendered message, cutting with an explicit count of what
//! was left out instead of letting Slack reject the post. Generic over blocks: the renderer
//! already trims its long lists with precise wording ("… and 812 more resources not shown");
//! this is the backstop for anything else (long diagnostics, long help).
//!
//! Limits chosen (Slack documents 50 blocks, 3,000-char section text, 150-char headers,
//! 2,000-char fields, 10 fields and 10 context elements; it truncates top-level text at 40,000
//! but recommends far less):
//! - at most [`MAX_BLOCKS`] blocks; `actions` blocks are kept so buttons never disappear;
//! - section/context text ≤ [`MAX_SECTION_TEXT`], header ≤ [`MAX_HEADER_TEXT`],
//!   field ≤ [`MAX_FIELD_TEXT`], ≤ 10 fields, ≤ 10 context elements, button label ≤ 75;
//! - all block text together ≤ [`MAX_TOTAL_TEXT`] (keeps a message readable and well below
//!   Slack's payload limits);
//! - top-level `text` ≤ [`MAX_TOP_TEXT`].

use super::message::Message;
use serde_json::{json, Value};

pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_HEADER_TEXT: usize = 150;
pub const MAX_FIELD_TEXT: usize = 2000;
pub const MAX_FIELDS: usize = 10;
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
pub const MAX_BUTTON_TEXT: usize = 75;
pub const MAX_TOTAL_TEXT: usize = 12_000;
pub const MAX_TOP_TEXT: usize = 3000;

/// Cuts `msg` to Slack's limits (see the module doc). A message within them is unchanged.
pub fn enforce_limits(msg: Message) -> Message {
    let text = cut_chars(&msg.text, MAX_TOP_TEXT);
    let mut blocks: Vec<Value> = msg.blocks.into_iter().map(limit_block).collect();

    if blocks.len() > MAX_BLOCKS {
        let before = blocks.len();
        let actions: Vec<Value> = blocks
            .iter()
            .filter(|b| block_type(b) == "actions")
            .take(5)
            .cloned()
            .collect();
        let others: Vec<Value> = blocks
            .into_iter()
            .filter(|b| block_type(b) != "actions")
            .collect();
        // With many `actions` blocks (only five are kept) there may be fewer others than room.
        let keep = (MAX_BLOCKS - 1 - actions.len()).min(others.len());
        let hidden = before - keep - actions.len();
        blocks = others.into_iter().take(keep).collect();
        blocks.push(note_block(&format!("… and {hidden} more blocks not shown")));
        blocks.extend(actions);
    }

    blocks = limit_total_text(blocks);
    Message { text, blocks }
}

fn block_type(block: &Value) -> &str {
    block
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn note_block(text: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
}

fn limit_block(mut block: Value) -> Value {
    match block_type(&block) {
        "header" => limit_text_object(block.get_mut("text"), MAX_HEADER_TEXT, false),
        "section" => {
            limit_text_object(block.get_mut("text"), MAX_SECTION_TEXT, true);
            if let Some(Value::Array(fields)) = block.get_mut("fields") {
                fields.truncate(MAX_FIELDS);
                for field in fields.iter_mut() {
                    limit_text_object(Some(field), MAX_FIELD_TEXT, true);
                }
            }
        }
        "context" => {
            if let Some(Value::Array(elements)) = block.get_mut("elements") {
                elements.truncate(MAX_CONTEXT_ELEMENTS);
                for element in elements.iter_mut() {
                    limit_text_object(Some(element), MAX_SECTION_TEXT, true);
                }
            }
        }
        "actions" => {
            if let Some(Value::Array(elements)) = block.get_mut("elements") {
                for element in elements.iter_mut() {
                    limit_text_object(element.get_mut("text"), MAX_BUTTON_TEXT, false);
                }
            }
        }
        _ => {}
    }
    block
}

fn limit_text_object(obj: Option<&mut Value>, max: usize, by_lines: bool) {
    let Some(Value::String(text)) = obj.and_then(|o| o.get_mut("text")) else {
        return;
    };
    if text.chars().count() > max {
        *text = if by_lines {
            cut_lines(text, max)
        } else {
            cut_chars(text, max)
        };
    }
}

/// At most `max` chars, ending in `…` when cut.
fn cut_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// At most `max` chars, cut at a line boundary and ending in "… and N more lines not shown".
/// An open ``` code fence is closed so the rest of the message is not swallowed by it.
pub(crate) fn cut_lines(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let lines: Vec<&str> = text.split('\n').collect();
    // Room for the fence and the note, whose count has at most 10 digits.
    let reserve = "\n```".len() + "\n… and 0000000000 more lines not shown".chars().count();
    let budget = max.saturating_sub(reserve);
    let mut kept = String::new();
    let mut used = 0;
    let mut kept_lines = 0;
    for line in &lines {
        let cost = line.chars().count() + usize::from(kept_lines > 0);
        if used + cost > budget {
            if kept_lines == 0 {
                // A single overlong first line: keep its beginning.
                kept = cut_chars(line, budget);
                kept_lines = 1;
            }
            break;
        }
        if kept_lines > 0 {
            kept.push('\n');
        }
        kept.push_str(line);
        used += cost;
        kept_lines += 1;
    }
    if kept.matches("```").count() % 2 == 1 {
        kept.push_str("\n```");
    }
    let hidden = lines.len() - kept_lines;
    if hidden > 0 {
        kept.push_str(&format!("\n… and {hidden} more lines not shown"));
    }
    kept
}

fn block_text_len(block: &Value) -> usize {
    fn walk(v: &Value, total: &mut usize) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(t)) = map.get("text") {
                    *total += t.chars().count();
                }
                for (key, child) in map {
                    if key != "text" || !child.is_string() {
                        walk(child, total);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, total)),
            _ => {}
        }
    }
    let mut total = 0;
    walk(block, &mut total);
    total
}

/// Keeps blocks in order until the text budget runs out, cutting the block that crosses it
/// when it is a section, dropping the rest (buttons excepted) with a count.
fn limit_total_text(blocks: Vec<Value>) -> Vec<Value> {
    let total: usize = blocks.iter().map(block_text_len).sum();
    if total <= MAX_TOTAL_TEXT {
        return blocks;
    }
    let note_room = 60;
    let mut used: usize = blocks
        .iter()
        .filter(|b| block_type(b) == "actions")
        .map(block_text_len)
        .sum::<usize>()
        + note_room;
    let mut out = Vec::new();
    let mut hidden = 0;
    let mut full = false;
    for mut block in blocks {
        if block_type(&block) == "actions" {
            out.push(block);
            continue;
        }
        let len = block_text_len(&block);
        if !full && used + len <= MAX_TOTAL_TEXT {
            used += len;
            out.push(block);
            continue;
        }
        let room = MAX_TOTAL_TEXT.saturating_sub(used);
        let cuttable = block_type(&block) == "section"
            && block.get("fields").is_none()
            && block.pointer("/text/text").is_some();
        if !full && cuttable && room > 200 {
            if let Some(Value::String(text)) = block.pointer_mut("/text/text") {
                *text = cut_lines(text, room);
                used += text.chars().count();
            }
            out.push(block);
        } else {
            hidden += 1;
        }
        full = true;
    }
    if hidden > 0 {
        let note = note_block(&format!(
            "… and {hidden} more blocks not shown (message too long)"
        ));
        match out.iter().position(|b| block_type(b) == "actions") {
            Some(at) => out.insert(at, note),
            None => out.push(note),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> Value {
        json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    }

    fn texts(msg: &Message) -> Vec<String> {
        msg.blocks
            .iter()
            .map(|b| {
                b.pointer("/text/text")
                    .or_else(|| b.pointer("/elements/0/text"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn message_within_limits_is_unchanged() {
        let msg = Message {
            text: "t".into(),
            blocks: vec![section("hello")],
        };
        assert_eq!(enforce_limits(msg.clone()), msg);
    }

    #[test]
    fn long_section_is_cut_at_lines_with_a_count() {
        let text: String = (0..1000)
            .map(|i| format!("line {i:04}\n"))
            .collect::<String>();
        let text = text.trim_end();
        let msg = enforce_limits(Message {
            text: "t".into(),
            blocks: vec![section(text)],
        });
        let cut = &texts(&msg)[0];
        assert!(cut.chars().count() <= MAX_SECTION_TEXT, "{}", cut.len());
        let shown = cut.lines().filter(|l| l.starts_with("line ")).count();
        assert!(cut.ends_with(&format!("… and {} more lines not shown", 1000 - shown)));
    }

    #[test]
    fn cut_code_fence_is_closed() {
        let text = format!("```\n{}\n```", "x\n".repeat(2000));
        let cut = cut_lines(&text, 300);
        assert_eq!(cut.matches("```").count(), 2, "{cut}");
    }

    #[test]
    fn header_and_top_text_are_cut() {
        let msg = enforce_limits(Message {
            text: "y".repeat(5000),
            blocks: vec![
                json!({"type": "header", "text": {"type": "plain_text", "text": "h".repeat(400)}}),
            ],
        });
        assert_eq!(msg.text.chars().count(), MAX_TOP_TEXT);
        assert_eq!(texts(&msg)[0].chars().count(), MAX_HEADER_TEXT);
        assert!(texts(&msg)[0].ends_with('…'));
    }

    #[test]
    fn too_many_blocks_keep_buttons_and_count_the_rest() {
        let mut blocks: Vec<Value> = (0..80).map(|i| section(&format!("b{i}"))).collect();
        blocks.push(json!({"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Apply"}, "action_id": "approve", "value": "1"}]}));
        let msg = enforce_limits(Message {
            text: "t".into(),
            blocks,
        });
        let blocks = &msg.blocks;
        assert_eq!(blocks.len(), MAX_BLOCKS);
        assert_eq!(blocks[MAX_BLOCKS - 1]["type"], "actions");
        assert_eq!(
            texts(&msg)[MAX_BLOCKS - 2],
            "… and 32 more blocks not shown"
        );
    }

    #[test]
    fn many_button_blocks_keep_five_and_count_the_rest() {
        // 41 sections and 10 actions: fewer sections than the room left beside five buttons.
        let mut blocks: Vec<Value> = (0..41).map(|i| section(&format!("b{i}"))).collect();
        blocks.extend((0..10).map(|i| json!({"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": format!("go {i}")}, "action_id": "approve", "value": "1"}]})));
        let msg = enforce_limits(Message {
            text: "t".into(),
            blocks,
        });
        let blocks = &msg.blocks;
        assert_eq!(blocks.len(), 41 + 1 + 5);
        assert_eq!(texts(&msg)[41], "… and 5 more blocks not shown");
        assert!(blocks[42..].iter().all(|b| b["type"] == "actions"));
    }

    #[test]
    fn total_text_budget_cuts_and_counts() {
        let blocks: Vec<Value> = (0..10)
            .map(|i| section(&format!("{i}\n{}", "z".repeat(2500))))
            .collect();
        let msg = enforce_limits(Message {
            text: "t".into(),
            blocks,
        });
        let total: usize = msg.blocks.iter().map(block_text_len).sum();
        assert!(total <= MAX_TOTAL_TEXT, "{total}");
        let last = texts(&msg).pop().unwrap_or_default();
        assert!(
            last.starts_with("… and ")
                && last.ends_with("more blocks not shown (message too long)"),
            "{last}"
        );
    }
}
