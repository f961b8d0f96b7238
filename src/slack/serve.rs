//! `loadtest-bot serve`: reads the Slack settings from the environment, builds the app with
//! the Slack outlet, recovers interrupted runs, starts the scheduler, the HTTP listener and
//! (in Socket Mode) the WebSocket, and on SIGTERM or Ctrl-C stops taking commands, lets the
//! queued messages go out and exits.

use super::delivery::{Pacing, SlackOutlet};
use super::front::{AckObserver, SlackFront};
use super::groups::{GroupResolver, DEFAULT_TTL};
use super::http::{router, HttpState};
use super::socket::SocketMode;
use super::web_api::{client_for, RetryPolicy, WebApi};
use crate::app::{self, App, ExitClass};
use crate::config::SlackMode;
use crate::metrics::Metrics;
use anyhow::Context;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEFAULT_API_URL: &str = "https://slack.com/api";

/// Slack settings from the environment (SPEC §11).
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

struct AckMetrics(Arc<Metrics>);

impl AckObserver for AckMetrics {
    fn observe_ack(&self, elapsed: Duration) {
        self.0.ack_latency.observe(elapsed);
    }
}

pub async fn run_serve(config_path: &Path) -> anyhow::Result<ExitClass> {
    let config = app::load_config(config_path)?;
    let slack = SlackEnv::read()?;
    let mode = slack.mode(config.slack.mode)?;
    let listen = config.slack.listen.clone();

    let api = Arc::new(WebApi::new(
        client_for(&slack.api_url)?,
        &slack.bot_token,
        RetryPolicy::default(),
    ));
    let outlet = Arc::new(SlackOutlet::new(Arc::clone(&api), Pacing::default()));
    let app = App::build(
        config,
        Arc::clone(&outlet) as Arc<dyn crate::outlet::Outlet>,
    )?;
    let recovered = app.recover_interrupted_runs()?;
    if !recovered.is_empty() {
        tracing::warn!(runs = ?recovered, "reported runs interrupted by the previous process");
    }
    let metrics = Arc::new(Metrics::default());
    let front = Arc::new(SlackFront {
        app: Arc::clone(&app),
        outlet: Arc::clone(&outlet),
        groups: GroupResolver::new(Arc::clone(&api), &app.config, DEFAULT_TTL),
        ack_budget: Duration::from_millis(2000),
        accepting: AtomicBool::new(true),
        ack_observer: Some(Arc::new(AckMetrics(Arc::clone(&metrics)))),
        api_stats: Arc::clone(&api.stats),
    });

    let (stop_scheduler, scheduler_stopped) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(crate::ticker::run(Arc::clone(&app), scheduler_stopped));

    let listener = bind(&listen)
        .await
        .with_context(|| format!("listening on {listen} ([slack].listen / LOADTEST_LISTEN)"))?;
    let address = listener.local_addr()?;
    let state = Arc::new(HttpState {
        app: Arc::clone(&app),
        front: Arc::clone(&front),
        signing_secret: match mode {
            SlackMode::Http => slack.signing_secret.clone(),
            SlackMode::Socket => None,
        },
        metrics: Arc::clone(&metrics),
    });
    let (stop_http, http_stopped) = tokio::sync::watch::channel(false);
    let http = tokio::spawn(async move {
        let mut http_stopped = http_stopped;
        axum::serve(listener, router(state))
            .with_graceful_shutdown(async move {
                let _ = http_stopped.wait_for(|stop| *stop).await;
            })
            .await
    });

    let socket = match mode {
        SlackMode::Socket => Some(
            SocketMode::start(
                Arc::clone(&front),
                api.client(),
                slack.app_token.as_deref().unwrap_or_default(),
            )
            .await?,
        ),
        SlackMode::Http => None,
    };
    // One line for operators and tests: where it listens and how it talks to Slack.
    eprintln!(
        "loadtest-bot: serving on http://{address} ({} mode, Slack API {})",
        match mode {
            SlackMode::Socket => "socket",
            SlackMode::Http => "http",
        },
        slack.api_url
    );

    wait_for_stop_signal().await;
    eprintln!("loadtest-bot: stopping: no new commands; letting queued messages go out");
    front.accepting.store(false, Ordering::SeqCst);
    let _ = stop_scheduler.send(true);
    let _ = scheduler.await;
    // Give queued messages a moment to reach Slack before the process ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    while outlet.depth() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(socket) = socket {
        socket.shutdown().await;
    }
    let _ = stop_http.send(true);
    let _ = http.await;
    Ok(ExitClass::Success)
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
