//! WooCommerce webhooks: `order.created`, `order.updated` and the creation ping.

use domain::{
    mapping, Address, Command, Currency, EventInput, LineItemInput, OrderInput, OrderRef, Source,
    Status,
};

use super::json::{parse_body, parse_time, Obj};
use super::{minor_units, ParseContext, PayloadError, RawContact};

pub const SOURCE: &str = Source::WOOCOMMERCE;

/// Parses a delivery of `topic` into a command.
///
/// # Errors
/// When the body is not JSON or a field Tidings needs is missing or malformed.
pub fn parse(topic: &str, body: &[u8], ctx: &ParseContext) -> Result<Command, PayloadError> {
    if is_ping(body) {
        return Ok(Command::Ignore {
            reason: "webhook creation ping".into(),
        });
    }
    if !matches!(topic, "order.created" | "order.updated" | "order.restored") {
        return Ok(Command::Ignore {
            reason: format!("topic {topic} is not followed"),
        });
    }
    let value = parse_body(body)?;
    let order = Obj::root(&value)?;
    Ok(Command::UpsertOrder(Box::new(parse_order(&order, ctx)?)))
}

/// WooCommerce announces a new webhook with a form-encoded `webhook_id=N` body.
pub fn is_ping(body: &[u8]) -> bool {
    body.starts_with(b"webhook_id=")
}

fn parse_order(order: &Obj, ctx: &ParseContext) -> Result<OrderInput, PayloadError> {
    let external_id = order
        .opt_id("id")?
        .ok_or_else(|| PayloadError::new("id", "is required"))?;
    let currency = Currency::parse(&order.str("currency")?)
        .map_err(|e| PayloadError::new("currency", e.to_string()))?;
    let placed_at = gmt_time(order, "date_created_gmt")?
        .ok_or_else(|| PayloadError::new("date_created_gmt", "is required"))?;
    let status = order.str("status")?;
    let changed_at = gmt_time(order, "date_modified_gmt")?.unwrap_or(placed_at);

    let mut events = vec![EventInput {
        status: Some(Status::Placed),
        raw_status: "created".into(),
        detail: None,
        location: None,
        happened_at: placed_at,
    }];
    let canonical = mapping::woocommerce(&status);
    if matches!(
        canonical,
        Some(Status::Confirmed | Status::Fulfilled | Status::Refunded)
    ) {
        // A paid order was confirmed when it was paid, whatever it has moved on to.
        let paid_at = gmt_time(order, "date_paid_gmt")?.unwrap_or(changed_at);
        events.push(wc_event(Status::Confirmed, "processing", paid_at));
    }
    match canonical {
        Some(Status::Fulfilled) => {
            let at = gmt_time(order, "date_completed_gmt")?.unwrap_or(changed_at);
            events.push(wc_event(Status::Fulfilled, &status, at));
        }
        Some(other @ (Status::Cancelled | Status::Refunded)) => {
            events.push(wc_event(other, &status, changed_at));
        }
        _ => {}
    }

    let billing = order.obj("billing")?;
    let shipping = order.obj("shipping")?;
    let field = |o: &Option<Obj>, key: &str| -> Result<Option<String>, PayloadError> {
        o.as_ref()
            .map(|o| o.opt_str(key))
            .transpose()
            .map(Option::flatten)
    };
    let customer_id = order.opt_id("customer_id")?.filter(|id| id != "0");
    let raw = RawContact {
        external_id: customer_id,
        emails: vec![field(&billing, "email")?],
        phones: vec![field(&billing, "phone")?, field(&shipping, "phone")?],
        first_name: field(&billing, "first_name")?,
        last_name: field(&billing, "last_name")?,
        locale: None,
    };
    let address = shipping.as_ref().map(parse_address).transpose()?;

    Ok(OrderInput {
        order: OrderRef {
            source: Source::named(SOURCE),
            external_id,
        },
        number: order.opt_str("number")?.unwrap_or_default(),
        customer: raw.into_customer(ctx),
        total_minor: minor_units(order.opt_str("total")?, &currency, "total")?,
        line_items: parse_line_items(order, &currency)?,
        shipping_address: address,
        currency,
        placed_at,
        // Core WooCommerce has no shipments: "completed" means all of it shipped.
        fully_shipped: None,
        events,
        shipments: Vec::new(),
    })
}

fn wc_event(status: Status, raw: &str, at: chrono::DateTime<chrono::Utc>) -> EventInput {
    EventInput {
        status: Some(status),
        raw_status: raw.into(),
        detail: None,
        location: None,
        happened_at: at,
    }
}

/// WooCommerce's `*_gmt` fields are UTC without an offset.
fn gmt_time(order: &Obj, key: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, PayloadError> {
    match order.opt_str(key)? {
        None => Ok(None),
        Some(text) => parse_time(&text)
            .map(Some)
            .ok_or_else(|| PayloadError::new(key, format!("{text:?} is not a date-time"))),
    }
}

fn parse_line_items(order: &Obj, currency: &Currency) -> Result<Vec<LineItemInput>, PayloadError> {
    order
        .items("line_items")?
        .iter()
        .map(|item| {
            let quantity = item.opt_i64("quantity")?.unwrap_or(1);
            if quantity <= 0 {
                return Err(PayloadError::new(
                    item.field_path("quantity"),
                    "must be positive",
                ));
            }
            // `price` is a float in WooCommerce's payload; the line total is exact.
            let total = minor_units(item.opt_str("total")?, currency, &item.field_path("total"))?;
            let variation = item.opt_id("variation_id")?.filter(|v| v != "0");
            Ok(LineItemInput {
                external_id: item.opt_id("id")?,
                product_external_id: variation.or(item.opt_id("product_id")?),
                sku: item.opt_str("sku")?,
                title: item.opt_str("name")?.unwrap_or_default(),
                variant: None,
                quantity,
                unit_price_minor: total / quantity,
            })
        })
        .collect()
}

fn parse_address(a: &Obj) -> Result<Address, PayloadError> {
    let name = [a.opt_str("first_name")?, a.opt_str("last_name")?]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Address {
        name: (!name.is_empty()).then_some(name),
        line1: a.opt_str("address_1")?,
        line2: a.opt_str("address_2")?,
        city: a.opt_str("city")?,
        region: a.opt_str("state")?,
        postal_code: a.opt_str("postcode")?,
        country: a.opt_str("country")?,
    })
}
