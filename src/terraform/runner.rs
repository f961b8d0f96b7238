//! Runs the Terraform CLI: init (only when its inputs changed), plan, show, apply, output,
//! force-unlock. With `process`, the only code in the crate that spawns processes.
//!
//! Every command runs with the environment's data dir, state and plans under the state
//! directory (never inside `terraform/`), and with an allow-listed environment (`child_env`):
//! the bot's Slack secrets never reach Terraform, its providers or a `local-exec`. How a
//! process is read and stopped (pipes drained to EOF, SIGINT first) lives in `process`.

use crate::masker::Masker;
use crate::terraform::child_env::child_env;
use crate::terraform::events::TfEvent;
use crate::terraform::process::{run_capturing, run_streaming, Streaming};
pub use crate::terraform::process::{CancelSignal, CommandResult, Exit};
pub use crate::terraform::run_log::RunLog;
pub use crate::terraform::workspace::{uses_local_backend, Workspace};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;

/// How long Terraform gets after SIGINT before it is killed.
pub const DEFAULT_INTERRUPT_GRACE: Duration = Duration::from_secs(60);

/// Runs Terraform commands for any workspace.
#[derive(Clone)]
pub struct TerraformRunner {
    binary: PathBuf,
    masker: Arc<Masker>,
    interrupt_grace: Duration,
    /// `[terraform] env_passthrough`: names passed besides the built-in allow-list.
    env_passthrough: Vec<String>,
}

impl TerraformRunner {
    pub fn new(binary: impl Into<PathBuf>, masker: Arc<Masker>) -> Self {
        Self {
            binary: binary.into(),
            masker,
            interrupt_grace: DEFAULT_INTERRUPT_GRACE,
            env_passthrough: Vec::new(),
        }
    }

    /// Variables passed to Terraform besides the built-in allow-list.
    pub fn with_env_passthrough(mut self, names: Vec<String>) -> Self {
        self.env_passthrough = names;
        self
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
        let output = self
            .base_command()
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

    /// The binary with nothing of the bot's environment but the allow-list.
    fn base_command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .env_clear()
            .envs(child_env(std::env::vars_os(), &self.env_passthrough));
        command
    }

    fn command(&self, ws: &Workspace, args: &[&str]) -> Command {
        let mut command = self.base_command();
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
            // Its own process group: signals reach Terraform and its plugins together, as a
            // terminal's Ctrl-C would, and a kill leaves no child holding our pipes open.
            .process_group(0);
        if ws.workspace != "default" {
            command.env("TF_WORKSPACE", &ws.workspace);
        }
        command
    }

    /// Hash of everything `init` depends on (see [`Workspace::init_inputs_hash`]).
    pub fn init_inputs_hash(ws: &Workspace) -> std::io::Result<String> {
        ws.init_inputs_hash()
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
        crate::private_fs::create_private_dir_all(&ws.data_dir())?;
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
        if !ws.backend_config.is_empty() {
            // A private file, never the command line (`/proc/*/cmdline` is world-readable)
            // nor the log; the values are masked besides.
            let file = ws.backend_config_file();
            crate::private_fs::write_private(&file, ws.backend_config_hcl().as_bytes())?;
            args.push(format!("-backend-config={}", file.display()));
        }
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        log.line(&format!("$ terraform {}", args.join(" "))).await;
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
        crate::private_fs::write_private(&ws.init_stamp_path(), hash.as_bytes())?;
        Ok(Some(result))
    }

    /// `terraform plan -json -out=<plan_path> -var-file=<vars>`; exit code 2 means changes.
    // Each argument is a different thing the one caller has at hand; a struct would only
    // rename them.
    #[allow(clippy::too_many_arguments)]
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
        log.line(&format!("$ terraform {}", args.join(" "))).await;
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
        log.line(&format!("$ terraform {}", args.join(" "))).await;
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
        log.line(&format!("$ terraform {}", args.join(" "))).await;
        self.run(self.command(ws, &args), log, &CancelSignal::new(), timeout)
            .await
    }

    async fn run_capturing(
        &self,
        ws: &Workspace,
        args: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<CommandResult> {
        run_capturing(self.command(ws, args), &self.masker, timeout)
            .await
            .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", self.binary.display()))
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

    async fn run_streaming(
        &self,
        command: Command,
        log: &mut RunLog,
        cancel: &CancelSignal,
        timeout: Duration,
        on_event: &mut (dyn FnMut(&TfEvent) + Send),
    ) -> anyhow::Result<CommandResult> {
        let streaming = Streaming {
            masker: &self.masker,
            log,
            cancel,
            timeout,
            interrupt_grace: self.interrupt_grace,
        };
        run_streaming(command, streaming, on_event)
            .await
            .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", self.binary.display()))
    }
}
