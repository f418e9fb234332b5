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

    /// Takes `cost` tokens as of `now`; how long to wait before sending, zero when the
    /// bucket held enough.
    pub fn reserve(&self, cost: u32, now: Instant) -> Duration {
        let mut level = self.level.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, at) = *level;
        let refilled = now.saturating_duration_since(at).as_secs_f64() * self.per_second;
        let left = (tokens + refilled).min(self.capacity) - f64::from(cost);
        *level = (left, now.max(at));
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / self.per_second)
        }
    }
}

/// Waits until every bucket gave `cost` tokens.
pub async fn take<'a>(buckets: impl IntoIterator<Item = &'a Bucket>, cost: u32) {
    let now = Instant::now();
    let wait = buckets
        .into_iter()
        .map(|b| b.reserve(cost, now))
        .max()
        .unwrap_or_default();
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
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
