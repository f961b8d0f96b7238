//! Property tests standing in for `cargo fuzz` (which needs a nightly toolchain this project
//! does not use): seeded random inputs — random bytes, and mutations of valid commands, Slack
//! payloads and Terraform JSON lines — thrown at the three decoders that see untrusted text:
//! the command parser, the Slack payload decoders and the Terraform event reader. Properties:
//! no panic, and what is accepted is well-formed (a parsed command re-parses to itself from
//! its canonical text; a decoded id has Slack's shape). Seeds are fixed, so a failure
//! reproduces; `LOADTEST_FUZZ_CASES` raises the count for a longer local run.

#![cfg(test)]

use crate::command::{parse, ParseContext};
use crate::model::{EnvName, SizeName};
use crate::slack::inbound;
use crate::terraform::events::parse_line;
use serde_json::json;
use std::time::Duration;

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn cases() -> usize {
    std::env::var("LOADTEST_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

const WORDS: &[&str] = &[
    "up",
    "down",
    "off",
    "plan",
    "status",
    "history",
    "extend",
    "hold",
    "schedule",
    "cancel",
    "approve",
    "reject",
    "unlock",
    "sizes",
    "help",
    "small",
    "medium",
    "large",
    "for",
    "3h",
    "90m",
    "1h30m",
    "0s",
    "999999h",
    "env=lt1",
    "env=",
    "env=../etc",
    "#12",
    "12",
    "-1",
    "/loadtest",
    "-var",
    "-chdir=/",
    ";",
    "&&",
    "$(id)",
    "`id`",
    "|",
    ">",
    "'",
    "\"",
    "\\",
    "\u{202e}",
    "\u{200b}",
    "ｕｐ",
    "uр",
    "\u{0}",
    "\t",
    "\n",
    "🙂",
    "off",
    "large",
    "x",
];

/// A chat text: words of the command language mixed with hostile pieces and random bytes.
fn random_text(rng: &mut Rng) -> String {
    let mut text = String::new();
    for _ in 0..rng.below(8) {
        if rng.below(5) == 0 {
            let bytes: Vec<u8> = (0..rng.below(12)).map(|_| rng.next() as u8).collect();
            text.push_str(&String::from_utf8_lossy(&bytes));
        } else {
            text.push_str(rng.pick(WORDS));
        }
        if rng.below(4) != 0 {
            text.push(' ');
        }
    }
    text
}

fn context() -> ParseContext {
    ParseContext {
        sizes: ["down", "small", "medium", "large", "off"]
            .into_iter()
            .map(SizeName::new)
            .collect(),
        envs: vec![EnvName::new("lt1"), EnvName::new("lt2")],
        max_lease: Duration::from_secs(24 * 3600),
    }
}

#[test]
fn the_parser_never_panics_and_accepted_commands_reparse_to_themselves() {
    let ctx = context();
    let mut rng = Rng(0x5EED_0001);
    let mut accepted = 0;
    for _ in 0..cases() {
        let text = random_text(&mut rng);
        if let Ok(command) = parse(&text, &ctx) {
            accepted += 1;
            let canonical = match &command.env {
                Some(env) => format!("{} env={env}", command.verb.display_text()),
                None => command.verb.display_text(),
            };
            let again = parse(&canonical, &ctx)
                .unwrap_or_else(|e| panic!("{text:?} → {canonical:?} no longer parses: {e}"));
            assert_eq!(again, command, "{text:?} → {canonical:?}");
        }
    }
    // The generator must reach the accepting paths too, or the round trip proves nothing.
    assert!(accepted > 100, "only {accepted} accepted inputs");
}

fn mutate(rng: &mut Rng, valid: &str) -> String {
    let mut bytes = valid.as_bytes().to_vec();
    for _ in 0..=rng.below(6) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(4) {
            0 => bytes[at] = rng.next() as u8,
            1 => {
                bytes.remove(at);
            }
            2 => bytes.insert(at, b"{}[]\":,%&=+\\"[rng.below(12)]),
            _ => bytes.truncate(at),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn form_of(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

#[test]
fn the_slack_decoders_never_panic_and_only_accept_slack_shaped_ids() {
    let mut rng = Rng(0x5EED_0002);
    let slash = form_of(&[
        ("team_id", "T1"),
        ("channel_id", "C0LT1"),
        ("user_id", "U0ALICE"),
        ("command", "/loadtest"),
        ("text", "up large for 3h"),
    ]);
    let click = json!({
        "type": "block_actions", "user": {"id": "U0BOB"},
        "container": {"type": "message", "message_ts": "1.2", "channel_id": "C0LT1"},
        "channel": {"id": "C0LT1"}, "message": {"ts": "1.2", "text": "t", "blocks": []},
        "actions": [{"type": "button", "action_id": "approve", "value": "12"}]
    })
    .to_string();
    let click_form = form_of(&[("payload", &click)]);
    let event = json!({"type": "event_callback", "event": {
        "type": "app_mention", "user": "U0ALICE", "channel": "C0LT1", "text": "<@U0BOT> status"}})
    .to_string();
    let id_shaped = |id: &str| {
        id.len() >= 2
            && id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    for _ in 0..cases() {
        let raw: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
        let raw_text = String::from_utf8_lossy(&raw).into_owned();
        for body in [mutate(&mut rng, &slash), raw_text.clone()] {
            if let Ok(command) = inbound::slash_command_from_form(&body) {
                assert!(
                    id_shaped(&command.user) && id_shaped(&command.channel),
                    "{body:?}"
                );
            }
        }
        for body in [mutate(&mut rng, &click_form), raw_text.clone()] {
            if let Ok(Some(click)) = inbound::button_click_from_form(&body) {
                assert!(
                    id_shaped(&click.user) && id_shaped(&click.channel),
                    "{body:?}"
                );
            }
        }
        let mutated_click = mutate(&mut rng, &click);
        if let Ok(value) = serde_json::from_str(&mutated_click) {
            let _ = inbound::button_click(&value);
        }
        for body in [mutate(&mut rng, &event), raw_text] {
            if let Ok(inbound::EventBody::Mention(mention)) = inbound::event_body(body.as_bytes()) {
                assert!(id_shaped(&mention.user), "{body:?}");
            }
        }
    }
}

#[test]
fn the_terraform_event_reader_never_panics_on_mangled_lines() {
    let mut rng = Rng(0x5EED_0003);
    let lines = [
        r#"{"@level":"info","@message":"Apply complete! Resources: 1 added, 0 changed, 0 destroyed.","type":"change_summary","changes":{"add":1,"change":0,"remove":0,"operation":"apply"}}"#,
        r#"{"@level":"info","type":"apply_complete","hook":{"resource":{"addr":"aws_instance.master","resource_type":"aws_instance","resource_name":"master"},"action":"create","elapsed_seconds":12}}"#,
        r#"{"@level":"error","type":"diagnostic","diagnostic":{"severity":"error","summary":"Error acquiring the state lock","detail":"Lock Info:\n  ID: 1234"}}"#,
        r#"{"@level":"info","type":"planned_change","change":{"resource":{"addr":"module.jmeter.aws_autoscaling_group.slaves"},"action":"update"}}"#,
        r#"{"@level":"info","type":"outputs","outputs":{"master_ip":{"sensitive":false,"type":"string","value":"10.0.0.1"}}}"#,
    ];
    for _ in 0..cases() {
        let valid = lines[rng.below(lines.len())];
        let line = mutate(&mut rng, valid);
        let _ = parse_line(&line);
        let raw: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
        let _ = parse_line(&String::from_utf8_lossy(&raw));
        let _ = crate::terraform::events::state_lock_info(&line);
    }
}

#[test]
fn the_maskers_clean_text_shortcut_never_changes_an_answer() {
    let mut rng = Rng(0x5EED_0004);
    let secrets = [
        "hunter2-secret",
        "p@ss\"word\\x",
        "s3cr3t-value",
        "日本語の秘密です",
    ];
    let patterns = [
        r"(?i)internal-[a-z]{4}",
        r"^anchored\d+$",
        r"(?x) tok \d{3}",
    ]
    .into_iter()
    .map(|p| regex::Regex::new(p).unwrap())
    .collect();
    let masker =
        crate::masker::Masker::new(secrets.iter().map(|s| s.to_string()).collect(), patterns)
            .expect("masker");
    let pieces = [
        "AKIAABCDEFGHIJKLMNOP",
        "xoxb-123-abc",
        "xapp-1-A",
        "AWS_SECRET_ACCESS_KEY = abc",
        "Internal-ABCD",
        "anchored42",
        "tok123",
        "p@ss\\\"word\\\\x",
    ];
    for _ in 0..cases() {
        let mut text = random_text(&mut rng);
        for _ in 0..rng.below(3) {
            let piece = if rng.below(2) == 0 {
                rng.pick(&secrets)
            } else {
                rng.pick(&pieces)
            };
            let at = (0..=text.len())
                .filter(|i| text.is_char_boundary(*i))
                .nth(rng.below(text.len() + 1))
                .unwrap_or(text.len());
            text.insert_str(at, piece);
        }
        assert_eq!(
            masker.mask(&text),
            masker.mask_every_pattern(&text),
            "{text:?}"
        );
    }
}
