//! The queue for operators: what waits to be sent, on which channel, and when it will
//! be out at the rates the channels are paced at.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::template::ShopContext;
use domain::Channel;
use serde::Serialize;
use store::DueMessage;

use super::error::ApiResult;
use super::AppState;
use crate::dispatch::context;
use crate::dispatch::pacing::{self, Backlog};
use crate::dispatch::Policy;

/// Most queued messages looked at one by one (their channel, their SMS length); the
/// figures for a longer queue are scaled up from these, the first to go out.
const EXAMINED: i64 = 2_000;

/// `GET /api/v1/queue`'s answer.
#[derive(Debug, Serialize)]
pub struct QueueView {
    /// When the estimate was made.
    pub at: DateTime<Utc>,
    /// Whether this node dispatches. Channels and rates are those of its dispatcher:
    /// on a node that does not send, no message has a channel.
    pub dispatching: bool,
    /// Messages waiting to be sent (queued, deferred, or being sent).
    pub queued: u64,
    /// How many of them were looked at; when fewer than `queued`, each purpose's
    /// figures are scaled up from its share of these.
    pub examined: u64,
    /// By channel (best first, then messages no channel may carry) and purpose.
    pub backlog: Vec<Backlog>,
}

/// `GET /api/v1/queue`: the messages waiting, per channel and purpose, with the SMS
/// segments they will cost and when, at the configured rates, the last will be out.
pub async fn backlog(State(state): State<AppState>) -> ApiResult<Json<QueueView>> {
    let counts = state.store.queued_counts().await?;
    let examined = state.store.queued_messages(EXAMINED).await?;
    let policy = Policy::from_config(&state.config.delivery).map_err(anyhow::Error::msg)?;

    let tallies = tally(&state, &policy, &examined);
    let mut backlog = scale(tallies, &counts, &examined);
    let at = Utc::now();
    pacing::schedule(&mut backlog, &state.rates, at);
    Ok(Json(QueueView {
        at,
        dispatching: !state.rates.0.is_empty(),
        queued: counts.iter().map(|(_, n)| *n as u64).sum(),
        examined: examined.len() as u64,
        backlog,
    }))
}

/// Messages and segments per channel and purpose, keyed to sort as they go out: by the
/// channel's place in `delivery.channels` (`None`, no channel, last), then order
/// updates before promotions.
type Tallies = BTreeMap<(usize, bool, String), (Option<Channel>, u64, u64)>;

fn tally(state: &AppState, policy: &Policy, messages: &[DueMessage]) -> Tallies {
    let available = state.rates.channels();
    let shop = context::shop_context(&state.config);
    let mut tallies = Tallies::new();
    for message in messages {
        let channel = policy.channel_for(message, &available);
        let place = channel.map_or(usize::MAX, |c| rank(&state.config.delivery.channels, c));
        let cost = match channel {
            Some(Channel::Sms) => sms_segments(state, &shop, message),
            _ => 1,
        };
        let entry = tallies
            .entry((
                place,
                message.purpose != "transactional",
                message.purpose.clone(),
            ))
            .or_insert((channel, 0, 0));
        entry.1 += 1;
        entry.2 += cost;
    }
    tallies
}

fn rank(order: &[String], channel: Channel) -> usize {
    order
        .iter()
        .position(|name| name == channel.as_str())
        .unwrap_or(usize::MAX - 1)
}

/// The segments the message's SMS will take; 1 when its template does not render (the
/// send will fail without taking any).
fn sms_segments(state: &AppState, shop: &ShopContext, message: &DueMessage) -> u64 {
    let Ok(template_context) = context::message_context(message, shop, &state.config) else {
        return 1;
    };
    let rendered = state
        .templates
        .read()
        .render(&message.template_key, None, &template_context);
    match rendered {
        Ok(rendered) => {
            let text = context::sms_text(message, &rendered, &state.config);
            domain::sms::count_segments(&text).count as u64
        }
        Err(_) => 1,
    }
}

/// The tallies of the examined messages, scaled to each purpose's whole count.
fn scale(tallies: Tallies, counts: &[(String, i64)], examined: &[DueMessage]) -> Vec<Backlog> {
    let seen = |purpose: &str| examined.iter().filter(|m| m.purpose == purpose).count() as u64;
    tallies
        .into_iter()
        .map(|((_, _, purpose), (channel, messages, segments))| {
            let total = counts
                .iter()
                .find(|(p, _)| *p == purpose)
                .map_or(0, |(_, n)| *n as u64);
            let factor = |n: u64| match seen(&purpose) {
                0 => n,
                of => (n * total.max(of)).div_ceil(of),
            };
            Backlog {
                channel,
                messages: factor(messages),
                segments: factor(segments),
                purpose,
                rate_per_second: None,
                finishes_at: None,
            }
        })
        .collect()
}
