//! What the store returns: read models for the API, the tracking page and workers.

use chrono::{DateTime, Utc};
use domain::{Address, Partial, Status};
use serde::Serialize;
use uuid::Uuid;

/// An order with everything the tracking page and the API show.
#[derive(Clone, Debug, Serialize)]
pub struct OrderView {
    pub id: i64,
    pub source: String,
    pub external_id: String,
    pub number: String,
    pub customer_id: Option<i64>,
    pub currency: String,
    pub total_minor: i64,
    pub status: Status,
    pub status_detail: Option<Partial>,
    pub placed_at: DateTime<Utc>,
    pub shipping_address: Option<Address>,
    pub tracking_token: String,
    pub line_items: Vec<LineItemView>,
    pub shipments: Vec<ShipmentView>,
    pub timeline: Vec<TimelineEntry>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LineItemView {
    pub sku: Option<String>,
    pub title: String,
    pub variant: Option<String>,
    pub quantity: i64,
    pub unit_price_minor: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ShipmentView {
    pub id: i64,
    pub external_id: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub estimated_delivery: Option<DateTime<Utc>>,
    pub status: Status,
}

/// One line of an order's canonical timeline, oldest first.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineEntry {
    pub shipment_id: Option<i64>,
    /// `None` when the source's status carries no tracking meaning.
    pub status: Option<Status>,
    pub raw_status: String,
    pub detail: Option<String>,
    pub location: Option<String>,
    pub happened_at: DateTime<Utc>,
    pub source: String,
}

/// A customer with consent in force.
#[derive(Clone, Debug, Serialize)]
pub struct CustomerView {
    pub id: i64,
    pub source: String,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub consents: Vec<ConsentView>,
    pub order_ids: Vec<i64>,
    /// What the customer's orders add up to; `None` before their first order.
    pub metrics: Option<CustomerMetrics>,
}

/// What a customer's orders add up to, cancelled and refunded ones left out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomerMetrics {
    pub orders: i64,
    /// The orders' totals summed, in minor units of their currencies.
    // TODO(store): a customer who ordered in two currencies gets one mixed sum; keep
    // per-currency sums once shops sell in several.
    pub spent_minor: i64,
    pub average_order_minor: i64,
    pub first_order_at: Option<DateTime<Utc>>,
    pub last_order_at: Option<DateTime<Utc>>,
    /// Mean days between consecutive orders; `None` with fewer than two.
    pub mean_days_between: Option<f64>,
    /// The scores of the last scoring run; `None` before one included the customer.
    pub rfm: Option<Rfm>,
    /// The probability that the customer still buys (BG/NBD).
    pub p_alive: Option<f64>,
    pub expected_orders_90d: Option<f64>,
    /// When the next order is expected; `None` when none is within a year.
    pub next_order_at: Option<DateTime<Utc>>,
    /// Expected spend per order times the orders expected in the next year.
    pub expected_value_minor: Option<i64>,
    pub scored_at: Option<DateTime<Utc>>,
}

/// RFM quintile scores, 1 to 5, 5 the best.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Rfm {
    pub recency: i64,
    pub frequency: i64,
    pub monetary: i64,
}

/// What scoring reads of a customer.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoringInput {
    pub customer_id: i64,
    pub orders: i64,
    pub spent_minor: i64,
    pub first_order_minor: i64,
    pub first_order_at: Option<DateTime<Utc>>,
    pub last_order_at: Option<DateTime<Utc>>,
}

/// What scoring writes for a customer.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomerScores {
    pub customer_id: i64,
    pub rfm: Rfm,
    pub p_alive: Option<f64>,
    pub expected_orders_90d: Option<f64>,
    pub next_order_at: Option<DateTime<Utc>>,
    pub expected_value_minor: Option<i64>,
}

impl CustomerMetrics {
    /// Metrics from the stored sums, with what derives from them.
    pub fn new(
        orders: i64,
        spent_minor: i64,
        first_order_at: Option<DateTime<Utc>>,
        last_order_at: Option<DateTime<Utc>>,
    ) -> CustomerMetrics {
        let average_order_minor = if orders > 0 { spent_minor / orders } else { 0 };
        let mean_days_between = match (first_order_at, last_order_at) {
            (Some(first), Some(last)) if orders > 1 => {
                let days = (last - first).num_seconds() as f64 / 86_400.0;
                Some(days / (orders - 1) as f64)
            }
            _ => None,
        };
        CustomerMetrics {
            orders,
            spent_minor,
            average_order_minor,
            first_order_at,
            last_order_at,
            mean_days_between,
            rfm: None,
            p_alive: None,
            expected_orders_90d: None,
            next_order_at: None,
            expected_value_minor: None,
            scored_at: None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ConsentView {
    pub purpose: String,
    pub channel: String,
    pub granted: bool,
    pub source: String,
    pub recorded_at: DateTime<Utc>,
}

/// A notification intent written with the status change that caused it.
#[derive(Clone, Debug, Serialize)]
pub struct OutboxRow {
    pub id: Uuid,
    pub order_id: i64,
    pub shipment_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub status: Status,
    pub template_key: String,
    pub purpose: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
}

/// A raw delivery as it was accepted, waiting for or done with processing.
#[derive(Clone, Debug)]
pub struct InboxRow {
    pub id: i64,
    pub source: String,
    pub delivery_id: String,
    pub topic: String,
    pub body: Vec<u8>,
    pub attempts: i64,
}

/// A raw delivery to store before it is processed.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub source: String,
    /// The platform's delivery id, or a key the client chose; duplicates are dropped.
    pub delivery_id: String,
    pub topic: String,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// The first copy of each delivery id in a batch, in order; later copies are
/// duplicates of it.
pub(crate) fn first_copies(deliveries: &[Delivery]) -> Vec<&Delivery> {
    let mut seen = std::collections::HashSet::with_capacity(deliveries.len());
    deliveries
        .iter()
        .filter(|d| seen.insert((d.source.as_str(), d.delivery_id.as_str())))
        .collect()
}

/// Whether each delivery of a batch was new, given those that were stored: a stored
/// delivery is new once, at its first copy.
pub(crate) fn acceptance<'a>(
    deliveries: &'a [Delivery],
    stored: impl Iterator<Item = &'a Delivery>,
) -> Vec<Accepted> {
    let mut fresh: std::collections::HashSet<(&str, &str)> = stored
        .map(|d| (d.source.as_str(), d.delivery_id.as_str()))
        .collect();
    deliveries
        .iter()
        .map(|d| {
            if fresh.remove(&(d.source.as_str(), d.delivery_id.as_str())) {
                Accepted::New
            } else {
                Accepted::Duplicate
            }
        })
        .collect()
}

/// Whether a delivery was new.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    New,
    Duplicate,
}

/// What processing one command did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub order_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub new_events: usize,
    pub notifications: usize,
}

/// Counts of the inbox by state, for health and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct InboxCounts {
    pub pending: i64,
    pub done: i64,
    pub failed: i64,
}

/// An API key as stored (the secret itself is never stored).
#[derive(Clone, Debug, Serialize)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub scope: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
}

/// A message claimed for sending, with what its template needs.
#[derive(Clone, Debug, Serialize)]
pub struct DueMessage {
    pub id: Uuid,
    pub template_key: String,
    /// The order status the message announces; `None` for replies to keywords.
    pub status: Option<Status>,
    pub purpose: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The order the message is about; `None` for replies to keywords.
    pub order: Option<MessageOrder>,
    pub customer: Option<MessageCustomer>,
    pub shipment: Option<MessageShipment>,
    /// Channels already tried and given up on for this message.
    pub exhausted: Vec<String>,
    /// The one channel the message may go on (a reply goes back the way the keyword
    /// came); `None` lets the delivery policy choose.
    pub only_channel: Option<String>,
    /// The customer's consent in force, per purpose and channel.
    pub consents: Vec<ConsentState>,
    /// When the customer's promotional messages of the last 7 days were sent (loaded for
    /// promotional messages only, for the frequency caps).
    pub recent_promotional: Vec<DateTime<Utc>>,
    /// Delivered on RCS but not read in time, and handed to the next channel for one
    /// more try (see `delivery.escalate_unread_after_secs`).
    pub escalated: bool,
}

/// A message sent but not delivered in time.
#[derive(Clone, Debug)]
pub struct StalledSend {
    pub id: Uuid,
    pub phone: Option<String>,
}

/// A consent decision in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConsentState {
    pub purpose: String,
    pub channel: String,
    pub granted: bool,
}

/// What became of one message in a dispatch round, to record.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub message_id: Uuid,
    /// The provider call made, if one was.
    pub attempt: Option<AttemptRecord>,
    pub next: SendOutcome,
}

/// The order a message is about, as templates see it.
#[derive(Clone, Debug, Serialize)]
pub struct MessageOrder {
    pub id: i64,
    pub number: String,
    pub currency: String,
    pub total_minor: i64,
    pub placed_at: DateTime<Utc>,
    pub status: Status,
    pub status_detail: Option<String>,
    pub tracking_token: String,
    pub shipping_address: Option<Address>,
}

/// The customer a message goes to.
#[derive(Clone, Debug, Serialize)]
pub struct MessageCustomer {
    pub id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub locale: Option<String>,
    /// IANA zone the customer's dates are written in.
    pub time_zone: Option<String>,
    /// The token of the customer's one-click unsubscribe link; never serialised, as it
    /// works without a login.
    #[serde(skip)]
    pub unsubscribe_token: Option<String>,
}

/// The shipment a message is about, when it concerns one.
#[derive(Clone, Debug, Serialize)]
pub struct MessageShipment {
    pub id: i64,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub estimated_delivery: Option<DateTime<Utc>>,
}

/// How one attempt to send a message ended, to record with its attempt.
#[derive(Clone, Debug)]
pub enum SendOutcome {
    /// The provider accepted it.
    Sent { channel: String },
    /// Try again at `at` (the provider was busy or failing; the error is kept).
    Retry { at: DateTime<Utc>, error: String },
    /// It will not be sent (the reason is kept and shown to operators).
    Failed { error: String },
    /// `channel` gave up on it: send on the next channel, now.
    Reroute { channel: String, reason: String },
    /// Not yet (quiet hours, a frequency cap): due again at `until`.
    Defer {
        until: DateTime<Utc>,
        reason: String,
    },
    /// An escalated message (delivered on RCS, not read) that no other channel would
    /// take: it stays delivered, with the reason kept.
    KeepDelivered { reason: String },
}

/// One call to a provider for a message.
#[derive(Clone, Debug)]
pub struct AttemptRecord {
    pub message_id: Uuid,
    pub channel: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    /// `sent`, `retry`, `rejected`, `unreachable` or `error`.
    pub outcome: String,
    pub http_status: Option<i64>,
    pub detail: Option<String>,
}

/// A message with its status history and attempts, for operators.
#[derive(Clone, Debug, Serialize)]
pub struct MessageView {
    pub id: Uuid,
    /// `None` for replies to keywords, which concern no order.
    pub order_id: Option<i64>,
    pub template_key: String,
    /// The order status announced; `None` for replies to keywords.
    pub status: Option<Status>,
    pub state: String,
    pub channel: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub history: Vec<MessageEventView>,
    pub attempt_log: Vec<AttemptView>,
}

/// One change of a message's state.
#[derive(Clone, Debug, Serialize)]
pub struct MessageEventView {
    pub state: String,
    pub at: DateTime<Utc>,
    pub detail: Option<String>,
}

/// One recorded provider call.
#[derive(Clone, Debug, Serialize)]
pub struct AttemptView {
    pub attempt: i64,
    pub channel: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub outcome: String,
    pub http_status: Option<i64>,
    pub detail: Option<String>,
}

/// A message a customer sent.
#[derive(Clone, Debug, Serialize)]
pub struct InboundView {
    pub id: i64,
    pub channel: String,
    pub provider_message_id: String,
    pub customer_id: Option<i64>,
    pub kind: String,
    pub body: String,
    pub sent_at: DateTime<Utc>,
}

/// Messages by state, for health output and tests.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MessageCounts {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
    pub revoked: i64,
}

/// How many customers a segment holds, and a few of them.
#[derive(Clone, Debug, Serialize)]
pub struct SegmentPreview {
    pub count: i64,
    pub sample: Vec<SegmentMember>,
}

/// A customer in a segment's sample.
#[derive(Clone, Debug, Serialize)]
pub struct SegmentMember {
    pub customer_id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub orders: i64,
}

/// An API key in the workspace's list: live or revoked, never its secret.
#[derive(Clone, Debug, Serialize)]
pub struct ApiKeyListing {
    pub id: i64,
    pub name: String,
    pub scope: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A person who logs in to the workspace. The role is the server's to interpret.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: i64,
    /// Lower-cased.
    pub email: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub password_changed_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A live session and its user.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: i64,
    pub user: User,
    /// Goes into every form the session is shown, and must come back with each post.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Who made a change, as the audit log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// The user's or key's id; none for the command line.
    pub id: Option<i64>,
    /// The user's email or the key's name.
    pub name: String,
}

/// The kinds of actor the audit log tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    User,
    ApiKey,
    Cli,
}

impl ActorKind {
    /// The name stored in `audit_log.actor_kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiKey => "api_key",
            ActorKind::Cli => "cli",
        }
    }
}

impl Actor {
    /// Someone at the server's command line.
    pub fn cli() -> Actor {
        Actor {
            kind: ActorKind::Cli,
            id: None,
            name: "command line".into(),
        }
    }

    /// How a message's history names the actor: `user a@shop.example`.
    pub fn label(&self) -> String {
        match self.kind {
            ActorKind::User => format!("user {}", self.name),
            ActorKind::ApiKey => format!("API key {}", self.name),
            ActorKind::Cli => self.name.clone(),
        }
    }
}

/// One entry of the audit log.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `user`, `api_key` or `cli`.
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    /// The user's email or the key's name, as it was then.
    pub actor: String,
    /// What was done: `template.save`, `api_key.create`, `user.role`, ...
    pub action: String,
    /// What it was done to: `template:shipped/en`, `api_key:3`, `message:<id>`, ...
    pub subject: String,
    /// The subject before the change; none when it did not exist.
    pub before: Option<serde_json::Value>,
    /// The subject after the change; none when it no longer exists.
    pub after: Option<serde_json::Value>,
}

/// Which audit entries to list; every field left out matches all. Newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// The actor's email or key name, exactly.
    pub actor: Option<String>,
    pub action: Option<String>,
    /// The kind of change: the part of the action before its dot (`template`, `api_key`,
    /// `user`, `consent`, `message`).
    pub kind: Option<String>,
    pub subject: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this one: the next page after an entry seen last.
    pub before_id: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// What may change about a user: the owner sets role and disabled; each user their
/// own password.
pub enum UserChange<'a> {
    Role(&'a str),
    Disabled(bool),
    /// A new password hash; every session but `keep_session` ends.
    Password {
        hash: &'a str,
        keep_session: Option<i64>,
    },
}
