//! The demo's sample orders: six at every stage of delivery, written as history (no
//! messages for what happened before the demo started), and the customers whose phones
//! the emulator simulates.

use chrono::{Duration, Utc};
use domain::{
    Command, Currency, CustomerInput, Email, EventInput, LineItemInput, OrderInput, OrderRef,
    PhoneNumber, ShipmentInput, Source, Status,
};
use store::{ApplyOptions, Store};

pub(super) const DEMO_SOURCE: &str = "demo";

/// (customer first name, product, statuses the parcel went through in order)
pub(super) const SAMPLES: [(&str, &str, &[Status]); 6] = [
    ("Ana", "Ceramic mug", &[]),
    ("Ben", "Trail running shoes", &[Status::InTransit]),
    (
        "Chloé",
        "Espresso beans 1 kg",
        &[Status::InTransit, Status::OutForDelivery],
    ),
    (
        "Dev",
        "Wool scarf",
        &[Status::InTransit, Status::OutForDelivery, Status::Delivered],
    ),
    ("Eva", "Desk lamp", &[Status::InTransit, Status::Delayed]),
    (
        "Femi",
        "Yoga mat",
        &[Status::InTransit, Status::DeliveryException],
    ),
];

/// Writes the sample orders once; a second start finds them and writes nothing.
pub(super) async fn seed(store: &Store) -> anyhow::Result<()> {
    let first = OrderRef {
        source: Source::named(DEMO_SOURCE),
        external_id: "D-1".into(),
    };
    if store.order_id_by_ref(&first).await?.is_some() {
        return Ok(());
    }
    let now = Utc::now();
    let mut commands = Vec::new();
    for (n, (name, product, path)) in SAMPLES.iter().enumerate() {
        let placed_at = now - Duration::days(4) + Duration::hours(n as i64);
        commands.push(sample_order(n + 1, name, product, placed_at)?);
        if !path.is_empty() {
            commands.push(sample_shipment(n + 1, path, placed_at));
        }
    }
    let results = store
        .apply_batch(&commands, &ApplyOptions::history(), None)
        .await?;
    for result in results {
        result?;
    }
    Ok(())
}

/// Order `D-{n}` of sample customer `n` (from 1).
fn sample_order(
    n: usize,
    name: &str,
    product: &str,
    placed_at: chrono::DateTime<Utc>,
) -> anyhow::Result<Command> {
    customer_order(n, &format!("D-{n}"), 1000 + n, name, product, placed_at)
}

/// An order `external_id` numbered `number`, placed and confirmed by sample customer `n`.
pub(super) fn customer_order(
    n: usize,
    external_id: &str,
    number: usize,
    name: &str,
    product: &str,
    placed_at: chrono::DateTime<Utc>,
) -> anyhow::Result<Command> {
    let event = |status: Status, minutes: i64| EventInput {
        status: Some(status),
        raw_status: status.as_str().into(),
        detail: None,
        location: None,
        happened_at: placed_at + Duration::minutes(minutes),
    };
    let customer = CustomerInput {
        external_id: Some(format!("C-{n}")),
        email: Some(Email::parse(&format!(
            "{}@example.com",
            name.to_lowercase()
        ))?),
        phone: Some(PhoneNumber::parse(&phone_of(n), "US")?),
        first_name: Some(name.into()),
        ..CustomerInput::default()
    };
    Ok(Command::UpsertOrder(Box::new(OrderInput {
        order: OrderRef {
            source: Source::named(DEMO_SOURCE),
            external_id: external_id.to_string(),
        },
        number: format!("#{number}"),
        customer,
        currency: Currency::parse("USD")?,
        total_minor: 2_495 * n as i64,
        line_items: vec![LineItemInput {
            external_id: None,
            product_external_id: Some(format!("P-{n}")),
            sku: Some(format!("SKU-{n}")),
            title: product.into(),
            variant: None,
            quantity: 1,
            unit_price_minor: 2_495 * n as i64,
        }],
        shipping_address: None,
        placed_at,
        fully_shipped: None,
        events: vec![event(Status::Placed, 0), event(Status::Confirmed, 2)],
        shipments: Vec::new(),
    })))
}

fn sample_shipment(n: usize, path: &[Status], placed_at: chrono::DateTime<Utc>) -> Command {
    let places = [
        "Memphis, TN",
        "Louisville, KY",
        "Columbus, OH",
        "Newark, NJ",
    ];
    let events = path
        .iter()
        .enumerate()
        .map(|(i, status)| EventInput {
            status: Some(*status),
            raw_status: status.as_str().into(),
            detail: (*status == Status::Delayed).then(|| "Weather delay at hub".into()),
            location: Some(places[i % places.len()].into()),
            happened_at: placed_at + Duration::hours(20 * (i as i64 + 1)),
        })
        .collect();
    Command::UpsertShipment {
        order: OrderRef {
            source: Source::named(DEMO_SOURCE),
            external_id: format!("D-{n}"),
        },
        shipment: ShipmentInput {
            external_id: format!("S-{n}"),
            carrier: Some("UPS".into()),
            tracking_number: Some(format!("1Z999AA1012345678{n}")),
            tracking_url: Some(format!(
                "https://www.ups.com/track?tracknum=1Z999AA1012345678{n}"
            )),
            estimated_delivery: Some(placed_at + Duration::days(5)),
            events,
        },
    }
}

/// The phone number of the `n`th sample customer (from 1), in E.164.
pub(super) fn phone_of(n: usize) -> String {
    format!("+1613555{:04}", 100 + n)
}
