//! `tidings demo`: a sample store to look around in, without any account anywhere.
//!
//! The demo serves on the configured address with its own SQLite file (unless a database
//! URL is given), seeds a handful of orders at every stage of delivery, and prints their
//! tracking pages, an API key and the webhook secrets it set.

use chrono::{Duration, Utc};
use domain::{
    Command, Currency, CustomerInput, Email, EventInput, LineItemInput, OrderInput, OrderRef,
    PhoneNumber, ShipmentInput, Source, Status,
};
use store::{ApplyOptions, Store};

use crate::config::Config;
use crate::http::api::Scope;

const DEMO_SOURCE: &str = "demo";
const DEMO_SHOPIFY_SECRET: &str = "demo-shopify-secret";

/// Seeds the sample store and serves until stopped.
///
/// # Errors
/// When the application cannot start or the seed cannot be written.
pub async fn run(mut config: Config) -> anyhow::Result<()> {
    if config.database_url == Config::default().database_url {
        config.database_url = "sqlite://./tidings-data/demo.db".into();
    }
    if config.shop.name == crate::config::ShopConfig::default().name {
        config.shop.name = "Tidings Demo Shop".into();
    }
    if config.shopify.webhook_secret.is_none() {
        config.shopify.webhook_secret = Some(DEMO_SHOPIFY_SECRET.to_string().into());
    }
    let app = crate::Application::build(config.clone()).await?;
    let store = app.store().clone();
    seed(&store).await?;
    let public = format!("http://127.0.0.1:{}", app.port());
    print_welcome(&store, &public).await?;
    app.run_until_stopped(crate::startup::shutdown_signal())
        .await
}

async fn print_welcome(store: &Store, base: &str) -> anyhow::Result<()> {
    let key = crate::cli::create_api_key(store, "demo", Scope::Ingest).await?;
    println!("\nTidings demo is running on {base}\n\nTracking pages:");
    for n in 1..=SAMPLES.len() {
        let order = OrderRef {
            source: Source::named(DEMO_SOURCE),
            external_id: format!("D-{n}"),
        };
        if let Some(id) = store.order_id_by_ref(&order).await? {
            let view = store.get_order(id).await?;
            let status = view.status.label();
            println!(
                "  {:<8} {:<20} {base}/t/{}",
                view.number, status, view.tracking_token
            );
        }
    }
    println!("\nAPI key (scope ingest): {key}");
    println!("  curl -H 'Authorization: Bearer {key}' {base}/api/v1/orders/1");
    println!("Shopify webhook secret: {DEMO_SHOPIFY_SECRET} (POST {base}/webhooks/shopify)");
    println!("\nPress ctrl-c to stop.\n");
    Ok(())
}

/// (customer first name, product, statuses the parcel went through in order)
const SAMPLES: [(&str, &str, &[Status]); 6] = [
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
async fn seed(store: &Store) -> anyhow::Result<()> {
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
        .apply_batch(&commands, &ApplyOptions::live(), None)
        .await?;
    for result in results {
        result?;
    }
    Ok(())
}

fn sample_order(
    n: usize,
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
        phone: Some(
            PhoneNumber::parse(&format!("+1 613 555 01{n:02}"), "US")
                .or_else(|_| PhoneNumber::parse(&format!("+34 612 34 56 {n:02}"), "ES"))?,
        ),
        first_name: Some(name.into()),
        ..CustomerInput::default()
    };
    Ok(Command::UpsertOrder(Box::new(OrderInput {
        order: OrderRef {
            source: Source::named(DEMO_SOURCE),
            external_id: format!("D-{n}"),
        },
        number: format!("#{}", 1000 + n),
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
