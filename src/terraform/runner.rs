//! Runs the Terraform CLI with `tokio::process`: init (only when its inputs changed), plan,
//! show, apply, output, force-unlock. The only code in the crate that spawns processes.
//!
//! Every command runs with the environment's data dir, state and plans under the state
//! directory (never inside `terraform/`), reads Terraform's `-json` stream line by line into
//! [`TfEvent`]s for the caller, and appends every line, masked, to the run's log file. The log
//! is streamed to disk, never held in memory. Cancellation and timeouts send SIGINT first, so
//! Terraform can release its state lock, and kill only after a grace period.

use crate::masker::Masker;
use crate::terraform::events::{Diagnostic, EventReader, TfEvent};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How long Terraform gets after SIGINT before it is killed.
pub const DEFAULT_INTERRUPT_GRACE: Duration = Duration::from_secs(60);

/// Stderr kept for failure reports (the whole of it goes to the log file).
const STDERR_TAIL_BYTES: usize = 16 * 1024;

/// Where one environment's Terraform lives: its root module in the source tree and its
/// mutable files under the state directory.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The root module (`terraform/envs/<name>`); read-only for us.
    pub root_dir: PathBuf,
    /// `<state dir>/envs/<env>`: TF_DATA_DIR, local state, plans, tfvars.
    pub work_dir: PathBuf,
    /// Terraform workspace name (`default` unless configured).
    pub workspace: String,
    /// `-backend-config` key/values from the config.
    pub backend_config: BTreeMap<String, String>,
}

impl Workspace {
    pub fn data_dir(&self) -> PathBuf {
        self.work_dir.join("tf-data")
    }

    /// Local-backend state path, passed as `-backend-config=path=...` when the root uses
    /// `backend "local"`, so state never lands in the source tree.
    pub fn local_state_path(&self) -> PathBuf {
        self.work_dir.join("terraform.tfstate")
    }

    /// The lock a local-backend Terraform left on this workspace's state (it writes
    /// `.terraform.tfstate.lock.info` next to the state while it holds the lock), if any.
    /// Remote backends keep their locks remotely; there a leftover lock shows at the next plan.
    pub fn leftover_local_lock(&self) -> Option<crate::terraform::events::StateLock> {
        let text =
            std::fs::read_to_string(self.work_dir.join(".terraform.tfstate.lock.info")).ok()?;
        let info: serde_json::Value = serde_json::from_str(&text).ok()?;
        let field = |name: &str| {
            info.get(name)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let id = field("ID");
        (!id.is_empty()).then(|| crate::terraform::events::StateLock {
            id,
            path: field("Path"),
            who: field("Who"),
            operation: field("Operation"),
            created: field("Created"),
        })
    }

    fn init_stamp_path(&self) -> PathBuf {
        self.data_dir().join("loadtest-init.sha256")
    }
}

/// Why a Terraform command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this code (plan's `-detailed-exitcode`: 0 no changes, 2 changes).
    Code(i32),
    /// Stopped because the caller cancelled.
    Cancelled,
    /// Stopped because it ran past its timeout.
    TimedOut,
    /// Killed by a signal we did not send.
    Signal(i32),
}

/// What a finished Terraform command left behind.
#[derive(Debug)]
pub struct CommandResult {
    pub exit: Exit,
    /// Error and warning diagnostics from the JSON stream.
    pub diagnostics: Vec<Diagnostic>,
    /// The last part of stderr, masked (init and crash messages are not JSON).
    pub stderr_tail: String,
    /// Terraform's stdout, only for commands that return a document (show, output).
    pub stdout: Option<String>,
}

impl CommandResult {
    /// For `plan -detailed-exitcode`: `Some(false)` no changes (exit 0), `Some(true)` changes
    /// (exit 2), `None` when the plan failed or was stopped.
    pub fn plan_has_changes(&self) -> Option<bool> {
        match self.exit {
            Exit::Code(0) => Some(false),
            Exit::Code(2) => Some(true),
            _ => None,
        }
    }

    pub fn succeeded(&self) -> bool {
        matches!(self.exit, Exit::Code(0))
    }

    /// The first line of [`error_text`](Self::error_text), for one-line records.
    pub fn error_headline(&self) -> String {
        self.error_text()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// One paragraph for a failure report: the diagnostics, else the stderr tail.
    pub fn error_text(&self) -> String {
        let errors: Vec<String> = self
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| match &d.detail {
                detail if detail.is_empty() => d.summary.clone(),
                detail => format!("{}: {}", d.summary, detail),
            })
            .collect();
        if !errors.is_empty() {
            errors.join("\n")
        } else if !self.stderr_tail.trim().is_empty() {
            self.stderr_tail.trim().to_string()
        } else {
            format!("terraform exited with {:?}", self.exit)
        }
    }
}

/// Cancel handle shared by a running job and whoever may cancel it.
#[derive(Clone, Debug)]
pub struct CancelSignal {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for CancelSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelSignal {
    pub fn new() -> Self {
        let (sender, _) = watch::channel(false);
        Self {
            sender: Arc::new(sender),
        }
    }
    pub fn cancel(&self) {
        self.sender.send_replace(true);
    }
    pub fn is_cancelled(&self) -> bool {
        *self.sender.borrow()
    }
    pub async fn cancelled(&self) {
        let mut receiver = self.sender.subscribe();
        // An error means the sender is gone, which cannot happen while `self` holds it.
        let _ = receiver.wait_for(|cancelled| *cancelled).await;
    }
}

/// Runs Terraform commands for any workspace.
#[derive(Clone)]
pub struct TerraformRunner {
    binary: PathBuf,
    masker: Arc<Masker>,
    interrupt_grace: Duration,
}

/// A log file that every line of a run is appended to, masked.
pub struct RunLog {
    file: tokio::fs::File,
    masker: Arc<Masker>,
}

impl RunLog {
    pub async fn create(path: &Path, masker: Arc<Masker>) -> std::io::Result<RunLog> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        Ok(RunLog { file, masker })
    }

    pub async fn line(&mut self, text: &str) -> std::io::Result<()> {
        let masked = self.masker.mask(text);
        self.file.write_all(masked.as_bytes()).await?;
        self.file.write_all(b"\n").await
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush().await
    }
}

impl TerraformRunner {
    pub fn new(binary: impl Into<PathBuf>, masker: Arc<Masker>) -> Self {
        Self {
            binary: binary.into(),
            masker,
            interrupt_grace: DEFAULT_INTERRUPT_GRACE,
        }
    }

    pub fn with_interrupt_grace(mut self, grace: Duration) -> Self {
        self.interrupt_grace = grace;
        self
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// `terraform version` succeeds (used by `check` and health).
    pub async fn version(&self) -> anyhow::Result<String> {
        let output = Command::new(&self.binary)
            .arg("version")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", self.binary.display()))?;
        anyhow::ensure!(
            output.status.success(),
            "{} version failed: {}",
            self.binary.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string())
    }

    fn command(&self, ws: &Workspace, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg(format!("-chdir={}", ws.root_dir.display()))
            .args(args)
            .env("TF_DATA_DIR", ws.data_dir())
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group: signals reach Terraform and its plugins together, as a
            // terminal's Ctrl-C would, and a kill leaves no child holding our pipes open.
            .process_group(0);
        if ws.workspace != "default" {
            command.env("TF_WORKSPACE", &ws.workspace);
        }
        command
    }

    /// Hash of everything `init` depends on: the lock file, the backend settings and the
    /// root's and modules' `.tf` files (module sources are local paths).
    pub fn init_inputs_hash(ws: &Workspace) -> std::io::Result<String> {
        let mut hasher = Sha256::new();
        let mut files = Vec::new();
        collect_tf_files(&ws.root_dir, &mut files)?;
        if let Some(modules) = ws
            .root_dir
            .parent()
            .and_then(|p| p.parent())
            .map(|t| t.join("modules"))
        {
            if modules.is_dir() {
                collect_tf_files(&modules, &mut files)?;
            }
        }
        files.sort();
        for file in files {
            hasher.update(file.to_string_lossy().as_bytes());
            hasher.update(std::fs::read(&file)?);
        }
        for (key, value) in &ws.backend_config {
            hasher.update(format!("{key}={value}\n").as_bytes());
        }
        hasher.update(ws.local_state_path().to_string_lossy().as_bytes());
        hasher.update(ws.workspace.as_bytes());
        Ok(format!("{:x}", hasher.finalize()))
    }

    /// Runs `terraform init` unless its inputs are unchanged since the last successful init.
    /// Returns `None` when init was skipped.
    pub async fn ensure_init(
        &self,
        ws: &Workspace,
        log: &mut RunLog,
        cancel: &CancelSignal,
        timeout: Duration,
    ) -> anyhow::Result<Option<CommandResult>> {
        let hash = Self::init_inputs_hash(ws)?;
        if tokio::fs::read_to_string(ws.init_stamp_path())
            .await
            .ok()
            .as_deref()
            == Some(hash.as_str())
        {
            return Ok(None);
        }
        tokio::fs::create_dir_all(ws.data_dir()).await?;
        let mut args: Vec<String> = vec![
            "init".into(),
            "-input=false".into(),
            "-no-color".into(),
            "-lockfile=readonly".into(),
        ];
        if uses_local_backend(&ws.root_dir) {
            args.push(format!(
                "-backend-config=path={}",
                ws.local_state_path().display()
            ));
            args.push(format!(
                "-backend-config=workspace_dir={}",
                ws.work_dir.join("workspaces").display()
            ));
        }
        for (key, value) in &ws.backend_config {
            args.push(format!("-backend-config={key}={value}"));
        }
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        log.line(&format!("$ terraform {}", args.join(" "))).await?;
        // init with TF_WORKSPACE set to a missing workspace fails, so create it first.
        let mut init = self.command(ws, &arg_refs);
        init.env_remove("TF_WORKSPACE");
        let result = self.run(init, log, cancel, timeout).await?;
        if !result.succeeded() {
            return Ok(Some(result));
        }
        if ws.workspace != "default" {
            let mut select = self.command(ws, &["workspace", "select", &ws.workspace]);
            select.env_remove("TF_WORKSPACE");
            let selected = self.run(select, log, cancel, timeout).await?;
            if !selected.succeeded() {
                let mut create = self.command(ws, &["workspace", "new", &ws.workspace]);
                create.env_remove("TF_WORKSPACE");
                let created = self.run(create, log, cancel, timeout).await?;
                if !created.succeeded() {
                    return Ok(Some(created));
                }
            }
        }
        tokio::fs::write(ws.init_stamp_path(), &hash).await?;
        Ok(Some(result))
    }

    /// `terraform plan -json -out=<plan_path> -var-file=<vars>`; exit code 2 means changes.
    pub async fn plan(
        &self,
        ws: &Workspace,
        var_file: &Path,
        plan_path: &Path,
        take_lock: bool,
        log: &mut RunLog,
        cancel: &CancelSignal,
        timeout: Duration,
        on_event: &mut (dyn FnMut(&TfEvent) + Send),
    ) -> anyhow::Result<CommandResult> {
        let var_file_arg = format!("-var-file={}", var_file.display());
        let out_arg = format!("-out={}", plan_path.display());
        let lock_arg = format!("-lock={take_lock}");
        let args = [
            "plan",
            "-json",
            "-input=false",
            "-detailed-exitcode",
            lock_arg.as_str(),
            var_file_arg.as_str(),
            out_arg.as_str(),
        ];
        log.line(&format!("$ terraform {}", args.join(" "))).await?;
        self.run_streaming(self.command(ws, &args), log, cancel, timeout, on_event)
            .await
    }

    /// `terraform apply -json <plan_path>`: applies exactly the saved plan.
    pub async fn apply(
        &self,
        ws: &Workspace,
        plan_path: &Path,
        log: &mut RunLog,
        cancel: &CancelSignal,
        timeout: Duration,
        on_event: &mut (dyn FnMut(&TfEvent) + Send),
    ) -> anyhow::Result<CommandResult> {
        let plan_arg = plan_path.display().to_string();
        let args = [
            "apply",
            "-json",
            "-input=false",
            "-auto-approve",
            plan_arg.as_str(),
        ];
        log.line(&format!("$ terraform {}", args.join(" "))).await?;
        self.run_streaming(self.command(ws, &args), log, cancel, timeout, on_event)
            .await
    }

    /// `terraform show -json [plan]`: the plan (or, without a plan, the state) as JSON.
    pub async fn show_json(
        &self,
        ws: &Workspace,
        plan_path: Option<&Path>,
        timeout: Duration,
    ) -> anyhow::Result<CommandResult> {
        let mut args = vec![
            "show".to_string(),
            "-json".to_string(),
            "-no-color".to_string(),
        ];
        if let Some(plan) = plan_path {
            args.push(plan.display().to_string());
        }
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run_capturing(ws, &arg_refs, timeout).await
    }

    /// `terraform output -json`.
    pub async fn output_json(
        &self,
        ws: &Workspace,
        timeout: Duration,
    ) -> anyhow::Result<CommandResult> {
        self.run_capturing(ws, &["output", "-json", "-no-color"], timeout)
            .await
    }

    /// `terraform force-unlock -force <lock_id>`. The lock id was validated by the parser.
    pub async fn force_unlock(
        &self,
        ws: &Workspace,
        lock_id: &str,
        log: &mut RunLog,
        timeout: Duration,
    ) -> anyhow::Result<CommandResult> {
        let args = ["force-unlock", "-force", "-no-color", lock_id];
        log.line(&format!("$ terraform {}", args.join(" "))).await?;
        self.run(self.command(ws, &args), log, &CancelSignal::new(), timeout)
            .await
    }

    async fn run_capturing(
        &self,
        ws: &Workspace,
        args: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<CommandResult> {
        let child = self.command(ws, args).output();
        let output = match tokio::time::timeout(timeout, child).await {
            Ok(output) => {
                output.map_err(|e| anyhow::anyhow!("cannot run {}: {e}", self.binary.display()))?
            }
            Err(_) => {
                return Ok(CommandResult {
                    exit: Exit::TimedOut,
                    diagnostics: Vec::new(),
                    stderr_tail: String::new(),
                    stdout: None,
                })
            }
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        Ok(CommandResult {
            exit: exit_of(output.status),
            diagnostics: Vec::new(),
            stderr_tail: self
                .masker
                .mask(tail(&stderr, STDERR_TAIL_BYTES))
                .into_owned(),
            stdout: Some(String::from_utf8_lossy(&output.stdout).into_owned()),
        })
    }

    /// Runs a command whose stdout is plain text (init, workspace, force-unlock).
    async fn run(
        &self,
        command: Command,
        log: &mut RunLog,
        cancel: &CancelSignal,
        timeout: Duration,
    ) -> anyhow::Result<CommandResult> {
        let mut ignore = |_: &TfEvent| {};
        self.run_streaming(command, log, cancel, timeout, &mut ignore)
            .await
    }

    /// Spawns the command, streams stdout line by line into events and the log, keeps the
    /// stderr tail, and stops it on cancel or timeout (SIGINT, then kill after the grace).
    async fn run_streaming(
        &self,
        mut command: Command,
        log: &mut RunLog,
        cancel: &CancelSignal,
        timeout: Duration,
        on_event: &mut (dyn FnMut(&TfEvent) + Send),
    ) -> anyhow::Result<CommandResult> {
        let mut child = command
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", self.binary.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let stderr_task = tokio::spawn(read_stderr(stderr, Arc::clone(&self.masker)));
        let mut reader = EventReader::new(BufReader::new(stdout));
        let mut diagnostics = Vec::new();
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut stop_reason: Option<Exit> = None;
        let mut interrupted_at: Option<tokio::time::Instant> = None;
        let mut stdout_open = true;

        let status = loop {
            let grace_over = async {
                match interrupted_at {
                    Some(at) => tokio::time::sleep_until(at + self.interrupt_grace).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                line = reader.next_event(), if stdout_open => match line? {
                    Some((raw, event)) => {
                        log.line(&raw).await?;
                        if let TfEvent::Diagnostic(diagnostic) = &event {
                            diagnostics.push(masked_diagnostic(&self.masker, diagnostic));
                        }
                        on_event(&event);
                    }
                    None => stdout_open = false,
                },
                status = child.wait(), if !stdout_open => break status?,
                _ = &mut deadline, if stop_reason.is_none() => {
                    stop_reason = Some(Exit::TimedOut);
                    interrupted_at = Some(tokio::time::Instant::now());
                    log.line("loadtest-bot: timeout reached, sending SIGINT to terraform").await?;
                    interrupt(&child);
                }
                _ = cancel.cancelled(), if stop_reason.is_none() => {
                    stop_reason = Some(Exit::Cancelled);
                    interrupted_at = Some(tokio::time::Instant::now());
                    log.line("loadtest-bot: cancelled, sending SIGINT to terraform").await?;
                    interrupt(&child);
                }
                _ = grace_over => {
                    log.line("loadtest-bot: terraform did not stop after SIGINT, killing it").await?;
                    signal_group(&child, libc::SIGKILL);
                    child.start_kill()?;
                    interrupted_at = None;
                }
            }
        };
        let stderr_tail = stderr_task.await.unwrap_or_default();
        for line in stderr_tail.lines() {
            log.line(&format!("stderr: {line}")).await?;
        }
        log.flush().await?;
        let exit = stop_reason.unwrap_or_else(|| exit_of(status));
        Ok(CommandResult {
            exit,
            diagnostics,
            stderr_tail,
            stdout: None,
        })
    }
}

/// Terraform treats SIGINT as "stop gracefully": it finishes in-flight resource operations and
/// releases the state lock.
fn interrupt(child: &Child) {
    signal_group(child, libc::SIGINT);
}

/// Signals the child's process group (the child leads it: spawned with `process_group(0)`).
fn signal_group(child: &Child, signal: libc::c_int) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on the process group of a child we spawned and have not reaped.
        unsafe {
            libc::kill(-(pid as libc::pid_t), signal);
        }
    }
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(-1),
    }
}

fn masked_diagnostic(masker: &Masker, diagnostic: &Diagnostic) -> Diagnostic {
    let mut masked = diagnostic.clone();
    masked.summary = masker.mask(&diagnostic.summary).into_owned();
    masked.detail = masker.mask(&diagnostic.detail).into_owned();
    masked
}

/// Reads all of stderr, keeping only the tail (masked); the caller logs it.
async fn read_stderr(stderr: impl AsyncRead + Unpin, masker: Arc<Masker>) -> String {
    let mut lines = BufReader::new(stderr).lines();
    let mut kept = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        kept.push_str(&line);
        kept.push('\n');
        if kept.len() > 2 * STDERR_TAIL_BYTES {
            kept = tail(&kept, STDERR_TAIL_BYTES).to_string();
        }
    }
    masker.mask(tail(&kept, STDERR_TAIL_BYTES)).into_owned()
}

fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

fn collect_tf_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_tf_files(&path, out)?;
        } else if path
            .file_name()
            .map(|n| {
                let n = n.to_string_lossy();
                n.ends_with(".tf") || n == ".terraform.lock.hcl" || n.ends_with(".tpl")
            })
            .unwrap_or(false)
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether the root declares `backend "local"` (then the bot supplies the state path).
pub fn uses_local_backend(root_dir: &Path) -> bool {
    let pattern = regex::Regex::new(r#"backend\s+"local""#).expect("static regex");
    std::fs::read_dir(root_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().map(|x| x == "tf").unwrap_or(false))
        .any(|e| {
            std::fs::read_to_string(e.path())
                .map(|text| pattern.is_match(&text))
                .unwrap_or(false)
        })
}
