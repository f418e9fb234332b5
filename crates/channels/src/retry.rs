//! Retrying passing failures: exponential backoff with full jitter.
//!
//! The clients in this crate never sleep and retry on their own (apart from fetching a new
//! token once after a 401): a failure comes back to the caller already sorted into
//! permanent or passing. A dispatcher that holds a claimed task can retry in place with
//! [`RetryPolicy::run`]; one that would rather put the task back in its queue asks
//! [`RetryPolicy::delay`] when to try next.

use std::future::Future;
use std::time::Duration;

/// An error that knows whether trying again may help, and how long the server asked us
/// to wait first.
pub trait RetryableError {
    /// Whether the same request may succeed later (throttling, server errors, timeouts).
    fn is_retryable(&self) -> bool;

    /// How long the server asked us to wait (`Retry-After`), when it said.
    fn retry_after(&self) -> Option<Duration>;
}

/// Exponential backoff with full jitter: before retry `n` (counting from 0) wait a random
/// time between zero and `min(cap, base * 2^n)`, or longer when the server asked for it.
///
/// Full jitter spreads out the retries of many workers that failed together (a burst of
/// 429s), where a fixed schedule would bring them back in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The ceiling of the first wait; each retry doubles it.
    pub base: Duration,
    /// The longest single wait. [`RetryPolicy::run`] gives up at once when the server asks
    /// for longer, so that the caller can reschedule instead of holding a worker asleep.
    pub cap: Duration,
    /// Attempts in all, the first included; 0 counts as 1.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            max_attempts: 4,
        }
    }
}

impl RetryPolicy {
    /// How long to wait before retry number `retry` (0 after the first failure): a
    /// uniformly random share of the backoff ceiling, or `retry_after` when that is longer.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.ceiling(retry);
        let share = rand::random::<f64>();
        // A random share of a finite ceiling cannot overflow; the fallback only guards
        // a cap set near Duration::MAX.
        let jittered =
            Duration::try_from_secs_f64(ceiling.as_secs_f64() * share).unwrap_or(ceiling);
        jittered.max(retry_after.unwrap_or_default())
    }

    /// The most [`RetryPolicy::delay`] can draw for retry number `retry`, before any
    /// `Retry-After`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Runs `operation` until it succeeds, fails permanently, or runs out of attempts,
    /// sleeping [`RetryPolicy::delay`] between attempts.
    ///
    /// # Errors
    /// The last error: a permanent one, the one of the final attempt, or a passing one
    /// whose `retry_after` exceeds `cap` (the caller should reschedule after that time).
    pub async fn run<T, E, F, Fut>(&self, mut operation: F) -> Result<T, E>
    where
        E: RetryableError,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 1;
        loop {
            let error = match operation().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !error.is_retryable() || attempt >= self.max_attempts {
                return Err(error);
            }
            let wait = self.delay(attempt - 1, error.retry_after());
            if wait > self.cap {
                return Err(error);
            }
            tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, "retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[derive(Debug, PartialEq)]
    enum Failure {
        Passing(Option<Duration>),
        Permanent,
    }

    impl RetryableError for Failure {
        fn is_retryable(&self) -> bool {
            matches!(self, Failure::Passing(_))
        }
        fn retry_after(&self) -> Option<Duration> {
            match self {
                Failure::Passing(after) => *after,
                Failure::Permanent => None,
            }
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
            max_attempts: 4,
        }
    }

    #[test]
    fn the_ceiling_doubles_up_to_the_cap() {
        let policy = policy();
        let ceilings: Vec<u128> = (0..7).map(|n| policy.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1600, 2000, 2000]);
        // Large retry counts saturate instead of overflowing.
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_secs(2));
    }

    #[test]
    fn delays_stay_between_zero_and_the_ceiling_and_vary() {
        let policy = policy();
        let delays: Vec<Duration> = (0..200).map(|_| policy.delay(3, None)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(800)));
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 100, "full jitter should spread the delays");
    }

    #[test]
    fn a_longer_retry_after_wins_over_the_jitter() {
        let policy = policy();
        let asked = Duration::from_secs(5);
        assert_eq!(policy.delay(0, Some(asked)), asked);
        // A shorter one does not shorten the backoff below its draw; it is a floor.
        assert!(policy.delay(0, Some(Duration::ZERO)) <= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn run_retries_passing_failures_until_success() {
        let calls = Cell::new(0);
        let result = policy()
            .run(|| {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 3 {
                        Err(Failure::Passing(None))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(result, Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn run_stops_at_a_permanent_failure() {
        let calls = Cell::new(0);
        let result: Result<(), _> = policy()
            .run(|| {
                calls.set(calls.get() + 1);
                async { Err(Failure::Permanent) }
            })
            .await;
        assert_eq!(result, Err(Failure::Permanent));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn run_gives_up_after_max_attempts() {
        let calls = Cell::new(0);
        let result: Result<(), _> = policy()
            .run(|| {
                calls.set(calls.get() + 1);
                async { Err(Failure::Passing(None)) }
            })
            .await;
        assert_eq!(result, Err(Failure::Passing(None)));
        assert_eq!(calls.get(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn run_waits_as_long_as_the_server_asks() {
        let start = tokio::time::Instant::now();
        let calls = Cell::new(0);
        let _ = policy()
            .run(|| {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n == 1 {
                        Err(Failure::Passing(Some(Duration::from_millis(1500))))
                    } else {
                        Ok(())
                    }
                }
            })
            .await;
        assert_eq!(calls.get(), 2);
        assert!(start.elapsed() >= Duration::from_millis(1500));
    }

    #[tokio::test(start_paused = true)]
    async fn run_hands_back_a_retry_after_longer_than_the_cap() {
        let start = tokio::time::Instant::now();
        let calls = Cell::new(0);
        let asked = Some(Duration::from_secs(60));
        let result: Result<(), _> = policy()
            .run(|| {
                calls.set(calls.get() + 1);
                async move { Err(Failure::Passing(asked)) }
            })
            .await;
        assert_eq!(result, Err(Failure::Passing(asked)));
        assert_eq!(calls.get(), 1);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
