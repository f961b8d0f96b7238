//! The local front ends: `shell` (a chat console on stdin/stdout), `exec` (one command to its
//! end) and `check`. They feed the same [`App::handle`] pipeline as Slack and print the same
//! Block Kit messages rendered as text, with a live progress line on a terminal.

use crate::app::{self, App, ExitClass, Request};
use crate::model::ChannelId;
use crate::outlet::{MessageHandle, Outlet, UpdateKind};
use crate::render::Message;
use crate::slack::block_text::to_console_text;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncBufReadExt;

/// The channel ID the console speaks from; channel bindings do not apply to it.
pub const CONSOLE_CHANNEL: &str = "console";

/// Prints messages to stdout. On a terminal, progress updates rewrite one line in place;
/// otherwise (pipes, tests) each changed progress state is printed once, as its own line.
pub struct ConsoleOutlet {
    terminal: bool,
    /// The last progress text per message, to print only changes. Also serialises writes so
    /// lines of concurrent runs never interleave.
    last_progress: Mutex<HashMap<u64, String>>,
}

impl ConsoleOutlet {
    pub fn new() -> Self {
        Self {
            terminal: std::io::stdout().is_terminal(),
            last_progress: Mutex::new(HashMap::new()),
        }
    }

    fn print(&self, text: &str) {
        let _guard = self.last_progress.lock().expect("console lock");
        let mut out = std::io::stdout().lock();
        if self.terminal {
            // Clear a progress line left by an earlier update.
            let _ = write!(out, "\r\x1b[2K");
        }
        let _ = writeln!(out, "{}", text.trim_end());
        let _ = out.flush();
    }
}

impl Default for ConsoleOutlet {
    fn default() -> Self {
        Self::new()
    }
}

impl Outlet for ConsoleOutlet {
    fn post(&self, channel: &ChannelId, message: &Message) -> MessageHandle {
        self.print(&to_console_text(message));
        MessageHandle::new(channel.clone())
    }

    fn update(&self, handle: &MessageHandle, message: &Message, kind: UpdateKind) {
        match kind {
            UpdateKind::Final => {
                self.last_progress
                    .lock()
                    .expect("console lock")
                    .remove(&handle.local_id);
                // The top-level text first: it is what Slack notifies with, and it carries
                // the outcome and Terraform's counts on one line (SPEC §7).
                self.print(&format!(
                    "{}\n{}",
                    message.plain_text(),
                    to_console_text(message)
                ));
            }
            UpdateKind::Progress => {
                let mut last = self.last_progress.lock().expect("console lock");
                if last.get(&handle.local_id) == Some(&message.text) {
                    return;
                }
                last.insert(handle.local_id, message.text.clone());
                let line = progress_line(message);
                let mut out = std::io::stdout().lock();
                if self.terminal {
                    let _ = write!(out, "\r\x1b[2K{line}");
                } else {
                    let _ = writeln!(out, "{line}");
                }
                let _ = out.flush();
            }
        }
    }

    fn attach_log(&self, _handle: &MessageHandle, file_name: &str, content: &str) {
        // The console shows the log's tail; the whole of it is on disk under the state dir.
        // Terraform's JSON lines are shown by their human message, as Terraform prints them.
        let lines: Vec<String> = content
            .lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|json| {
                        json.get("@message")
                            .and_then(|m| m.as_str())
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| line.to_string())
            })
            .collect();
        let tail = &lines[lines.len().saturating_sub(15)..];
        self.print(&format!(
            "--- {file_name}, last {} lines (the whole log is in the state directory) ---\n{}",
            tail.len(),
            tail.join("\n")
        ));
    }
}

/// One line for a progress update: the message's text and the bar its blocks show.
fn progress_line(message: &Message) -> String {
    let text = message.plain_text().replace('\n', " ");
    let rendered = to_console_text(message);
    match rendered
        .lines()
        .find(|line| line.contains('▓') || line.contains('░'))
    {
        Some(bar) => format!("{text}  {}", bar.trim()),
        None => text,
    }
}

async fn start_app(config_path: &Path) -> anyhow::Result<Arc<App>> {
    let config = app::load_config(config_path)?;
    let app = App::build(config, Arc::new(ConsoleOutlet::new()))?;
    app.recover_interrupted_runs()?;
    Ok(app)
}

/// `loadtest-bot shell`: reads commands line by line until EOF or `exit`, then waits for the
/// runs it started (Ctrl-C cancels them gracefully).
pub async fn run_shell(config_path: &Path, as_user: Option<String>) -> anyhow::Result<ExitClass> {
    let app = start_app(config_path).await?;
    let actor = app::console_actor(as_user);
    // Schedules, lease ends and warnings run while the console is open.
    let (stop_scheduler, scheduler_stopped) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(crate::ticker::run(Arc::clone(&app), scheduler_stopped));
    let terminal = std::io::stdin().is_terminal();
    if terminal {
        println!(
            "loadtest-bot console as {} — type `help`, `exit` to leave",
            actor.id
        );
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        if terminal {
            print!("loadtest> ");
            let _ = std::io::stdout().flush();
        }
        let line = tokio::select! {
            line = lines.next_line() => line?,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(line) = line else { break };
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if text == "exit" || text == "quit" {
            break;
        }
        let reply = app
            .handle(Request {
                actor: actor.clone(),
                channel: ChannelId::new(CONSOLE_CHANNEL),
                text: text.to_string(),
            })
            .await;
        println!("{}", to_console_text(&reply.message).trim_end());
    }
    let _ = stop_scheduler.send(true);
    let _ = scheduler.await;
    wait_for_jobs(&app).await;
    Ok(ExitClass::Success)
}

/// Waits until no job runs or waits; a Ctrl-C meanwhile cancels the running ones (SIGINT to
/// Terraform) and keeps waiting for them to stop.
async fn wait_for_jobs(app: &Arc<App>) {
    if app.queue.is_idle() {
        return;
    }
    eprintln!("waiting for running jobs to finish (Ctrl-C cancels them)");
    let mut interrupted = false;
    while !app.queue.is_idle() {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
            _ = tokio::signal::ctrl_c(), if !interrupted => {
                interrupted = true;
                eprintln!("cancelling running jobs");
                app.queue.cancel_all_running();
            }
        }
    }
}

/// `loadtest-bot exec -- <command>`: one command to its end.
pub async fn run_exec(
    config_path: &Path,
    as_user: Option<String>,
    channel: Option<String>,
    text: String,
) -> anyhow::Result<ExitClass> {
    let app = start_app(config_path).await?;
    let reply = app
        .handle(Request {
            actor: app::console_actor(as_user),
            channel: ChannelId::new(channel.unwrap_or_else(|| CONSOLE_CHANNEL.to_string())),
            text,
        })
        .await;
    println!("{}", to_console_text(&reply.message).trim_end());
    let Some(run) = reply.run else {
        return Ok(reply.class);
    };
    let mut watcher = app.watch_run(run);
    let ended = tokio::select! {
        outcome = watcher.wait_for(|o| o.is_some()) => outcome.ok().and_then(|o| *o),
        _ = tokio::signal::ctrl_c() => None,
    };
    let outcome = match ended {
        Some(outcome) => Some(outcome),
        None => {
            app.queue.cancel_all_running();
            let mut watcher = app.watch_run(run);
            let outcome = watcher
                .wait_for(|o| o.is_some())
                .await
                .ok()
                .and_then(|o| *o);
            outcome
        }
    };
    wait_for_jobs(&app).await;
    Ok(outcome
        .map(ExitClass::of_outcome)
        .unwrap_or(ExitClass::Failed))
}

/// `loadtest-bot check`: validates everything a start would, and the Terraform binary.
pub async fn run_check(config_path: &Path) -> anyhow::Result<ExitClass> {
    let config = match app::load_config(config_path) {
        Ok(config) => config,
        Err(error) => {
            println!("{error}");
            return Ok(ExitClass::Rejected);
        }
    };
    println!(
        "ok: {} (config, variable sets, schedules)",
        config_path.display()
    );
    let sizes = match crate::config::sizes::VariableSets::load(&config.terraform.sizes) {
        Ok(sizes) => sizes,
        Err(error) => {
            println!("{error}");
            return Ok(ExitClass::Rejected);
        }
    };
    println!(
        "ok: {} ({} variable sets)",
        config.terraform.sizes.display(),
        sizes.names().len()
    );
    match crate::render::Renderer::load(&config.terraform.templates) {
        Ok(_) => println!(
            "ok: {} (templates compiled)",
            config.terraform.templates.display()
        ),
        Err(error) => {
            println!("{error}");
            return Ok(ExitClass::Rejected);
        }
    }
    let masker = Arc::new(crate::masker::Masker::from_env(config.mask_regexes()));
    let runner = crate::terraform::runner::TerraformRunner::new(&config.terraform.binary, masker);
    match runner.version().await {
        Ok(version) => println!("ok: {} ({version})", config.terraform.binary),
        Err(error) => {
            println!("{}: [terraform].binary: {error:#}", config_path.display());
            return Ok(ExitClass::Rejected);
        }
    }
    Ok(ExitClass::Success)
}
