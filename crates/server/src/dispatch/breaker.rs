//! A circuit breaker per provider: after a run of passing failures (5xx, timeouts) the
//! provider is left alone for a while, so that a provider in trouble is not hammered
//! and queued messages wait instead of burning their attempts.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive passing failures that open the circuit.
const THRESHOLD: u32 = 5;
/// How long an open circuit stays open before one call is let through to probe.
const COOL_DOWN: Duration = Duration::from_secs(30);

/// The breaker of one provider.
#[derive(Debug, Default)]
pub struct Breaker {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    /// `Ok` when a call may go; otherwise how long until the breaker lets one through.
    /// Once the cool-down has passed, calls go again; the first failure reopens it.
    pub fn check(&self, now: Instant) -> Result<(), Duration> {
        let state = self.lock();
        match state.open_until {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a call's result: a success closes the circuit, a passing failure counts
    /// towards opening it (or reopens it after a probe), a permanent one is the message's
    /// fault and counts for nothing.
    pub fn record(&self, passing_failure: bool, now: Instant) {
        let mut state = self.lock();
        if !passing_failure {
            *state = State::default();
            return;
        }
        state.failures += 1;
        if state.failures >= THRESHOLD {
            state.open_until = Some(now + COOL_DOWN);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_failures_opens_the_circuit_until_the_cool_down_ends() {
        let breaker = Breaker::default();
        let t0 = Instant::now();
        for _ in 0..THRESHOLD - 1 {
            breaker.record(true, t0);
        }
        assert_eq!(breaker.check(t0), Ok(()));
        breaker.record(true, t0);
        assert_eq!(breaker.check(t0), Err(COOL_DOWN));

        // After the cool-down a probe goes; its failure reopens at once.
        let later = t0 + COOL_DOWN;
        assert_eq!(breaker.check(later), Ok(()));
        breaker.record(true, later);
        assert_eq!(breaker.check(later), Err(COOL_DOWN));

        // A success closes it and clears the count.
        let after = later + COOL_DOWN;
        breaker.record(false, after);
        assert_eq!(breaker.check(after), Ok(()));
        breaker.record(true, after);
        assert_eq!(breaker.check(after), Ok(()));
    }
}
