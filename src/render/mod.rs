//! render: outcomes → Slack Block Kit messages through the handlebars templates in
//! `commands/templates/` (one per message kind, `_name.hbs` files are partials).
//! Pure: no Slack transport, no store, no Terraform process here; callers fill the views.
//!
//! Templates write JSON. Every `{{value}}` goes through an escape function that makes it safe
//! inside a JSON string *and* inside Slack mrkdwn (`&`, `<`, `>` as entities), so quotes,
//! newlines, backticks and angle brackets in a value survive and show literally. `{{plain v}}`
//! escapes for JSON only, for `plain_text` objects (headers, buttons), which Slack shows as-is.
//! `{{mention id}}` turns a user or group ID into a Slack mention.
//!
//! Templates are compiled in strict mode at load, then each is rendered once with sample
//! views, so a missing field, a broken template or output that is not a Block Kit message is an
//! error naming the file at start-up (and in `loadtest-bot check`), not in the middle of a run.
//!
//! Two kinds of template: the messages the bot's own machinery sends (runs, warnings, load
//! tests…; [`TEMPLATE_NAMES`], each with a view type, its context function and fixed samples
//! here), and a verb's own answer: any other `<name>.hbs` in the directory, rendered with
//! whatever serialisable context the verb builds ([`Renderer::view`]) and checked at load
//! against the contexts in `<name>.samples.json` beside it. A verb's answer thus lives in its
//! verb file and its template, and nothing here changes for a new one.

mod context;
mod samples;
mod verb_templates;
pub mod views;

pub use crate::slack::Message;
pub use views::*;

use crate::masker::Masker;
use crate::model::RunOutcome;
use crate::slack::limits::enforce_limits;
use crate::slack::mrkdwn;
use handlebars::{Context, Handlebars, Helper, HelperResult, Output, RenderContext};
use serde_json::Value;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The message kinds the bot's own machinery renders, each by `commands/templates/<name>.hbs`
/// (the verbs' own templates are found in the directory).
pub const TEMPLATE_NAMES: &[&str] = &[
    "run_started",
    "progress",
    "succeeded",
    "failed",
    "no_changes",
    "cancelled",
    "timed_out",
    "interrupted",
    "awaiting_approval",
    "rejected",
    "status",
    "history",
    "help",
    "notice",
    "warning",
    "load_test",
];

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot read template directory {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template {} is missing", path.display())]
    Missing { path: PathBuf },
    #[error("template {} does not compile: {message}", path.display())]
    Compile { path: PathBuf, message: String },
    #[error("template {} failed to render: {message}", path.display())]
    Render { path: PathBuf, message: String },
    #[error("template {} did not produce a Block Kit message: {message}", path.display())]
    BadOutput { path: PathBuf, message: String },
}

pub struct Renderer {
    registry: Handlebars<'static>,
    dir: PathBuf,
    /// The verbs' own templates, each with the sample contexts of its `.samples.json`.
    verb_templates: Vec<verb_templates::VerbTemplate>,
    /// Applied to every rendered message, last, so nothing a template shows can leak a secret.
    masker: Option<Masker>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// Loads and compiles every template of [`TEMPLATE_NAMES`] (and the `_*.hbs` partials)
    /// from `dir`, then renders each once with sample views to prove it works.
    pub fn load(dir: &Path) -> Result<Renderer, RenderError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.set_prevent_indent(true);
        registry.register_escape_fn(escape_json_mrkdwn);
        registry.register_helper("plain", Box::new(plain_helper));
        registry.register_helper("mention", Box::new(mention_helper));

        let io_err = |source| RenderError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut partials: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io_err)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                name.starts_with('_') && name.ends_with(".hbs")
            })
            .collect();
        partials.sort();
        for path in partials {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .trim_start_matches('_')
                .to_string();
            let source = read_template(&path)?;
            registry
                .register_partial(&stem, source)
                .map_err(|e| RenderError::Compile {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
        }
        let verb_templates = verb_templates::find(dir)?;
        let names = TEMPLATE_NAMES
            .iter()
            .copied()
            .chain(verb_templates.iter().map(|t| t.name.as_str()));
        for name in names {
            let path = dir.join(format!("{name}.hbs"));
            let source = read_template(&path)?;
            registry
                .register_template_string(name, source)
                .map_err(|e| RenderError::Compile {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
        }
        let renderer = Renderer {
            registry,
            dir: dir.to_path_buf(),
            verb_templates,
            masker: None,
        };
        samples::render_all(&renderer)?;
        Ok(renderer)
    }

    /// Every template rendered with the fixed sample views (the fullest and the emptiest form
    /// of each view), named after its snapshot; what the tests hold against Slack's rules.
    pub fn sample_messages(&self) -> Result<Vec<(String, Message)>, RenderError> {
        samples::render_all(self)
    }

    /// A verb's own answer: `commands/templates/<name>.hbs` with the context the verb built.
    pub fn view<T: serde::Serialize>(
        &self,
        name: &str,
        context: &T,
    ) -> Result<Message, RenderError> {
        let context = serde_json::to_value(context).map_err(|e| RenderError::Render {
            path: self.template_path(name),
            message: e.to_string(),
        })?;
        self.render(name, context)
    }

    /// Masks every message rendered from now on: nothing leaves unmasked (fail closed).
    pub fn with_masker(mut self, masker: Masker) -> Renderer {
        self.masker = Some(masker);
        self
    }

    pub fn run_started(&self, view: &RunStartedView) -> Result<Message, RenderError> {
        self.render("run_started", context::run_started(view))
    }

    pub fn progress(&self, view: &ProgressView) -> Result<Message, RenderError> {
        self.render("progress", context::progress(view))
    }

    /// The final message of a run, by outcome. `Queued`/`Running` are not final: they render
    /// as interrupted, the honest word for a run that stopped without an outcome.
    pub fn finished(
        &self,
        outcome: RunOutcome,
        view: &FinishedView,
    ) -> Result<Message, RenderError> {
        let (name, outcome) = match outcome {
            RunOutcome::Succeeded => ("succeeded", outcome),
            RunOutcome::Failed => ("failed", outcome),
            RunOutcome::NoChanges => ("no_changes", outcome),
            RunOutcome::Cancelled => ("cancelled", outcome),
            RunOutcome::TimedOut => ("timed_out", outcome),
            RunOutcome::Rejected => {
                // A run rejected at approval: one line, like any other refusal.
                return self.render("rejected", context::rejected_run(view));
            }
            RunOutcome::Interrupted
            | RunOutcome::Queued
            | RunOutcome::Running
            | RunOutcome::AwaitingApproval => ("interrupted", RunOutcome::Interrupted),
        };
        self.render(name, context::finished(outcome, view))
    }

    pub fn succeeded(&self, view: &FinishedView) -> Result<Message, RenderError> {
        self.finished(RunOutcome::Succeeded, view)
    }
    pub fn failed(&self, view: &FinishedView) -> Result<Message, RenderError> {
        self.finished(RunOutcome::Failed, view)
    }
    pub fn no_changes(&self, view: &FinishedView) -> Result<Message, RenderError> {
        self.finished(RunOutcome::NoChanges, view)
    }
    pub fn cancelled(&self, view: &FinishedView) -> Result<Message, RenderError> {
        self.finished(RunOutcome::Cancelled, view)
    }
    pub fn timed_out(&self, view: &FinishedView) -> Result<Message, RenderError> {
        self.finished(RunOutcome::TimedOut, view)
    }
    pub fn interrupted(&self, view: &FinishedView) -> Result<Message, RenderError> {
        self.finished(RunOutcome::Interrupted, view)
    }

    pub fn awaiting_approval(&self, view: &ApprovalView) -> Result<Message, RenderError> {
        self.render("awaiting_approval", context::approval(view))
    }

    pub fn rejected(&self, view: &RejectedView) -> Result<Message, RenderError> {
        self.render("rejected", context::rejected(view))
    }

    pub fn status(&self, view: &StatusView) -> Result<Message, RenderError> {
        self.render("status", context::status(view))
    }

    pub fn history(&self, view: &HistoryView) -> Result<Message, RenderError> {
        self.render("history", context::history(view))
    }

    pub fn help(&self, view: &HelpView) -> Result<Message, RenderError> {
        self.render("help", context::help(view))
    }

    pub fn notice(&self, view: &NoticeView) -> Result<Message, RenderError> {
        self.render("notice", context::notice(view))
    }

    pub fn warning(&self, view: &WarningView) -> Result<Message, RenderError> {
        self.render("warning", context::warning(view))
    }

    pub fn load_test(&self, view: &LoadTestView) -> Result<Message, RenderError> {
        self.render("load_test", context::load_test(view))
    }

    /// The one render path: the template's JSON parsed, checked for Block Kit shape, cut to
    /// Slack's limits and masked.
    fn render(&self, name: &str, ctx: Value) -> Result<Message, RenderError> {
        let rendered = self.render_text(name, ctx)?;
        self.checked(name, &rendered)
    }

    /// The template's output: JSON text that should be a Block Kit message.
    fn render_text(&self, name: &str, ctx: Value) -> Result<String, RenderError> {
        // Owned into the context: `render(name, &ctx)` would copy the whole view first.
        self.registry
            .render_with_context(name, &Context::from(ctx))
            .map_err(|e| RenderError::Render {
                path: self.template_path(name),
                message: e.to_string(),
            })
    }

    /// The template's path, for errors only.
    fn template_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.hbs"))
    }

    /// The output parsed, checked for Block Kit shape, cut to Slack's limits and masked.
    fn checked(&self, name: &str, rendered: &str) -> Result<Message, RenderError> {
        let bad = |message: String| RenderError::BadOutput {
            path: self.template_path(name),
            message,
        };
        let mut value: Value = serde_json::from_str(rendered).map_err(|e| bad(e.to_string()))?;
        let text = match value.get_mut("text").map(Value::take) {
            Some(Value::String(text)) => text,
            _ => return Err(bad("no string `text`".into())),
        };
        let blocks = match value.get_mut("blocks").map(Value::take) {
            Some(Value::Array(blocks)) => blocks,
            _ => return Err(bad("no `blocks` array".into())),
        };
        if let Some(i) = blocks
            .iter()
            .position(|b| b.get("type").and_then(Value::as_str).is_none())
        {
            return Err(bad(format!("block {i} has no `type`")));
        }
        let mut msg = enforce_limits(Message { text, blocks });
        if let Some(masker) = &self.masker {
            if let Cow::Owned(masked) = masker.mask(&msg.text) {
                msg.text = masked;
            }
            msg.blocks
                .iter_mut()
                .for_each(|block| masker.mask_json_in_place(block));
        }
        Ok(msg)
    }
}

fn read_template(path: &Path) -> Result<String, RenderError> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => RenderError::Missing {
            path: path.to_path_buf(),
        },
        _ => RenderError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })
}

/// The inside of a JSON string literal holding `s` (no surrounding quotes).
pub(crate) fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default()
        .to_string()
}

/// The escape applied to every `{{value}}`.
fn escape_json_mrkdwn(s: &str) -> String {
    json_escape(&mrkdwn::escape(s))
}

fn param_str(h: &Helper<'_>) -> String {
    match h.param(0).map(|p| p.value()) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// `{{plain value}}`: JSON-escaped only, for `plain_text` objects.
fn plain_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    out.write(&json_escape(&param_str(h)))?;
    Ok(())
}

/// `{{mention id}}`: `<@U…>` for users, `<!subteam^S…>` for user groups, words for `*`,
/// escaped text for anything else (e.g. `scheduler`, `console`).
fn mention_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    out.write(&json_escape(&mrkdwn::mention(&param_str(h))))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EnvName, RunId, SlackUserId};
    use std::path::PathBuf;

    fn shipped() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("commands/templates")
    }

    fn renderer() -> Renderer {
        Renderer::load(&shipped()).expect("shipped templates load")
    }

    fn finished(
        destructive: Vec<DestructiveItem>,
        diagnostics: Vec<DiagnosticItem>,
    ) -> FinishedView {
        FinishedView {
            run: RunRef {
                run_id: RunId(7),
                env: EnvName::new("lt1"),
                verb: "off".into(),
                args: String::new(),
                actor: SlackUserId::new("U1ABC"),
                approved_by: None,
            },
            counts: Some(ChangeCounts {
                added: 0,
                changed: 0,
                destroyed: 10_000,
            }),
            duration: None,
            outputs: KeyOutputs::default(),
            plan: None,
            destructive,
            diagnostics,
            note: None,
            stopped_by: None,
            log_attached: false,
            state_unknown: false,
        }
    }

    /// A copy of the shipped templates with `edit` applied, and what loading it says.
    fn load_edited(edit: impl FnOnce(&Path)) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        for entry in std::fs::read_dir(shipped()).expect("templates") {
            let path = entry.expect("entry").path();
            // The templates and the verb templates' samples.
            if path.extension().is_some_and(|e| e == "hbs" || e == "json") {
                let name = path.file_name().expect("file name");
                std::fs::copy(&path, dir.path().join(name)).expect("copy");
            }
        }
        edit(dir.path());
        match Renderer::load(dir.path()) {
            Ok(_) => "loaded".to_string(),
            Err(e) => e
                .to_string()
                .replace(&dir.path().display().to_string(), "<dir>"),
        }
    }

    #[test]
    fn broken_or_missing_templates_are_errors_naming_the_file() {
        let write = |name: &'static str, text: &'static str| {
            move |dir: &Path| std::fs::write(dir.join(name), text).expect("write")
        };
        type Edit = Box<dyn FnOnce(&Path)>;
        let table: Vec<(Edit, &str)> = vec![
            (Box::new(|_: &Path| {}), "loaded"),
            (
                Box::new(|dir: &Path| std::fs::remove_file(dir.join("status.hbs")).expect("rm")),
                "template <dir>/status.hbs is missing",
            ),
            (
                Box::new(write("help.hbs", "{{#each chunks}}")),
                "template <dir>/help.hbs does not compile",
            ),
            (
                Box::new(write("sizes.hbs", r#"{"text": "{{no_such_field}}", "blocks": []}"#)),
                "template <dir>/sizes.hbs failed to render",
            ),
            (
                Box::new(|dir: &Path| {
                    std::fs::remove_file(dir.join("sizes.samples.json")).expect("rm")
                }),
                "template <dir>/sizes.samples.json is missing",
            ),
            (
                Box::new(write("history.hbs", r#"{"text": "x", "blocks": [{"type": "divider"},]}"#)),
                "template <dir>/history.hbs did not produce a Block Kit message",
            ),
            (
                Box::new(write("rejected.hbs", r#"{"text": "x", "blocks": [{"text": "no type"}]}"#)),
                "template <dir>/rejected.hbs did not produce a Block Kit message: block 0 has no `type`",
            ),
            (
                Box::new(write("_plan.hbs", "{{#if}")),
                "template <dir>/_plan.hbs does not compile",
            ),
        ];
        for (edit, expected) in table {
            let got = load_edited(edit);
            assert!(
                got.starts_with(expected),
                "got {got:?}, expected {expected:?}"
            );
        }
    }

    #[test]
    fn tricky_values_stay_valid_json_and_show_literally() {
        let tricky = "say \"hi\"\nnext `line` <b> & a\\b \u{1}";
        let view = finished(
            vec![DestructiveItem {
                address: "aws_instance.x[\"a&b\"]".into(),
                action: "destroy".into(),
                reason: Some(tricky.into()),
            }],
            vec![DiagnosticItem {
                severity: "error".into(),
                summary: tricky.into(),
                detail: tricky.into(),
                address: None,
            }],
        );
        let msg = renderer().failed(&view).expect("renders");
        // Slack receives mrkdwn with its three control characters as entities…
        let json = serde_json::to_string(&msg.blocks).expect("serialise");
        assert!(
            json.contains(r#"say \"hi\"\nnext `line` &lt;b&gt; &amp; a\\b \u0001"#),
            "{json}"
        );
        assert!(json.contains(r#"aws_instance.x[\"a&amp;b\"]"#), "{json}");
        // …and a person sees the value as it was.
        let console = crate::slack::block_text::to_console_text(&msg);
        assert!(
            console.contains("say \"hi\"\nnext `line` <b> & a\\b \u{1}"),
            "{console}"
        );
        assert!(
            console.contains("`aws_instance.x[\"a&b\"]` destroy"),
            "{console}"
        );
        assert!(msg
            .plain_text()
            .starts_with("[lt1] off: failed — 0 added, 0 changed, 10000 destroyed — say \"hi\""));
    }

    #[test]
    fn ten_thousand_destroyed_resources_are_cut_with_a_count() {
        let items: Vec<DestructiveItem> = (0..10_000)
            .map(|i| DestructiveItem {
                address: format!("module.jmeter.aws_instance.slave[{i}]"),
                action: "destroy".into(),
                reason: Some("count reduced".into()),
            })
            .collect();
        let diagnostics = (0..30)
            .map(|i| DiagnosticItem {
                severity: "warning".into(),
                summary: format!("warning {i}"),
                detail: "d".repeat(2000),
                address: None,
            })
            .collect();
        let msg = renderer()
            .succeeded(&finished(items, diagnostics))
            .expect("renders");
        let blocks = &msg.blocks;
        assert!(blocks.len() <= crate::slack::limits::MAX_BLOCKS);
        let mut total = 0;
        for block in blocks.iter() {
            if let Some(text) = block.pointer("/text/text").and_then(Value::as_str) {
                assert!(text.chars().count() <= crate::slack::limits::MAX_SECTION_TEXT);
                total += text.chars().count();
            }
        }
        assert!(total <= crate::slack::limits::MAX_TOTAL_TEXT, "{total}");
        let list = blocks
            .iter()
            .filter_map(|b| b.pointer("/text/text").and_then(Value::as_str))
            .find(|t| t.contains("Destroyed or replaced (10000)"))
            .expect("warning block present");
        let shown = list.lines().filter(|l| l.starts_with("• ")).count();
        assert!(shown > 10, "only {shown} shown");
        assert!(
            list.ends_with(&format!(
                "… and {} more resources not shown",
                10_000 - shown
            )),
            "{}",
            list.lines().last().unwrap_or_default()
        );
        let console = crate::slack::block_text::to_console_text(&msg);
        // 30 long diagnostics: 10 kept by the renderer, then the text budget cuts further and
        // says so.
        assert!(
            console.contains("more blocks not shown (message too long)"),
            "{console}"
        );
    }

    #[test]
    fn masker_hides_secrets_in_rendered_messages() {
        let masker = Masker::new(vec!["sup3r-secret-pw".into()], Vec::new()).unwrap();
        let renderer = renderer().with_masker(masker);
        let view = finished(
            Vec::new(),
            vec![DiagnosticItem {
                severity: "error".into(),
                summary: "bad password sup3r-secret-pw".into(),
                detail: "key AKIAABCDEFGHIJKLMNOP rejected".into(),
                address: None,
            }],
        );
        let msg = renderer.failed(&view).expect("renders");
        let all = format!(
            "{} {}",
            msg.text,
            serde_json::to_string(&msg.blocks).expect("json")
        );
        assert!(
            !all.contains("sup3r-secret-pw") && !all.contains("AKIAABCDEFGHIJKLMNOP"),
            "{all}"
        );
        assert!(
            all.contains("bad password ***") && all.contains("key *** rejected"),
            "{all}"
        );
    }
}
