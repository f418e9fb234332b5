//! The tracking page's pure helpers and error pages.

use super::*;
use chrono::TimeZone;
use domain::Partial;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, day, hour, 0, 0).unwrap()
}

fn order(status: Status) -> OrderView {
    OrderView {
        id: 1,
        source: "rest".into(),
        external_id: "A1".into(),
        number: "#1001".into(),
        customer_id: None,
        currency: "USD".into(),
        total_minor: 1250,
        status,
        status_detail: None,
        placed_at: at(1, 10),
        shipping_address: None,
        tracking_token: "0".repeat(32),
        line_items: vec![],
        shipments: vec![],
        timeline: vec![],
        updated_at: at(1, 10),
    }
}

fn shipment(id: i64, status: Status) -> ShipmentView {
    ShipmentView {
        id,
        external_id: format!("s{id}"),
        carrier: Some("UPS".into()),
        tracking_number: Some("1Z1".into()),
        tracking_url: Some("https://ups.example/1Z1".into()),
        estimated_delivery: None,
        status,
    }
}

fn entry(shipment_id: Option<i64>, status: Option<Status>, day: u32) -> TimelineEntry {
    TimelineEntry {
        shipment_id,
        status,
        raw_status: status.map_or("arrived_at_facility", Status::as_str).into(),
        detail: None,
        location: None,
        happened_at: at(day, 10),
        source: "rest".into(),
    }
}

fn states(steps: &[Step]) -> Vec<StepState> {
    steps.iter().map(|s| s.state).collect()
}

#[test]
fn only_issued_token_shapes_reach_the_database() {
    assert!(is_token_shaped("0123456789abcdef0123456789abcdef"));
    assert!(!is_token_shaped("0123456789ABCDEF0123456789ABCDEF"));
    assert!(!is_token_shaped("0123456789abcdef"));
    assert!(!is_token_shaped("0123456789abcdef0123456789abcdeg"));
    assert!(!is_token_shaped(""));
}

#[test]
fn brand_colours_are_hex_or_plain_words() {
    assert_eq!(safe_css_color("#abc"), Some("#abc"));
    assert_eq!(safe_css_color(" #AABBCC "), Some("#AABBCC"));
    assert_eq!(safe_css_color("navy"), Some("navy"));
    for bad in [
        "#abcd",
        "#aabbccdd",
        "#ggg",
        "red;}body{display:none",
        "rgb(0,0,0)",
        "",
    ] {
        assert_eq!(safe_css_color(bad), None, "{bad}");
    }
    assert_eq!(safe_css_color("inherit"), None);
    assert_eq!(safe_css_color("currentColor"), None);
}

#[test]
fn an_unsafe_brand_colour_falls_back_to_the_default() {
    let shop = ShopConfig {
        brand_color: "red}</style><script>".into(),
        ..Default::default()
    };
    assert_eq!(Brand::from_shop(&shop).accent, DEFAULT_ACCENT);
}

#[test]
fn light_brand_colours_are_not_used_for_text() {
    assert!(reads_on_white("#1a73e8"));
    assert!(reads_on_white("#000"));
    assert!(!reads_on_white("#ffeb3b"));
    assert!(!reads_on_white("#fff"));
    assert!(!reads_on_white("navy"));
    let shop = ShopConfig {
        brand_color: "#ffeb3b".into(),
        ..Default::default()
    };
    let brand = Brand::from_shop(&shop);
    assert_eq!(
        (brand.accent.as_str(), brand.ink.as_str()),
        ("#ffeb3b", DEFAULT_INK)
    );
}

#[test]
fn only_http_and_https_urls_become_links() {
    assert_eq!(
        web_url(Some("https://ups.example/1Z1")),
        Some("https://ups.example/1Z1")
    );
    assert_eq!(
        web_url(Some("HTTP://carrier.example")),
        Some("HTTP://carrier.example")
    );
    for bad in [
        "javascript:alert(1)",
        "data:text/html,x",
        "//evil.example",
        "https://",
        "ftp://x",
    ] {
        assert_eq!(web_url(Some(bad)), None, "{bad}");
    }
    assert_eq!(web_url(Some("https://a.example/ x")), None);
    assert_eq!(web_url(None), None);
}

#[test]
fn steps_follow_the_progress_line() {
    use StepState::*;
    let steps = progress_steps(Status::Placed, 0).unwrap();
    assert_eq!(
        states(&steps),
        [Current, Upcoming, Upcoming, Upcoming, Upcoming]
    );
    let in_transit = Status::InTransit;
    let steps = progress_steps(in_transit, in_transit.rank().unwrap()).unwrap();
    assert_eq!(states(&steps), [Done, Done, Current, Upcoming, Upcoming]);
    let steps = progress_steps(Status::Delivered, 6).unwrap();
    assert_eq!(states(&steps), [Done, Done, Done, Done, Current]);
}

#[test]
fn a_pickup_point_is_the_step_before_delivery() {
    let steps = progress_steps(Status::ReadyForPickup, 5).unwrap();
    assert_eq!(steps[3].label, "Ready for pickup");
    assert_eq!(steps[3].state, StepState::Current);
}

#[test]
fn side_states_mark_the_current_step_and_endings_hide_the_steps() {
    let steps = progress_steps(Status::Delayed, 3).unwrap();
    assert_eq!(steps[2].state, StepState::Trouble);
    assert!(progress_steps(Status::Cancelled, 1).is_none());
    assert!(progress_steps(Status::Returned, 6).is_none());
}

#[test]
fn a_delayed_order_is_as_far_as_its_least_advanced_live_shipment() {
    let mut order = order(Status::Delayed);
    order.shipments = vec![shipment(1, Status::Delayed), shipment(2, Status::Delivered)];
    order.timeline = vec![
        entry(Some(1), Some(Status::OutForDelivery), 3),
        entry(Some(1), Some(Status::Delayed), 4),
    ];
    assert_eq!(reached_rank(&order), Status::OutForDelivery.rank().unwrap());

    order.shipments[0].status = Status::DeliveryException;
    order.timeline.clear();
    assert_eq!(reached_rank(&order), Status::Fulfilled.rank().unwrap());
}

#[test]
fn a_delayed_order_without_shipments_reads_its_own_timeline() {
    let mut order = order(Status::Delayed);
    order.timeline = vec![entry(None, Some(Status::Confirmed), 1)];
    assert_eq!(reached_rank(&order), 1);
}

#[test]
fn the_estimate_is_the_soonest_of_parcels_still_on_their_way() {
    let mut order = order(Status::InTransit);
    let mut late = shipment(1, Status::InTransit);
    late.estimated_delivery = Some(at(9, 0));
    let mut soon = shipment(2, Status::InTransit);
    soon.estimated_delivery = Some(at(6, 0));
    let mut done = shipment(3, Status::Delivered);
    done.estimated_delivery = Some(at(3, 0));
    order.shipments = vec![late, soon, done];
    assert_eq!(soonest_eta(&order), Some(at(6, 0)));
    order.status = Status::Delivered;
    assert_eq!(soonest_eta(&order), None);
}

#[test]
fn the_timeline_is_newest_first_with_readable_labels() {
    let timeline = vec![
        entry(None, Some(Status::Placed), 1),
        entry(None, Some(Status::Confirmed), 1),
        entry(Some(1), None, 2),
    ];
    let rows: Vec<EventRow> = newest_first(&timeline)
        .into_iter()
        .map(EventRow::new)
        .collect();
    let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        labels,
        ["Arrived at facility", "Order confirmed", "Order placed"]
    );
    assert_eq!(rows[0].at.text, "2 Jan 2026, 10:00 UTC");
}

#[test]
fn the_page_escapes_every_value() {
    let mut order = order(Status::InTransit);
    order.status_detail = Some(Partial::PartlyShipped);
    order.number = "<b>1</b>".into();
    order.line_items = vec![LineItemView {
        sku: None,
        title: "<script>alert(1)</script>".into(),
        variant: Some("\"large\"".into()),
        quantity: 2,
        unit_price_minor: 625,
    }];
    order.shipments = vec![shipment(1, Status::InTransit)];
    let html = TrackingPage::new(Brand::from_shop(&ShopConfig::default()), &order)
        .render()
        .unwrap();
    assert!(!html.contains("<script>") && html.contains("&#60;script&#62;"));
    assert!(!html.contains("<b>1</b>"));
    assert!(html.contains("Partly shipped") && html.contains("12.50 USD"));
    assert!(html.contains("href=\"https://ups.example/1Z1\""));
}

#[tokio::test]
async fn a_store_failure_is_a_friendly_page_not_the_error() {
    let error = StoreError::Corrupt("orders.status = 'secret detail'".into());
    let response = failure_page(None, &error);
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert!(body.contains("Something went wrong") && !body.contains("secret detail"));
}

#[test]
fn the_not_found_page_is_a_private_404() {
    let response = not_found_page(None);
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let headers = response.headers();
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers["x-robots-tag"], "noindex");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
}
