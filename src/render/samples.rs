//! Fixed sample views of the bot's own messages (a verb's template has its samples in its
//! `.samples.json` instead): rendered once per template at load (so a template that references a
//! missing field or emits bad JSON fails at start-up, naming its file) and snapshot-tested
//! against `tests/fixtures/render/*.txt`. Both the fullest and the emptiest form of each view
//! are rendered so every template branch is exercised.

use super::views::*;
use super::{Message, RenderError, Renderer};
use crate::model::{EnvName, RunId, RunOutcome, SlackUserId};

fn run() -> RunRef {
    RunRef {
        run_id: RunId(41),
        env: EnvName::new("lt1"),
        verb: "up".into(),
        args: "large for 3h".into(),
        actor: SlackUserId::new("U024BE7LH"),
        approved_by: None,
    }
}

fn outputs() -> KeyOutputs {
    KeyOutputs {
        master_ip: Some("10.20.1.15".into()),
        grafana_url: Some("http://10.20.2.7:3000".into()),
        kibana_url: Some("http://10.20.2.8:5601".into()),
        lease_backstop_at: Some("2024-05-01T14:00:00Z".into()),
        backstop: Some("slaves → 0 at 2024-05-01 23:00 JST".into()),
        readiness: Some("master ✓, 20/20 slaves ✓, grafana ✓, prometheus ✓".into()),
    }
}

fn plan() -> PlanView {
    PlanView {
        add: 21,
        change: 1,
        destroy: 1,
        replace: 1,
        groups: vec![
            PlanGroup {
                module: "module.jmeter".into(),
                resource_type: "aws_instance".into(),
                add: 1,
                change: 0,
                destroy: 0,
                replace: 1,
            },
            PlanGroup {
                module: "module.jmeter".into(),
                resource_type: "aws_launch_template".into(),
                add: 20,
                change: 1,
                destroy: 0,
                replace: 0,
            },
            PlanGroup {
                module: "module.monitoring".into(),
                resource_type: "aws_instance".into(),
                add: 0,
                change: 0,
                destroy: 1,
                replace: 0,
            },
        ],
    }
}

fn destructive() -> Vec<DestructiveItem> {
    vec![
        DestructiveItem {
            address: "module.jmeter.aws_instance.master".into(),
            action: "replace".into(),
            reason: Some("a changed argument forces replacement".into()),
        },
        DestructiveItem {
            address: "module.monitoring.aws_instance.elasticsearch[0]".into(),
            action: "destroy".into(),
            reason: None,
        },
    ]
}

fn finished_full() -> FinishedView {
    FinishedView {
        run: run(),
        counts: Some(ChangeCounts {
            added: 21,
            changed: 1,
            destroyed: 2,
        }),
        duration: Some("6m42s".into()),
        outputs: outputs(),
        plan: Some(plan()),
        destructive: destructive(),
        diagnostics: vec![
            DiagnosticItem {
                severity: "error".into(),
                summary: "Error creating Auto Scaling Group".into(),
                detail:
                    "ValidationError: Max bound, 20, must be greater than or equal to min bound, 21"
                        .into(),
                address: Some("module.jmeter.aws_autoscaling_group.slaves".into()),
            },
            DiagnosticItem {
                severity: "warning".into(),
                summary: "Argument is deprecated".into(),
                detail: String::new(),
                address: None,
            },
        ],
        note: Some("lease ends 2024-05-01 18:00 JST".into()),
        stopped_by: None,
        log_attached: true,
        state_unknown: false,
    }
}

fn finished_min() -> FinishedView {
    FinishedView {
        run: RunRef {
            verb: "down".into(),
            args: String::new(),
            actor: SlackUserId::new("scheduler"),
            approved_by: None,
            ..run()
        },
        counts: None,
        duration: None,
        outputs: KeyOutputs::default(),
        plan: None,
        destructive: Vec::new(),
        diagnostics: Vec::new(),
        note: None,
        stopped_by: None,
        log_attached: false,
        state_unknown: false,
    }
}

fn history_rows() -> Vec<HistoryRow> {
    vec![
        HistoryRow {
            run_id: RunId(41),
            actor: SlackUserId::new("U024BE7LH"),
            command: "up large for 3h".into(),
            when: "2024-05-01 15:02 JST".into(),
            outcome: RunOutcome::Succeeded,
            counts: Some(ChangeCounts {
                added: 21,
                changed: 1,
                destroyed: 2,
            }),
            duration: Some("6m42s".into()),
            delivery: Some("not delivered: not_in_channel".into()),
        },
        HistoryRow {
            run_id: RunId(40),
            actor: SlackUserId::new("scheduler"),
            command: "down".into(),
            when: "2024-04-30 22:00 JST".into(),
            outcome: RunOutcome::NoChanges,
            counts: None,
            duration: Some("41s".into()),
            delivery: None,
        },
        HistoryRow {
            run_id: RunId(39),
            actor: SlackUserId::new("U0G9QF9C6"),
            command: "up medium".into(),
            when: "2024-04-30 10:11 JST".into(),
            outcome: RunOutcome::Failed,
            counts: None,
            duration: None,
            delivery: None,
        },
    ]
}

/// Every sample message, named as its snapshot file (`tests/fixtures/render/<name>.txt`).
/// Every sample: the fixed views of the bot's own messages, then each verb template's
/// contexts from its `.samples.json`.
pub(super) fn render_all(r: &Renderer) -> Result<Vec<(String, Message)>, RenderError> {
    let mut all: Vec<(String, Message)> = fixed(r)?
        .into_iter()
        .map(|(name, message)| (name.to_string(), message))
        .collect();
    for template in &r.verb_templates {
        for (name, context) in &template.samples {
            all.push((name.clone(), r.render(&template.name, context.clone())?));
        }
    }
    Ok(all)
}

fn fixed(r: &Renderer) -> Result<Vec<(&'static str, Message)>, RenderError> {
    let plan_only = FinishedView {
        run: RunRef {
            verb: "plan".into(),
            args: "large".into(),
            ..run()
        },
        counts: None,
        duration: Some("38s".into()),
        outputs: KeyOutputs::default(),
        plan: Some(plan()),
        destructive: destructive(),
        diagnostics: Vec::new(),
        note: None,
        stopped_by: None,
        log_attached: false,
        state_unknown: false,
    };
    let cancelled = FinishedView {
        counts: None,
        diagnostics: Vec::new(),
        note: Some("Terraform stopped during apply after SIGINT.".into()),
        stopped_by: Some(SlackUserId::new("U0G9QF9C6")),
        ..finished_full()
    };
    let full_status = StatusView {
        env: EnvName::new("lt1"),
        size: Some("large".into()),
        master: Some("running (c5.xlarge)".into()),
        slave_count: Some(20),
        monitoring: Some("full".into()),
        outputs: outputs(),
        lease_end: Some("2024-05-01 18:02 JST (in 2h 51m)".into()),
        next_action: Some("down at 2024-05-01 22:00 JST (nightly-down)".into()),
        holds: vec!["until 2024-05-02 09:00 JST by U0G9QF9C6".into()],
        jobs: vec![
            JobView {
                run_id: RunId(42),
                command: "up medium".into(),
                actor: SlackUserId::new("U0G9QF9C6"),
                state: "running (apply)".into(),
                done: Some(12),
                total: Some(30),
            },
            JobView {
                run_id: RunId(43),
                command: "down".into(),
                actor: SlackUserId::new("scheduler"),
                state: "queued (position 1)".into(),
                done: None,
                total: None,
            },
        ],
        last_run: history_rows().into_iter().next(),
        est_hourly_usd: Some(14.6),
        load_test: Some("#7 `smoke.jmx threads=50 duration=30m` by <@U0G9QF9C6>: running since 2024-05-01 15:20 JST".into()),
    };
    let empty_status = StatusView {
        env: EnvName::new("lt2"),
        size: None,
        master: None,
        slave_count: None,
        monitoring: None,
        outputs: KeyOutputs::default(),
        lease_end: None,
        next_action: None,
        holds: Vec::new(),
        jobs: Vec::new(),
        last_run: None,
        est_hourly_usd: None,
        load_test: None,
    };
    Ok(vec![
        (
            "run_started",
            r.run_started(&RunStartedView {
                run: run(),
                queue_position: None,
                size_description: Some("20 slaves, c5.xlarge, full monitoring".into()),
            })?,
        ),
        (
            "run_started_queued",
            r.run_started(&RunStartedView {
                run: finished_min().run,
                queue_position: Some(2),
                size_description: None,
            })?,
        ),
        (
            "progress",
            r.progress(&ProgressView {
                run: run(),
                phase: "apply".into(),
                done: 12,
                total: 30,
                current: Some("module.jmeter.aws_autoscaling_group.slaves".into()),
                elapsed: Some("3m10s".into()),
            })?,
        ),
        (
            "progress_init",
            r.progress(&ProgressView {
                run: finished_min().run,
                phase: "init".into(),
                done: 0,
                total: 0,
                current: None,
                elapsed: None,
            })?,
        ),
        ("succeeded", r.succeeded(&finished_full())?),
        ("succeeded_plan", r.succeeded(&plan_only)?),
        ("succeeded_min", r.succeeded(&finished_min())?),
        ("failed", r.failed(&finished_full())?),
        ("failed_min", r.failed(&finished_min())?),
        ("no_changes", r.no_changes(&finished_min())?),
        ("no_changes_full", r.no_changes(&finished_full())?),
        ("cancelled", r.cancelled(&cancelled)?),
        ("cancelled_min", r.cancelled(&finished_min())?),
        ("timed_out", r.timed_out(&finished_full())?),
        ("timed_out_min", r.timed_out(&finished_min())?),
        ("interrupted", r.interrupted(&finished_full())?),
        ("interrupted_min", r.interrupted(&finished_min())?),
        (
            "awaiting_approval",
            r.awaiting_approval(&ApprovalView {
                run: run(),
                plan: plan(),
                destructive: destructive(),
                approvers: vec![SlackUserId::new("U0G9QF9C6"), SlackUserId::new("S0614TZR7")],
                expires: Some("2024-05-01 15:32 JST".into()),
            })?,
        ),
        (
            "awaiting_approval_min",
            r.awaiting_approval(&ApprovalView {
                run: finished_min().run,
                plan: PlanView::default(),
                destructive: Vec::new(),
                approvers: Vec::new(),
                expires: None,
            })?,
        ),
        (
            "rejected_run",
            r.finished(
                RunOutcome::Rejected,
                &FinishedView {
                    stopped_by: Some(SlackUserId::new("U0G9QF9C6")),
                    ..finished_min()
                },
            )?,
        ),
        (
            "rejected",
            r.rejected(&RejectedView {
                env: Some(EnvName::new("lt1")),
                command: "up lage".into(),
                reason: "unknown size \"lage\"; did you mean \"large\"?".into(),
            })?,
        ),
        (
            "rejected_no_env",
            r.rejected(&RejectedView {
                env: None,
                command: "luanch\tnow\n".into(),
                reason: "unknown command \"luanch\"; did you mean \"launch\"? Try `help`.".into(),
            })?,
        ),
        ("status", r.status(&full_status)?),
        ("status_empty", r.status(&empty_status)?),
        (
            "history",
            r.history(&HistoryView {
                env: EnvName::new("lt1"),
                rows: history_rows(),
                tests: vec![
                    "test #7 2024-05-01 15:50 JST · <@U0G9QF9C6> · `smoke.jmx threads=50 duration=30m`: *finished* ✓ 12,345 samples, 0.21 % errors, p95 184 ms".into(),
                ],
            })?,
        ),
        (
            "history_empty",
            r.history(&HistoryView {
                env: EnvName::new("lt2"),
                rows: Vec::new(),
                tests: Vec::new(),
            })?,
        ),
        (
            "help",
            r.help(&HelpView {
                text: "up <size> [for <duration>]  scale to <size>\ndown                        apply the `down` set\nstatus                      what runs & what it costs".into(),
            })?,
        ),
        (
            "warning",
            r.warning(&WarningView {
                env: EnvName::new("lt1"),
                action: "down".into(),
                when: "2026-03-05 22:00 JST".into(),
                why: "the schedule `nightly-down`".into(),
                keep_extends_lease: false,
            })?,
        ),
        (
            "load_test_running",
            r.load_test(&LoadTestView {
                env: EnvName::new("lt1"),
                text: "*[lt1] test #7* `smoke.jmx threads=50 duration=30m` by <@U1>: running, 12m of 30m (18m left)\nthroughput 412.5/s · errors 0.21 % · p95 184 ms · 50 threads".into(),
                stop_button: true,
                keep_button: true,
            })?,
        ),
        (
            "load_test_done",
            r.load_test(&LoadTestView {
                env: EnvName::new("lt1"),
                text: "*[lt1] test #7 finished* `smoke.jmx`: 12,345 samples, 0.21 % errors (threshold 1 %) ✓".into(),
                stop_button: false,
                keep_button: false,
            })?,
        ),
        (
            "notice",
            r.notice(&NoticeView {
                text: "[lt1] up large for 3h: run #42 queued, position 2\n`cancel` removes it <before> it starts & \"quotes\" stay".into(),
            })?,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::block_text::to_console_text;
    use serde_json::Value;
    use std::path::PathBuf;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    pub(crate) fn renderer() -> Renderer {
        Renderer::load(&root().join("commands/templates")).expect("shipped templates load")
    }

    /// What a snapshot file holds: the top-level text, then the console rendering.
    fn snapshot(msg: &Message) -> String {
        format!("text: {}\n\n{}", msg.plain_text(), to_console_text(msg))
    }

    /// Compares each sample with `tests/fixtures/render/<name>.txt`.
    /// `UPDATE_SNAPSHOTS=1 cargo test --lib render::` rewrites them (then read the diff).
    #[test]
    fn rendered_messages_match_snapshots() {
        let dir = root().join("tests/fixtures/render");
        let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
        let mut mismatches = Vec::new();
        for (name, msg) in render_all(&renderer()).expect("samples render") {
            let path = dir.join(format!("{name}.txt"));
            let actual = snapshot(&msg);
            if update {
                std::fs::create_dir_all(&dir).expect("fixture dir");
                std::fs::write(&path, &actual).expect("write snapshot");
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(expected) if expected == actual => {}
                Ok(expected) => mismatches.push(format!(
                    "{name}:\n--- expected\n{expected}\n--- actual\n{actual}"
                )),
                Err(_) => mismatches.push(format!("{name}: no snapshot at {}", path.display())),
            }
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[test]
    fn every_message_has_block_kit_shape() {
        for (name, msg) in render_all(&renderer()).expect("samples render") {
            assert!(!msg.text.is_empty(), "{name}: empty text");
            assert!(!msg.blocks.is_empty(), "{name}: no blocks");
            for block in &msg.blocks {
                let kind = block.get("type").and_then(Value::as_str);
                assert!(kind.is_some(), "{name}: block without type: {block}");
                for text in ["text", "fields", "elements"] {
                    if let Some(Value::Array(items)) = block.get(text) {
                        assert!(!items.is_empty(), "{name}: empty {text} in {block}");
                    }
                }
                if let Some(obj) = block.get("text") {
                    let t = obj.get("type").and_then(Value::as_str);
                    assert!(
                        matches!(t, Some("mrkdwn" | "plain_text")),
                        "{name}: {block}"
                    );
                    let s = obj.get("text").and_then(Value::as_str).unwrap_or_default();
                    assert!(!s.is_empty(), "{name}: empty text object in {block}");
                }
            }
        }
    }

    #[test]
    fn run_messages_begin_with_env_verb_args_and_outcome() {
        let messages: std::collections::HashMap<_, _> = render_all(&renderer())
            .expect("samples render")
            .into_iter()
            .collect();
        let table = [
            ("succeeded", "[lt1] up large for 3h: succeeded — 21 added, 1 changed, 2 destroyed"),
            ("succeeded_plan", "[lt1] plan large: succeeded — plan: 21 to add, 1 to change, 1 to destroy, 1 to replace"),
            ("failed", "[lt1] up large for 3h: failed — 21 added, 1 changed, 2 destroyed — Error creating Auto Scaling Group"),
            ("failed_min", "[lt1] down: failed"),
            ("no_changes", "[lt1] down: no changes"),
            ("cancelled", "[lt1] up large for 3h: cancelled"),
            ("timed_out", "[lt1] up large for 3h: timed out — 21 added, 1 changed, 2 destroyed"),
            ("interrupted_min", "[lt1] down: interrupted"),
            ("awaiting_approval", "[lt1] up large for 3h: awaiting approval — 21 to add"),
            ("rejected_run", "[lt1] down: rejected — not approved"),
            ("rejected", "[lt1] up lage: rejected — unknown size \"lage\"; did you mean \"large\"?"),
        ];
        for (name, prefix) in table {
            let text = &messages[name].text;
            assert!(
                text.starts_with(prefix),
                "{name}: {text:?} does not start with {prefix:?}"
            );
        }
    }

    /// A copy of the shipped templates in a temporary directory, to add a verb template to.
    fn shipped_copy() -> tempfile::TempDir {
        let copy = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(root().join("commands/templates")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
        copy
    }

    #[test]
    fn a_verb_template_is_found_checked_with_its_samples_and_rendered_from_any_context() {
        let dir = shipped_copy();
        let template = r#"{"text": "{{count}} things", "blocks": [
            {"type":"section","text":{"type":"mrkdwn","text":"*{{count}}* things"}}]}"#;
        std::fs::write(dir.path().join("things.hbs"), template).unwrap();
        // Without samples it is refused at load: nothing would check it before a user types it.
        match Renderer::load(dir.path()) {
            Err(RenderError::Missing { path }) => {
                assert!(path.ends_with("things.samples.json"), "{}", path.display())
            }
            other => panic!("loaded without samples: {other:?}"),
        }
        // Samples naming a field the template lacks fail at load, naming the file.
        let samples = dir.path().join("things.samples.json");
        std::fs::write(&samples, r#"{"things": {"other": 1}}"#).unwrap();
        let error = Renderer::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("things.hbs"), "{error}");
        std::fs::write(&samples, r#"{"things": {"count": 3}}"#).unwrap();
        let renderer = Renderer::load(dir.path()).expect("loads with its samples");
        let names: Vec<String> = render_all(&renderer)
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert!(names.contains(&"things".to_string()), "{names:?}");
        #[derive(serde::Serialize)]
        struct Things {
            count: u32,
        }
        let message = renderer.view("things", &Things { count: 7 }).unwrap();
        assert_eq!(message.text, "7 things");
    }
}
