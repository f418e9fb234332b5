//! Ingest: raw deliveries are verified at the edge, written durably by one writer task
//! with group commit, acknowledged, and processed from the store by the processor.
//!
//! The split is what makes ingest both fast and lossless: a webhook is answered as soon
//! as its raw body is on disk (hundreds of deliveries share one commit), and a crash
//! between acceptance and processing loses nothing, because processing starts again
//! from the stored rows.

pub mod applier;
pub mod easypost;
mod json;
pub mod kannel;
pub mod maap;
pub mod rbm;
pub mod rest;
pub mod shopify;
pub mod sms;
pub mod woocommerce;

use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use store::{Accepted, ApplyOptions, Delivery, InboxRow, Store};

use tokio::sync::{mpsc, oneshot, watch, Notify};

use domain::Command;

/// Why a payload cannot be ingested; the field named is the one at fault.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PayloadError {
    pub field: String,
    pub message: String,
}

impl PayloadError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> PayloadError {
        PayloadError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What parsing needs beyond the payload.
#[derive(Clone, Debug)]
pub struct ParseContext {
    /// Region for national phone numbers.
    pub default_region: String,
    /// Normalise phone numbers and emails. Webhooks drop contact points that do not
    /// parse rather than refuse the delivery, so the acceptance check can skip this
    /// costly step and leave it to processing.
    pub contacts: bool,
}

impl ParseContext {
    /// For processing: everything is parsed.
    pub fn full(default_region: &str) -> ParseContext {
        ParseContext {
            default_region: default_region.to_string(),
            contacts: true,
        }
    }

    /// For the acceptance check at the edge: what can refuse a delivery is checked.
    pub fn acceptance(default_region: &str) -> ParseContext {
        ParseContext {
            default_region: default_region.to_string(),
            contacts: false,
        }
    }
}

/// Turns a stored delivery into a command, by its source.
///
/// # Errors
/// When the stored body no longer parses (it was checked when accepted, so this means a
/// bug or a row written by another version).
pub fn parse_delivery(row: &InboxRow, ctx: &ParseContext) -> Result<Command, String> {
    let result = match row.source.as_str() {
        shopify::SOURCE => shopify::parse(&row.topic, &row.body, ctx),
        woocommerce::SOURCE => woocommerce::parse(&row.topic, &row.body, ctx),
        easypost::SOURCE => easypost::parse(&row.body),
        rbm::SOURCE => rbm::parse(&row.body),
        maap::SOURCE => maap::parse(&row.body),
        sms::SOURCE => sms::parse(&row.body),
        kannel::SOURCE => kannel::parse(&row.body),
        other => return Err(format!("no parser for source {other}")),
    };
    result.map_err(|e| e.to_string())
}

/// What the writer tells the processor: that rows are waiting, and when it last
/// committed (a sign that webhooks are arriving).
pub struct Activity {
    wake: Notify,
    origin: Instant,
    /// Milliseconds from `origin` to the writer's last commit.
    last_commit_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            wake: Notify::new(),
            origin: Instant::now(),
            last_commit_ms: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn committed(&self) {
        self.last_commit_ms.store(self.now_ms(), Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// The writer committed within the last 100 ms.
    fn busy(&self) -> bool {
        let last = self.last_commit_ms.load(Ordering::Relaxed);
        last > 0 && self.now_ms().saturating_sub(last) < 100
    }
}

struct Pending {
    delivery: Delivery,
    reply: oneshot::Sender<Result<Accepted, String>>,
}

/// The handle webhooks use to hand deliveries to the writer.
#[derive(Clone)]
pub struct Ingest {
    queue: mpsc::Sender<Pending>,
}

/// Why a delivery was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the ingest queue is full; retry later")]
    Busy,
    #[error("Tidings is shutting down; retry later")]
    Closed,
    #[error("storing the delivery failed: {0}")]
    Store(String),
}

impl Ingest {
    /// Queues a delivery and waits until it is committed (or found to be a duplicate).
    ///
    /// # Errors
    /// When the queue is full, the writer has stopped, or the commit failed.
    pub async fn accept(&self, delivery: Delivery) -> Result<Accepted, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Pending { delivery, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => IngestError::Busy,
                mpsc::error::TrySendError::Closed(_) => IngestError::Closed,
            })?;
        match answer.await {
            Ok(result) => result.map_err(IngestError::Store),
            Err(_) => Err(IngestError::Closed),
        }
    }
}

/// Starts the writer task; it stops once every [`Ingest`] handle is dropped and the
/// queue is drained.
pub fn spawn_writer(
    store: Store,
    capacity: usize,
    batch_max: usize,
    activity: Arc<Activity>,
) -> (Ingest, tokio::task::JoinHandle<()>) {
    let (queue, receiver) = mpsc::channel(capacity);
    let task = tokio::spawn(run_writer(store, receiver, batch_max, activity));
    (Ingest { queue }, task)
}

async fn run_writer(
    store: Store,
    mut receiver: mpsc::Receiver<Pending>,
    batch_max: usize,
    activity: Arc<Activity>,
) {
    let mut batch = Vec::with_capacity(batch_max);
    // Whatever queued while the previous commit ran goes into the next one.
    while receiver.recv_many(&mut batch, batch_max).await > 0 {
        let (deliveries, replies): (Vec<Delivery>, Vec<_>) =
            batch.drain(..).map(|p| (p.delivery, p.reply)).unzip();
        match store.accept_deliveries(&deliveries).await {
            Ok(accepted) => {
                for (reply, accepted) in replies.into_iter().zip(accepted) {
                    let _ = reply.send(Ok(accepted));
                }
                activity.committed();
            }
            Err(error) => {
                let size = deliveries.len();
                tracing::error!(error.message = %error, size, "ingest commit failed");
                for reply in replies {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
        }
    }
    tracing::debug!("ingest writer stopped");
}

/// Starts the processor: it applies stored deliveries until `stop` turns true.
pub fn spawn_processor(
    store: Store,
    ctx: ParseContext,
    batch: i64,
    activity: Arc<Activity>,
    processed: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let parse = |row: &InboxRow| parse_delivery(row, &ctx);
        while !*stop.borrow() {
            let started = Instant::now();
            let handled = match store
                .process_inbox(batch, &parse, &ApplyOptions::live())
                .await
            {
                Ok(handled) => handled,
                Err(error) => {
                    tracing::error!(error.message = %error, "processing stored deliveries failed");
                    0
                }
            };
            if handled > 0 {
                // Processing may have queued messages: the dispatcher sends them now
                // rather than at its next poll.
                processed.notify_one();
                // While webhooks are arriving, acknowledging them comes first: on a small
                // machine processing would otherwise take the CPU and the write lock that
                // acceptance needs. What waits is processed as soon as the burst ends.
                if activity.busy() {
                    tokio::time::sleep(started.elapsed() * 4).await;
                }
                continue;
            }
            // Idle: wait for new deliveries, or poll for retries that came due.
            tokio::select! {
                _ = activity.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => {}
            }
        }
        tracing::debug!("ingest processor stopped");
    })
}

/// Contact details as a platform sent them, before checking.
#[derive(Default)]
pub(crate) struct RawContact {
    pub external_id: Option<String>,
    /// Candidates in order of preference; the first that parses wins.
    pub emails: Vec<Option<String>>,
    pub phones: Vec<Option<String>>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
}

impl RawContact {
    /// Builds a customer, dropping contact points that do not parse: a store's order must
    /// not be refused for a mistyped phone number, and a bad one must not be stored.
    pub(crate) fn into_customer(self, ctx: &ParseContext) -> domain::CustomerInput {
        if !ctx.contacts {
            return domain::CustomerInput {
                external_id: self.external_id,
                ..Default::default()
            };
        }
        let email = self
            .emails
            .into_iter()
            .flatten()
            .find_map(|e| domain::Email::parse(&e).ok());
        let phone = self
            .phones
            .into_iter()
            .flatten()
            .find_map(|p| domain::PhoneNumber::parse(&p, &ctx.default_region).ok());
        domain::CustomerInput {
            external_id: self.external_id,
            email,
            phone,
            first_name: self.first_name,
            last_name: self.last_name,
            locale: self.locale.and_then(|l| domain::Locale::parse(&l).ok()),
            time_zone: None,
            consents: Vec::new(),
        }
    }
}

/// Parses an amount in a currency into minor units, naming the field on error.
pub(crate) fn minor_units(
    amount: Option<String>,
    currency: &domain::Currency,
    field: &str,
) -> Result<i64, PayloadError> {
    match amount {
        None => Ok(0),
        Some(text) => domain::Money::parse_decimal(&text, currency.clone())
            .map(|m| m.minor)
            .map_err(|e| PayloadError::new(field, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn ctx() -> ParseContext {
        ParseContext::full("US")
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|n| json!(n)),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::hash_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let value: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        match value {
            Value::Object(map) if map.len() == 1 => map.into_iter().next().unwrap().1,
            other => other,
        }
    }

    /// Replaces the field at `pick` (wrapping over the fixture's keys) with `value`.
    fn mutate(mut doc: Value, pick: usize, value: Value) -> Vec<u8> {
        if let Some(map) = doc.as_object_mut() {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[pick % keys.len()];
            map.insert(key.clone(), value);
        }
        serde_json::to_vec(&doc).unwrap()
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_a_parser(
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let _ = shopify::parse("orders/create", &body, &ctx());
            let _ = woocommerce::parse("order.updated", &body, &ctx());
            let _ = easypost::parse(&body);
        }

        #[test]
        fn any_value_in_any_field_is_parsed_or_refused(pick in 0usize..200, value in any_json()) {
            let order = mutate(fixture("shopify-order.json"), pick, value.clone());
            let _ = shopify::parse("orders/create", &order, &ctx());
            let event = mutate(fixture("shopify-fulfillment_event.json"), pick, value.clone());
            let _ = shopify::parse("fulfillment_events/create", &event, &ctx());
            let refund = mutate(fixture("shopify-refund.json"), pick, value.clone());
            let _ = shopify::parse("refunds/create", &refund, &ctx());
            let wc = mutate(fixture("woocommerce-order.json"), pick, value.clone());
            let _ = woocommerce::parse("order.updated", &wc, &ctx());
            let tracker = mutate(fixture("easypost-tracker-updated.json"), pick, value);
            let _ = easypost::parse(&tracker);
        }
    }

    fn parsed_order_id(order: Value) -> Result<String, PayloadError> {
        let body = serde_json::to_vec(&order).unwrap();
        match shopify::parse("orders/create", &body, &ctx())? {
            Command::UpsertOrder(input) => Ok(input.order.external_id),
            other => panic!("not an order: {other:?}"),
        }
    }

    #[test]
    fn a_rounded_shopify_id_gives_way_to_the_graphql_id() {
        let mut order = fixture("shopify-order.json");
        // 2^53 + 1 cannot survive a float; a producer that went through one sent this.
        order["id"] = json!(9007199254740992_u64);
        order["admin_graphql_api_id"] = json!("gid://shopify/Order/9007199254740993");
        assert_eq!(parsed_order_id(order.clone()).unwrap(), "9007199254740993");

        order["admin_graphql_api_id"] = Value::Null;
        order["id"] = json!(4.50789469e8);
        let error = parsed_order_id(order).unwrap_err();
        assert_eq!(error.field, "id");
    }

    #[test]
    fn a_64_bit_id_is_kept_exactly() {
        let mut order = fixture("shopify-order.json");
        order["id"] = json!(18446744073709551615_u64);
        assert_eq!(parsed_order_id(order).unwrap(), "18446744073709551615");
    }

    #[test]
    fn the_fixtures_parse() {
        let parsed = shopify::parse(
            "orders/create",
            &serde_json::to_vec(&fixture("shopify-order.json")).unwrap(),
            &ctx(),
        );
        assert!(matches!(parsed, Ok(Command::UpsertOrder(_))));
        let parsed = easypost::parse(
            &serde_json::to_vec(&fixture("easypost-tracker-updated.json")).unwrap(),
        );
        assert!(matches!(parsed, Ok(Command::AddEvents { .. })));
    }
}
