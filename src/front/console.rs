//! The local chat console (`shell`): commands typed on stdin go down the same pipeline as
//! Slack's, and its [`ConsoleOutlet`] prints the same Block Kit messages rendered as text,
//! with a live progress line on a terminal. `exec` uses the outlet too.

use crate::app::{self, App};
use crate::model::{ChannelId, SlackUserId};
use crate::outlet::{MessageHandle, Outlet, UpdateKind};
use crate::policy::{Actor, CONSOLE_CHANNEL};
use crate::render::Message;
use crate::request::{ExitClass, Request};
use crate::slack::block_text::to_console_text;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncBufReadExt;

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
                // the outcome and Terraform's counts on one line.
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
            .map(crate::terraform::events::human_line)
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

/// Builds the app on the console outlet and reports runs a dead process left behind.
pub(super) async fn start_app(config_path: &Path) -> anyhow::Result<Arc<App>> {
    let config = app::load_config(config_path)?;
    let app = App::build(config, Arc::new(ConsoleOutlet::new()))?;
    app.runs.recover_interrupted()?;
    Ok(app)
}

/// `loadtest-bot shell`: reads commands line by line until EOF or `exit`, then waits for the
/// runs it started (Ctrl-C cancels them gracefully).
pub async fn run_shell(config_path: &Path, as_user: Option<String>) -> anyhow::Result<ExitClass> {
    let app = start_app(config_path).await?;
    // A long-running front end follows the tests an earlier process started (`exec` only
    // follows its own).
    app.load_tests.resume();
    let actor = console_actor(as_user);
    // Schedules, lease ends and warnings run while the console is open.
    let (stop_scheduler, scheduler_stopped) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(super::ticker::run(Arc::clone(&app), scheduler_stopped));
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
        let reply = crate::pipeline::handle(
            &app,
            Request {
                actor: actor.clone(),
                channel: ChannelId::new(CONSOLE_CHANNEL),
                text: text.to_string(),
            },
        )
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
pub(super) async fn wait_for_jobs(app: &Arc<App>) {
    if app.runs.is_idle() {
        return;
    }
    eprintln!("waiting for running jobs to finish (Ctrl-C cancels them)");
    let mut interrupted = false;
    while !app.runs.is_idle() {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
            _ = tokio::signal::ctrl_c(), if !interrupted => {
                interrupted = true;
                eprintln!("cancelling running jobs");
                app.runs.cancel_all_running();
            }
        }
    }
}

/// The actor the console acts as: an admin, or the given Slack user.
pub fn console_actor(as_user: Option<String>) -> Actor {
    match as_user {
        Some(user) => Actor::slack(SlackUserId::new(user)),
        None => Actor::console(),
    }
}
