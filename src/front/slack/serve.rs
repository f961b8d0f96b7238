//! `loadtest-bot serve`: reads the Slack settings from the environment, takes the state
//! directory for itself, builds the app with the Slack outlet, recovers interrupted runs,
//! starts the scheduler, the HTTP listener(s) and (in Socket Mode) the WebSocket, and on
//! SIGTERM or Ctrl-C stops taking commands, lets running applies finish within the grace,
//! lets the queued messages go out and exits. Every step of the shutdown is bounded, so the
//! process ends within the grace plus Terraform's interrupt grace plus about 20 s whatever
//! clients or Slack do.

use super::delivery::{Pacing, SlackOutlet};
use super::groups::GroupDirectory;
use super::http::{metrics_router, router, HttpState};
use super::listener::{self, Limits};
use super::requests::SlackFront;
use super::socket::SocketMode;
use super::state_lock::StateDirLock;
use crate::app::{self, App};
use crate::config::SlackMode;
use crate::request::ExitClass;
use crate::slack::web_api::{client_for, RetryPolicy, WebApi};
use crate::store::Store;
use anyhow::Context;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEFAULT_API_URL: &str = "https://slack.com/api";

/// Slack settings from the environment.
struct SlackEnv {
    bot_token: String,
    app_token: Option<String>,
    signing_secret: Option<String>,
    api_url: String,
}

fn non_empty(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

impl SlackEnv {
    fn read() -> anyhow::Result<SlackEnv> {
        let bot_token = non_empty("SLACK_BOT_TOKEN").context(
            "SLACK_BOT_TOKEN is not set: `serve` needs the bot token (xoxb-…); without Slack use `shell` or `exec`",
        )?;
        Ok(SlackEnv {
            bot_token,
            app_token: non_empty("SLACK_APP_TOKEN"),
            signing_secret: non_empty("SLACK_SIGNING_SECRET"),
            api_url: non_empty("SLACK_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_string()),
        })
    }

    /// `[slack].mode` when set, else Socket Mode exactly when an app token is present.
    fn mode(&self, configured: Option<SlackMode>) -> anyhow::Result<SlackMode> {
        let mode = configured.unwrap_or(if self.app_token.is_some() {
            SlackMode::Socket
        } else {
            SlackMode::Http
        });
        match mode {
            SlackMode::Socket if self.app_token.is_none() => anyhow::bail!(
                "Socket Mode needs SLACK_APP_TOKEN (xapp-…, with the connections:write scope)"
            ),
            SlackMode::Http if self.signing_secret.is_none() => anyhow::bail!(
                "HTTP mode needs SLACK_SIGNING_SECRET (the app's Basic Information page); or set SLACK_APP_TOKEN for Socket Mode"
            ),
            mode => Ok(mode),
        }
    }
}

pub async fn run_serve(config_path: &Path) -> anyhow::Result<ExitClass> {
    let config = app::load_serve_config(config_path)?;
    let slack = SlackEnv::read()?;
    let mode = slack.mode(config.slack.mode)?;
    let state_dir = config.store.dir.clone();
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("creating the state directory {}", state_dir.display()))?;
    let _only_serve_here = StateDirLock::acquire(&state_dir)?;

    let api = Arc::new(WebApi::new(
        client_for(&slack.api_url)?,
        &slack.bot_token,
        // Longer outages are the outbox's to wait out (and to survive restarts).
        RetryPolicy {
            give_up_after: Duration::from_secs(20),
            ..RetryPolicy::default()
        },
    ));
    let outlet = open_outlet(&api, &state_dir)?;
    let app = App::build(
        config,
        Arc::clone(&outlet) as Arc<dyn crate::outlet::Outlet>,
    )?;
    let recovered = app.runs.recover_interrupted()?;
    if !recovered.is_empty() {
        tracing::warn!(runs = ?recovered, "reported runs interrupted by the previous process");
    }
    app.load_tests.resume();
    // Memberships are read in the background from the start; a command never waits for them.
    let groups = GroupDirectory::new(Arc::clone(&api), &app.config);
    let (stop_background, background_stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(Arc::clone(&groups).run_refresher(background_stopped.clone()));
    let front = Arc::new(SlackFront {
        app: Arc::clone(&app),
        outlet: Arc::clone(&outlet),
        api: Arc::clone(&api),
        groups,
        ack_budget: Duration::from_millis(2000),
        accepting: AtomicBool::new(true),
        metrics: Arc::clone(&app.metrics),
        seen_events: Default::default(),
    });
    let scheduler = tokio::spawn(crate::front::ticker::run(
        Arc::clone(&app),
        background_stopped,
    ));
    let state = http_state(&app, &front, &api, &slack, mode);
    let listeners = Listeners::start(&app.config.slack, state).await?;
    let socket = match mode {
        SlackMode::Socket => Some(start_socket_mode(&front, &api, &slack).await?),
        SlackMode::Http => None,
    };
    // One line for operators and tests: where it listens and how it talks to Slack.
    eprintln!(
        "loadtest-bot: serving on http://{} ({} mode, Slack API {})",
        listeners.address,
        match mode {
            SlackMode::Socket => "socket",
            SlackMode::Http => "http",
        },
        slack.api_url
    );

    wait_for_stop_signal().await;
    front.accepting.store(false, Ordering::SeqCst);
    let _ = stop_background.send(true);
    let _ = scheduler.await;
    drain_runs(&app, shutdown_grace()).await;
    eprintln!("loadtest-bot: stopping: letting queued Slack messages go out");
    // Give queued messages a moment to reach Slack before the process ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    while outlet.depth() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(socket) = socket {
        socket.shutdown().await;
    }
    listeners.stop().await;
    Ok(ExitClass::Success)
}

/// What the HTTP routes need; the signing secret only in HTTP mode (Socket Mode has no
/// `/slack/*` routes).
fn http_state(
    app: &Arc<App>,
    front: &Arc<SlackFront>,
    api: &WebApi,
    slack: &SlackEnv,
    mode: SlackMode,
) -> Arc<HttpState> {
    Arc::new(HttpState {
        app: Arc::clone(app),
        front: Arc::clone(front),
        signing_secret: match mode {
            SlackMode::Http => slack.signing_secret.clone(),
            SlackMode::Socket => None,
        },
        metrics: Arc::clone(&app.metrics),
        api_stats: Arc::clone(&api.stats),
        refusals: Default::default(),
    })
}

/// The outbox-backed Slack outlet, with what the last process left undelivered queued first.
fn open_outlet(api: &Arc<WebApi>, state_dir: &Path) -> anyhow::Result<Arc<SlackOutlet>> {
    let outbox = Store::open_in_dir(state_dir)
        .with_context(|| format!("opening the store in {}", state_dir.display()))?;
    let week_ago = chrono::Utc::now() - chrono::Duration::days(7);
    if let Err(error) = outbox.prune_delivered(week_ago) {
        tracing::warn!(%error, "could not prune delivered outbox entries");
    }
    let outlet = Arc::new(SlackOutlet::new(
        Arc::clone(api),
        Pacing::default(),
        Some(outbox),
    ));
    let resumed = outlet.resume();
    if resumed > 0 {
        eprintln!("loadtest-bot: delivering {resumed} Slack messages left from before");
    }
    Ok(outlet)
}

async fn start_socket_mode(
    front: &Arc<SlackFront>,
    api: &WebApi,
    slack: &SlackEnv,
) -> anyhow::Result<SocketMode> {
    let app_api = WebApi::new(
        api.client(),
        slack.app_token.as_deref().unwrap_or_default(),
        RetryPolicy {
            give_up_after: Duration::from_secs(20),
            ..RetryPolicy::default()
        },
    );
    SocketMode::start(Arc::clone(front), Arc::new(app_api)).await
}

/// The HTTP listener and, with `[slack] metrics_listen`, the metrics listener.
struct Listeners {
    address: std::net::SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Listeners {
    async fn start(
        slack: &crate::config::SlackConfig,
        state: Arc<HttpState>,
    ) -> anyhow::Result<Listeners> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let listener = bind(&slack.listen).await.with_context(|| {
            format!(
                "listening on {} ([slack].listen / LOADTEST_LISTEN)",
                slack.listen
            )
        })?;
        let address = listener.local_addr()?;
        let main_routes = router(Arc::clone(&state), slack.metrics_listen.is_none());
        let mut tasks = vec![tokio::spawn(listener::serve(
            listener,
            main_routes,
            Limits::for_this_process(),
            stopped.clone(),
        ))];
        if let Some(metrics_listen) = &slack.metrics_listen {
            let listener = bind(metrics_listen).await.with_context(|| {
                format!("listening on {metrics_listen} ([slack].metrics_listen)")
            })?;
            eprintln!(
                "loadtest-bot: metrics on http://{}/metrics",
                listener.local_addr()?
            );
            tasks.push(tokio::spawn(listener::serve(
                listener,
                metrics_router(state),
                Limits::for_this_process(),
                stopped,
            )));
        }
        Ok(Listeners {
            address,
            stop,
            tasks,
        })
    }

    /// Stops accepting and closes every connection within the listeners' drain time,
    /// whatever the clients do.
    async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// How long running applies may go on after SIGTERM before they get SIGINT
/// (`LOADTEST_SHUTDOWN_GRACE`, default 60 s; keep the orchestrator's kill timeout longer).
fn shutdown_grace() -> Duration {
    non_empty("LOADTEST_SHUTDOWN_GRACE")
        .and_then(|text| humantime::parse_duration(text.trim()).ok())
        .unwrap_or(Duration::from_secs(60))
}

/// Shutdown of the runs: queued ones are dropped and reported (never started by a process
/// that is going away), running ones may finish within `grace`, then get SIGINT (Terraform
/// stops gracefully and releases its lock) and are recorded as cancelled.
async fn drain_runs(app: &Arc<App>, grace: Duration) {
    let bot = crate::model::SlackUserId::new("loadtest-bot (shutting down)");
    app.runs.drop_waiting(&bot);
    if app.runs.is_idle() {
        return;
    }
    eprintln!(
        "loadtest-bot: stopping: no new commands; waiting up to {} for running applies",
        humantime::format_duration(grace)
    );
    let deadline = Instant::now() + grace;
    while !app.runs.is_idle() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if app.runs.is_idle() {
        return;
    }
    eprintln!("loadtest-bot: stopping: grace period over; interrupting the running applies");
    app.runs.cancel_all_running();
    let hard_deadline =
        Instant::now() + app.config.terraform.interrupt_grace + Duration::from_secs(10);
    while !app.runs.is_idle() && Instant::now() < hard_deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A listener with a deep accept queue: the default (128 on many systems) overflows under a
/// burst of slash commands, and an overflowed queue costs the client a 1 s SYN retransmit.
async fn bind(listen: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let address = tokio::net::lookup_host(listen)
        .await?
        .next()
        .context("the address resolves to nothing")?;
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    Ok(socket.listen(4096)?)
}

async fn wait_for_stop_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM; only Ctrl-C stops serve");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
