//! Pacing: how fast each provider takes messages, and when a backlog will be through.
//!
//! Carriers meter SMS in segments, not messages: a 300-character text in GSM-7 is two
//! segments and costs two sends of the sender's quota. So the SMS buckets here are
//! charged per segment, one for the account (this node's share of it) and, when a
//! sender kind or rate is set, one for the sending number.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use domain::Channel;
use serde::Serialize;

/// A token bucket that lets a caller go into debt: a send dearer than the bucket holds
/// (a long text on a 1-segment-a-second number) waits for its tokens instead of being
/// refused, and callers are served in the order they asked.
#[derive(Debug)]
pub struct Bucket {
    /// Tokens added per second.
    per_second: f64,
    /// Most tokens held: one second's worth, so an idle sender may burst that much.
    capacity: f64,
    /// Tokens held (negative: owed) as of an instant; behind a mutex because every
    /// send task of a node reserves from the same bucket.
    level: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A full bucket refilled at `per_second` tokens a second (at least 1).
    pub fn new(per_second: u32) -> Bucket {
        let per_second = f64::from(per_second.max(1));
        Bucket {
            per_second,
            capacity: per_second,
            level: Mutex::new((per_second, Instant::now())),
        }
    }

    /// Tokens added per second.
    pub fn per_second(&self) -> u32 {
        self.per_second as u32
    }

    /// How long `cost` tokens would take to come in as of `now`; nothing is taken.
    pub fn wait_for(&self, cost: u32, now: Instant) -> Duration {
        let level = self.level.lock().unwrap_or_else(|e| e.into_inner());
        self.wait_of(self.left_after(*level, cost, now))
    }

    /// Takes `cost` tokens as of `now`; how long to wait before sending, zero when the
    /// bucket held enough.
    pub fn reserve(&self, cost: u32, now: Instant) -> Duration {
        let mut level = self.level.lock().unwrap_or_else(|e| e.into_inner());
        let left = self.left_after(*level, cost, now);
        *level = (left, now.max(level.1));
        self.wait_of(left)
    }

    /// Tokens left (negative: owed) once `cost` is taken from `level` at `now`.
    fn left_after(&self, (tokens, at): (f64, Instant), cost: u32, now: Instant) -> f64 {
        let refilled = now.saturating_duration_since(at).as_secs_f64() * self.per_second;
        (tokens + refilled).min(self.capacity) - f64::from(cost)
    }

    /// How long a debt of `-left` tokens takes to pay off.
    fn wait_of(&self, left: f64) -> Duration {
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / self.per_second)
        }
    }
}

/// How long a send would wait for `cost` tokens from every bucket as of `now`, without
/// taking them.
pub fn wait_for<'a>(
    buckets: impl IntoIterator<Item = &'a Bucket>,
    cost: u32,
    now: Instant,
) -> Duration {
    buckets
        .into_iter()
        .map(|b| b.wait_for(cost, now))
        .max()
        .unwrap_or_default()
}

/// Takes `cost` tokens from every bucket and waits for them, when that wait is at most
/// `most`; otherwise takes nothing and says how long the wait would have been.
///
/// A send that would wait longer goes back to the outbox instead of holding its lease
/// (and a slot of the dispatcher) while the quota refills.
pub async fn take_within(buckets: &[Bucket], cost: u32, most: Duration) -> Result<(), Duration> {
    let now = Instant::now();
    let wait = wait_for(buckets, cost, now);
    if wait > most {
        return Err(wait);
    }
    let wait = buckets
        .iter()
        .map(|b| b.reserve(cost, now))
        .max()
        .unwrap_or_default();
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    Ok(())
}

/// Spreads the messages a sender put back over the time its quota needs to send them,
/// so that they come due at about the rate it can take them instead of all at once.
#[derive(Debug)]
pub struct Backoff {
    per_second: f64,
    /// The latest time handed out.
    last: Mutex<Instant>,
}

impl Backoff {
    /// Spreads at `per_second` tokens a second (at least 1).
    pub fn new(per_second: u32) -> Backoff {
        Backoff {
            per_second: f64::from(per_second.max(1)),
            last: Mutex::new(Instant::now()),
        }
    }

    /// How long from `now` a message of `cost` tokens, which would have waited `wait`,
    /// should be put back for: after `wait`, and after the messages put back before it.
    pub fn delay(&self, cost: u32, wait: Duration, now: Instant) -> Duration {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let slot =
            (*last).max(now + wait) + Duration::from_secs_f64(f64::from(cost) / self.per_second);
        *last = slot;
        slot - now
    }
}

/// When `backlog` units will have gone out at `per_second` a second from `now`, or
/// `None` when nothing sends them (no rate).
pub fn finish_time(backlog: u64, per_second: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if per_second == 0 {
        return None;
    }
    let seconds = backlog.div_ceil(u64::from(per_second));
    Some(now + TimeDelta::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 1000)))
}

/// The channels that send, each with the rate it is paced at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rates(pub Vec<(Channel, u32)>);

impl Rates {
    /// The channels that send.
    pub fn channels(&self) -> Vec<Channel> {
        self.0.iter().map(|(c, _)| *c).collect()
    }

    /// Units a second `channel` is paced at, if it sends.
    pub fn of(&self, channel: Channel) -> Option<u32> {
        self.0.iter().find(|(c, _)| *c == channel).map(|(_, r)| *r)
    }
}

/// The messages waiting for one channel with one purpose, and when they will be out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Backlog {
    /// The channel they go on; `None` for messages no channel may carry.
    pub channel: Option<Channel>,
    /// `transactional` or `promotional`.
    pub purpose: String,
    pub messages: u64,
    /// What the rate limit counts: SMS segments for SMS, messages for the others.
    pub segments: u64,
    /// Segments (or messages) a second the channel sends.
    pub rate_per_second: Option<u32>,
    /// When the last of them will have gone out at that rate, if nothing else comes.
    pub finishes_at: Option<DateTime<Utc>>,
}

/// Fills in each part's rate and finish time as of `now`. On one channel order updates
/// are sent before promotions, so the promotions finish after both.
pub fn schedule(parts: &mut [Backlog], rates: &Rates, now: DateTime<Utc>) {
    let ahead = |channel: Channel, purpose: &str, parts: &[Backlog]| -> u64 {
        if purpose == "transactional" {
            return 0;
        }
        parts
            .iter()
            .filter(|p| p.channel == Some(channel) && p.purpose == "transactional")
            .map(|p| p.segments)
            .sum()
    };
    for i in 0..parts.len() {
        let Some(channel) = parts[i].channel else {
            continue;
        };
        let Some(rate) = rates.of(channel) else {
            continue;
        };
        let backlog = ahead(channel, &parts[i].purpose, parts) + parts[i].segments;
        parts[i].rate_per_second = Some(rate);
        parts[i].finishes_at = finish_time(backlog, rate, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(channel: Option<Channel>, purpose: &str, segments: u64) -> Backlog {
        Backlog {
            channel,
            purpose: purpose.into(),
            messages: segments,
            segments,
            rate_per_second: None,
            finishes_at: None,
        }
    }

    #[test]
    fn promotions_finish_after_the_order_updates_on_their_channel() {
        let now = Utc::now();
        let rates = Rates(vec![(Channel::Sms, 2), (Channel::Rcs, 100)]);
        let mut parts = vec![
            part(Some(Channel::Sms), "transactional", 10),
            part(Some(Channel::Sms), "promotional", 30),
            part(Some(Channel::Rcs), "promotional", 500),
            part(Some(Channel::Email), "transactional", 5),
            part(None, "transactional", 1),
        ];

        schedule(&mut parts, &rates, now);

        let at = |seconds| Some(now + TimeDelta::seconds(seconds));
        let finishes: Vec<_> = parts.iter().map(|p| p.finishes_at).collect();
        // SMS: 10 updates at 2 a second, then 30 promotions behind them; RCS has no
        // updates queued; email does not send here, nor does a message with no channel.
        assert_eq!(finishes, [at(5), at(20), at(5), None, None]);
        let rates: Vec<_> = parts.iter().map(|p| p.rate_per_second).collect();
        assert_eq!(rates, [Some(2), Some(2), Some(100), None, None]);
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_full_bucket_lets_one_seconds_worth_through_at_once() {
        let bucket = Bucket::new(100);
        let start = Instant::now();
        assert_eq!(bucket.reserve(60, start), Duration::ZERO);
        assert_eq!(bucket.reserve(40, start), Duration::ZERO);
        // Empty now: one more segment waits a hundredth of a second.
        assert_eq!(bucket.reserve(1, start), ms(10));
    }

    #[test]
    fn a_long_text_on_a_slow_number_waits_for_every_segment() {
        // A long code: one segment a second. A three-segment text after a one-segment
        // text waits until three more segments' worth came in.
        let bucket = Bucket::new(1);
        let start = Instant::now();
        assert_eq!(bucket.reserve(1, start), Duration::ZERO);
        assert_eq!(bucket.reserve(3, start), Duration::from_secs(3));
        // The next caller queues behind that debt.
        assert_eq!(
            bucket.reserve(1, start + ms(500)),
            Duration::from_millis(3500)
        );
    }

    #[test]
    fn an_idle_bucket_refills_only_up_to_one_seconds_worth() {
        let bucket = Bucket::new(10);
        let start = Instant::now();
        assert_eq!(bucket.reserve(10, start), Duration::ZERO);
        let later = start + Duration::from_secs(60);
        assert_eq!(bucket.reserve(10, later), Duration::ZERO);
        assert_eq!(bucket.reserve(1, later), ms(100));
    }

    #[tokio::test]
    async fn a_send_that_would_wait_too_long_takes_nothing() {
        let buckets = [Bucket::new(1)];
        assert_eq!(take_within(&buckets, 1, Duration::ZERO).await, Ok(()));

        // Empty now: the next segment would wait about a second.
        let refused = take_within(&buckets, 1, ms(500)).await;

        let wait = refused.expect_err("a second's wait is over the half second allowed");
        assert!(wait > ms(900) && wait <= ms(1000), "{wait:?}");
        // Nothing was taken: the wait is still about a second, not two.
        let still = buckets[0].wait_for(1, Instant::now());
        assert!(still > ms(900) && still <= ms(1000), "{still:?}");
    }

    #[test]
    fn messages_put_back_come_due_at_the_senders_rate() {
        let backoff = Backoff::new(2);
        let now = Instant::now() + Duration::from_secs(1);
        assert_eq!(backoff.delay(1, ms(1000), now), ms(1500));
        assert_eq!(backoff.delay(1, ms(1000), now), ms(2000));
        // A two-segment text takes a second of a 2-a-second quota.
        assert_eq!(backoff.delay(2, Duration::ZERO, now), ms(3000));
        // Once that backlog is past, a message is put back for its own wait.
        let later = now + Duration::from_secs(10);
        assert_eq!(backoff.delay(1, ms(200), later), ms(700));
    }

    #[test]
    fn a_backlog_finishes_after_its_size_over_the_rate_rounded_up() {
        let now = Utc::now();
        assert_eq!(finish_time(0, 1, now), Some(now));
        assert_eq!(
            finish_time(250, 100, now),
            Some(now + TimeDelta::seconds(3))
        );
        assert_eq!(finish_time(3_600, 1, now), Some(now + TimeDelta::hours(1)));
        assert_eq!(finish_time(10, 0, now), None);
    }
}
