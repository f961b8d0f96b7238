//! The shared services every layer below the front ends works with: the validated config and
//! variable sets, the renderer, the store, the Terraform runner, the masker, the outlet
//! messages leave through, the metrics. Built once by [`crate::app::App::build`] and shared in
//! an `Arc`; plain handles plus the few lookups everyone needs (a message from a template, an
//! environment's workspace, a time in its zone). No pipeline logic lives here.

use crate::config::sizes::VariableSets;
use crate::config::Config;
use crate::masker::Masker;
use crate::metrics::Metrics;
use crate::model::{EnvName, RunId};
use crate::outlet::Outlet;
use crate::render::views::NoticeView;
use crate::render::{Message, RenderError, Renderer};
use crate::store::Store;
use crate::terraform::runner::{TerraformRunner, Workspace};
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use std::sync::Arc;

pub struct Services {
    pub config: Config,
    pub sizes: VariableSets,
    pub renderer: Renderer,
    pub store: Store,
    pub runner: TerraformRunner,
    pub masker: Arc<Masker>,
    /// Where messages go: the console, or Slack's outbox.
    pub outlet: Arc<dyn Outlet>,
    pub metrics: Arc<Metrics>,
    /// Everything mutable: the store, run directories, Terraform data dirs, locks.
    pub state_dir: PathBuf,
}

impl Services {
    /// A rendered message; a template failure (templates are checked at start, so this means
    /// a bug) still gives the user a plain answer.
    pub fn message(&self, rendered: Result<Message, RenderError>) -> Message {
        rendered.unwrap_or_else(|error| {
            tracing::error!(%error, "rendering failed");
            Message::text(format!("(message could not be rendered: {error})"))
        })
    }

    /// A short answer (acks, cancel, hold, ...).
    pub fn notice(&self, text: &str) -> Message {
        self.message(self.renderer.notice(&NoticeView {
            text: text.to_string(),
        }))
    }

    /// Where Terraform runs for `env`: its root, and its data dir under the state directory.
    pub fn workspace(&self, env: &EnvName) -> Option<Workspace> {
        let env_config = self.config.env(env)?;
        Some(Workspace {
            root_dir: env_config.terraform_dir.clone(),
            work_dir: self.state_dir.join("envs").join(env.as_str()),
            workspace: env_config.workspace.clone(),
            backend_config: env_config.backend_config.clone(),
        })
    }

    /// A run's own directory: its log, var file and saved plan.
    pub fn run_dir(&self, run: RunId) -> PathBuf {
        self.state_dir.join("runs").join(run.0.to_string())
    }

    /// A time in the environment's zone, e.g. `2026-11-26 22:00 JST`.
    pub fn format_time(&self, env: &EnvName, at: DateTime<Utc>) -> String {
        match self.config.env(env).map(|e| e.timezone) {
            Some(zone) => at
                .with_timezone(&zone)
                .format("%Y-%m-%d %H:%M %Z")
                .to_string(),
            None => at.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}
