//! Runs the real `loadtest-bot` binary against a config written into a temp directory, with
//! its own state directory. Either with the real Terraform (and a moto endpoint) or with a
//! recorder in Terraform's place, to prove that a command started no Terraform process.

use loadtest_bot::store::Store;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bot_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_loadtest-bot"))
}

/// What one run of the binary printed and how it exited.
#[derive(Debug)]
pub struct ExecResult {
    pub command: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ExecResult {
    pub fn from_output(command: Vec<String>, output: Output) -> Self {
        Self {
            command,
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

pub struct BotFixture {
    pub dir: tempfile::TempDir,
    config: PathBuf,
}

const ACCESS: &str = r#"
[access]
admins = ["U0ADMIN"]
operators = ["U0OPERATOR"]
viewers = ["U0VIEWER"]
"#;

impl BotFixture {
    /// Terraform replaced by a script that records its arguments and fails.
    pub fn with_recording_terraform() -> Self {
        Self::recording(false)
    }

    pub fn with_recording_terraform_and_access() -> Self {
        Self::recording(true)
    }

    fn recording(access: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let recorder = dir.path().join("terraform-recorder");
        let calls = dir.path().join("terraform-calls");
        std::fs::write(
            &recorder,
            format!("#!/bin/sh\necho \"$@\" >> '{}'\nexit 1\n", calls.display()),
        )
        .unwrap();
        make_executable(&recorder);
        let extra = if access { ACCESS } else { "" };
        Self::new(
            dir,
            &recorder.display().to_string(),
            "http://127.0.0.1:9",
            extra,
            "",
        )
    }

    /// Terraform replaced by `tests/support/fake-terraform` (modes chosen per command through
    /// `FAKE_TF_MODE`), with short timeouts so faults resolve in seconds. Terraform starts with
    /// an allow-listed environment, so the fake's settings are passed through by name.
    pub fn with_fake_terraform() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let fake = repo_root().join("tests/support/fake-terraform");
        let fixture = Self::new(
            dir,
            &fake.display().to_string(),
            "http://127.0.0.1:9",
            "",
            "",
        );
        let text = std::fs::read_to_string(&fixture.config).unwrap().replace(
            "plan_timeout = \"10m\"",
            "plan_timeout = \"3s\"\ninterrupt_grace = \"2s\"\n\
             env_passthrough = [\"FAKE_TF_MODE\", \"FAKE_TF_CALLS\", \"FAKE_TF_EVENTS\", \
             \"FAKE_TF_APPLY_SECONDS\", \"FAKE_TF_ENV_DUMP\", \"LOADTEST_TEST_PASSTHROUGH\"]",
        );
        std::fs::write(&fixture.config, text).unwrap();
        fixture
    }

    /// The real Terraform from PATH (`make test` puts the pinned one there) against moto.
    pub fn with_terraform(endpoint: &str, extra_config: &str, extra_env_config: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::new(dir, "terraform", endpoint, extra_config, extra_env_config)
    }

    fn new(
        dir: tempfile::TempDir,
        binary: &str,
        endpoint: &str,
        extra: &str,
        extra_env: &str,
    ) -> Self {
        let root = repo_root();
        let state = dir.path().join("state");
        let sizes = dir.path().join("sizes.toml");
        // The shipped sets plus test-only ones (appended by tests through `extra_sizes`).
        std::fs::copy(root.join("commands/sizes.toml"), &sizes)
            .expect("commands/sizes.toml exists");
        let text = format!(
            r#"
[terraform]
binary = "{binary}"
plan_timeout = "10m"
apply_timeout = "20m"
sizes = "{sizes}"
templates = "{templates}"

[store]
dir = "{state}"

[environments.local]
terraform_dir = "{tfdir}"
default = true
default_lease = "8h"
max_lease = "24h"
{extra_env}

[environments.local.tf_vars]
aws_endpoint = "{endpoint}"
{extra}
"#,
            sizes = sizes.display(),
            templates = root.join("commands/templates").display(),
            state = state.display(),
            tfdir = root.join("terraform/envs/local").display(),
        );
        // Nothing on the emulator reports readiness (no host boots): wait one look, not the
        // default 10 minutes, unless the test sets its own.
        let text = if extra_env.contains("ready_timeout") {
            text
        } else {
            text.replace(
                "max_lease = \"24h\"\n",
                "max_lease = \"24h\"\nready_timeout = \"1s\"\n",
            )
        };
        let config = dir.path().join("loadtest.toml");
        std::fs::write(&config, text).unwrap();
        BotFixture { dir, config }
    }

    /// Appends variable sets to this fixture's copy of sizes.toml.
    pub fn extra_sizes(&self, toml_text: &str) {
        let path = self.dir.path().join("sizes.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push('\n');
        text.push_str(toml_text);
        std::fs::write(path, text).unwrap();
    }

    /// Appends top-level sections (e.g. `[access]`, `[approval]`) to the config.
    pub fn append_config(&self, toml_text: &str) {
        let mut text = std::fs::read_to_string(&self.config).unwrap();
        text.push('\n');
        text.push_str(toml_text);
        std::fs::write(&self.config, text).unwrap();
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn write_config(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A command for the bot binary with a clean environment for it: no Slack tokens, no
    /// state dir override, run from the repo root.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(bot_binary());
        command
            .args(args)
            .current_dir(repo_root())
            .env_remove("LOADTEST_STATE_DIR")
            .env_remove("LOADTEST_CONFIG")
            .env_remove("LOADTEST_LISTEN")
            .env_remove("SLACK_BOT_TOKEN")
            .env_remove("SLACK_APP_TOKEN")
            .env_remove("SLACK_SIGNING_SECRET")
            .env_remove("TF_VAR_aws_endpoint")
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> ExecResult {
        let output = self.command(args).output().expect("run loadtest-bot");
        ExecResult::from_output(args.iter().map(|s| s.to_string()).collect(), output)
    }

    pub fn exec(&self, words: &[&str]) -> ExecResult {
        let config = self.config.display().to_string();
        let mut args = vec!["--config", config.as_str(), "exec", "--"];
        args.extend_from_slice(words);
        self.run(&args)
    }

    pub fn exec_as(&self, user: &str, words: &[&str]) -> ExecResult {
        let config = self.config.display().to_string();
        let mut args = vec!["--config", config.as_str(), "exec", "--as", user, "--"];
        args.extend_from_slice(words);
        self.run(&args)
    }

    pub fn terraform_calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("terraform-calls")).unwrap_or_default()
    }

    pub fn terraform_was_called(&self) -> bool {
        self.dir.path().join("terraform-calls").exists()
    }

    pub fn store(&self) -> Store {
        Store::open_in_dir(&self.state_dir()).expect("open the bot's store")
    }

    /// Every audited decision, oldest first.
    pub fn audit_decisions(&self) -> Vec<String> {
        let mut records = self.store().recent_audit(10_000).expect("read audit");
        records.reverse();
        records.into_iter().map(|r| r.entry.decision).collect()
    }
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = std::fs::metadata(path).unwrap().permissions();
    permissions.set_mode(0o755);
    std::fs::set_permissions(path, permissions).unwrap();
}
