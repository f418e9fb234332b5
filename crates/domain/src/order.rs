//! Orders, shipments and tracking events as sources describe them, normalised.
//!
//! Every ingest path (Shopify, WooCommerce, EasyPost, REST, CSV) parses its payload into
//! these types; the store applies them with the status machine of [`crate::status`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::customer::CustomerInput;
use crate::message::{InboundInput, ReceiptInput, SubscriptionInput};
use crate::money::Currency;
use crate::status::Status;

/// Where an order came from; with the source's own id it identifies the order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Source(String);

impl Source {
    pub const SHOPIFY: &'static str = "shopify";
    pub const WOOCOMMERCE: &'static str = "woocommerce";
    pub const EASYPOST: &'static str = "easypost";

    /// A source name: lower-case letters, digits, `-` and `_`, at most 40 characters.
    pub fn parse(name: &str) -> Option<Source> {
        let ok = !name.is_empty()
            && name.len() <= 40
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        ok.then(|| Source(name.to_string()))
    }

    pub fn named(name: &'static str) -> Source {
        Source(name.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A reference to an order by its source and the source's id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRef {
    pub source: Source,
    pub external_id: String,
}

/// A postal address, as free as the platforms send it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166 alpha-2 where the source gives it.
    pub country: Option<String>,
}

/// One line of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItemInput {
    pub external_id: Option<String>,
    pub product_external_id: Option<String>,
    pub sku: Option<String>,
    pub title: String,
    pub variant: Option<String>,
    pub quantity: i64,
    /// Price of one unit, in minor units of the order's currency.
    pub unit_price_minor: i64,
}

/// One event on a timeline, as the source reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInput {
    /// The canonical status, or `None` when the raw status carries no tracking meaning.
    pub status: Option<Status>,
    /// The source's own status word, kept for the timeline and support.
    pub raw_status: String,
    pub detail: Option<String>,
    pub location: Option<String>,
    pub happened_at: DateTime<Utc>,
}

/// A shipment (a fulfillment, a parcel with a tracking number).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentInput {
    /// The source's shipment id; sources without one use the tracking number.
    pub external_id: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub estimated_delivery: Option<DateTime<Utc>>,
    pub events: Vec<EventInput>,
}

/// An order, created or updated by its source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderInput {
    pub order: OrderRef,
    /// The number the customer knows (`#1001`).
    pub number: String,
    pub customer: CustomerInput,
    pub currency: Currency,
    pub total_minor: i64,
    pub line_items: Vec<LineItemInput>,
    pub shipping_address: Option<Address>,
    pub placed_at: DateTime<Utc>,
    /// `Some` when the source says whether everything has shipped.
    pub fully_shipped: Option<bool>,
    /// Order-level events (placed, confirmed, cancelled, ...).
    pub events: Vec<EventInput>,
    pub shipments: Vec<ShipmentInput>,
}

/// Where tracking events belong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventTarget {
    /// The order itself (sources without shipments, refunds, cancellations).
    Order(OrderRef),
    /// A shipment of an order, by the source's shipment id; created if unknown.
    Shipment {
        order: OrderRef,
        shipment_external_id: String,
    },
    /// A parcel known only by its tracking number, as carrier trackers report it.
    TrackingNumber {
        tracking_number: String,
        carrier: Option<String>,
    },
}

/// Something an ingest path asks the store to do, processed in one transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    UpsertOrder(Box<OrderInput>),
    UpsertShipment {
        order: OrderRef,
        shipment: ShipmentInput,
    },
    AddEvents {
        target: EventTarget,
        estimated_delivery: Option<DateTime<Utc>>,
        events: Vec<EventInput>,
        /// Who reported the events (a carrier tracker may differ from the order's source).
        reported_by: Source,
    },
    UpsertCustomer {
        source: Source,
        customer: CustomerInput,
    },
    /// A provider's receipt for a message Tidings sent.
    Receipt(ReceiptInput),
    /// A message a customer sent.
    Inbound(Box<InboundInput>),
    /// A customer stopped or resumed business messages on a channel.
    Subscription(SubscriptionInput),
    /// Nothing to do (a ping, a topic Tidings does not follow).
    Ignore {
        reason: String,
    },
}

impl EventInput {
    /// A stable key for this event, so that a replay or an overlapping report (a
    /// tracker resends its whole history) adds nothing to the timeline.
    pub fn fingerprint(&self, shipment_key: &str) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for part in [
            shipment_key,
            &self.raw_status,
            &self.happened_at.timestamp_micros().to_string(),
            self.detail.as_deref().unwrap_or(""),
        ] {
            // Length-prefixed, so that no two different tuples hash the same input.
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hex::encode(&hasher.finalize()[..16])
    }
}
