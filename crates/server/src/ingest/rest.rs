//! The REST API's write payloads, checked strictly: unlike a platform's webhook, a REST
//! client can fix its request, so a bad phone number or time zone is an error.

use chrono::{DateTime, Utc};
use domain::{
    Address, Channel, Command, ConsentRecord, Currency, CustomerInput, Email, EventInput,
    EventTarget, LineItemInput, Locale, OrderInput, OrderRef, PhoneNumber, Purpose, ShipmentInput,
    Source, Status, TimeZone,
};
use serde::Deserialize;

use super::{minor_units, PayloadError};

/// `POST /api/v1/orders`: create an order or update it, by source and external id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    /// Defaults to `api`.
    pub source: Option<String>,
    pub external_id: String,
    pub number: Option<String>,
    pub currency: String,
    /// Decimal string, e.g. `"59.90"`.
    pub total: String,
    pub placed_at: DateTime<Utc>,
    /// `placed` (default), `confirmed` or `cancelled`.
    pub status: Option<String>,
    #[serde(default)]
    pub customer: Option<CustomerBody>,
    #[serde(default)]
    pub line_items: Vec<LineItemBody>,
    pub shipping_address: Option<Address>,
    pub fully_shipped: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    #[serde(default)]
    pub consents: Vec<ConsentBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    pub purpose: String,
    pub channel: String,
    pub granted: bool,
    pub source: Option<String>,
    pub recorded_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItemBody {
    pub external_id: Option<String>,
    pub product_id: Option<String>,
    pub sku: Option<String>,
    pub title: String,
    pub variant: Option<String>,
    pub quantity: i64,
    /// Decimal string, the price of one unit.
    pub unit_price: String,
}

/// `POST /api/v1/orders/{id}/shipments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentBody {
    /// Defaults to the tracking number.
    pub external_id: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub tracking_url: Option<String>,
    pub estimated_delivery: Option<DateTime<Utc>>,
    #[serde(default)]
    pub events: Vec<EventBody>,
}

/// `POST /api/v1/orders/{id}/events`: one tracking event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// A canonical status (`in_transit`, `delivered`, ...).
    pub status: String,
    /// The carrier's own word for it; defaults to `status`.
    pub raw_status: Option<String>,
    pub detail: Option<String>,
    pub location: Option<String>,
    pub happened_at: DateTime<Utc>,
    /// The shipment's external id; the event belongs to the order when absent.
    pub shipment: Option<String>,
    pub estimated_delivery: Option<DateTime<Utc>>,
}

impl OrderBody {
    /// # Errors
    /// The first field that does not hold a valid value.
    pub fn into_command(self, default_region: &str) -> Result<Command, PayloadError> {
        let source = parse_source(self.source.as_deref())?;
        non_empty("external_id", &self.external_id)?;
        let currency = Currency::parse(&self.currency)
            .map_err(|e| PayloadError::new("currency", e.to_string()))?;
        let total_minor = minor_units(Some(self.total), &currency, "total")?;
        let events = order_events(self.status.as_deref(), self.placed_at)?;
        let customer = match self.customer {
            Some(c) => c.into_input(default_region)?,
            None => CustomerInput::default(),
        };
        let line_items = self
            .line_items
            .into_iter()
            .enumerate()
            .map(|(i, item)| item.into_input(i, &currency))
            .collect::<Result<_, _>>()?;
        Ok(Command::UpsertOrder(Box::new(OrderInput {
            number: self.number.unwrap_or_else(|| self.external_id.clone()),
            order: OrderRef {
                source,
                external_id: self.external_id,
            },
            customer,
            currency,
            total_minor,
            line_items,
            shipping_address: self.shipping_address,
            placed_at: self.placed_at,
            fully_shipped: self.fully_shipped,
            events,
            shipments: Vec::new(),
        })))
    }
}

fn parse_source(source: Option<&str>) -> Result<Source, PayloadError> {
    let name = source.unwrap_or("api");
    Source::parse(name).ok_or_else(|| {
        PayloadError::new(
            "source",
            "must be lower-case letters, digits, - or _ (at most 40)",
        )
    })
}

fn non_empty(field: &str, value: &str) -> Result<(), PayloadError> {
    if value.trim().is_empty() {
        return Err(PayloadError::new(field, "must not be empty"));
    }
    Ok(())
}

fn order_events(
    status: Option<&str>,
    placed_at: DateTime<Utc>,
) -> Result<Vec<EventInput>, PayloadError> {
    let event = |status: Status| EventInput {
        status: Some(status),
        raw_status: status.as_str().to_string(),
        detail: None,
        location: None,
        happened_at: placed_at,
    };
    let mut events = vec![event(Status::Placed)];
    match status.unwrap_or("placed") {
        "placed" => {}
        "confirmed" => events.push(event(Status::Confirmed)),
        "cancelled" => events.push(event(Status::Cancelled)),
        other => {
            return Err(PayloadError::new(
                "status",
                format!(
                    "{other:?} is not one of placed, confirmed, cancelled \
                     (shipping progress is sent as events)"
                ),
            ))
        }
    }
    Ok(events)
}

impl CustomerBody {
    fn into_input(self, default_region: &str) -> Result<CustomerInput, PayloadError> {
        let field = |name: &str| format!("customer.{name}");
        let email = self
            .email
            .map(|e| Email::parse(&e))
            .transpose()
            .map_err(|e| PayloadError::new(field("email"), e.to_string()))?;
        let phone = self
            .phone
            .map(|p| PhoneNumber::parse(&p, default_region))
            .transpose()
            .map_err(|e| PayloadError::new(field("phone"), e.to_string()))?;
        let locale = self
            .locale
            .map(|l| Locale::parse(&l))
            .transpose()
            .map_err(|e| PayloadError::new(field("locale"), e.to_string()))?;
        let time_zone = self
            .time_zone
            .map(|t| TimeZone::parse(&t))
            .transpose()
            .map_err(|e| PayloadError::new(field("time_zone"), e.to_string()))?;
        let consents = self
            .consents
            .into_iter()
            .enumerate()
            .map(|(i, c)| c.into_record(i))
            .collect::<Result<_, _>>()?;
        Ok(CustomerInput {
            external_id: self.external_id,
            email,
            phone,
            first_name: self.first_name,
            last_name: self.last_name,
            locale,
            time_zone,
            consents,
        })
    }
}

impl ConsentBody {
    fn into_record(self, index: usize) -> Result<ConsentRecord, PayloadError> {
        let field = |name: &str| format!("customer.consents[{index}].{name}");
        Ok(ConsentRecord {
            purpose: Purpose::parse(&self.purpose)
                .map_err(|e| PayloadError::new(field("purpose"), e.to_string()))?,
            channel: Channel::parse(&self.channel)
                .map_err(|e| PayloadError::new(field("channel"), e.to_string()))?,
            granted: self.granted,
            source: self.source.unwrap_or_else(|| "api".into()),
            recorded_at: self.recorded_at.unwrap_or_else(Utc::now),
        })
    }
}

impl LineItemBody {
    fn into_input(self, index: usize, currency: &Currency) -> Result<LineItemInput, PayloadError> {
        let field = |name: &str| format!("line_items[{index}].{name}");
        if self.quantity <= 0 {
            return Err(PayloadError::new(field("quantity"), "must be positive"));
        }
        non_empty(&field("title"), &self.title)?;
        Ok(LineItemInput {
            external_id: self.external_id,
            product_external_id: self.product_id,
            sku: self.sku,
            title: self.title,
            variant: self.variant,
            quantity: self.quantity,
            unit_price_minor: minor_units(Some(self.unit_price), currency, &field("unit_price"))?,
        })
    }
}

impl ShipmentBody {
    /// # Errors
    /// When neither an external id nor a tracking number is given, or an event is bad.
    pub fn into_command(self, order: OrderRef) -> Result<Command, PayloadError> {
        let external_id = self
            .external_id
            .or_else(|| self.tracking_number.clone())
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| {
                PayloadError::new("external_id", "is required when tracking_number is absent")
            })?;
        let events = self
            .events
            .into_iter()
            .enumerate()
            .map(|(i, e)| e.into_input(&format!("events[{i}].")))
            .collect::<Result<_, _>>()?;
        Ok(Command::UpsertShipment {
            order,
            shipment: ShipmentInput {
                external_id,
                carrier: self.carrier,
                tracking_number: self.tracking_number,
                tracking_url: self.tracking_url,
                estimated_delivery: self.estimated_delivery,
                events,
            },
        })
    }
}

impl EventBody {
    fn into_input(self, prefix: &str) -> Result<EventInput, PayloadError> {
        let status = Status::parse(&self.status).ok_or_else(|| {
            let names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            PayloadError::new(
                format!("{prefix}status"),
                format!("{:?} is not one of {}", self.status, names.join(", ")),
            )
        })?;
        Ok(EventInput {
            status: Some(status),
            raw_status: self.raw_status.unwrap_or_else(|| self.status.clone()),
            detail: self.detail,
            location: self.location,
            happened_at: self.happened_at,
        })
    }

    /// # Errors
    /// When the status is not a canonical one.
    pub fn into_command(self, order: OrderRef) -> Result<Command, PayloadError> {
        let target = match self.shipment.clone() {
            Some(shipment_external_id) => EventTarget::Shipment {
                order,
                shipment_external_id,
            },
            None => EventTarget::Order(order),
        };
        let estimated_delivery = self.estimated_delivery;
        let events = vec![self.into_input("")?];
        Ok(Command::AddEvents {
            target,
            estimated_delivery,
            events,
            reported_by: Source::named("api"),
        })
    }
}
