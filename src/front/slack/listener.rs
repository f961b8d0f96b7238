//! The HTTP listener's accept loop. In HTTP mode this port faces the internet, so every
//! connection is bounded: headers must arrive within [`Limits::header_read_timeout`], a body
//! within [`Limits::body_read_timeout`] and under [`Limits::max_body_bytes`] (Slack's requests
//! are a few KB), and at most [`Limits::max_connections`] are open at once — when a new one
//! arrives at the cap, the connection idle the longest is closed to make room, so slow or idle
//! clients can never keep Slack's signed requests out. On stop, connections get a bounded
//! drain and are then closed whatever the client does.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

/// What one client may take from the listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The whole request head (line and headers) must arrive within this.
    pub header_read_timeout: Duration,
    /// The whole body must arrive within this once the head is in.
    pub body_read_timeout: Duration,
    /// Slack's commands, interactions and events are a few KB; 64 KiB leaves room.
    pub max_body_bytes: usize,
    /// Request line plus headers.
    pub max_header_bytes: usize,
    /// Open connections; at the cap the longest-idle one is closed for a new one.
    pub max_connections: usize,
    /// A connection with no request in progress for this long is closed.
    pub idle_timeout: Duration,
    /// After stop, how long requests in progress may take before their connections close.
    pub drain: Duration,
}

impl Limits {
    /// The defaults, with the connection cap at most half the process's file-descriptor
    /// limit: idle clients must never take the descriptors the store, Terraform's pipes and
    /// Slack's own requests need.
    pub fn for_this_process() -> Limits {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct it is given.
        let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        let mut limits = Limits::default();
        if known && limit.rlim_cur != libc::RLIM_INFINITY {
            limits.max_connections = limits
                .max_connections
                .min((limit.rlim_cur / 2) as usize)
                .max(16);
        }
        limits
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_body_bytes: 64 * 1024,
            max_header_bytes: 16 * 1024,
            max_connections: 512,
            idle_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(5),
        }
    }
}

/// One open connection as the accept loop sees it.
struct Tracked {
    /// Requests being handled on it right now.
    in_flight: AtomicUsize,
    /// Milliseconds since `started`, when a request last began or ended.
    last_active_ms: AtomicU64,
    started: Instant,
    close: Notify,
}

impl Tracked {
    fn touch(&self) {
        self.last_active_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Release);
    }

    fn idle_for(&self, now_ms: u64) -> Option<u64> {
        (self.in_flight.load(Ordering::Acquire) == 0)
            .then(|| now_ms.saturating_sub(self.last_active_ms.load(Ordering::Acquire)))
    }
}

/// The open connections, for the cap and the idle sweep.
struct Registry {
    started: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Tracked>>>,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Registers a new connection, closing the longest-idle one when at `cap`; `None` when
    /// every open connection is busy with a request (the new one is refused instead).
    fn admit(&self, cap: usize) -> Option<(u64, Arc<Tracked>)> {
        let now = self.now_ms();
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if open.len() >= cap {
            let (&victim, _) = open
                .iter()
                .filter_map(|(id, tracked)| tracked.idle_for(now).map(|idle| (id, idle)))
                .max_by_key(|&(_, idle)| idle)?;
            if let Some(tracked) = open.remove(&victim) {
                tracked.close.notify_one();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tracked = Arc::new(Tracked {
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(now),
            started: self.started,
            close: Notify::new(),
        });
        open.insert(id, Arc::clone(&tracked));
        Some((id, tracked))
    }

    fn remove(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .remove(&id);
    }

    /// Closes every connection idle for longer than `limit`.
    fn close_idle(&self, limit: Duration) {
        let now = self.now_ms();
        let limit = limit.as_millis() as u64;
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        open.retain(|_, tracked| match tracked.idle_for(now) {
            Some(idle) if idle > limit => {
                tracked.close.notify_one();
                false
            }
            _ => true,
        });
    }

    fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .len()
    }
}

/// Serves `router` on `listener` within `limits` until `stop` turns true, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let router = router.layer(axum::middleware::from_fn_with_state(limits, read_body));
    let registry = Arc::new(Registry {
        started: Instant::now(),
        next_id: AtomicU64::new(0),
        open: Mutex::new(HashMap::new()),
    });
    let sweeper = tokio::spawn(sweep_idle(Arc::clone(&registry), limits.idle_timeout));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or a connection reset before accept: wait a
                    // moment (the sweep frees descriptors) rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let Some((id, tracked)) = registry.admit(limits.max_connections) else {
            tracing::warn!(%peer, "every connection is busy; refused a new one");
            continue;
        };
        let registry = Arc::clone(&registry);
        let router = router.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, router, limits, &tracked, stop).await;
            registry.remove(id);
        });
    }
    sweeper.abort();
    // Connections drain on their own (each saw `stop`); wait for them within the drain time.
    let deadline = Instant::now() + limits.drain + Duration::from_millis(500);
    while registry.len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn sweep_idle(registry: Arc<Registry>, idle_timeout: Duration) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        registry.close_idle(idle_timeout);
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    tracked: &Arc<Tracked>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = {
        let tracked = Arc::clone(tracked);
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let mut router = router.clone();
            let tracked = Arc::clone(&tracked);
            async move {
                tracked.in_flight.fetch_add(1, Ordering::AcqRel);
                tracked.touch();
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                let response = tower_service::Service::call(&mut router, request).await;
                tracked.touch();
                tracked.in_flight.fetch_sub(1, Ordering::AcqRel);
                response
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        // Evicted (idle at the cap, or idle too long): dropping the connection closes it.
        _ = tracked.close.notified() => {}
        _ = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits.drain, connection.as_mut()).await;
        }
    }
}

/// Reads the whole body within the time and size limits before any handler sees it, so a
/// handler never waits on a slow client and never buffers more than the limit.
async fn read_body(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body_bytes as u64) {
        return too_large(limits);
    }
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, limits.max_body_bytes);
    match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(error)) if is_over_limit(&error) => too_large(limits),
        Ok(Err(error)) => (
            StatusCode::BAD_REQUEST,
            format!("the request body could not be read: {error}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s\n",
                limits.body_read_timeout.as_secs()
            ),
        )
            .into_response(),
    }
}

fn is_over_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}

fn too_large(limits: Limits) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "request bodies are limited to {} KiB\n",
            limits.max_body_bytes / 1024
        ),
    )
        .into_response()
}
