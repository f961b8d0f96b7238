//! How fast the outlet talks to Slack: posts are paced per channel (a burst, then about one a
//! second, as Slack asks), and `chat.update` shares one budget across every message of the
//! workspace (Slack's Tier 3: about 50 a minute), so with several runs live each one's
//! progress is coalesced harder instead of the bot being rate-limited. A message is also
//! updated at most once a second. Retries of an unreachable Slack back off.

use std::time::{Duration, Instant};

/// Pacing knobs; the defaults follow Slack's documented limits.
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    /// Minimum time between two updates of one message.
    pub update_interval: Duration,
    /// `chat.update` calls the whole workspace may make per minute (Tier 3).
    pub updates_per_minute: f64,
    /// Updates that may go at once before the per-minute rate applies.
    pub update_burst: u32,
    /// Posts a channel may send at once before pacing starts.
    pub post_burst: u32,
    /// Sustained posts per second per channel.
    pub posts_per_second: f64,
    /// Longest wait between two attempts at a message while Slack is unreachable.
    pub max_retry_delay: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            update_interval: Duration::from_secs(1),
            updates_per_minute: 50.0,
            update_burst: 10,
            post_burst: 4,
            posts_per_second: 1.0,
            max_retry_delay: Duration::from_secs(30),
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `per_second`.
#[derive(Debug)]
pub(super) struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    refilled: Instant,
}

impl TokenBucket {
    pub(super) fn new(burst: u32, per_second: f64) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            tokens: burst,
            burst,
            per_second: per_second.max(0.001),
            refilled: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        self.tokens = (self.tokens
            + now.duration_since(self.refilled).as_secs_f64() * self.per_second)
            .min(self.burst);
        self.refilled = now;
    }

    /// How long until a token is there (zero: now), without taking it.
    pub(super) fn wait(&mut self) -> Duration {
        self.refill();
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
        }
    }

    /// Takes a token if there is one; otherwise how long until there is.
    pub(super) fn take(&mut self) -> Duration {
        let wait = self.wait();
        if wait.is_zero() {
            self.tokens -= 1.0;
        }
        wait
    }
}

/// Backoff between attempts at an undeliverable message: 1 s, 2 s, 4 s … up to the cap.
pub(super) fn retry_delay(attempts: u32, cap: Duration) -> Duration {
    Duration::from_secs(1u64 << attempts.min(10)).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_paces() {
        let mut posts = TokenBucket::new(2, 1.0);
        assert_eq!(posts.take(), Duration::ZERO);
        assert_eq!(posts.take(), Duration::ZERO);
        let third = posts.take();
        assert!(
            third > Duration::from_millis(900) && third <= Duration::from_secs(1),
            "{third:?}"
        );
        // Waiting does not consume: the same answer twice.
        let peek = posts.wait();
        assert!(peek > Duration::ZERO && peek <= third, "{peek:?}");
    }

    #[test]
    fn the_workspace_update_budget_is_tier_3() {
        let pacing = Pacing::default();
        let mut updates = TokenBucket::new(pacing.update_burst, pacing.updates_per_minute / 60.0);
        for _ in 0..pacing.update_burst {
            assert_eq!(updates.take(), Duration::ZERO);
        }
        // Then one every 1.2 s: 50 a minute.
        let next = updates.take();
        assert!(
            next > Duration::from_millis(1100) && next <= Duration::from_millis(1200),
            "{next:?}"
        );
    }

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let cap = Duration::from_secs(30);
        let delays: Vec<u64> = (0..7).map(|n| retry_delay(n, cap).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
    }
}
