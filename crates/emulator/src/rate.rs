//! Token buckets: the agent's sending rate, each user's, and `users:batchGet`'s.

use tokio::time::Instant;

use crate::config::RateLimit;

/// A bucket of up to `capacity` tokens refilled continuously; each call takes one.
#[derive(Debug, Clone)]
pub struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl Bucket {
    /// A full bucket for `limit`.
    pub fn new(limit: RateLimit, now: Instant) -> Bucket {
        let capacity = f64::from(limit.burst.max(1));
        Bucket {
            capacity,
            per_second: limit.per_second,
            tokens: capacity,
            refilled_at: now,
        }
    }

    /// Takes a token when one is there; false when the caller is over the rate.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Gives back a token taken for a call that was then refused for another reason.
    pub fn give_back(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.capacity);
    }
}

/// A bucket when a limit is configured.
pub fn bucket(limit: Option<RateLimit>, now: Instant) -> Option<Bucket> {
    limit.map(|limit| Bucket::new(limit, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let start = Instant::now();
        let limit = RateLimit {
            burst: 3,
            per_second: 2.0,
        };
        let mut bucket = Bucket::new(limit, start);
        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        // Half a second refills one token at 2 a second.
        assert!(bucket.take(start + Duration::from_millis(500)));
        assert!(!bucket.take(start + Duration::from_millis(500)));
    }
}
