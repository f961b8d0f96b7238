//! Helpers shared by the integration tests: the bot fixture ([`bot`]), the local AWS emulator
//! and what really runs in it ([`moto`]), and running Terraform on a root of `terraform/` with
//! every file it writes (data dir, state, plans) kept in a temp directory.
//!
//! Missing tools are failures, never skips: [`terraform_binary`] and
//! [`moto::MotoServer::start`] panic with a message naming what to install.

pub mod bot;
pub mod fake_slack;
pub mod moto;
pub mod recording;
pub mod serve;
pub mod shell;
pub mod world;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

/// The checkout (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where `scripts/bootstrap` installs the tools: `$LOADTEST_TOOLS_DIR`, else `<repo>/.tools`.
pub fn tools_dir() -> PathBuf {
    match std::env::var_os("LOADTEST_TOOLS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join(".tools"),
    }
}

/// The first executable `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Terraform: the pinned one from bootstrap (`<tools>/bin/terraform`), else `terraform` or
/// `tofu` on PATH. Panics when there is none.
pub fn terraform_binary() -> PathBuf {
    let pinned = tools_dir().join("bin/terraform");
    if is_executable(&pinned) {
        return pinned;
    }
    find_on_path("terraform")
        .or_else(|| find_on_path("tofu"))
        .unwrap_or_else(|| {
            panic!(
                "Terraform is missing: neither {} nor `terraform`/`tofu` on PATH. \
             Run `scripts/bootstrap` (or `make test`, which runs it) to install the pinned \
             Terraform and the AWS provider mirror.",
                pinned.display()
            )
        })
}

/// `git status --porcelain --ignored --untracked-files=all terraform`, plus every path under
/// `terraform/` (git does not list files inside an ignored directory): what a test may not
/// change.
pub fn terraform_tree_snapshot() -> String {
    let root = repo_root();
    let output = Command::new("git")
        .args([
            "status",
            "--porcelain",
            "--ignored",
            "--untracked-files=all",
            "--",
            "terraform",
        ])
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .expect("run git status");
    assert!(
        output.status.success(),
        "git status failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut snapshot = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut paths = Vec::new();
    list_files(&root.join("terraform"), &root, &mut paths);
    paths.sort();
    snapshot.push_str("-- files --\n");
    for path in paths {
        snapshot.push_str(&path);
        snapshot.push('\n');
    }
    snapshot
}

fn list_files(dir: &Path, base: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            list_files(&path, base, out);
        } else {
            out.push(
                path.strip_prefix(base)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
            );
        }
    }
}

/// `terraform init` installs the provider through the shared plugin cache, which is not safe
/// for concurrent writers: tests that run in parallel take turns.
fn init_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Terraform on one root (`terraform/envs/<name>`) with everything it writes under `state_dir`:
/// `TF_DATA_DIR`, the local backend's state, plans. Nothing lands in the source tree.
pub struct Terraform {
    binary: PathBuf,
    root: PathBuf,
    state_dir: PathBuf,
}

impl Terraform {
    pub fn new(root_name: &str, state_dir: &Path) -> Self {
        Self::for_root(
            &repo_root().join("terraform/envs").join(root_name),
            state_dir,
        )
    }

    /// A root outside `terraform/envs` (e.g. `terraform/bootstrap`).
    pub fn for_root(root: &Path, state_dir: &Path) -> Self {
        let root = root.to_path_buf();
        assert!(
            root.join("main.tf").is_file(),
            "no Terraform root at {}",
            root.display()
        );
        std::fs::create_dir_all(state_dir).expect("create the state dir");
        Terraform {
            binary: terraform_binary(),
            root,
            state_dir: state_dir.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn state_file(&self) -> PathBuf {
        self.state_dir.join("terraform.tfstate")
    }

    /// `terraform -chdir=<root> <args>` with a clean, test-owned environment.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(&self.binary);
        command
            .arg(format!("-chdir={}", self.root.display()))
            .args(args);
        // Nobody's TF_VAR_* (e.g. TF_VAR_aws_endpoint of a running `make run`) leaks in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TF_VAR_") {
                command.env_remove(key);
            }
        }
        command
            .env("TF_DATA_DIR", self.state_dir.join("tf-data"))
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env_remove("TF_WORKSPACE")
            .env_remove("TF_CLI_ARGS")
            .stdin(Stdio::null());
        // Outside `make test` (which sources .tools/env) use bootstrap's provider mirror.
        let tools = tools_dir();
        if std::env::var_os("TF_CLI_CONFIG_FILE").is_none() && tools.join("terraformrc").is_file() {
            command.env("TF_CLI_CONFIG_FILE", tools.join("terraformrc"));
        }
        if std::env::var_os("TF_PLUGIN_CACHE_DIR").is_none() && tools.join("plugin-cache").is_dir()
        {
            command.env("TF_PLUGIN_CACHE_DIR", tools.join("plugin-cache"));
        }
        command
    }

    /// Runs Terraform and returns what it printed, whatever the exit status.
    pub fn try_run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()))
    }

    /// Runs Terraform and panics, with its output, unless it succeeds. Returns stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let output = self.try_run(args);
        assert!(
            output.status.success(),
            "terraform {} failed ({}) in {}:\n--- stdout ---\n{}\n--- stderr ---\n{}",
            args.join(" "),
            output.status,
            self.root.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `init` with the local backend's state in the state dir; the committed lock file is
    /// used as is (`-lockfile=readonly`).
    pub fn init_with_local_state(&self) {
        let backend = format!("-backend-config=path={}", self.state_file().display());
        let _guard = init_lock();
        self.run(&[
            "init",
            "-input=false",
            "-no-color",
            "-lockfile=readonly",
            &backend,
        ]);
    }

    /// `init -backend=false` (enough for `validate`), lock file read-only.
    pub fn init_without_backend(&self) {
        let _guard = init_lock();
        self.run(&[
            "init",
            "-input=false",
            "-no-color",
            "-backend=false",
            "-lockfile=readonly",
        ]);
    }

    /// `terraform output -json`, parsed to name → value.
    pub fn outputs(&self) -> serde_json::Map<String, serde_json::Value> {
        let text = self.run(&["output", "-json", "-no-color"]);
        let parsed: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("terraform output -json: {e}\n{text}"));
        parsed
            .as_object()
            .unwrap_or_else(|| panic!("terraform output -json is not an object: {text}"))
            .iter()
            .map(|(name, output)| (name.clone(), output["value"].clone()))
            .collect()
    }
}
