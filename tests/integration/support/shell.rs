//! A running `loadtest-bot shell` driven through its stdin, its stdout read line by line, the
//! way a person at the console would use it.

use crate::support::bot::BotFixture;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// A running `loadtest-bot shell` whose stdout is read line by line.
pub struct Shell {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pub transcript: Vec<String>,
}

impl Shell {
    pub fn start(bot: &BotFixture) -> Shell {
        Self::start_with_env(bot, &[])
    }

    pub fn start_with_env(bot: &BotFixture, env: &[(&str, String)]) -> Shell {
        let config = bot.config_path().display().to_string();
        let mut command = bot.command(&["--config", &config, "shell"]);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the shell");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Shell {
            child,
            stdin,
            lines,
            transcript: Vec::new(),
        }
    }

    pub fn send(&mut self, line: &str) {
        eprintln!("shell> {line}");
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Reads lines until one contains `needle`; returns that line.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    eprintln!("  | {line}");
                    self.transcript.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line containing {needle:?} within {limit:?}; transcript:\n{}",
                    self.transcript.join("\n")
                ),
            }
        }
    }

    /// Everything printed since `mark` (a transcript index).
    pub fn since(&self, mark: usize) -> String {
        self.transcript[mark..].join("\n")
    }

    pub fn close(mut self) -> (i32, String) {
        drop(self.stdin.take());
        for line in self.lines.iter() {
            eprintln!("  | {line}");
            self.transcript.push(line);
        }
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), self.transcript.join("\n"))
    }
}
