//! Block Kit as Slack checks a message before taking it (`chat.postMessage`, `chat.update`,
//! `chat.postEphemeral`, a slash command's ack, a `response_url` post), from Block Kit's
//! documented rules for the message surface: the block types a message may hold, each block's
//! and element's fields (an unknown field is refused, as Slack refuses additional properties),
//! which text objects take `plain_text` only, non-empty texts and every length limit.
//!
//! A refusal reads like Slack's: `invalid_blocks` with one `[ERROR] … [json-pointer:/…]` line
//! per problem in `response_metadata.messages`; the wording follows Slack's where it is known
//! and is descriptive otherwise. Pure: no state, no I/O.

use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Longest top-level `text` Slack takes (`msg_too_long` beyond).
pub const MAX_MESSAGE_TEXT: usize = 40_000;
pub const MAX_BLOCKS: usize = 50;

/// Why Slack would refuse a message: its error code and the lines it explains it with.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub error: &'static str,
    pub messages: Vec<String>,
}

impl Refusal {
    /// The answer body Slack sends: `{"ok":false,"error":…,"response_metadata":{"messages":…}}`.
    pub fn answer(&self) -> Value {
        let mut answer = json!({"ok": false, "error": self.error});
        if !self.messages.is_empty() {
            answer["response_metadata"] = json!({"messages": self.messages});
        }
        answer
    }
}

/// `blocks` as a method received it: a JSON array, or JSON text of one (how a form body
/// carries it). `None` when absent or null.
pub fn blocks_argument(value: Option<&Value>) -> Result<Option<Value>, Refusal> {
    let format_error = || Refusal {
        error: "invalid_blocks_format",
        messages: Vec::new(),
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(parsed @ Value::Array(_)) => Ok(Some(parsed)),
            _ => Err(format_error()),
        },
        Some(array @ Value::Array(_)) => Ok(Some(array.clone())),
        Some(_) => Err(format_error()),
    }
}

/// Checks a message's top-level `text` and its `blocks` (see [`blocks_argument`]).
pub fn check_message(text: Option<&str>, blocks: Option<&Value>) -> Result<(), Refusal> {
    if text.is_some_and(|text| text.chars().count() > MAX_MESSAGE_TEXT) {
        return Err(Refusal {
            error: "msg_too_long",
            messages: Vec::new(),
        });
    }
    let Some(blocks) = blocks_argument(blocks)? else {
        return Ok(());
    };
    let problems = check_blocks(&blocks);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Refusal {
            error: "invalid_blocks",
            messages: problems,
        })
    }
}

/// A message payload as a slash command's ack or a `response_url` post carries it: `text`,
/// `blocks`, and `response_type` (`in_channel` or `ephemeral`) when given.
pub fn check_response_payload(payload: &Value) -> Result<(), Refusal> {
    if let Some(kind) = payload.get("response_type") {
        if !matches!(kind.as_str(), Some("in_channel" | "ephemeral")) {
            return Err(Refusal {
                error: "invalid_arguments",
                messages: vec![format!(
                    "[ERROR] response_type must be in_channel or ephemeral, not {kind} [json-pointer:/response_type]"
                )],
            });
        }
    }
    let text = match payload.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.as_str()),
        Some(_) => {
            return Err(Refusal {
                error: "invalid_arguments",
                messages: vec!["[ERROR] must provide a string [json-pointer:/text]".into()],
            })
        }
    };
    check_message(text, payload.get("blocks"))
}

/// Every problem Slack would report for `blocks` (a JSON array), as `[ERROR] …` lines.
pub fn check_blocks(blocks: &Value) -> Vec<String> {
    let mut checker = Checker::default();
    checker.blocks(blocks, "/blocks");
    checker.problems
}

/// Which text objects a field takes.
#[derive(Clone, Copy, PartialEq)]
enum TextKind {
    PlainOnly,
    PlainOrMrkdwn,
}

const ACTIONS_ELEMENTS: &[&str] = &[
    "button",
    "checkboxes",
    "datepicker",
    "datetimepicker",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
    "overflow",
    "radio_buttons",
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "timepicker",
    "workflow_button",
];

#[derive(Default)]
struct Checker {
    problems: Vec<String>,
    block_ids: HashSet<String>,
}

impl Checker {
    fn problem(&mut self, what: impl std::fmt::Display, at: &str) {
        self.problems
            .push(format!("[ERROR] {what} [json-pointer:{at}]"));
    }

    fn blocks(&mut self, blocks: &Value, at: &str) {
        let Some(blocks) = self.array(blocks, at, 0, MAX_BLOCKS) else {
            return;
        };
        for (index, block) in blocks.iter().enumerate() {
            self.block(block, &format!("{at}/{index}"));
        }
    }

    fn block(&mut self, block: &Value, at: &str) {
        let Some(fields) = self.object(block, at) else {
            return;
        };
        let Some(kind) = self.required_string(fields, "type", at) else {
            return;
        };
        self.block_id(fields, at);
        let allowed: &[&str] = match kind {
            "section" => {
                self.section(fields, at);
                &["type", "block_id", "text", "fields", "accessory", "expand"]
            }
            "header" => {
                if let Some(text) = self.required(fields, "text", at) {
                    self.text_object(text, &format!("{at}/text"), TextKind::PlainOnly, 150);
                }
                &["type", "block_id", "text"]
            }
            "divider" => &["type", "block_id"],
            "context" => {
                if let Some(elements) = self.required(fields, "elements", at) {
                    let elements_at = format!("{at}/elements");
                    if let Some(elements) = self.array(elements, &elements_at, 1, 10) {
                        for (index, element) in elements.iter().enumerate() {
                            let element_at = format!("{elements_at}/{index}");
                            if element.get("type").and_then(Value::as_str) == Some("image") {
                                self.image(element, &element_at, false);
                            } else {
                                self.text_object(
                                    element,
                                    &element_at,
                                    TextKind::PlainOrMrkdwn,
                                    3000,
                                );
                            }
                        }
                    }
                }
                &["type", "block_id", "elements"]
            }
            "actions" => {
                if let Some(elements) = self.required(fields, "elements", at) {
                    let elements_at = format!("{at}/elements");
                    if let Some(elements) = self.array(elements, &elements_at, 1, 25) {
                        for (index, element) in elements.iter().enumerate() {
                            self.interactive_element(
                                element,
                                &format!("{elements_at}/{index}"),
                                ACTIONS_ELEMENTS,
                            );
                        }
                    }
                }
                &["type", "block_id", "elements"]
            }
            "image" => {
                self.image(block, at, true);
                return;
            }
            "markdown" => {
                if let Some(text) = self.required(fields, "text", at) {
                    self.string(text, &format!("{at}/text"), 1, 12_000);
                }
                &["type", "block_id", "text"]
            }
            "rich_text" => {
                if let Some(elements) = self.required(fields, "elements", at) {
                    self.array(elements, &format!("{at}/elements"), 1, usize::MAX);
                }
                &["type", "block_id", "elements"]
            }
            "input" => {
                if let Some(label) = self.required(fields, "label", at) {
                    self.text_object(label, &format!("{at}/label"), TextKind::PlainOnly, 2000);
                }
                self.required(fields, "element", at);
                &[
                    "type",
                    "block_id",
                    "label",
                    "element",
                    "dispatch_action",
                    "hint",
                    "optional",
                ]
            }
            "file" => {
                self.required(fields, "external_id", at);
                self.required(fields, "source", at);
                &["type", "block_id", "external_id", "source"]
            }
            "video" => {
                for key in ["alt_text", "title", "thumbnail_url", "video_url"] {
                    self.required(fields, key, at);
                }
                &[
                    "type",
                    "block_id",
                    "alt_text",
                    "author_name",
                    "description",
                    "provider_icon_url",
                    "provider_name",
                    "title",
                    "title_url",
                    "thumbnail_url",
                    "video_url",
                ]
            }
            other => {
                self.problem(format!("unsupported type: {other}"), &format!("{at}/type"));
                return;
            }
        };
        self.only_keys(fields, allowed, at);
    }

    fn section(&mut self, fields: &Map<String, Value>, at: &str) {
        let text = fields.get("text");
        let columns = fields.get("fields");
        if text.is_none() && columns.is_none() {
            self.problem("must provide either text or fields", at);
        }
        if let Some(text) = text {
            self.text_object(text, &format!("{at}/text"), TextKind::PlainOrMrkdwn, 3000);
        }
        if let Some(columns) = columns {
            let columns_at = format!("{at}/fields");
            if let Some(columns) = self.array(columns, &columns_at, 1, 10) {
                for (index, column) in columns.iter().enumerate() {
                    self.text_object(
                        column,
                        &format!("{columns_at}/{index}"),
                        TextKind::PlainOrMrkdwn,
                        2000,
                    );
                }
            }
        }
        if let Some(expand) = fields.get("expand") {
            if !expand.is_boolean() {
                self.problem("must provide a boolean", &format!("{at}/expand"));
            }
        }
        if let Some(accessory) = fields.get("accessory") {
            let accessory_at = format!("{at}/accessory");
            if accessory.get("type").and_then(Value::as_str) == Some("image") {
                self.image(accessory, &accessory_at, false);
            } else {
                self.interactive_element(accessory, &accessory_at, ACTIONS_ELEMENTS);
            }
        }
    }

    /// An image block (`as_block`) or an image element (context, accessory).
    fn image(&mut self, image: &Value, at: &str, as_block: bool) {
        let Some(fields) = self.object(image, at) else {
            return;
        };
        match (fields.get("image_url"), fields.get("slack_file")) {
            (Some(url), None) => {
                self.string(url, &format!("{at}/image_url"), 1, 3000);
            }
            (None, Some(_)) => {}
            _ => self.problem("must provide exactly one of image_url or slack_file", at),
        }
        if let Some(alt) = self.required(fields, "alt_text", at) {
            self.string(alt, &format!("{at}/alt_text"), 1, 2000);
        }
        let mut allowed = vec!["type", "image_url", "slack_file", "alt_text"];
        if as_block {
            if let Some(title) = fields.get("title") {
                self.text_object(title, &format!("{at}/title"), TextKind::PlainOnly, 2000);
            }
            allowed.extend(["block_id", "title"]);
        }
        self.only_keys(fields, &allowed, at);
    }

    fn interactive_element(&mut self, element: &Value, at: &str, allowed_types: &[&str]) {
        let Some(fields) = self.object(element, at) else {
            return;
        };
        let Some(kind) = self.required_string(fields, "type", at) else {
            return;
        };
        if !allowed_types.contains(&kind) {
            self.problem(format!("unsupported type: {kind}"), &format!("{at}/type"));
            return;
        }
        if let Some(action_id) = fields.get("action_id") {
            self.string(action_id, &format!("{at}/action_id"), 1, 255);
        }
        if kind != "button" {
            // Elements the bot does not send are checked for their type and action_id only.
            return;
        }
        if let Some(text) = self.required(fields, "text", at) {
            self.text_object(text, &format!("{at}/text"), TextKind::PlainOnly, 75);
        }
        if let Some(value) = fields.get("value") {
            self.string(value, &format!("{at}/value"), 1, 2000);
        }
        if let Some(url) = fields.get("url") {
            self.string(url, &format!("{at}/url"), 1, 3000);
        }
        if let Some(label) = fields.get("accessibility_label") {
            self.string(label, &format!("{at}/accessibility_label"), 1, 75);
        }
        if let Some(style) = fields.get("style") {
            if !matches!(style.as_str(), Some("primary" | "danger")) {
                self.problem(
                    format!("must be one of primary, danger, not {style}"),
                    &format!("{at}/style"),
                );
            }
        }
        if let Some(confirm) = fields.get("confirm") {
            self.confirm(confirm, &format!("{at}/confirm"));
        }
        self.only_keys(
            fields,
            &[
                "type",
                "text",
                "action_id",
                "url",
                "value",
                "style",
                "confirm",
                "accessibility_label",
            ],
            at,
        );
    }

    fn confirm(&mut self, confirm: &Value, at: &str) {
        let Some(fields) = self.object(confirm, at) else {
            return;
        };
        let parts = [
            ("title", TextKind::PlainOnly, 100),
            ("text", TextKind::PlainOrMrkdwn, 300),
            ("confirm", TextKind::PlainOnly, 30),
            ("deny", TextKind::PlainOnly, 30),
        ];
        for (key, kind, max) in parts {
            if let Some(part) = self.required(fields, key, at) {
                self.text_object(part, &format!("{at}/{key}"), kind, max);
            }
        }
        if let Some(style) = fields.get("style") {
            if !matches!(style.as_str(), Some("primary" | "danger")) {
                self.problem("must be one of primary, danger", &format!("{at}/style"));
            }
        }
        self.only_keys(fields, &["title", "text", "confirm", "deny", "style"], at);
    }

    fn text_object(&mut self, value: &Value, at: &str, kind: TextKind, max: usize) {
        let Some(fields) = self.object(value, at) else {
            return;
        };
        let Some(text_type) = self.required_string(fields, "type", at) else {
            return;
        };
        let allowed: &[&str] = match (text_type, kind) {
            ("plain_text", _) => &["type", "text", "emoji"],
            ("mrkdwn", TextKind::PlainOrMrkdwn) => &["type", "text", "verbatim"],
            ("mrkdwn", TextKind::PlainOnly) => {
                self.problem(
                    "must be a plain_text text object, not mrkdwn",
                    &format!("{at}/type"),
                );
                return;
            }
            (other, _) => {
                self.problem(format!("unsupported type: {other}"), &format!("{at}/type"));
                return;
            }
        };
        if let Some(text) = self.required(fields, "text", at) {
            self.string(text, &format!("{at}/text"), 1, max);
        }
        for flag in ["emoji", "verbatim"] {
            if let Some(value) = fields.get(flag) {
                if !value.is_boolean() {
                    self.problem("must provide a boolean", &format!("{at}/{flag}"));
                }
            }
        }
        self.only_keys(fields, allowed, at);
    }

    fn block_id(&mut self, fields: &Map<String, Value>, at: &str) {
        let Some(id) = fields.get("block_id") else {
            return;
        };
        let id_at = format!("{at}/block_id");
        if self.string(id, &id_at, 1, 255) {
            let id = id.as_str().unwrap_or_default().to_owned();
            if !self.block_ids.insert(id.clone()) {
                self.problem(format!("duplicate block_id: {id}"), &id_at);
            }
        }
    }

    fn object<'a>(&mut self, value: &'a Value, at: &str) -> Option<&'a Map<String, Value>> {
        let fields = value.as_object();
        if fields.is_none() {
            self.problem("must provide an object", at);
        }
        fields
    }

    fn array<'a>(
        &mut self,
        value: &'a Value,
        at: &str,
        min: usize,
        max: usize,
    ) -> Option<&'a Vec<Value>> {
        let Some(items) = value.as_array() else {
            self.problem("must provide an array", at);
            return None;
        };
        if items.len() < min {
            self.problem(format!("must provide at least {min} items"), at);
        }
        if items.len() > max {
            self.problem(format!("no more than {max} items allowed"), at);
        }
        Some(items)
    }

    fn required<'a>(
        &mut self,
        fields: &'a Map<String, Value>,
        key: &str,
        at: &str,
    ) -> Option<&'a Value> {
        let value = fields.get(key);
        if value.is_none() {
            self.problem(format!("missing required field: {key}"), at);
        }
        value
    }

    fn required_string<'a>(
        &mut self,
        fields: &'a Map<String, Value>,
        key: &str,
        at: &str,
    ) -> Option<&'a str> {
        let value = self.required(fields, key, at)?;
        let text = value.as_str();
        if text.is_none() {
            self.problem("must provide a string", &format!("{at}/{key}"));
        }
        text
    }

    /// A string of `min..=max` characters; false (with a problem) otherwise.
    fn string(&mut self, value: &Value, at: &str, min: usize, max: usize) -> bool {
        let Some(text) = value.as_str() else {
            self.problem("must provide a string", at);
            return false;
        };
        let length = text.chars().count();
        if length < min {
            self.problem(format!("must be more than {} characters", min - 1), at);
            return false;
        }
        if length > max {
            self.problem(format!("must be less than {} characters", max + 1), at);
            return false;
        }
        true
    }

    fn only_keys(&mut self, fields: &Map<String, Value>, allowed: &[&str], at: &str) {
        for key in fields.keys() {
            if !allowed.contains(&key.as_str()) {
                self.problem(format!("invalid additional property: {key}"), at);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Self-tests

/// A message using every block and element the bot's templates use, each at its limit.
fn valid_message_at_the_limits() -> Value {
    let mrkdwn = |text: String| json!({"type": "mrkdwn", "text": text});
    json!({
        "text": "t".repeat(MAX_MESSAGE_TEXT),
        "blocks": [
            {"type": "header", "block_id": "h".repeat(255),
             "text": {"type": "plain_text", "text": "h".repeat(150), "emoji": true}},
            {"type": "section", "text": mrkdwn("s".repeat(3000))},
            {"type": "section", "fields": (0..10).map(|_| mrkdwn("f".repeat(2000))).collect::<Vec<_>>()},
            {"type": "section", "text": {"type": "plain_text", "text": "plain"},
             "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": format!("https://{}", "u".repeat(2992))}},
            {"type": "divider"},
            {"type": "context", "elements": (0..10).map(|i| mrkdwn(format!("c{i}"))).collect::<Vec<_>>()},
            {"type": "actions", "block_id": "buttons", "elements": (0..25).map(|i| json!({
                "type": "button",
                "text": {"type": "plain_text", "text": "b".repeat(75)},
                "action_id": format!("{i}{}", "a".repeat(250)),
                "value": "v".repeat(2000),
                "style": if i % 2 == 0 { "primary" } else { "danger" },
            })).collect::<Vec<_>>()},
            {"type": "image", "image_url": "https://example.com/a.png", "alt_text": "a graph",
             "title": {"type": "plain_text", "text": "load"}},
        ],
    })
}

fn problems_of(message: &Value) -> Vec<String> {
    match check_message(message["text"].as_str(), message.get("blocks")) {
        Ok(()) => Vec::new(),
        Err(refusal) => {
            let mut lines = vec![refusal.error.to_owned()];
            lines.extend(refusal.messages);
            lines
        }
    }
}

#[test]
fn fake_slack_block_kit_takes_a_message_at_every_limit() {
    let message = valid_message_at_the_limits();
    assert_eq!(problems_of(&message), Vec::<String>::new());
    // The same blocks as JSON text, the way a form body carries them.
    let as_text = json!({"text": "t", "blocks": message["blocks"].to_string()});
    assert_eq!(problems_of(&as_text), Vec::<String>::new());
    assert_eq!(
        problems_of(&json!({"text": "no blocks"})),
        Vec::<String>::new()
    );
}

#[test]
fn fake_slack_block_kit_refuses_what_slack_refuses() {
    // (what is broken, the change to the valid message, a line the refusal must contain)
    type Breakage = fn(&mut Value);
    let cases: Vec<(&str, Breakage, &str)> = vec![
        ("unknown block type", |m| m["blocks"][4] = json!({"type": "banner"}), "unsupported type: banner [json-pointer:/blocks/4/type]"),
        ("section text too long", |m| m["blocks"][1]["text"]["text"] = json!("s".repeat(3001)), "must be less than 3001 characters [json-pointer:/blocks/1/text/text]"),
        ("empty section text", |m| m["blocks"][1]["text"]["text"] = json!(""), "must be more than 0 characters [json-pointer:/blocks/1/text/text]"),
        ("section without text or fields", |m| m["blocks"][1] = json!({"type": "section"}), "must provide either text or fields [json-pointer:/blocks/1]"),
        ("header too long", |m| m["blocks"][0]["text"]["text"] = json!("h".repeat(151)), "must be less than 151 characters [json-pointer:/blocks/0/text/text]"),
        ("mrkdwn header", |m| m["blocks"][0]["text"]["type"] = json!("mrkdwn"), "must be a plain_text text object, not mrkdwn [json-pointer:/blocks/0/text/type]"),
        ("emoji on mrkdwn", |m| m["blocks"][1]["text"]["emoji"] = json!(true), "invalid additional property: emoji [json-pointer:/blocks/1/text]"),
        ("eleven fields", |m| m["blocks"][2]["fields"].as_array_mut().unwrap().push(json!({"type": "mrkdwn", "text": "x"})), "no more than 10 items allowed [json-pointer:/blocks/2/fields]"),
        ("field too long", |m| m["blocks"][2]["fields"][3]["text"] = json!("f".repeat(2001)), "must be less than 2001 characters [json-pointer:/blocks/2/fields/3/text]"),
        ("eleven context elements", |m| m["blocks"][5]["elements"].as_array_mut().unwrap().push(json!({"type": "mrkdwn", "text": "x"})), "no more than 10 items allowed [json-pointer:/blocks/5/elements]"),
        ("empty context", |m| m["blocks"][5]["elements"] = json!([]), "must provide at least 1 items [json-pointer:/blocks/5/elements]"),
        ("26 buttons", |m| { let first = m["blocks"][6]["elements"][0].clone(); m["blocks"][6]["elements"].as_array_mut().unwrap().push(first) }, "no more than 25 items allowed [json-pointer:/blocks/6/elements]"),
        ("button text too long", |m| m["blocks"][6]["elements"][0]["text"]["text"] = json!("b".repeat(76)), "must be less than 76 characters [json-pointer:/blocks/6/elements/0/text/text]"),
        ("mrkdwn button text", |m| m["blocks"][6]["elements"][0]["text"]["type"] = json!("mrkdwn"), "must be a plain_text text object, not mrkdwn [json-pointer:/blocks/6/elements/0/text/type]"),
        ("action_id too long", |m| m["blocks"][6]["elements"][0]["action_id"] = json!("a".repeat(256)), "must be less than 256 characters [json-pointer:/blocks/6/elements/0/action_id]"),
        ("value too long", |m| m["blocks"][6]["elements"][0]["value"] = json!("v".repeat(2001)), "must be less than 2001 characters [json-pointer:/blocks/6/elements/0/value]"),
        ("url too long", |m| m["blocks"][3]["accessory"]["url"] = json!(format!("https://{}", "u".repeat(2993))), "must be less than 3001 characters [json-pointer:/blocks/3/accessory/url]"),
        ("unknown button style", |m| m["blocks"][6]["elements"][0]["style"] = json!("secondary"), "[json-pointer:/blocks/6/elements/0/style]"),
        ("button without text", |m| { m["blocks"][6]["elements"][0].as_object_mut().unwrap().remove("text"); }, "missing required field: text [json-pointer:/blocks/6/elements/0]"),
        ("block_id too long", |m| m["blocks"][0]["block_id"] = json!("h".repeat(256)), "must be less than 256 characters [json-pointer:/blocks/0/block_id]"),
        ("duplicate block_id", |m| m["blocks"][1]["block_id"] = json!("buttons"), "duplicate block_id: buttons [json-pointer:/blocks/6/block_id]"),
        ("additional property", |m| m["blocks"][4]["color"] = json!("red"), "invalid additional property: color [json-pointer:/blocks/4]"),
        ("image without alt_text", |m| { m["blocks"][7].as_object_mut().unwrap().remove("alt_text"); }, "missing required field: alt_text [json-pointer:/blocks/7]"),
        ("51 blocks", |m| { let divider = json!({"type": "divider"}); let blocks = m["blocks"].as_array_mut().unwrap(); while blocks.len() < 51 { blocks.push(divider.clone()) } }, "no more than 50 items allowed [json-pointer:/blocks]"),
        ("text too long", |m| m["text"] = json!("t".repeat(MAX_MESSAGE_TEXT + 1)), "msg_too_long"),
        ("blocks not JSON", |m| m["blocks"] = json!("[{\"type\":"), "invalid_blocks_format"),
        ("blocks not an array", |m| m["blocks"] = json!({"type": "divider"}), "invalid_blocks_format"),
    ];
    let mut failures = Vec::new();
    for (what, break_it, expected) in cases {
        let mut message = valid_message_at_the_limits();
        break_it(&mut message);
        let problems = problems_of(&message);
        if !problems.iter().any(|line| line.contains(expected)) {
            failures.push(format!("{what}: expected {expected:?} in {problems:?}"));
        }
        if expected.starts_with("[") || expected.contains("[json-pointer") {
            assert_eq!(
                problems.first().map(String::as_str),
                Some("invalid_blocks"),
                "{what}"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fake_slack_block_kit_checks_response_payloads() {
    assert!(check_response_payload(&json!({"response_type": "in_channel", "text": "ok"})).is_ok());
    let refused = check_response_payload(&json!({"response_type": "channel", "text": "x"}))
        .expect_err("an unknown response_type");
    assert_eq!(refused.error, "invalid_arguments");
    let refused = check_response_payload(&json!({
        "text": "x",
        "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "*x*"}}],
    }))
    .expect_err("a mrkdwn header");
    assert_eq!(
        refused.answer(),
        json!({"ok": false, "error": "invalid_blocks", "response_metadata": {"messages": [
            "[ERROR] must be a plain_text text object, not mrkdwn [json-pointer:/blocks/0/text/type]"
        ]}})
    );
}
