//! The delivery policy: which channel a message goes on, and whether it goes now.
//!
//! Pure decisions over what the store loaded with the message, so they are tested
//! without a database or a provider:
//!
//! - **channels**: the shop's order of preference (RCS, SMS, email by default), keeping
//!   those with a provider set up, a contact point (a phone for RCS and SMS, an address
//!   for email), consent for the message's purpose, and not already given up on for this
//!   message (RCS unreachable, expired, or not delivered in time); a reply to a keyword
//!   goes back only on the channel the keyword came on;
//! - **consent**: promotional messages need consent granted on the channel; transactional
//!   ones (about an order the customer placed) go unless the customer refused
//!   transactional messages on that channel;
//! - **quiet hours** (promotional only): nothing is sent outside the window in the
//!   customer's own time zone; the message waits for the window to open;
//! - **frequency caps** (promotional only): at most so many per customer per day and per
//!   week; a message over a cap waits until it frees.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use domain::{Channel, PhoneNumber, Purpose};
use store::DueMessage;

use crate::config::DeliveryConfig;

/// What to do with a message now.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Send on this channel.
    Send(Channel),
    /// Not yet: try again at `until`.
    Defer {
        until: DateTime<Utc>,
        reason: String,
    },
    /// Never: no channel may carry it.
    Stop { reason: String },
}

/// The policy settings, parsed once.
#[derive(Debug, Clone)]
pub struct Policy {
    order: Vec<Channel>,
    quiet: Window,
    quiet_by_region: Vec<(String, Window)>,
    per_day: usize,
    per_week: usize,
}

/// A daily window of local time in which promotional messages may go out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Policy {
    /// The policy the settings describe.
    ///
    /// # Errors
    /// A setting that does not parse, named.
    pub fn from_config(config: &DeliveryConfig) -> Result<Policy, String> {
        let order = config
            .channels
            .iter()
            .map(|name| {
                Channel::parse(name).map_err(|_| format!("delivery.channels: unknown {name:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let quiet = Window::parse("delivery.quiet_hours", &config.quiet_hours)?;
        let quiet_by_region = config
            .quiet_hours_by_country
            .iter()
            .map(|(region, window)| {
                let key = format!("delivery.quiet_hours_by_country.{region}");
                Ok((region.to_ascii_uppercase(), Window::parse(&key, window)?))
            })
            .collect::<Result<_, String>>()?;
        Ok(Policy {
            order,
            quiet,
            quiet_by_region,
            per_day: config.promotional_per_day as usize,
            per_week: config.promotional_per_week as usize,
        })
    }

    /// Decides what to do with `message` at `now`, given the channels with a provider.
    pub fn plan(&self, message: &DueMessage, available: &[Channel], now: DateTime<Utc>) -> Plan {
        let purpose = Purpose::parse(&message.purpose).unwrap_or(Purpose::Promotional);
        let (channels, refusals) = self.channels(message, purpose, available);
        let Some(first) = channels.first() else {
            return Plan::Stop {
                reason: format!("no channel may carry it: {}", refusals.join("; ")),
            };
        };
        if purpose == Purpose::Promotional {
            if let Some(deferral) = self.hold(message, now) {
                return deferral;
            }
        }
        Plan::Send(*first)
    }

    /// The channel the message would go on, quiet hours and caps aside; `None` when no
    /// channel may carry it.
    pub fn channel_for(&self, message: &DueMessage, available: &[Channel]) -> Option<Channel> {
        let purpose = Purpose::parse(&message.purpose).unwrap_or(Purpose::Promotional);
        self.channels(message, purpose, available)
            .0
            .first()
            .copied()
    }

    /// The channels that may carry the message, best first, and why the others may not.
    fn channels(
        &self,
        message: &DueMessage,
        purpose: Purpose,
        available: &[Channel],
    ) -> (Vec<Channel>, Vec<String>) {
        let mut usable = Vec::new();
        let mut refusals = Vec::new();
        for channel in &self.order {
            match refusal(message, purpose, *channel, available) {
                None => usable.push(*channel),
                Some(why) => refusals.push(format!("{}: {why}", channel.as_str())),
            }
        }
        (usable, refusals)
    }

    /// A deferral for quiet hours or a frequency cap, if one applies.
    fn hold(&self, message: &DueMessage, now: DateTime<Utc>) -> Option<Plan> {
        let zone = time_zone(message);
        let window = self.window_for(message);
        if let Some(opens) = window.next_open(zone, now) {
            return Some(Plan::Defer {
                until: opens,
                reason: format!(
                    "quiet hours: promotional messages go out between {} and {} in the \
                     customer's time zone ({zone})",
                    window.start.format("%H:%M"),
                    window.end.format("%H:%M")
                ),
            });
        }
        self.cap(message, now)
    }

    fn window_for(&self, message: &DueMessage) -> Window {
        let region = message
            .customer
            .as_ref()
            .and_then(|c| c.phone.as_deref())
            .and_then(|p| PhoneNumber::parse(p, "US").ok())
            .and_then(|p| p.region());
        region
            .and_then(|r| self.quiet_by_region.iter().find(|(code, _)| *code == r))
            .map_or(self.quiet, |(_, window)| *window)
    }

    /// A deferral until the customer's daily or weekly cap frees, if one is reached.
    fn cap(&self, message: &DueMessage, now: DateTime<Utc>) -> Option<Plan> {
        let caps = [
            (self.per_day, Duration::days(1), "day"),
            (self.per_week, Duration::weeks(1), "week"),
        ];
        for (limit, span, name) in caps {
            let mut recent: Vec<_> = message
                .recent_promotional
                .iter()
                .filter(|at| **at > now - span)
                .collect();
            if recent.len() < limit {
                continue;
            }
            // The cap frees when the oldest send that counts leaves the span.
            recent.sort();
            let until = *recent[recent.len() - limit] + span;
            return Some(Plan::Defer {
                until,
                reason: format!("frequency cap: at most {limit} promotional messages a {name}"),
            });
        }
        None
    }
}

/// Why `channel` may not carry the message, or `None` when it may.
fn refusal(
    message: &DueMessage,
    purpose: Purpose,
    channel: Channel,
    available: &[Channel],
) -> Option<&'static str> {
    if !available.contains(&channel) {
        return Some("no provider is set up");
    }
    if message.exhausted.iter().any(|c| c == channel.as_str()) {
        return Some("already tried for this message");
    }
    if message
        .only_channel
        .as_deref()
        .is_some_and(|only| only != channel.as_str())
    {
        return Some("the reply goes back only on the channel the customer used");
    }
    let customer = message.customer.as_ref()?;
    let contact = match channel {
        Channel::Rcs | Channel::Sms => customer.phone.is_some(),
        Channel::Email => customer.email.is_some(),
    };
    if !contact {
        return Some(match channel {
            Channel::Email => "no email address",
            _ => "no phone number",
        });
    }
    let consent = message
        .consents
        .iter()
        .find(|c| c.purpose == purpose.as_str() && c.channel == channel.as_str())
        .map(|c| c.granted);
    match (purpose, consent) {
        (_, Some(false)) => Some("the customer withdrew consent"),
        (Purpose::Promotional, None) => Some("no consent to promotional messages"),
        _ => None,
    }
}

fn time_zone(message: &DueMessage) -> Tz {
    message
        .customer
        .as_ref()
        .and_then(|c| c.time_zone.as_deref())
        .and_then(|z| z.parse().ok())
        .unwrap_or(Tz::UTC)
}

impl Window {
    /// `"08:00-21:00"`.
    ///
    /// # Errors
    /// When the text is not two `HH:MM` times with the start before the end.
    pub fn parse(key: &str, text: &str) -> Result<Window, String> {
        let bad = || format!("{key}: {text:?} is not a window such as \"08:00-21:00\"");
        let (start, end) = text.split_once('-').ok_or_else(bad)?;
        let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| bad());
        let window = Window {
            start: time(start)?,
            end: time(end)?,
        };
        if window.start >= window.end {
            return Err(bad());
        }
        Ok(window)
    }

    /// When the window next opens, in UTC, or `None` when it is open at `now`.
    pub fn next_open(&self, zone: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&zone);
        let time = local.time();
        if time >= self.start && time < self.end {
            return None;
        }
        let day = if time < self.start {
            local.date_naive()
        } else {
            local.date_naive() + Duration::days(1)
        };
        // A start that falls in a DST gap does not exist locally; an hour later does.
        let at = day.and_time(self.start);
        let opens = zone.from_local_datetime(&at).earliest().or_else(|| {
            zone.from_local_datetime(&(at + Duration::hours(1)))
                .earliest()
        })?;
        Some(opens.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use domain::Status;
    use store::{ConsentState, MessageCustomer, MessageOrder};
    use uuid::Uuid;

    use super::*;

    const ALL: [Channel; 3] = [Channel::Rcs, Channel::Sms, Channel::Email];

    fn policy() -> Policy {
        Policy::from_config(&DeliveryConfig::default()).unwrap()
    }

    fn message(purpose: &str) -> DueMessage {
        DueMessage {
            id: Uuid::nil(),
            template_key: "confirmed".into(),
            status: Some(Status::Confirmed),
            purpose: purpose.into(),
            attempts: 0,
            order: Some(MessageOrder {
                id: 1,
                number: "#1".into(),
                currency: "EUR".into(),
                total_minor: 100,
                placed_at: Utc::now(),
                status: Status::Confirmed,
                status_detail: None,
                tracking_token: "t".into(),
                shipping_address: None,
            }),
            customer: Some(MessageCustomer {
                id: 7,
                first_name: None,
                last_name: None,
                phone: Some("+34612345678".into()),
                email: Some("ana@example.es".into()),
                locale: None,
                time_zone: Some("Europe/Madrid".into()),
                unsubscribe_token: None,
            }),
            shipment: None,
            exhausted: Vec::new(),
            only_channel: None,
            consents: Vec::new(),
            recent_promotional: Vec::new(),
            escalated: false,
        }
    }

    fn consent(purpose: &str, channel: &str, granted: bool) -> ConsentState {
        ConsentState {
            purpose: purpose.into(),
            channel: channel.into(),
            granted,
        }
    }

    /// 12:00 in Madrid (11:00 UTC in winter).
    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 11, 0, 0).unwrap()
    }

    #[test]
    fn a_message_goes_on_the_first_channel_that_can_carry_it() {
        let mut m = message("transactional");
        assert_eq!(policy().plan(&m, &ALL, noon()), Plan::Send(Channel::Rcs));
        assert_eq!(
            policy().plan(&m, &[Channel::Email], noon()),
            Plan::Send(Channel::Email)
        );

        m.exhausted = vec!["rcs".into()];
        assert_eq!(policy().plan(&m, &ALL, noon()), Plan::Send(Channel::Sms));
        m.customer.as_mut().unwrap().phone = None;
        assert_eq!(policy().plan(&m, &ALL, noon()), Plan::Send(Channel::Email));
    }

    #[test]
    fn a_reply_to_a_stop_goes_back_on_its_channel_whatever_promotional_consent_says() {
        let mut m = message("transactional");
        m.template_key = "opt_out_ack".into();
        m.status = None;
        m.order = None;
        m.only_channel = Some("sms".into());
        m.consents = vec![consent("promotional", "sms", false)];
        assert_eq!(policy().plan(&m, &ALL, noon()), Plan::Send(Channel::Sms));

        // At 03:00 in Madrid, inside quiet hours, it still goes at once.
        let night = Utc.with_ymd_and_hms(2026, 12, 2, 2, 0, 0).unwrap();
        assert_eq!(policy().plan(&m, &ALL, night), Plan::Send(Channel::Sms));

        let Plan::Stop { reason } = policy().plan(&m, &[Channel::Rcs, Channel::Email], noon())
        else {
            panic!("expected a stop");
        };
        assert!(
            reason.contains("rcs: the reply goes back only on the channel the customer used"),
            "{reason}"
        );
    }

    #[test]
    fn with_no_channel_left_the_reason_names_each_one() {
        let mut m = message("transactional");
        m.exhausted = vec!["rcs".into()];
        m.consents = vec![consent("transactional", "sms", false)];
        let Plan::Stop { reason } = policy().plan(&m, &[Channel::Rcs, Channel::Sms], noon()) else {
            panic!("expected a stop");
        };
        assert_eq!(
            reason,
            "no channel may carry it: rcs: already tried for this message; sms: the customer \
             withdrew consent; email: no provider is set up"
        );
    }

    #[test]
    fn promotional_messages_need_consent_and_a_stop_is_kept() {
        let mut m = message("promotional");
        assert!(matches!(policy().plan(&m, &ALL, noon()), Plan::Stop { .. }));

        m.consents = vec![
            consent("promotional", "rcs", true),
            consent("promotional", "sms", true),
        ];
        assert_eq!(policy().plan(&m, &ALL, noon()), Plan::Send(Channel::Rcs));
        // An opt-out on RCS (UNSUBSCRIBE) moves promotions to SMS; order updates stay.
        m.consents[0].granted = false;
        assert_eq!(policy().plan(&m, &ALL, noon()), Plan::Send(Channel::Sms));
        let mut order_update = m.clone();
        order_update.purpose = "transactional".into();
        assert_eq!(
            policy().plan(&order_update, &ALL, noon()),
            Plan::Send(Channel::Rcs)
        );
    }

    #[test]
    fn quiet_hours_hold_promotions_until_the_local_morning() {
        let mut m = message("promotional");
        m.consents = vec![consent("promotional", "rcs", true)];
        // 22:30 in Madrid: held until 08:00 Madrid time, 07:00 UTC.
        let late = Utc.with_ymd_and_hms(2026, 12, 2, 21, 30, 0).unwrap();
        let Plan::Defer { until, reason } = policy().plan(&m, &ALL, late) else {
            panic!("expected a deferral");
        };
        assert_eq!(until, Utc.with_ymd_and_hms(2026, 12, 3, 7, 0, 0).unwrap());
        assert!(reason.contains("quiet hours") && reason.contains("Europe/Madrid"));

        // Order updates go at any hour.
        let mut update = m.clone();
        update.purpose = "transactional".into();
        assert_eq!(policy().plan(&update, &ALL, late), Plan::Send(Channel::Rcs));
    }

    #[test]
    fn a_country_may_have_its_own_window() {
        let mut config = DeliveryConfig::default();
        config
            .quiet_hours_by_country
            .insert("ES".into(), "13:00-20:00".into());
        let policy = Policy::from_config(&config).unwrap();
        let mut m = message("promotional");
        m.consents = vec![consent("promotional", "rcs", true)];
        let Plan::Defer { until, .. } = policy.plan(&m, &ALL, noon()) else {
            panic!("expected a deferral");
        };
        assert_eq!(until, Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap());
    }

    #[test]
    fn frequency_caps_defer_until_the_oldest_send_leaves_the_span() {
        let mut m = message("promotional");
        m.consents = vec![consent("promotional", "rcs", true)];
        let hours_ago = |h: i64| noon() - Duration::hours(h);

        m.recent_promotional = vec![hours_ago(30)];
        assert_eq!(policy().plan(&m, &ALL, noon()), Plan::Send(Channel::Rcs));

        m.recent_promotional = vec![hours_ago(5)];
        let Plan::Defer { until, reason } = policy().plan(&m, &ALL, noon()) else {
            panic!("expected the daily cap");
        };
        assert_eq!(until, hours_ago(5) + Duration::days(1));
        assert!(reason.contains("a day"), "{reason}");

        m.recent_promotional = vec![hours_ago(150), hours_ago(100), hours_ago(50)];
        let Plan::Defer { until, reason } = policy().plan(&m, &ALL, noon()) else {
            panic!("expected the weekly cap");
        };
        assert_eq!(until, hours_ago(150) + Duration::weeks(1));
        assert!(reason.contains("a week"), "{reason}");
    }

    #[test]
    fn windows_parse_or_are_refused_by_name() {
        assert!(Window::parse("k", "08:00-21:00").is_ok());
        for bad in ["8-21", "21:00-08:00", "08:00", "08:00-25:00"] {
            let error = Window::parse("delivery.quiet_hours", bad).unwrap_err();
            assert!(error.starts_with("delivery.quiet_hours"), "{error}");
        }
    }

    #[test]
    fn a_window_opening_in_a_dst_gap_opens_an_hour_later() {
        let window = Window::parse("k", "02:30-21:00").unwrap();
        let zone: Tz = "Europe/Madrid".parse().unwrap();
        // 2026-03-29 02:30 does not exist in Madrid (clocks jump from 02:00 to 03:00).
        let night = Utc.with_ymd_and_hms(2026, 3, 28, 23, 0, 0).unwrap();
        let opens = window.next_open(zone, night).unwrap();
        assert_eq!(opens, Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap());
    }
}
