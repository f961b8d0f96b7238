//! Wiring: builds the live objects from the validated config, and hands them down as one
//! small context: the shared [`Services`], the [`Runs`] and [`LoadTests`] services, the audit writer and the
//! cache of Terraform state reads. The only place that names every concrete type. It holds
//! handles, not logic: the pipeline (`pipeline`) and the verbs (`verbs`) do the work.

use crate::audit_log::AuditLog;
use crate::config::sizes::VariableSets;
use crate::config::Config;
use crate::load_tests::LoadTests;
use crate::masker::Masker;
use crate::model::{ChannelId, EnvName, RunId, SlackUserId};
use crate::outlet::Outlet;
use crate::render::Renderer;
use crate::runs::Runs;
use crate::services::Services;
use crate::store::{AuditEntry, Store};
use crate::terraform::runner::TerraformRunner;
use crate::terraform::state::StateView;
use crate::terraform::state_reads::StateReads;
use anyhow::Context;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

/// The bot: the shared services plus what the pipeline needs besides them.
pub struct App {
    pub services: Arc<Services>,
    pub runs: Arc<Runs>,
    /// Load tests from `run`: started on the master, followed, their results posted.
    pub load_tests: Arc<LoadTests>,
    /// Audit lines, group-committed by a writer thread; the pipeline returns after its lines
    /// are durable.
    pub audit_log: Arc<AuditLog>,
    /// Terraform's view of each environment, read once for many `status` commands.
    pub state_reads: StateReads<StateView>,
}

/// The services are read through the app everywhere (`app.store`, `app.config`).
impl Deref for App {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl App {
    /// Builds the live objects from a validated config. Fails with the file and key of any
    /// problem (config, variable sets, templates, store).
    pub fn build(config: Config, outlet: Arc<dyn Outlet>) -> anyhow::Result<Arc<App>> {
        let sizes = VariableSets::load(&config.terraform.sizes).with_context(|| {
            format!(
                "loading variable sets from {}",
                config.terraform.sizes.display()
            )
        })?;
        let masker = Arc::new(Masker::from_env_and_values(
            config.backend_config_values(),
            config.mask_regexes(),
        )?);
        let renderer = Renderer::load(&config.terraform.templates)
            .with_context(|| {
                format!(
                    "compiling templates in {}",
                    config.terraform.templates.display()
                )
            })?
            .with_masker((*masker).clone());
        let state_dir = config.store.dir.clone();
        crate::private_fs::create_private_dir_all(&state_dir)
            .with_context(|| format!("creating the state directory {}", state_dir.display()))?;
        let open_store = || {
            Store::open_in_dir(&state_dir)
                .with_context(|| format!("opening the store in {}", state_dir.display()))
        };
        let store = open_store()?;
        let audit_log = AuditLog::start(open_store()?);
        let runner = TerraformRunner::new(&config.terraform.binary, Arc::clone(&masker))
            .with_interrupt_grace(config.terraform.interrupt_grace)
            .with_env_passthrough(config.terraform.env_passthrough.clone());
        let services = Arc::new(Services {
            config,
            sizes,
            renderer,
            store,
            runner,
            masker,
            outlet,
            metrics: Arc::new(crate::metrics::Metrics::default()),
            state_dir,
        });
        Ok(Arc::new(App {
            runs: Runs::new(Arc::clone(&services)),
            load_tests: LoadTests::new(Arc::clone(&services)),
            services,
            audit_log,
            state_reads: StateReads::default(),
        }))
    }

    /// Queues one audit line, command and decision masked. It is committed by the writer
    /// thread together with concurrent lines; callers that answer someone await
    /// `audit_log.flushed()` first (`handle` does).
    pub fn audit_line(
        &self,
        actor: &SlackUserId,
        channel: &ChannelId,
        env: Option<&EnvName>,
        command: &str,
        decision: &str,
        run: Option<RunId>,
    ) {
        self.audit_log.record(AuditEntry {
            actor: actor.clone(),
            channel: channel.clone(),
            env: env.cloned(),
            command: self.masker.mask(&truncate_for_audit(command)).into_owned(),
            decision: self.masker.mask(decision).into_owned(),
            run_id: run,
            at: chrono::Utc::now(),
        });
    }
}

fn truncate_for_audit(text: &str) -> String {
    const MAX: usize = 2_000;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// Sets up `tracing`: human-readable by default, JSON when `LOADTEST_LOG=json`.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOADTEST_LOG_LEVEL")
        // The AWS SDK warns once per credential provider it tries; the bot reports what failed
        // in its own words (a note, a result line), so only the SDK's errors are logged.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("warn,aws_config=error,aws_smithy_runtime=error")
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if std::env::var("LOADTEST_LOG").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already initialised (tests): keep the first.
    let _ = result;
}

/// Resolves the config path (already chosen by the CLI) and loads it.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|errors| anyhow::anyhow!("{errors}"))
}

/// [`load_config`] for `serve`, which also refuses a config without `[access]` (every Slack
/// user could operate every environment) unless `open_access = true` is written.
pub fn load_serve_config(path: &Path) -> anyhow::Result<Config> {
    let config = load_config(path)?;
    match config.serve_access_refusal() {
        Some(refusal) => Err(anyhow::anyhow!(refusal)),
        None => Ok(config),
    }
}
