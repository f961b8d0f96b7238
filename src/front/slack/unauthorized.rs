//! Requests refused for a bad signature are audited per source, not per request: an unsigned
//! flood must not fill the disk or the log. The first refusal from a source in a minute is
//! written at once; the others in that minute are only counted, and the next row from that
//! source says how many there were. `/metrics` counts every refusal.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Sources remembered at most; older windows are forgotten first when a flood comes from
/// many addresses (a forgotten source only gets its next row sooner).
const MAX_SOURCES: usize = 10_000;

struct SourceWindow {
    opened: Instant,
    /// Refusals since the last written row.
    unwritten: u64,
}

#[derive(Default)]
pub struct RefusalSampler {
    sources: Mutex<HashMap<Option<IpAddr>, SourceWindow>>,
}

impl RefusalSampler {
    /// Records a refusal from `source`; `Some(n)` when an audit row is due now, `n` being
    /// how many refusals from the source went unwritten before this one.
    pub fn record(&self, source: Option<IpAddr>, now: Instant) -> Option<u64> {
        let mut sources = self
            .sources
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(window) = sources.get_mut(&source) {
            if now.duration_since(window.opened) < WINDOW {
                window.unwritten += 1;
                return None;
            }
            let unwritten = window.unwritten;
            *window = SourceWindow {
                opened: now,
                unwritten: 0,
            };
            return Some(unwritten);
        }
        if sources.len() >= MAX_SOURCES {
            sources.retain(|_, window| now.duration_since(window.opened) < WINDOW);
        }
        if sources.len() >= MAX_SOURCES {
            // Every remembered source is in its window: count this one as written rather
            // than grow without bound; the metric still counts it.
            return None;
        }
        sources.insert(
            source,
            SourceWindow {
                opened: now,
                unwritten: 0,
            },
        );
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_source_per_minute_with_the_count_carried_over() {
        let sampler = RefusalSampler::default();
        let start = Instant::now();
        let a: Option<IpAddr> = Some("203.0.113.7".parse().unwrap());
        let b: Option<IpAddr> = Some("198.51.100.1".parse().unwrap());
        assert_eq!(sampler.record(a, start), Some(0));
        let rows = (1..1000)
            .filter(|i| {
                sampler
                    .record(a, start + Duration::from_millis(*i))
                    .is_some()
            })
            .count();
        assert_eq!(rows, 0, "999 more refusals within the minute write nothing");
        assert_eq!(
            sampler.record(b, start),
            Some(0),
            "another source has its own row"
        );
        assert_eq!(
            sampler.record(a, start + Duration::from_secs(61)),
            Some(999),
            "the next minute's row says how many went unwritten"
        );
        assert_eq!(sampler.record(a, start + Duration::from_secs(62)), None);
    }
}
