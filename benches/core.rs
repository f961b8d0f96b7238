//! Benchmarks of the bot's own hot paths (no Terraform, no network), printed as a table:
//! - parse + policy + enqueue of a command (p50/p99/max over many iterations),
//! - summary + rendering of a 10,000-resource plan (`show -json`), and whether the rendered
//!   message is within Slack's limits,
//! - the JSON event reader over 100,000 apply events.
//!
//! Run with `cargo bench --bench core` (or `make bench`). Times are wall clock on this machine.

use loadtest_bot::command::{self, ParseContext};
use loadtest_bot::config::Config;
use loadtest_bot::model::{ChannelId, EnvName, RunId, SlackUserId};
use loadtest_bot::policy::{self, Actor};
use loadtest_bot::render::views::{DestructiveItem, FinishedView, KeyOutputs, PlanView, RunRef};
use loadtest_bot::render::Renderer;
use loadtest_bot::runs::queue::JobQueue;
use loadtest_bot::terraform::lines::EventReader;
use loadtest_bot::terraform::plan_summary::PlanSummary;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this file as a smoke test
/// with a fraction of the work.
fn scale(full: usize) -> usize {
    if std::env::args().any(|a| a == "--bench") {
        full
    } else {
        (full / 100).max(1)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn row(name: &str, value: String, target: &str) {
    println!("| {name:<52} | {value:>22} | {target:<14} |");
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn config() -> Config {
    let text = format!(
        r#"
[terraform]
sizes = "{root}/commands/sizes.toml"
templates = "{root}/commands/templates"
[store]
dir = "/tmp/loadtest-bench"
[environments.lt1]
terraform_dir = "{root}/terraform/envs/local"
channels = ["C0LOADTEST"]
default = true
[access]
admins = ["U0ADMIN"]
operators = ["U0OPS1", "U0OPS2", "S0SRE"]
viewers = ["*"]
[approval]
required_for = ["up:large", "off"]
approvers = ["U0ADMIN"]
"#,
        root = root().display()
    );
    Config::from_str(&text, "bench.toml").expect("bench config")
}

fn bench_parse_policy_enqueue(runtime: &tokio::runtime::Runtime) {
    let config = config();
    let sizes =
        loadtest_bot::config::sizes::VariableSets::load(&root().join("commands/sizes.toml"))
            .expect("sizes");
    let context = ParseContext::from_config(&config, &sizes, Some(&EnvName::new("lt1")));
    let state = tempfile::tempdir().expect("tempdir");
    let queue = JobQueue::new(state.path());
    let actor = Actor::slack(SlackUserId::new("U0OPS1"));
    let channel = ChannelId::new("C0LOADTEST");
    let texts = [
        "up small for 3h",
        "status",
        "up medium env=lt1",
        "history 20",
        "down",
        "plan large",
        "extend 2h",
    ];
    let iterations = scale(20_000);
    let mut samples = Vec::with_capacity(iterations);
    runtime.block_on(async {
        for i in 0..iterations {
            let text = texts[i % texts.len()];
            let started = Instant::now();
            let parsed = command::parse(text, &context).expect("valid command");
            let env = parsed.env.clone().unwrap_or_else(|| EnvName::new("lt1"));
            let decision = policy::decide(&config, &actor, &parsed.verb, &env, &channel);
            if parsed.verb.queues_run() {
                // A job that ends at once: the measured part is the enqueue itself.
                queue.submit(&env, RunId(i as i64), Box::new(|_| Box::pin(async {})));
            }
            std::hint::black_box(&decision);
            samples.push(started.elapsed());
            if i % 256 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    samples.sort();
    let in_memory = samples.clone();
    // The same path with what the bot also does per command: the audit line and, for
    // mutating verbs, the run record, in SQLite on disk (WAL, synchronous=FULL).
    let store = loadtest_bot::store::Store::open_in_dir(state.path()).expect("store");
    let mut with_store = Vec::with_capacity(2_000);
    runtime.block_on(async {
        for i in 0..scale(2_000) {
            let text = texts[i % texts.len()];
            let started = Instant::now();
            let parsed = command::parse(text, &context).expect("valid command");
            let env = parsed.env.clone().unwrap_or_else(|| EnvName::new("lt1"));
            let decision = policy::decide(&config, &actor, &parsed.verb, &env, &channel);
            let now = chrono::Utc::now();
            let mut run = None;
            if parsed.verb.queues_run() {
                let id = store
                    .create_run(&loadtest_bot::store::NewRun {
                        env: env.clone(),
                        verb: parsed.verb.name().to_string(),
                        args: parsed.verb.args_text(),
                        size: parsed.verb.target_size(),
                        actor: actor.id.clone(),
                        channel: channel.clone(),
                        outcome: loadtest_bot::model::RunOutcome::Queued,
                        lease: None,
                        owner_pid: Some(std::process::id()),
                        created_at: now,
                    })
                    .expect("create run");
                queue.submit(&env, id, Box::new(|_| Box::pin(async {})));
                run = Some(id);
            }
            store
                .audit(&loadtest_bot::store::AuditEntry {
                    at: now,
                    actor: actor.id.clone(),
                    channel: channel.clone(),
                    env: Some(env.clone()),
                    command: text.to_string(),
                    decision: decision.to_string(),
                    run_id: run,
                })
                .expect("audit");
            with_store.push(started.elapsed());
            tokio::task::yield_now().await;
        }
    });
    with_store.sort();
    let samples = in_memory;
    row(
        "parse + policy + enqueue + SQLite run/audit (2,000)",
        format!(
            "p50 {:.0} µs, p99 {:.0} µs",
            percentile(&with_store, 0.5).as_secs_f64() * 1e6,
            percentile(&with_store, 0.99).as_secs_f64() * 1e6
        ),
        "p99 < 1 ms",
    );
    row(
        "parse + policy + enqueue (20,000 commands)",
        format!(
            "p50 {:.1} µs, p99 {:.1} µs",
            percentile(&samples, 0.5).as_secs_f64() * 1e6,
            percentile(&samples, 0.99).as_secs_f64() * 1e6
        ),
        "p99 < 1 ms",
    );
    row(
        "  … slowest single command",
        format!("{:.1} µs", samples.last().unwrap().as_secs_f64() * 1e6),
        "",
    );
}

fn big_plan_json(resources: usize) -> Vec<u8> {
    let changes: Vec<Value> = (0..resources)
        .map(|i| {
            let actions: Vec<&str> = match i % 4 {
                0 => vec!["create"],
                1 => vec!["update"],
                2 => vec!["delete"],
                _ => vec!["delete", "create"],
            };
            json!({
                "address": format!("module.m{}.aws_instance.i[{i}]", i % 7),
                "module_address": format!("module.m{}", i % 7),
                "mode": "managed",
                "type": "aws_instance",
                "name": "i",
                "index": i,
                "provider_name": "registry.terraform.io/hashicorp/aws",
                "change": {
                    "actions": actions,
                    "before": {"ami": "ami-123", "tags": {"loadtest:role": "jmeter-slave"}},
                    "after": {"ami": "ami-456", "tags": {"loadtest:role": "jmeter-slave"}, "user_data": "x".repeat(200)},
                    "after_unknown": {"id": true},
                }
            })
        })
        .collect();
    serde_json::to_vec(&json!({"format_version": "0.2", "terraform_version": "1.0.3", "resource_changes": changes}))
        .expect("encode plan")
}

fn bench_big_plan() {
    let renderer = Renderer::load(&root().join("commands/templates")).expect("templates");
    let bytes = big_plan_json(10_000);
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let started = Instant::now();
        let summary = PlanSummary::from_json_slice(&bytes).expect("summary");
        let view = FinishedView {
            run: RunRef {
                run_id: RunId(1),
                env: EnvName::new("lt1"),
                verb: "plan".into(),
                args: "large".into(),
                actor: SlackUserId::new("U0OPS1"),
                approved_by: None,
            },
            counts: None,
            duration: Some("3s".into()),
            outputs: KeyOutputs::default(),
            plan: Some(PlanView::from(&summary)),
            destructive: summary
                .destructive
                .iter()
                .map(DestructiveItem::from)
                .collect(),
            diagnostics: Vec::new(),
            note: None,
            stopped_by: None,
            log_attached: false,
            state_unknown: false,
        };
        let message = renderer.succeeded(&view).expect("render");
        times.push(started.elapsed());
        last = Some(message);
    }
    times.sort();
    let message = last.unwrap();
    let blocks = &message.blocks;
    let total_chars: usize = blocks.iter().map(|b| b.to_string().len()).sum();
    let within = blocks.len() <= 50 && message.text.chars().count() <= 3_000;
    row(
        &format!(
            "summary + render of a 10,000-resource plan ({:.1} MB)",
            bytes.len() as f64 / 1e6
        ),
        format!(
            "median {:.1} ms",
            percentile(&times, 0.5).as_secs_f64() * 1e3
        ),
        "< 100 ms",
    );
    row(
        "  … rendered message",
        format!(
            "{} blocks, {} chars{}",
            blocks.len(),
            total_chars,
            if within { ", ok" } else { ", OVER" }
        ),
        "≤ 50 blocks",
    );
}

fn bench_event_reader(runtime: &tokio::runtime::Runtime) {
    let mut log = String::new();
    for i in 0..scale(100_000) {
        let line = match i % 3 {
            0 => {
                json!({"@level":"info","@message":format!("module.jmeter.aws_instance.slave[{i}]: Creating..."),"type":"apply_start","hook":{"resource":{"addr":format!("module.jmeter.aws_instance.slave[{i}]"),"module":"module.jmeter","resource":"aws_instance.slave","resource_type":"aws_instance","resource_name":"slave"},"action":"create"}})
            }
            1 => {
                json!({"@level":"info","@message":"Still creating...","type":"apply_progress","hook":{"resource":{"addr":format!("module.jmeter.aws_instance.slave[{i}]")},"action":"create","elapsed_seconds":10}})
            }
            _ => {
                json!({"@level":"info","@message":"Creation complete","type":"apply_complete","hook":{"resource":{"addr":format!("module.jmeter.aws_instance.slave[{i}]")},"action":"create","id_key":"id","id_value":"i-123","elapsed_seconds":12}})
            }
        };
        log.push_str(&line.to_string());
        log.push('\n');
    }
    let bytes = log.into_bytes();
    let started = Instant::now();
    let events = runtime.block_on(async {
        let mut reader = EventReader::new(tokio::io::BufReader::new(&bytes[..]));
        let mut progress = loadtest_bot::terraform::progress::Progress::new();
        let mut count = 0usize;
        while let Some((_, event)) = reader.next_event().await.expect("read") {
            progress.observe(&event);
            count += 1;
        }
        count
    });
    let elapsed = started.elapsed();
    row(
        "JSON event reader: 100,000 apply events",
        format!(
            "{:.0} ms ({:.1} µs/event)",
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e6 / events as f64
        ),
        "",
    );
}

/// The whole in-process pipeline for `status` (parse, policy, store reads, rendering, the
/// audit line's group commit), without HTTP: where a Slack ack spends its time.
fn bench_status_handle(runtime: &tokio::runtime::Runtime) {
    use loadtest_bot::app::App;
    use loadtest_bot::outlet::{MessageHandle, Outlet, UpdateKind};
    use loadtest_bot::request::Request;
    struct Nowhere;
    impl Outlet for Nowhere {
        fn post(&self, channel: &ChannelId, _: &loadtest_bot::render::Message) -> MessageHandle {
            MessageHandle::new(channel.clone())
        }
        fn update(&self, _: &MessageHandle, _: &loadtest_bot::render::Message, _: UpdateKind) {}
    }
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = config();
    config.store.dir = state.path().to_path_buf();
    let app = App::build(config, std::sync::Arc::new(Nowhere)).expect("app");
    let request = || Request {
        actor: Actor::slack(SlackUserId::new("U0OPS1")),
        channel: ChannelId::new("C0LOADTEST"),
        text: "status".into(),
    };
    let iterations = scale(2_000);
    // `iterations` commands one after the other; the row shows p50 / p99.
    let one_at_a_time = |what: &str| {
        let mut samples = Vec::with_capacity(iterations);
        runtime.block_on(async {
            for _ in 0..iterations {
                let started = Instant::now();
                std::hint::black_box(loadtest_bot::pipeline::handle(&app, request()).await);
                samples.push(started.elapsed());
            }
        });
        samples.sort();
        row(
            what,
            format!(
                "{:.0} / {:.0} µs",
                percentile(&samples, 0.5).as_secs_f64() * 1e6,
                percentile(&samples, 0.99).as_secs_f64() * 1e6
            ),
            "",
        );
    };
    one_at_a_time("App::handle(status), one at a time: p50 / p99");
    // Concurrent: the audit lines of many share one commit.
    let started = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..iterations)
            .map(|_| {
                let app = std::sync::Arc::clone(&app);
                let request = request();
                tokio::spawn(async move { loadtest_bot::pipeline::handle(&app, request).await })
            })
            .collect();
        for task in tasks {
            std::hint::black_box(task.await.expect("handled"));
        }
    });
    row(
        &format!("App::handle(status), {iterations} at once: per command"),
        format!(
            "{:.0} µs",
            started.elapsed().as_secs_f64() * 1e6 / iterations as f64
        ),
        "",
    );

    // The same after a long history: `status` reads the last finished run and the active
    // ones, which must not cost more as finished runs pile up.
    let history = scale(2_000);
    for n in 0..history {
        let id = app
            .store
            .create_run(&loadtest_bot::store::NewRun {
                env: EnvName::new("lt1"),
                verb: "up".into(),
                args: "small".into(),
                size: None,
                actor: SlackUserId::new("U0OPS1"),
                channel: ChannelId::new("C0LOADTEST"),
                outcome: loadtest_bot::model::RunOutcome::Queued,
                lease: None,
                owner_pid: None,
                created_at: chrono::Utc::now() - chrono::Duration::minutes(n as i64 + 1),
            })
            .expect("run");
        app.store
            .finish_run(
                id,
                &loadtest_bot::store::FinishedRun {
                    outcome: loadtest_bot::model::RunOutcome::Succeeded,
                    counts: None,
                    error: None,
                    now: chrono::Utc::now() - chrono::Duration::minutes(n as i64),
                },
            )
            .expect("finish");
    }
    one_at_a_time(&format!(
        "… with {history} finished runs in its history: p50 / p99"
    ));
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "| {:<52} | {:>22} | {:<14} |",
        "benchmark", "result", "target"
    );
    println!("|{:-<54}|{:-<24}|{:-<16}|", "", "", "");
    bench_parse_policy_enqueue(&runtime);
    bench_status_handle(&runtime);
    bench_big_plan();
    bench_event_reader(&runtime);
}
