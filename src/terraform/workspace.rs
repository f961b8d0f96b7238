//! Where one environment's Terraform lives: its root module (read-only, in the source tree) and
//! its mutable files under the state directory (data dir, local state, init stamp). Knows how
//! to tell whether `init` must run again; spawns nothing.

use crate::terraform::events::StateLock;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// Backend settings from the config, written to a private file for `init`.
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
    pub fn leftover_local_lock(&self) -> Option<StateLock> {
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
        (!id.is_empty()).then(|| StateLock {
            id,
            path: field("Path"),
            who: field("Who"),
            operation: field("Operation"),
            created: field("Created"),
        })
    }

    /// Where `init` reads the configured backend settings from (mode 0600).
    pub fn backend_config_file(&self) -> PathBuf {
        self.work_dir.join("backend-config.hcl")
    }

    /// The backend settings as a `-backend-config` file: `key = "value"` lines, values as
    /// quoted HCL strings (JSON escapes, template sequences `${`/`%{` escaped as `$${`/`%%{`).
    pub fn backend_config_hcl(&self) -> String {
        self.backend_config
            .iter()
            .map(|(key, value)| {
                let quoted = serde_json::to_string(value)
                    .unwrap_or_default()
                    .replace("${", "$${")
                    .replace("%{", "%%{");
                format!("{key} = {quoted}\n")
            })
            .collect()
    }

    pub(super) fn init_stamp_path(&self) -> PathBuf {
        self.data_dir().join("loadtest-init.sha256")
    }

    /// Hash of everything `init` depends on: the lock file, the backend settings and the
    /// root's and modules' `.tf` files (module sources are local paths).
    pub fn init_inputs_hash(&self) -> std::io::Result<String> {
        let mut hasher = Sha256::new();
        let mut files = Vec::new();
        collect_tf_files(&self.root_dir, &mut files)?;
        if let Some(modules) = self
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
        for (key, value) in &self.backend_config {
            hasher.update(format!("{key}={value}\n").as_bytes());
        }
        hasher.update(self.local_state_path().to_string_lossy().as_bytes());
        hasher.update(self.workspace.as_bytes());
        Ok(format!("{:x}", hasher.finalize()))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_settings_become_quoted_hcl_lines() {
        let ws = Workspace {
            root_dir: PathBuf::from("/r"),
            work_dir: PathBuf::from("/w"),
            workspace: "default".into(),
            backend_config: BTreeMap::from([
                ("bucket".to_string(), "tfstate-loadtest".to_string()),
                (
                    "key".to_string(),
                    "a \"quoted\" ${not_a_template} %{x}\\".to_string(),
                ),
            ]),
        };
        assert_eq!(
            ws.backend_config_hcl(),
            "bucket = \"tfstate-loadtest\"\nkey = \"a \\\"quoted\\\" $${not_a_template} %%{x}\\\\\"\n"
        );
        assert_eq!(
            ws.backend_config_file(),
            PathBuf::from("/w/backend-config.hcl")
        );
    }
}
