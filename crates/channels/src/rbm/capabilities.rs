//! Capability checks: what Google says a phone supports, and a bounded memory of recent
//! answers so that a burst of sends to one customer costs one check.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

/// An RBM feature a phone supports, as Google names it.
///
/// Google's list of feature names is not published in full; names this client does not
/// know are kept as [`Feature::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(from = "String")]
pub enum Feature {
    /// A single rich card.
    RichcardStandalone,
    /// A carousel of rich cards.
    RichcardCarousel,
    /// The "add to calendar" suggested action.
    ActionCreateCalendarEvent,
    /// The "call" suggested action.
    ActionDial,
    /// The "open URL" suggested action.
    ActionOpenUrl,
    /// Opening a URL in a webview inside the conversation.
    ActionOpenUrlInWebview,
    /// The "share your location" suggested action.
    ActionShareLocation,
    /// The "view location" suggested action.
    ActionViewLocation,
    /// Revoking a message not yet delivered.
    Revocation,
    /// A feature name this client does not know.
    Other(String),
}

impl From<String> for Feature {
    fn from(name: String) -> Feature {
        match name.as_str() {
            "RICHCARD_STANDALONE" => Feature::RichcardStandalone,
            "RICHCARD_CAROUSEL" => Feature::RichcardCarousel,
            "ACTION_CREATE_CALENDAR_EVENT" => Feature::ActionCreateCalendarEvent,
            "ACTION_DIAL" => Feature::ActionDial,
            "ACTION_OPEN_URL" => Feature::ActionOpenUrl,
            "ACTION_OPEN_URL_IN_WEBVIEW" => Feature::ActionOpenUrlInWebview,
            "ACTION_SHARE_LOCATION" => Feature::ActionShareLocation,
            "ACTION_VIEW_LOCATION" => Feature::ActionViewLocation,
            "REVOCATION" => Feature::Revocation,
            _ => Feature::Other(name),
        }
    }
}

/// What a capability check found out about a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachability {
    /// The phone takes RCS from this agent, with these features. The list can be empty:
    /// Google lists features only for phones seen on RCS in the past month or so.
    Reachable {
        /// What the phone supports.
        features: Vec<Feature>,
    },
    /// Google cannot reach the phone over RCS (404): send by another channel.
    NotReachable,
}

impl Reachability {
    /// Whether the phone is reachable and lists `feature`.
    pub fn supports(&self, feature: &Feature) -> bool {
        match self {
            Reachability::Reachable { features } => features.contains(feature),
            Reachability::NotReachable => false,
        }
    }
}

/// The body of a successful capability check. Google leaves out empty lists.
#[derive(Deserialize)]
pub(crate) struct CapabilitiesBody {
    #[serde(default)]
    pub(crate) features: Vec<Feature>,
}

/// How long capability answers are remembered, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapabilityCacheConfig {
    /// How long a "reachable" answer holds. Phones rarely lose RCS, so this can be long.
    pub positive_ttl: Duration,
    /// How long a "not reachable" answer holds. Shorter than the positive one, so that a
    /// customer who turns RCS on is not sent plain text for long.
    pub negative_ttl: Duration,
    /// The most phones remembered at once; 0 turns the cache off.
    pub max_entries: usize,
}

impl Default for CapabilityCacheConfig {
    fn default() -> Self {
        CapabilityCacheConfig {
            positive_ttl: Duration::from_secs(12 * 3600),
            negative_ttl: Duration::from_secs(3600),
            max_entries: 100_000,
        }
    }
}

/// Recent capability answers by E.164 number, each with its expiry.
pub(crate) struct CapabilityCache {
    config: CapabilityCacheConfig,
    entries: HashMap<String, Remembered>,
}

struct Remembered {
    answer: Reachability,
    expires_at: Instant,
}

impl CapabilityCache {
    pub(crate) fn new(config: CapabilityCacheConfig) -> CapabilityCache {
        CapabilityCache {
            config,
            entries: HashMap::new(),
        }
    }

    /// The remembered answer for `phone`, unless it has expired by `now`.
    pub(crate) fn get(&mut self, phone: &str, now: Instant) -> Option<Reachability> {
        let remembered = self.entries.get(phone)?;
        if remembered.expires_at > now {
            return Some(remembered.answer.clone());
        }
        self.entries.remove(phone);
        None
    }

    /// Remembers `answer` for its kind's TTL; a TTL of zero means not at all.
    pub(crate) fn insert(&mut self, phone: &str, answer: Reachability, now: Instant) {
        let ttl = match answer {
            Reachability::Reachable { .. } => self.config.positive_ttl,
            Reachability::NotReachable => self.config.negative_ttl,
        };
        if ttl.is_zero() || self.config.max_entries == 0 {
            return;
        }
        if !self.entries.contains_key(phone) && self.entries.len() >= self.config.max_entries {
            self.make_room(now);
        }
        // A TTL too long to add to a clock reading is as good as forever.
        let forever = Duration::from_secs(100 * 365 * 24 * 3600);
        let expires_at = now.checked_add(ttl).unwrap_or(now + forever);
        let remembered = Remembered { answer, expires_at };
        self.entries.insert(phone.to_string(), remembered);
    }

    /// Forgets `phone`, for when something newer than the cache is known about it.
    pub(crate) fn remove(&mut self, phone: &str) {
        self.entries.remove(phone);
    }

    /// Drops expired answers, and when that is not enough, the tenth of the answers
    /// nearest to expiry. Freeing a tenth at once keeps a full cache from scanning all
    /// its entries on every insert.
    fn make_room(&mut self, now: Instant) {
        self.entries
            .retain(|_, remembered| remembered.expires_at > now);
        if self.entries.len() < self.config.max_entries {
            return;
        }
        let mut expiries: Vec<Instant> = self.entries.values().map(|r| r.expires_at).collect();
        let evict = (expiries.len() / 10).max(1);
        let (_, cutoff, _) = expiries.select_nth_unstable(evict - 1);
        let cutoff = *cutoff;
        self.entries
            .retain(|_, remembered| remembered.expires_at > cutoff);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reachable() -> Reachability {
        Reachability::Reachable {
            features: vec![Feature::RichcardStandalone],
        }
    }

    fn cache(max_entries: usize) -> CapabilityCache {
        CapabilityCache::new(CapabilityCacheConfig {
            positive_ttl: Duration::from_secs(100),
            negative_ttl: Duration::from_secs(10),
            max_entries,
        })
    }

    #[test]
    fn feature_names_parse_and_unknown_ones_are_kept() {
        let body: CapabilitiesBody = serde_json::from_str(
            r#"{"features":["RICHCARD_CAROUSEL","ACTION_OPEN_URL_IN_WEBVIEW","HOLOGRAM"]}"#,
        )
        .expect("a capabilities body");
        assert_eq!(
            body.features,
            [
                Feature::RichcardCarousel,
                Feature::ActionOpenUrlInWebview,
                Feature::Other("HOLOGRAM".to_string())
            ]
        );
        let empty: CapabilitiesBody = serde_json::from_str("{}").expect("an empty body");
        assert!(empty.features.is_empty());
    }

    #[test]
    fn answers_hold_for_their_own_ttl() {
        let mut cache = cache(10);
        let now = Instant::now();
        cache.insert("+15550000001", reachable(), now);
        cache.insert("+15550000002", Reachability::NotReachable, now);

        let later = now + Duration::from_secs(9);
        assert_eq!(cache.get("+15550000001", later), Some(reachable()));
        assert_eq!(
            cache.get("+15550000002", later),
            Some(Reachability::NotReachable)
        );

        let after_negative_ttl = now + Duration::from_secs(10);
        assert_eq!(cache.get("+15550000002", after_negative_ttl), None);
        assert_eq!(
            cache.get("+15550000001", after_negative_ttl),
            Some(reachable())
        );
        assert_eq!(
            cache.get("+15550000001", now + Duration::from_secs(100)),
            None
        );
        assert_eq!(cache.len(), 0, "expired answers are dropped when read");
    }

    #[test]
    fn a_zero_ttl_or_size_turns_caching_off() {
        let mut off = CapabilityCache::new(CapabilityCacheConfig {
            negative_ttl: Duration::ZERO,
            ..CapabilityCacheConfig::default()
        });
        let now = Instant::now();
        off.insert("+15550000001", Reachability::NotReachable, now);
        assert_eq!(off.get("+15550000001", now), None);
        off.insert("+15550000001", reachable(), now);
        assert_eq!(off.get("+15550000001", now), Some(reachable()));

        let mut empty = cache(0);
        empty.insert("+15550000001", reachable(), now);
        assert_eq!(empty.get("+15550000001", now), None);
    }

    #[test]
    fn a_full_cache_drops_expired_answers_first() {
        let mut cache = cache(3);
        let now = Instant::now();
        cache.insert("+15550000001", Reachability::NotReachable, now);
        cache.insert("+15550000002", reachable(), now);
        cache.insert("+15550000003", reachable(), now);

        let later = now + Duration::from_secs(20);
        cache.insert("+15550000004", reachable(), later);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("+15550000001", later), None);
        assert_eq!(cache.get("+15550000002", later), Some(reachable()));
        assert_eq!(cache.get("+15550000004", later), Some(reachable()));
    }

    #[test]
    fn a_full_cache_of_live_answers_drops_those_nearest_expiry() {
        let mut cache = cache(20);
        let start = Instant::now();
        for n in 0..20u64 {
            let at = start + Duration::from_secs(n);
            cache.insert(&format!("+1555000{n:04}"), reachable(), at);
        }
        let now = start + Duration::from_secs(20);
        cache.insert("+15559999999", reachable(), now);

        // A tenth of 20 is 2: the two oldest answers go, the rest stay.
        assert_eq!(cache.len(), 19);
        assert_eq!(cache.get("+15550000000", now), None);
        assert_eq!(cache.get("+15550000001", now), None);
        assert_eq!(cache.get("+15550000002", now), Some(reachable()));
        assert_eq!(cache.get("+15559999999", now), Some(reachable()));
    }

    #[test]
    fn the_cache_never_grows_past_its_bound() {
        let mut cache = cache(50);
        let start = Instant::now();
        for n in 0..1_000u64 {
            let at = start + Duration::from_millis(n);
            cache.insert(&format!("+1555{n:07}"), reachable(), at);
            assert!(cache.len() <= 50);
        }
    }

    #[test]
    fn refreshing_a_known_phone_in_a_full_cache_evicts_nothing() {
        let mut cache = cache(2);
        let now = Instant::now();
        cache.insert("+15550000001", reachable(), now);
        cache.insert("+15550000002", reachable(), now);
        cache.insert("+15550000001", Reachability::NotReachable, now);
        assert_eq!(cache.len(), 2);
        assert_eq!(
            cache.get("+15550000001", now),
            Some(Reachability::NotReachable)
        );
    }

    #[test]
    fn supports_reads_the_feature_list() {
        assert!(reachable().supports(&Feature::RichcardStandalone));
        assert!(!reachable().supports(&Feature::Revocation));
        assert!(!Reachability::NotReachable.supports(&Feature::RichcardStandalone));
    }
}
