//! Runs: the queue of mutating jobs and the life of each run (variables → init → plan → show →
//! approval stop → apply of the saved plan → report). [`Runs`] is the service the verbs call;
//! it owns the queue, the message each run updates in place, the live progress `status`
//! shows, and the watchers `exec` waits on.
//!
//! A run's outcome lands in the store before the message announcing it is sent, so a crash
//! never leaves a result that exists only in a chat message.
//!
//! - [`queue`] / [`env_lock`]: one job per environment, in this process and across processes.
//! - `job`: the steps of a run; `effects`: its var file, size and lease; `ending`: how a
//!   run ends (store, then message);
//!   `reporter`: throttled progress updates; `messages`: the one message per run.

mod aws_vars;
mod effects;
mod ending;
pub mod env_lock;
mod job;
mod messages;
pub mod queue;
mod reporter;
pub mod retention;

pub use ending::{process_is_alive, this_process};
pub use queue::{CancelOutcome, LaneSnapshot, Position};

use crate::model::{ChannelId, EnvName, RunId, RunOutcome, SizeName, SlackUserId};
use crate::outlet::MessageHandle;
use crate::render::views::RunRef;
use crate::services::Services;
use crate::store::RunRecord;
use crate::terraform::progress::Progress;
use queue::JobQueue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// What a run does, typed from the parsed command to the apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunCommand {
    /// Scale to `size`; the bot scales the environment down again after `lease`.
    Up {
        size: SizeName,
        lease: Duration,
    },
    Down,
    Off,
    /// Plan only: changes nothing, takes no state lock and does not queue.
    Plan {
        target: SizeName,
    },
    /// The environment's current `size` again, with the image pin cleared: the plan shows the
    /// newest image, and its apply pins it.
    RefreshImage {
        size: SizeName,
    },
}

impl RunCommand {
    /// The variable set the run plans.
    pub fn size(&self) -> SizeName {
        match self {
            RunCommand::Up { size, .. } => size.clone(),
            RunCommand::Down => SizeName::DOWN,
            RunCommand::Off => SizeName::OFF,
            RunCommand::Plan { target } => target.clone(),
            RunCommand::RefreshImage { size } => size.clone(),
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            RunCommand::Up { .. } => "up",
            RunCommand::Down => "down",
            RunCommand::Off => "off",
            RunCommand::Plan { .. } => "plan",
            RunCommand::RefreshImage { .. } => "refresh-image",
        }
    }

    pub fn is_plan_only(&self) -> bool {
        matches!(self, RunCommand::Plan { .. })
    }

    /// The lease an `up` sets.
    pub fn lease(&self) -> Option<Duration> {
        match self {
            RunCommand::Up { lease, .. } => Some(*lease),
            _ => None,
        }
    }

    /// The command of a stored run, from its typed columns (verb, size, lease).
    pub fn of_record(record: &RunRecord, default_lease: Duration) -> Option<RunCommand> {
        Some(match record.verb.as_str() {
            "up" => RunCommand::Up {
                size: record.size.clone()?,
                lease: record.lease.unwrap_or(default_lease),
            },
            "down" => RunCommand::Down,
            "off" => RunCommand::Off,
            "plan" => RunCommand::Plan {
                target: record.size.clone()?,
            },
            "refresh-image" => RunCommand::RefreshImage {
                size: record.size.clone()?,
            },
            _ => return None,
        })
    }
}

/// Everything a run needs, fixed when the command was accepted.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub run_id: RunId,
    pub env: EnvName,
    pub command: RunCommand,
    /// The command's arguments as the user reads them (`large for 3h`), for titles only;
    /// never parsed.
    pub args_text: String,
    pub requester: SlackUserId,
    pub channel: ChannelId,
    pub needs_approval: bool,
    /// Set on the apply of an approved plan.
    pub approved_by: Option<SlackUserId>,
}

impl RunSpec {
    fn run_ref(&self) -> RunRef {
        RunRef {
            run_id: self.run_id,
            env: self.env.clone(),
            verb: self.command.verb().to_string(),
            args: self.args_text.clone(),
            actor: self.requester.clone(),
            approved_by: self.approved_by.clone(),
        }
    }

    /// The spec of a stored run (an approved plan's apply).
    fn of_record(record: &RunRecord, command: RunCommand) -> RunSpec {
        RunSpec {
            run_id: record.id,
            env: record.env.clone(),
            command,
            args_text: record.args.clone(),
            requester: record.actor.clone(),
            channel: record.channel.clone(),
            needs_approval: false,
            approved_by: None,
        }
    }
}

/// The run service.
pub struct Runs {
    services: Arc<Services>,
    queue: JobQueue,
    /// Run end notifications for callers that wait (exec, tests). A std Mutex: touched only
    /// for inserts and lookups, never across an await.
    watchers: Mutex<HashMap<RunId, watch::Sender<Option<RunOutcome>>>>,
    /// The message each active run updates in place.
    messages: Mutex<HashMap<RunId, MessageHandle>>,
    /// Live progress of the runs going in this process, for `status`.
    live: Mutex<HashMap<RunId, Arc<Mutex<Progress>>>>,
}

impl Runs {
    pub fn new(services: Arc<Services>) -> Arc<Runs> {
        let queue = JobQueue::new(&services.state_dir);
        retention::spawn_daily(&services);
        Arc::new(Runs {
            services,
            queue,
            watchers: Mutex::new(HashMap::new()),
            messages: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
        })
    }

    /// Queues a run (or, for a plan, starts it at once) and returns the acknowledgement text.
    pub fn submit(self: &Arc<Self>, spec: RunSpec) -> String {
        job::submit(self, spec)
    }

    /// Queues the apply of a plan that was just approved; the acknowledgement text.
    pub fn submit_approved(self: &Arc<Self>, record: RunRecord, approver: &SlackUserId) -> String {
        job::submit_approved(self, record, approver)
    }

    /// `cancel`: drops the newest queued run of `env` (reported at once), else asks the running
    /// one to stop. The answer for the user.
    pub fn cancel(&self, env: &EnvName, by: &SlackUserId) -> (CancelOutcome, String) {
        let outcome = self.queue.cancel(env);
        let text = match outcome {
            CancelOutcome::RemovedQueued(run) => {
                self.finish_removed_queued(run, by);
                format!("cancelled queued run #{run}; it will not run")
            }
            CancelOutcome::StoppingRunning(run) => {
                format!("stopping run #{run}: Terraform got SIGINT and will stop gracefully")
            }
            CancelOutcome::NothingToCancel => {
                "nothing to cancel: no run is queued or running".to_string()
            }
        };
        (outcome, text)
    }

    /// What runs and waits in `env`'s lane in this process.
    pub fn lane(&self, env: &EnvName) -> LaneSnapshot {
        self.queue.snapshot(env)
    }

    /// Whether no job runs or waits in this process.
    pub fn is_idle(&self) -> bool {
        self.queue.is_idle()
    }

    /// Asks every running job to stop (SIGINT to Terraform).
    pub fn cancel_all_running(&self) {
        self.queue.cancel_all_running()
    }

    /// Shutdown: queued runs are dropped and reported, never started by a process that is
    /// going away.
    pub fn drop_waiting(&self, by: &SlackUserId) {
        for (env, run) in self.queue.take_waiting() {
            tracing::warn!(%env, %run, "dropping a queued run at shutdown");
            self.finish_removed_queued(run, by);
        }
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
    pub fn watch(&self, run: RunId) -> watch::Receiver<Option<RunOutcome>> {
        let mut watchers = self.watchers.lock().expect("watchers lock poisoned");
        watchers
            .entry(run)
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    /// Counts the run's end and wakes whoever waits for it.
    fn notify_ended(&self, run: RunId, outcome: RunOutcome) {
        let duration = self
            .services
            .store
            .get_run(run)
            .ok()
            .flatten()
            .and_then(|record| (chrono::Utc::now() - record.created_at).to_std().ok());
        self.services.metrics.count_run(outcome.db_key(), duration);
        // A run that is over needs its saved plan no more (it embeds the prior state).
        if outcome != RunOutcome::AwaitingApproval {
            if let Err(error) = retention::delete_spent_plans(&self.services.store) {
                tracing::warn!(%error, "cannot forget spent plans");
            }
        }
        let mut watchers = self.watchers.lock().expect("watchers lock poisoned");
        watchers
            .entry(run)
            .or_insert_with(|| watch::channel(None).0)
            .send_replace(Some(outcome));
    }

    /// Marks runs left `running` or `queued` by a dead process as interrupted and reports
    /// them in their channel. Runs of live processes (an `exec` next to `serve`) are left
    /// alone.
    pub fn recover_interrupted(&self) -> anyhow::Result<Vec<RunId>> {
        ending::recover_interrupted(self)
    }

    /// A queued run removed before it started.
    fn finish_removed_queued(&self, run: RunId, by: &SlackUserId) {
        ending::finish_removed_queued(self, run, by)
    }

    /// The message of a run whose plan was rejected; wakes its watchers.
    pub fn report_rejected(&self, record: &RunRecord, by: &SlackUserId) {
        ending::report_rejected(self, record, by);
        self.notify_ended(record.id, RunOutcome::Rejected);
    }

    /// Ends the runs whose approval ran out before anyone decided (their buttons go).
    pub fn expire_approvals(&self, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
        for run in self.services.store.expire_approvals(now)? {
            ending::report_expired(self, run);
        }
        Ok(())
    }
}

fn queue_position_text(position: Position) -> String {
    match position {
        Position::StartsNow => "starting now".to_string(),
        Position::Queued(1) => "queued, next in line".to_string(),
        Position::Queued(n) => format!("queued, position {n}"),
    }
}
