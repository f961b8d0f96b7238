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

/// A connection idle for less than this is never closed to make room under the cap: in a
/// burst, a connection's request may wait this long in the socket before hyper reads it, and
/// closing it then loses a command; a slow-loris client is idle far longer.
const EVICTABLE_AFTER_MS: u64 = 1_000;

/// The connection idle the longest, if one has been idle at least `at_least_ms`.
fn longest_idle(open: &HashMap<u64, Arc<Tracked>>, now_ms: u64, at_least_ms: u64) -> Option<u64> {
    open.iter()
        .filter_map(|(id, tracked)| tracked.idle_for(now_ms).map(|idle| (*id, idle)))
        .filter(|&(_, idle)| idle >= at_least_ms)
        .max_by_key(|&(_, idle)| idle)
        .map(|(id, _)| id)
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

    /// Registers a new connection. At `cap`, the longest-idle connection idle for at least
    /// [`EVICTABLE_AFTER_MS`] is closed to make room; when every connection is younger (a
    /// burst whose requests hyper has not read yet, not slow clients), the new one is admitted
    /// up to twice the cap, and only then is the longest-idle one closed whatever its age.
    /// `None` when every open connection is busy with a request (the new one is refused).
    fn admit(&self, cap: usize) -> Option<(u64, Arc<Tracked>)> {
        let now = self.now_ms();
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if open.len() >= cap {
            let victim = match longest_idle(&open, now, EVICTABLE_AFTER_MS) {
                Some(victim) => Some(victim),
                None if open.len() < cap.saturating_mul(2) => None,
                None => Some(longest_idle(&open, now, 0)?),
            };
            if let Some(tracked) = victim.and_then(|victim| open.remove(&victim)) {
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

    /// Closes every connection idle for longer than `limit`, then, while more than `cap` are
    /// open (a burst admitted past the cap), the longest-idle ones old enough to be slow
    /// clients.
    fn close_idle(&self, limit: Duration, cap: usize) {
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
        while open.len() > cap {
            let Some(victim) = longest_idle(&open, now, EVICTABLE_AFTER_MS) else {
                break;
            };
            if let Some(tracked) = open.remove(&victim) {
                tracked.close.notify_one();
            }
        }
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
    let sweeper = tokio::spawn(sweep_idle(Arc::clone(&registry), limits));
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

async fn sweep_idle(registry: Arc<Registry>, limits: Limits) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        registry.close_idle(limits.idle_timeout, limits.max_connections);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry whose clock reads 5 s, so a connection can be made to look idle that long.
    fn registry() -> Registry {
        Registry {
            started: Instant::now() - Duration::from_secs(5),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        }
    }

    #[test]
    fn a_burst_past_the_cap_is_admitted_and_only_old_idle_connections_make_room() {
        let registry = registry();
        registry.admit(2).unwrap();
        registry.admit(2).unwrap();
        // A burst of fresh connections (their requests not read yet) is admitted past the cap.
        registry.admit(2).unwrap();
        registry.admit(2).unwrap();
        assert_eq!(registry.len(), 4);
        // At twice the cap the longest-idle one goes, whatever its age.
        registry.admit(2).unwrap();
        assert_eq!(registry.len(), 4);

        // A connection idle for seconds (a slow client) makes room at once.
        let registry = self::registry();
        let slow = registry.admit(2).unwrap().1;
        slow.last_active_ms.store(0, Ordering::Release);
        registry.admit(2).unwrap();
        registry.admit(2).unwrap();
        assert_eq!(registry.len(), 2, "the slow one was closed for the new one");
        // The sweep brings a burst back to the cap, oldest idle first, sparing fresh ones.
        for _ in 0..3 {
            registry.admit(2).unwrap();
        }
        assert_eq!(registry.len(), 4);
        registry.close_idle(Duration::from_secs(60), 2);
        assert_eq!(registry.len(), 4, "fresh connections are not swept");
        for tracked in registry.open.lock().unwrap().values().take(3) {
            tracked.last_active_ms.store(0, Ordering::Release);
        }
        registry.close_idle(Duration::from_secs(60), 2);
        assert_eq!(registry.len(), 2);
    }
}
