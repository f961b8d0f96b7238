//! Wiring: builds the live objects from the validated config, and turns one chat request
//! (actor, channel, text) into an answer plus, for mutating verbs, a queued run. The only
//! place that names every concrete type; the console and Slack front ends both call
//! [`App::handle`], so they share one pipeline.

use crate::audit_log::AuditLog;
use crate::command::{self, ChatCommand, ParseContext, Verb};
use crate::config::sizes::VariableSets;
use crate::config::Config;
use crate::masker::Masker;
use crate::model::{ChannelId, EnvName, RunId, RunOutcome, SizeName, SlackUserId};
use crate::outlet::{MessageHandle, Outlet};
use crate::policy::{self, Actor, Decision};
use crate::queue::{CancelOutcome, JobQueue, Position};
use crate::render::views::{HelpView, NoticeView, RejectedView};
use crate::render::{Message, RenderError, Renderer};
use crate::state_reads::StateReads;
use crate::status::TerraformView;
use crate::store::{AuditEntry, NewRun, Store};
use crate::terraform::progress::Progress;
use crate::terraform::runner::{TerraformRunner, Workspace};
use anyhow::Context;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

pub use crate::console::{run_check, run_exec, run_shell};

/// How a one-shot command ended, for `exec`'s exit code (SPEC §11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitClass {
    /// Success or no changes (also: an answer such as `status`).
    Success,
    /// Failed, cancelled, timed out or interrupted.
    Failed,
    /// Rejected: bad input, denied, bad config.
    Rejected,
}

impl ExitClass {
    pub fn code(self) -> u8 {
        match self {
            ExitClass::Success => 0,
            ExitClass::Failed => 1,
            ExitClass::Rejected => 2,
        }
    }

    pub fn of_outcome(outcome: RunOutcome) -> ExitClass {
        match outcome {
            RunOutcome::Succeeded | RunOutcome::NoChanges | RunOutcome::AwaitingApproval => {
                ExitClass::Success
            }
            RunOutcome::Rejected => ExitClass::Rejected,
            _ => ExitClass::Failed,
        }
    }
}

/// One command as it arrives from any front end.
#[derive(Clone, Debug)]
pub struct Request {
    pub actor: Actor,
    pub channel: ChannelId,
    pub text: String,
}

/// Who sees the answer: only the requester (errors, denials) or the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    Requester,
    Channel,
}

/// The immediate answer to a request.
#[derive(Debug)]
pub struct Reply {
    pub message: Message,
    pub visibility: Visibility,
    pub class: ExitClass,
    /// The run this request started or acted on, whose end a caller (exec) may await.
    pub run: Option<RunId>,
}

/// The bot: everything a request needs, shared by all front ends and jobs.
pub struct App {
    pub config: Config,
    pub sizes: VariableSets,
    pub renderer: Renderer,
    pub store: Store,
    /// Audit lines, group-committed by a writer thread; `handle` returns after its lines are
    /// durable.
    pub audit_log: Arc<AuditLog>,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    pub runner: TerraformRunner,
    pub queue: JobQueue,
    pub masker: Arc<Masker>,
    pub outlet: Arc<dyn Outlet>,
    pub state_dir: PathBuf,
    /// Run end notifications for callers that wait (exec, tests). A std Mutex: touched only
    /// for inserts and lookups.
    run_watchers: Mutex<HashMap<RunId, watch::Sender<Option<RunOutcome>>>>,
    /// The message each active run updates in place.
    pub(crate) run_messages: Mutex<HashMap<RunId, MessageHandle>>,
    /// Live progress of the runs going in this process, for `status`.
    pub(crate) live: Mutex<HashMap<RunId, Arc<Mutex<Progress>>>>,
    /// Terraform's view of each environment, read once for many `status` commands.
    pub(crate) state_reads: StateReads<TerraformView>,
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
        let masker = Arc::new(Masker::from_env(config.mask_regexes()));
        let renderer = Renderer::load(&config.terraform.templates)
            .with_context(|| {
                format!(
                    "compiling templates in {}",
                    config.terraform.templates.display()
                )
            })?
            .with_masker((*masker).clone());
        let state_dir = config.store.dir.clone();
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("creating the state directory {}", state_dir.display()))?;
        let store = Store::open_in_dir(&state_dir)
            .with_context(|| format!("opening the store in {}", state_dir.display()))?;
        let audit_log = AuditLog::start(
            Store::open_in_dir(&state_dir)
                .with_context(|| format!("opening the store in {}", state_dir.display()))?,
        );
        let runner = TerraformRunner::new(&config.terraform.binary, Arc::clone(&masker))
            .with_interrupt_grace(config.terraform.interrupt_grace);
        let queue = JobQueue::new(&state_dir);
        let app = Arc::new(App {
            config,
            sizes,
            renderer,
            store,
            audit_log,
            metrics: Arc::new(crate::metrics::Metrics::default()),
            runner,
            queue,
            masker,
            outlet,
            state_dir,
            run_watchers: Mutex::new(HashMap::new()),
            run_messages: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            state_reads: StateReads::default(),
        });
        Ok(app)
    }

    /// Marks runs left `running` or `queued` by a dead process as interrupted and reports
    /// them in their channel. Runs of live processes (an `exec` next to `serve`) are left
    /// alone.
    pub fn recover_interrupted_runs(&self) -> anyhow::Result<Vec<RunId>> {
        // Our own pid counts as dead: a restarted container often gets its predecessor's pid.
        let me = std::process::id();
        let interrupted = self.store.mark_interrupted_dead_runs(
            |pid| pid != me && process_is_alive(i64::from(pid)),
            chrono::Utc::now(),
        )?;
        let mut ids = Vec::new();
        for run in interrupted {
            ids.push(run.id);
            let mut view = crate::run::finished_view_from_record(&run);
            let mut note: String = match run.interrupted_from {
                Some(RunOutcome::Queued) => "the bot stopped before this queued run started; it was dropped, not run".into(),
                _ => "the bot stopped while this run was going; check `status` before running it again".into(),
            };
            if let Some(lock) = self
                .workspace(&run.env)
                .and_then(|ws| ws.leftover_local_lock())
            {
                note.push_str(&format!(
                    ". Terraform's state lock {} ({} by {} since {}) is still held: once no terraform process of that run is left, an admin can release it with `unlock {}`",
                    lock.id, lock.operation, lock.who, lock.created, lock.id
                ));
            }
            view.note = Some(self.masker.mask(&note).into_owned());
            let message = self.message(self.renderer.finished(RunOutcome::Interrupted, &view));
            self.outlet.post(&run.channel, &message);
        }
        Ok(ids)
    }

    pub fn workspace(&self, env: &EnvName) -> Option<Workspace> {
        let env_config = self.config.env(env)?;
        Some(Workspace {
            root_dir: env_config.terraform_dir.clone(),
            work_dir: self.state_dir.join("envs").join(env.as_str()),
            workspace: env_config.workspace.clone(),
            backend_config: env_config.backend_config.clone(),
        })
    }

    /// Resources done and total of a run going in this process.
    pub fn live_progress(&self, run: RunId) -> Option<(usize, usize)> {
        let live = self.live.lock().expect("live lock poisoned");
        let progress = live.get(&run)?.lock().expect("progress lock poisoned");
        Some((progress.resources_done, progress.resources_total))
    }

    /// The phase of a run going in this process.
    pub fn live_phase(&self, run: RunId) -> Option<String> {
        let live = self.live.lock().expect("live lock poisoned");
        let progress = live.get(&run)?.lock().expect("progress lock poisoned");
        Some(progress.phase.as_str().to_string())
    }

    /// Subscribes to a run's end; `None` until it ends.
    pub fn watch_run(&self, run: RunId) -> watch::Receiver<Option<RunOutcome>> {
        let mut watchers = self.run_watchers.lock().expect("watchers lock poisoned");
        watchers
            .entry(run)
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    pub(crate) fn notify_run_ended(&self, run: RunId, outcome: RunOutcome) {
        let duration = self
            .store
            .get_run(run)
            .ok()
            .flatten()
            .and_then(|record| (chrono::Utc::now() - record.created_at).to_std().ok());
        self.metrics.count_run(outcome.db_key(), duration);
        let mut watchers = self.run_watchers.lock().expect("watchers lock poisoned");
        watchers
            .entry(run)
            .or_insert_with(|| watch::channel(None).0)
            .send_replace(Some(outcome));
    }

    fn audit(&self, request: &Request, env: Option<&EnvName>, decision: &str, run: Option<RunId>) {
        self.audit_line(
            &request.actor.id,
            &request.channel,
            env,
            &request.text,
            decision,
            run,
        );
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

    /// A rendered message; a template failure (templates are checked at start, so this means
    /// a bug) still gives the user a plain answer.
    pub fn message(&self, rendered: Result<Message, RenderError>) -> Message {
        rendered.unwrap_or_else(|error| {
            tracing::error!(%error, "rendering failed");
            Message {
                text: format!("(message could not be rendered: {error})"),
                blocks: Vec::new(),
            }
        })
    }

    /// A short answer (acks, cancel, hold, ...).
    pub fn notice(&self, text: &str) -> Message {
        self.message(self.renderer.notice(&NoticeView {
            text: text.to_string(),
        }))
    }

    fn rejected(
        &self,
        request: &Request,
        env: Option<&EnvName>,
        why: &str,
        audit_as: &str,
    ) -> Reply {
        self.audit(request, env, &format!("{audit_as}: {why}"), None);
        let view = RejectedView {
            env: env.cloned(),
            command: self.masker.mask(&request.text).into_owned(),
            reason: why.to_string(),
        };
        Reply {
            message: self.message(self.renderer.rejected(&view)),
            visibility: Visibility::Requester,
            class: ExitClass::Rejected,
            run: None,
        }
    }

    fn parse_context(&self) -> ParseContext {
        ParseContext {
            sizes: self.sizes.names(),
            envs: self.config.env_names(),
            max_lease: self.config.largest_max_lease(),
        }
    }

    /// The whole pipeline for one request: parse → environment → policy → verb. Returns once
    /// the request's audit lines are committed.
    pub async fn handle(self: &Arc<Self>, request: Request) -> Reply {
        let parsed = command::parse(&request.text, &self.parse_context());
        let verb = parsed
            .as_ref()
            .map(|parsed| parsed.verb.name())
            .unwrap_or("invalid");
        let reply = self.handle_unflushed(request, parsed).await;
        self.audit_log.flushed().await;
        let outcome = match reply.class {
            ExitClass::Success => "ok",
            ExitClass::Failed => "failed",
            ExitClass::Rejected => "rejected",
        };
        self.metrics.count_command(verb, outcome);
        reply
    }

    async fn handle_unflushed(
        self: &Arc<Self>,
        request: Request,
        parsed: Result<ChatCommand, command::ParseError>,
    ) -> Reply {
        let parsed = match parsed {
            Ok(parsed) => parsed,
            Err(error) => return self.rejected(&request, None, &error.to_string(), "bad input"),
        };
        let ChatCommand { verb, env } = parsed;
        if let Verb::Help { topic } = &verb {
            self.audit(&request, None, "allowed", None);
            let text = command::help_text(topic.as_deref());
            return self.answer(self.message(self.renderer.help(&HelpView { text })));
        }
        let env = match self.config.resolve_env(env.as_ref(), &request.channel) {
            Ok(env) => env,
            Err(why) => return self.rejected(&request, None, &why, "bad input"),
        };
        // The lease bound depends on the environment, known only now.
        if let Verb::Up {
            lease: Some(lease), ..
        }
        | Verb::Extend { by: lease } = &verb
        {
            let max = self
                .config
                .env(&env)
                .map(|e| e.max_lease)
                .unwrap_or_default();
            if *lease > max {
                let why = format!(
                    "the longest lease in `{env}` is {}",
                    humantime::format_duration(max)
                );
                return self.rejected(&request, Some(&env), &why, "bad input");
            }
        }
        let decision = policy::decide(&self.config, &request.actor, &verb, &env, &request.channel);
        let needs_approval = match decision {
            Decision::Deny { message, .. } => {
                return self.rejected(&request, Some(&env), &message, "denied")
            }
            Decision::Allow { needs_approval, .. } => needs_approval,
        };
        crate::verbs::dispatch(self, request, env, verb, needs_approval).await
    }

    pub(crate) fn answer(&self, message: Message) -> Reply {
        Reply {
            message,
            visibility: Visibility::Channel,
            class: ExitClass::Success,
            run: None,
        }
    }

    pub(crate) fn audit_allowed(
        &self,
        request: &Request,
        env: &EnvName,
        decision: &str,
        run: Option<RunId>,
    ) {
        self.audit(request, Some(env), decision, run);
    }

    pub(crate) fn reject_with(&self, request: &Request, env: &EnvName, why: &str) -> Reply {
        self.rejected(request, Some(env), why, "refused")
    }

    /// Creates a run record for a mutating or plan-only verb.
    pub(crate) fn create_run(
        &self,
        request: &Request,
        env: &EnvName,
        verb: &Verb,
        size: Option<&SizeName>,
    ) -> anyhow::Result<RunId> {
        let run = self.store.create_run(&NewRun {
            env: env.clone(),
            verb: verb.name().to_string(),
            args: verb.args_text(),
            size: size.cloned(),
            actor: request.actor.id.clone(),
            channel: request.channel.clone(),
            outcome: RunOutcome::Queued,
            owner_pid: Some(std::process::id()),
            created_at: chrono::Utc::now(),
        })?;
        Ok(run)
    }

    pub(crate) fn queue_position_text(position: Position) -> String {
        match position {
            Position::StartsNow => "starting now".to_string(),
            Position::Queued(1) => "queued, next in line".to_string(),
            Position::Queued(n) => format!("queued, position {n}"),
        }
    }

    pub(crate) fn cancel_text(&self, outcome: CancelOutcome) -> String {
        match outcome {
            CancelOutcome::RemovedQueued(run) => {
                format!("cancelled queued run #{run}; it will not run")
            }
            CancelOutcome::StoppingRunning(run) => {
                format!("stopping run #{run}: Terraform got SIGINT and will stop gracefully")
            }
            CancelOutcome::NothingToCancel => {
                "nothing to cancel: no run is queued or running".to_string()
            }
        }
    }
}

/// Whether a process with this pid exists (signal 0 probes without signalling).
pub fn process_is_alive(pid: i64) -> bool {
    if pid <= 0 || pid > i64::from(i32::MAX) {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
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
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
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

/// The actor the console acts as: an admin, or the given Slack user.
pub fn console_actor(as_user: Option<String>) -> Actor {
    match as_user {
        Some(user) => Actor::slack(SlackUserId::new(user)),
        None => Actor::console(),
    }
}

/// Resolves the config path (already chosen by the CLI) and loads it.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|errors| anyhow::anyhow!("{errors}"))
}
