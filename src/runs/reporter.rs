//! Throttled progress: a run's message is updated with its phase and resource counts at most
//! once per [`PROGRESS_INTERVAL`], coalescing everything that happened in between, and only
//! when something changed.

use super::{RunSpec, Runs};
use crate::outlet::UpdateKind;
use crate::render::views::ProgressView;
use crate::terraform::progress::Progress;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Progress messages are updated at most this often (Slack's chat.update limit is ~1/s).
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// Updates a run's message with its progress at most once per [`PROGRESS_INTERVAL`],
/// coalescing everything that happened in between. Dropping it stops the updates.
pub(super) struct ProgressReporter {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressReporter {
    pub(super) fn start(
        runs: &Arc<Runs>,
        spec: &RunSpec,
        progress: Arc<Mutex<Progress>>,
        started: Instant,
    ) -> ProgressReporter {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        runs.live
            .lock()
            .expect("live lock")
            .insert(spec.run_id, Arc::clone(&progress));
        let runs = Arc::clone(runs);
        let spec = spec.clone();
        let task = tokio::spawn(async move {
            let mut last_shown: Option<(String, usize, usize, Option<String>)> = None;
            let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => {
                        runs.live.lock().expect("live lock").remove(&spec.run_id);
                        return;
                    }
                    _ = ticker.tick() => {}
                }
                let state = {
                    let progress = progress.lock().expect("progress lock");
                    (
                        progress.phase.as_str().to_string(),
                        progress.resources_done,
                        progress.resources_total,
                        progress.current.clone(),
                    )
                };
                if last_shown.as_ref() == Some(&state) {
                    continue;
                }
                let view = ProgressView {
                    run: spec.run_ref(),
                    phase: state.0.clone(),
                    done: state.1,
                    total: state.2,
                    current: state.3.clone(),
                    elapsed: Some(
                        humantime::format_duration(Duration::from_secs(
                            started.elapsed().as_secs(),
                        ))
                        .to_string(),
                    ),
                };
                let services = &runs.services;
                let message = services.message(services.renderer.progress(&view));
                runs.show(spec.run_id, &spec.channel, &message, UpdateKind::Progress);
                last_shown = Some(state);
            }
        });
        ProgressReporter {
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(super) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ProgressReporter {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
