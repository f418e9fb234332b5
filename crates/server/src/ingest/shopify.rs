//! Shopify webhooks: orders, fulfillments, fulfillment events, refunds and customers.

use chrono::{DateTime, Utc};
use domain::{
    mapping, Address, Channel, Command, ConsentRecord, Currency, EventInput, EventTarget,
    LineItemInput, OrderInput, OrderRef, Purpose, ShipmentInput, Source, Status,
};
use serde_json::Value;

use super::json::{parse_body, Obj};
use super::{minor_units, ParseContext, PayloadError, RawContact};

pub const SOURCE: &str = Source::SHOPIFY;

/// Topics Tidings follows; anything else is acknowledged and ignored.
pub const TOPICS: [&str; 10] = [
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/paid",
    "fulfillments/create",
    "fulfillments/update",
    "fulfillment_events/create",
    "refunds/create",
    "customers/create",
];

/// Parses a delivery of `topic` into a command.
///
/// # Errors
/// When the body is not JSON or a field Tidings needs is missing or malformed.
pub fn parse(topic: &str, body: &[u8], ctx: &ParseContext) -> Result<Command, PayloadError> {
    if !TOPICS.contains(&topic) {
        return Ok(Command::Ignore {
            reason: format!("topic {topic} is not followed"),
        });
    }
    let value = parse_body(body)?;
    let root = Obj::root(unwrap(&value, topic))?;
    match topic.split('/').next().unwrap_or_default() {
        "orders" => Ok(Command::UpsertOrder(Box::new(parse_order(&root, ctx)?))),
        "fulfillments" => parse_fulfillment_command(&root),
        "fulfillment_events" => parse_fulfillment_event(&root),
        "refunds" => parse_refund(&root),
        _ => {
            let customer = parse_customer(&root, ctx)?;
            Ok(Command::UpsertCustomer {
                source: Source::named(SOURCE),
                customer,
            })
        }
    }
}

/// Webhook bodies are the bare object; the REST API (and Shopify's own examples) wrap it
/// in `{"order": ...}`. Both are accepted.
fn unwrap<'a>(value: &'a Value, topic: &str) -> &'a Value {
    let key = match topic.split('/').next() {
        Some("orders") => "order",
        Some("fulfillments") => "fulfillment",
        Some("fulfillment_events") => "fulfillment_event",
        Some("refunds") => "refund",
        _ => "customer",
    };
    match value.as_object() {
        Some(map) if map.len() == 1 && map.get(key).is_some_and(Value::is_object) => &value[key],
        _ => value,
    }
}

/// A Shopify id: the exact one in `admin_graphql_api_id` when present (a producer may
/// have rounded the numeric id through a float), else the numeric `key`.
fn shopify_id(obj: &Obj, key: &str) -> Result<Option<String>, PayloadError> {
    if key == "id" {
        if let Some(gid) = obj.opt_str("admin_graphql_api_id")? {
            let digits = gid.rsplit('/').next().unwrap_or_default();
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(Some(digits.to_string()));
            }
            return Err(PayloadError::new(
                obj.field_path("admin_graphql_api_id"),
                "is not a gid",
            ));
        }
    }
    obj.opt_id(key)
}

fn required_id(obj: &Obj, key: &str) -> Result<String, PayloadError> {
    shopify_id(obj, key)?.ok_or_else(|| PayloadError::new(obj.field_path(key), "is required"))
}

fn order_ref(external_id: String) -> OrderRef {
    OrderRef {
        source: Source::named(SOURCE),
        external_id,
    }
}

fn parse_order(order: &Obj, ctx: &ParseContext) -> Result<OrderInput, PayloadError> {
    let external_id = required_id(order, "id")?;
    let currency = Currency::parse(&order.str("currency")?)
        .map_err(|e| PayloadError::new(order.field_path("currency"), e.to_string()))?;
    let placed_at = order.time("created_at")?;
    let number = match order.opt_str("name")? {
        Some(name) => name,
        None => order
            .opt_str("order_number")?
            .unwrap_or_else(|| external_id.clone()),
    };

    let mut events = vec![event(Status::Placed, "created", placed_at, None)];
    let financial = order.opt_str("financial_status")?.unwrap_or_default();
    if mapping::shopify_financial(&financial) == Status::Confirmed {
        let at = order.opt_time("processed_at")?.unwrap_or(placed_at);
        events.push(event(Status::Confirmed, &financial, at, None));
    }
    if let Some(cancelled_at) = order.opt_time("cancelled_at")? {
        let reason = order.opt_str("cancel_reason")?;
        events.push(event(Status::Cancelled, "cancelled", cancelled_at, reason));
    }

    let fulfillment_status = order.opt_str("fulfillment_status")?;
    let shipments = order
        .items("fulfillments")?
        .iter()
        .map(parse_fulfillment)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OrderInput {
        order: order_ref(external_id),
        number,
        customer: order_customer(order, ctx)?,
        total_minor: minor_units(order.opt_str("total_price")?, &currency, "total_price")?,
        line_items: parse_line_items(order, &currency)?,
        shipping_address: parse_address(order.obj("shipping_address")?.as_ref())?,
        currency,
        placed_at,
        fully_shipped: Some(fulfillment_status.as_deref() == Some("fulfilled")),
        events,
        shipments,
    })
}

fn event(status: Status, raw: &str, at: DateTime<Utc>, detail: Option<String>) -> EventInput {
    EventInput {
        status: Some(status),
        raw_status: raw.to_string(),
        detail,
        location: None,
        happened_at: at,
    }
}

fn order_customer(order: &Obj, ctx: &ParseContext) -> Result<domain::CustomerInput, PayloadError> {
    let customer = order.obj("customer")?;
    let shipping = order.obj("shipping_address")?;
    let billing = order.obj("billing_address")?;
    let field = |o: &Option<Obj>, key: &str| -> Result<Option<String>, PayloadError> {
        o.as_ref()
            .map(|o| o.opt_str(key))
            .transpose()
            .map(Option::flatten)
    };
    let raw = RawContact {
        external_id: customer
            .as_ref()
            .map(|c| shopify_id(c, "id"))
            .transpose()?
            .flatten(),
        emails: vec![
            field(&customer, "email")?,
            order.opt_str("email")?,
            order.opt_str("contact_email")?,
        ],
        phones: vec![
            field(&customer, "phone")?,
            order.opt_str("phone")?,
            field(&shipping, "phone")?,
            field(&billing, "phone")?,
        ],
        first_name: field(&customer, "first_name")?.or(field(&shipping, "first_name")?),
        last_name: field(&customer, "last_name")?.or(field(&shipping, "last_name")?),
        locale: order.opt_str("customer_locale")?,
    };
    let mut input = raw.into_customer(ctx);
    let accepts = match &customer {
        Some(c) => c.opt_bool("accepts_marketing")?,
        None => None,
    };
    let accepts = accepts.or(order.opt_bool("buyer_accepts_marketing")?);
    let at = order
        .opt_time("updated_at")?
        .unwrap_or(order.time("created_at")?);
    if let Some(granted) = accepts {
        input.consents.push(consent(
            Channel::Email,
            granted,
            "shopify:accepts_marketing",
            at,
        ));
    }
    if let Some(c) = &customer {
        input.consents.extend(marketing_consents(c, at)?);
    }
    Ok(input)
}

fn consent(channel: Channel, granted: bool, source: &str, at: DateTime<Utc>) -> ConsentRecord {
    ConsentRecord {
        purpose: Purpose::Promotional,
        channel,
        granted,
        source: source.to_string(),
        recorded_at: at,
    }
}

/// Shopify's newer `email_marketing_consent` / `sms_marketing_consent` objects.
fn marketing_consents(
    customer: &Obj,
    at: DateTime<Utc>,
) -> Result<Vec<ConsentRecord>, PayloadError> {
    let mut records = Vec::new();
    for (key, channel) in [
        ("email_marketing_consent", Channel::Email),
        ("sms_marketing_consent", Channel::Sms),
    ] {
        let Some(obj) = customer.obj(key)? else {
            continue;
        };
        let Some(state) = obj.opt_str("state")? else {
            continue;
        };
        let when = obj.opt_time("consent_updated_at")?.unwrap_or(at);
        let source = format!("shopify:{key}");
        records.push(consent(channel, state == "subscribed", &source, when));
    }
    Ok(records)
}

fn parse_customer(
    customer: &Obj,
    ctx: &ParseContext,
) -> Result<domain::CustomerInput, PayloadError> {
    let address = customer.obj("default_address")?;
    let raw = RawContact {
        external_id: Some(required_id(customer, "id")?),
        emails: vec![customer.opt_str("email")?],
        phones: vec![
            customer.opt_str("phone")?,
            address
                .as_ref()
                .map(|a| a.opt_str("phone"))
                .transpose()?
                .flatten(),
        ],
        first_name: customer.opt_str("first_name")?,
        last_name: customer.opt_str("last_name")?,
        locale: customer.opt_str("locale")?,
    };
    let mut input = raw.into_customer(ctx);
    let at = customer.opt_time("updated_at")?.unwrap_or_else(Utc::now);
    if let Some(granted) = customer.opt_bool("accepts_marketing")? {
        input.consents.push(consent(
            Channel::Email,
            granted,
            "shopify:accepts_marketing",
            at,
        ));
    }
    input.consents.extend(marketing_consents(customer, at)?);
    Ok(input)
}

fn parse_line_items(order: &Obj, currency: &Currency) -> Result<Vec<LineItemInput>, PayloadError> {
    order
        .items("line_items")?
        .iter()
        .map(|item| {
            let quantity = item.opt_i64("quantity")?.unwrap_or(1);
            if quantity < 0 {
                return Err(PayloadError::new(
                    item.field_path("quantity"),
                    "must not be negative",
                ));
            }
            Ok(LineItemInput {
                external_id: item.opt_id("id")?,
                product_external_id: item.opt_id("product_id")?,
                sku: item.opt_str("sku")?,
                title: item
                    .opt_str("title")?
                    .or(item.opt_str("name")?)
                    .unwrap_or_default(),
                variant: item.opt_str("variant_title")?,
                quantity,
                unit_price_minor: minor_units(
                    item.opt_str("price")?,
                    currency,
                    &item.field_path("price"),
                )?,
            })
        })
        .collect()
}

fn parse_address(address: Option<&Obj>) -> Result<Option<Address>, PayloadError> {
    let Some(a) = address else { return Ok(None) };
    Ok(Some(Address {
        name: a.opt_str("name")?,
        line1: a.opt_str("address1")?,
        line2: a.opt_str("address2")?,
        city: a.opt_str("city")?,
        region: a.opt_str("province_code")?.or(a.opt_str("province")?),
        postal_code: a.opt_str("zip")?,
        country: a.opt_str("country_code")?.or(a.opt_str("country")?),
    }))
}

fn parse_fulfillment(f: &Obj) -> Result<ShipmentInput, PayloadError> {
    let external_id = required_id(f, "id")?;
    let at = f
        .opt_time("updated_at")?
        .or(f.opt_time("created_at")?)
        .unwrap_or_else(Utc::now);
    let mut events = Vec::new();
    if let Some(status) = f.opt_str("status")? {
        // Only an ended fulfillment says something its events do not.
        if let Some(Status::Cancelled) = mapping::shopify_fulfillment(&status) {
            events.push(event(
                Status::Cancelled,
                &format!("fulfillment:{status}"),
                at,
                None,
            ));
        }
    }
    if let Some(shipment_status) = f.opt_str("shipment_status")? {
        events.push(EventInput {
            status: mapping::shopify_shipment_status(&shipment_status),
            raw_status: shipment_status,
            detail: None,
            location: None,
            happened_at: at,
        });
    }
    let tracking_number = f
        .opt_str("tracking_number")?
        .or(f.strings("tracking_numbers")?.into_iter().next());
    let tracking_url = f
        .opt_str("tracking_url")?
        .or(f.strings("tracking_urls")?.into_iter().next());
    Ok(ShipmentInput {
        external_id,
        carrier: f
            .opt_str("tracking_company")?
            .filter(|c| c != "null-company"),
        tracking_number,
        tracking_url,
        estimated_delivery: None,
        events,
    })
}

fn parse_fulfillment_command(f: &Obj) -> Result<Command, PayloadError> {
    let order = order_ref(required_id(f, "order_id")?);
    Ok(Command::UpsertShipment {
        order,
        shipment: parse_fulfillment(f)?,
    })
}

fn parse_fulfillment_event(e: &Obj) -> Result<Command, PayloadError> {
    let raw_status = e.str("status")?;
    let happened_at = e
        .opt_time("happened_at")?
        .map_or_else(|| e.time("created_at"), Ok)?;
    let location = [
        e.opt_str("city")?,
        e.opt_str("province")?,
        e.opt_str("country")?,
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let event = EventInput {
        status: mapping::shopify_fulfillment_event(&raw_status),
        raw_status,
        detail: e.opt_str("message")?,
        location: (!location.is_empty()).then_some(location),
        happened_at,
    };
    Ok(Command::AddEvents {
        target: EventTarget::Shipment {
            order: order_ref(required_id(e, "order_id")?),
            shipment_external_id: required_id(e, "fulfillment_id")?,
        },
        estimated_delivery: e.opt_time("estimated_delivery_at")?,
        events: vec![event],
        reported_by: Source::named(SOURCE),
    })
}

fn parse_refund(r: &Obj) -> Result<Command, PayloadError> {
    let at = r
        .opt_time("processed_at")?
        .map_or_else(|| r.time("created_at"), Ok)?;
    let mut total: Option<(i64, Currency)> = None;
    for t in r.items("transactions")? {
        let refunded = t.opt_str("kind")?.as_deref() == Some("refund")
            && t.opt_str("status")?.as_deref() != Some("failure");
        let Some(code) = t.opt_str("currency")? else {
            continue;
        };
        if !refunded {
            continue;
        }
        let currency = Currency::parse(&code)
            .map_err(|e| PayloadError::new(t.field_path("currency"), e.to_string()))?;
        let minor = minor_units(t.opt_str("amount")?, &currency, &t.field_path("amount"))?;
        let sum = total.as_ref().map_or(0, |(m, _)| *m) + minor;
        total = Some((sum, currency));
    }
    let detail = match (total, r.opt_str("note")?) {
        (Some((minor, currency)), note) => {
            let amount = domain::Money { minor, currency };
            Some(match note {
                Some(note) => format!("Refund of {amount}: {note}"),
                None => format!("Refund of {amount}"),
            })
        }
        (None, note) => note,
    };
    let mut refund = event(Status::Refunded, "refund", at, detail);
    // Two refunds at the same second with the same text are still two refunds.
    if let Some(id) = shopify_id(r, "id")? {
        refund.raw_status = format!("refund:{id}");
    }
    Ok(Command::AddEvents {
        target: EventTarget::Order(order_ref(required_id(r, "order_id")?)),
        estimated_delivery: None,
        events: vec![refund],
        reported_by: Source::named(SOURCE),
    })
}
