//! The public tracking page, `GET /t/{token}`: what a customer opens from an order
//! message. Server-rendered HTML with no scripts, branded from the `[shop]` settings.
//!
//! The token in the path is the only key to the page, so it is kept out of logs,
//! shared caches, search engines and the `Referer` sent to carriers and logo hosts.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::{Currency, Money, Status};
use store::{LineItemView, OrderView, ShipmentView, StoreError, TimelineEntry};

use super::AppState;
use crate::config::ShopConfig;

/// `GET /t/{token}`.
pub async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    // Tokens are 128 random bits in hex; anything else cannot open an order, so it
    // costs no database query.
    if !is_token_shaped(&token) {
        return not_found_page(Some(&state));
    }
    match load_order(&state, &token).await {
        Ok(Some(order)) => {
            let brand = Brand::from_shop(&state.config.shop);
            render(StatusCode::OK, &TrackingPage::new(brand, &order))
        }
        Ok(None) => not_found_page(Some(&state)),
        Err(error) => {
            // The token is deliberately absent: it is the secret that opens the page.
            tracing::error!(
                error.cause_chain = ?error,
                error.message = %error,
                "tracking page could not load its order"
            );
            failure_page(Some(&state), &error)
        }
    }
}

/// The friendly page for an unknown or mistyped tracking link.
pub fn not_found_page(state: Option<&AppState>) -> Response {
    let page = MessagePage {
        brand: brand_of(state),
        heading: "We couldn't find that order",
        lines: &[
            "The tracking link may be mistyped, incomplete or expired.",
            "Please open the whole link from your order email or message again.",
        ],
    };
    render(StatusCode::NOT_FOUND, &page)
}

/// A 503 when the database is unreachable (worth a retry), a 500 otherwise.
fn failure_page(state: Option<&AppState>, error: &StoreError) -> Response {
    let (status, heading, lines): (_, _, &[&str]) = match error {
        StoreError::Database(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Tracking is unavailable right now",
            &["We couldn't load your order just now. Please try again in a few minutes."],
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            &["We couldn't show your order. Please try again later."],
        ),
    };
    let mut response = render(
        status,
        &MessagePage {
            brand: brand_of(state),
            heading,
            lines,
        },
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    }
    response
}

async fn load_order(state: &AppState, token: &str) -> store::Result<Option<OrderView>> {
    let Some(id) = state.store.order_id_by_token(token).await? else {
        return Ok(None);
    };
    match state.store.get_order(id).await {
        Ok(order) => Ok(Some(order)),
        // Gone between the two reads: the link no longer opens anything.
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

fn brand_of(state: Option<&AppState>) -> Brand {
    match state {
        Some(state) => Brand::from_shop(&state.config.shop),
        None => Brand::from_shop(&ShopConfig::default()),
    }
}

/// Renders a page with the headers every tracking response carries.
fn render(status: StatusCode, page: &impl Template) -> Response {
    let (status, body) = match page.render() {
        Ok(body) => (status, body),
        Err(error) => {
            tracing::error!(error.message = %error, "tracking page failed to render");
            let body = "<!doctype html><title>Error</title><p>Something went wrong.</p>";
            (StatusCode::INTERNAL_SERVER_ERROR, body.to_string())
        }
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in PAGE_HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}

/// The URL carries a secret: no cache may keep the page, no search engine may list
/// it, and no link or image may leak it in `Referer`. The policy allows no scripts at
/// all, so even a bug in escaping could not run any.
const PAGE_HEADERS: [(&str, &str); 6] = [
    ("content-type", "text/html; charset=utf-8"),
    ("cache-control", "no-store"),
    ("x-robots-tag", "noindex"),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: http:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
];

/// Whether `token` looks like one Tidings issues: 32 lowercase hex characters.
fn is_token_shaped(token: &str) -> bool {
    token.len() == 32
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The brand colour used when the configured one is not a safe CSS colour.
const DEFAULT_ACCENT: &str = "#1a73e8";
/// Body text colour; links and buttons fall back to it when the brand colour is too
/// light to read on white.
const DEFAULT_INK: &str = "#1f2328";

/// What every page shows of the shop, validated for use in HTML and CSS.
struct Brand {
    shop_name: String,
    logo_url: Option<String>,
    /// Decoration only (the top band, progress dots); may be any safe colour.
    accent: String,
    /// Links, buttons and focus rings: the accent when it reads on white, else dark.
    ink: String,
    support_email: Option<String>,
    lang: &'static str,
}

impl Brand {
    fn from_shop(shop: &ShopConfig) -> Brand {
        let accent = safe_css_color(&shop.brand_color).unwrap_or(DEFAULT_ACCENT);
        let ink = if reads_on_white(accent) {
            accent
        } else {
            DEFAULT_INK
        };
        let support_email = shop.support_email.as_deref().map(str::trim);
        Brand {
            shop_name: shop.name.clone(),
            logo_url: web_url(shop.logo_url.as_deref()).map(str::to_string),
            accent: accent.to_string(),
            ink: ink.to_string(),
            support_email: support_email
                .filter(|e| e.contains('@'))
                .map(str::to_string),
            // TODO(i18n): the copy is English only; use `shop.default_locale` once the
            // page text is translated, since `lang` must name the language shown.
            lang: "en",
        }
    }
}

/// The colour, when it is `#rgb`, `#rrggbb` or a plain colour word; `None` for anything
/// that could carry more CSS than a colour.
fn safe_css_color(color: &str) -> Option<&str> {
    let color = color.trim();
    let is_hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let ok = match color.strip_prefix('#') {
        Some(hex) => matches!(hex.len(), 3 | 6) && is_hex(hex),
        None => {
            // Keywords that are not a colour of their own would make the brand vanish.
            let keywords = ["inherit", "initial", "unset", "revert", "transparent"];
            (1..=24).contains(&color.len())
                && color.bytes().all(|b| b.is_ascii_alphabetic())
                && !keywords.iter().any(|k| color.eq_ignore_ascii_case(k))
                && !color.eq_ignore_ascii_case("currentcolor")
        }
    };
    ok.then_some(color)
}

/// Whether a hex colour has WCAG AA contrast (4.5:1) with white, as text or as a
/// background behind white text. Colour words are not judged and count as no.
fn reads_on_white(color: &str) -> bool {
    let Some(hex) = color.strip_prefix('#') else {
        return false;
    };
    let digits: Vec<u8> = match hex.len() {
        3 => hex
            .chars()
            .filter_map(|c| c.to_digit(16))
            .map(|d| (d * 17) as u8)
            .collect(),
        6 => (0..3)
            .filter_map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok())
            .collect(),
        _ => return false,
    };
    let [r, g, b] = digits[..] else {
        return false;
    };
    let luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    1.05 / (luminance + 0.05) >= 4.5
}

/// An sRGB channel in linear light, as WCAG's relative luminance defines it.
fn linear(channel: u8) -> f64 {
    let c = f64::from(channel) / 255.0;
    if c <= 0.039_28 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// The URL, when it is an absolute `http`/`https` one; other schemes (`javascript:`,
/// `data:`) never become a link or an image.
fn web_url(url: Option<&str>) -> Option<&str> {
    let url = url?.trim();
    let lower = url.get(..8)?.to_ascii_lowercase();
    let rest = if lower == "https://" {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return None;
    };
    let clean = !rest.is_empty() && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    clean.then_some(url)
}

#[derive(Template)]
#[template(path = "tracking.html")]
struct TrackingPage {
    brand: Brand,
    number: String,
    status_label: &'static str,
    partial_label: Option<&'static str>,
    notice: Option<Notice>,
    steps: Option<Vec<Step>>,
    eta: Option<Stamp>,
    shipments: Vec<ShipmentRow>,
    timeline: Vec<EventRow>,
    items: Vec<ItemRow>,
    total: Option<String>,
}

/// A page that only says something: not found, or failed.
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    brand: Brand,
    heading: &'static str,
    lines: &'static [&'static str],
}

impl TrackingPage {
    fn new(brand: Brand, order: &OrderView) -> TrackingPage {
        let total = Currency::parse(&order.currency).ok().map(|currency| {
            Money {
                minor: order.total_minor,
                currency,
            }
            .to_string()
        });
        TrackingPage {
            brand,
            number: order.number.clone(),
            status_label: order.status.label(),
            partial_label: order.status_detail.map(|p| p.label()),
            notice: Notice::for_status(order.status),
            steps: progress_steps(order.status, reached_rank(order)),
            eta: soonest_eta(order).map(Stamp::date),
            shipments: order.shipments.iter().map(ShipmentRow::new).collect(),
            timeline: newest_first(&order.timeline)
                .into_iter()
                .map(EventRow::new)
                .collect(),
            items: order.line_items.iter().map(ItemRow::new).collect(),
            total,
        }
    }
}

/// A clear word on a side state, above the progress steps.
struct Notice {
    /// A CSS class: `warn` for trouble on the way, `stop` for an order that ended.
    tone: &'static str,
    title: &'static str,
    body: &'static str,
}

impl Notice {
    fn for_status(status: Status) -> Option<Notice> {
        let (tone, title, body) = match status {
            Status::Delayed => (
                "warn",
                "Your delivery is running late.",
                "The carrier has reported a delay. This page updates as soon as they do.",
            ),
            Status::DeliveryException => (
                "warn",
                "There is a problem with the delivery.",
                "The carrier could not deliver as planned. Check the carrier's page below \
                 or get in touch with us.",
            ),
            Status::Cancelled => (
                "stop",
                "This order was cancelled.",
                "It will not be shipped.",
            ),
            Status::Returned => (
                "stop",
                "This order was returned.",
                "The parcel went back to the shop.",
            ),
            _ => return None,
        };
        Some(Notice { tone, title, body })
    }
}

/// The steps the page shows, in order.
const STEP_LABELS: [&str; 5] = [
    "Placed",
    "Confirmed",
    "Shipped",
    "Out for delivery",
    "Delivered",
];

/// One progress step and where the order stands against it.
struct Step {
    label: &'static str,
    state: StepState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StepState {
    Done,
    Current,
    /// The current step, with a delay or a delivery problem on it.
    Trouble,
    Upcoming,
}

impl StepState {
    fn class(self) -> &'static str {
        match self {
            StepState::Done => "done",
            StepState::Current => "current",
            StepState::Trouble => "trouble",
            StepState::Upcoming => "upcoming",
        }
    }

    fn is_current(self) -> bool {
        matches!(self, StepState::Current | StepState::Trouble)
    }

    /// Words for screen readers, which see neither dots nor colours.
    fn spoken(self) -> &'static str {
        match self {
            StepState::Done => "(done)",
            StepState::Current => "(current step)",
            StepState::Trouble => "(current step, needs attention)",
            StepState::Upcoming => "(not yet)",
        }
    }
}

/// The step a progress rank falls on: a label and a first scan are both "shipped", and
/// a pickup point is the last stop before "delivered" like a delivery van.
fn step_index(rank: u8) -> usize {
    match rank {
        0 => 0,
        1 => 1,
        2 | 3 => 2,
        4 | 5 => 3,
        _ => 4,
    }
}

/// The progress steps for an order whose status is `status` and whose progress reached
/// `rank`; `None` once the order left the progress line for good.
fn progress_steps(status: Status, rank: u8) -> Option<Vec<Step>> {
    if matches!(status, Status::Cancelled | Status::Returned) {
        return None;
    }
    let current = step_index(rank);
    let trouble = matches!(status, Status::Delayed | Status::DeliveryException);
    let steps = STEP_LABELS.iter().enumerate().map(|(i, label)| {
        let state = match i.cmp(&current) {
            std::cmp::Ordering::Less => StepState::Done,
            std::cmp::Ordering::Equal if trouble => StepState::Trouble,
            std::cmp::Ordering::Equal => StepState::Current,
            std::cmp::Ordering::Greater => StepState::Upcoming,
        };
        let label = if i == 3 && status == Status::ReadyForPickup {
            "Ready for pickup"
        } else {
            label
        };
        Step { label, state }
    });
    Some(steps.collect())
}

/// How far along the order is. A side state hides the progress under it, so it is
/// read back from the timeline: the least advanced live shipment, as for the status.
fn reached_rank(order: &OrderView) -> u8 {
    if let Some(rank) = order.status.rank() {
        return rank;
    }
    let ended = |s: &&ShipmentView| matches!(s.status, Status::Cancelled | Status::Returned);
    let live = order.shipments.iter().filter(|s| !ended(s));
    let least = live.map(|s| shipment_rank(s, &order.timeline)).min();
    least.unwrap_or_else(|| furthest_rank(order.timeline.iter()).unwrap_or(0))
}

/// A shipment's progress; it is at least "shipped", since it exists once a label does.
fn shipment_rank(shipment: &ShipmentView, timeline: &[TimelineEntry]) -> u8 {
    let floor = Status::Fulfilled.rank().unwrap_or(2);
    let own = timeline
        .iter()
        .filter(|e| e.shipment_id == Some(shipment.id));
    let rank = shipment.status.rank().or_else(|| furthest_rank(own));
    rank.map_or(floor, |rank| rank.max(floor))
}

fn furthest_rank<'a>(entries: impl Iterator<Item = &'a TimelineEntry>) -> Option<u8> {
    entries
        .filter_map(|e| e.status.and_then(Status::rank))
        .max()
}

/// The soonest estimate among shipments still on their way, while the order is.
fn soonest_eta(order: &OrderView) -> Option<DateTime<Utc>> {
    let arrived = |s: Status| matches!(s, Status::Delivered | Status::Cancelled | Status::Returned);
    if arrived(order.status) {
        return None;
    }
    let on_the_way = order.shipments.iter().filter(|s| !arrived(s.status));
    on_the_way.filter_map(|s| s.estimated_delivery).min()
}

/// The timeline, newest first. The store lists it oldest first, so reversing before a
/// stable sort puts the later-written of two same-time entries ("confirmed" after
/// "placed") on top.
fn newest_first(timeline: &[TimelineEntry]) -> Vec<&TimelineEntry> {
    let mut entries: Vec<&TimelineEntry> = timeline.iter().rev().collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.happened_at));
    entries
}

/// A moment as the page prints it, with its machine-readable form for `<time>`.
struct Stamp {
    iso: String,
    text: String,
}

impl Stamp {
    /// A day: estimates are dates, their time of day means nothing.
    fn date(at: DateTime<Utc>) -> Stamp {
        Stamp {
            iso: at.format("%Y-%m-%d").to_string(),
            text: at.format("%A, %-d %B %Y").to_string(),
        }
    }

    /// A time in UTC, since the customer's own zone is not known here.
    fn time(at: DateTime<Utc>) -> Stamp {
        Stamp {
            iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            text: at.format("%-d %b %Y, %H:%M UTC").to_string(),
        }
    }
}

struct ShipmentRow {
    status_label: &'static str,
    carrier: Option<String>,
    tracking_number: Option<String>,
    tracking_url: Option<String>,
    link_text: String,
    eta: Option<Stamp>,
}

impl ShipmentRow {
    fn new(shipment: &ShipmentView) -> ShipmentRow {
        let carrier = non_blank(shipment.carrier.as_deref());
        let link_text = match &carrier {
            Some(carrier) => format!("Track with {carrier}"),
            None => "Track with the carrier".to_string(),
        };
        ShipmentRow {
            status_label: shipment.status.label(),
            tracking_number: non_blank(shipment.tracking_number.as_deref()),
            tracking_url: web_url(shipment.tracking_url.as_deref()).map(str::to_string),
            carrier,
            link_text,
            eta: shipment.estimated_delivery.map(Stamp::date),
        }
    }
}

struct EventRow {
    label: String,
    detail: Option<String>,
    location: Option<String>,
    at: Stamp,
}

impl EventRow {
    fn new(entry: &TimelineEntry) -> EventRow {
        let label = match entry.status {
            Some(status) => status.label().to_string(),
            None => humanize(&entry.raw_status),
        };
        let detail = non_blank(entry.detail.as_deref()).filter(|d| !d.eq_ignore_ascii_case(&label));
        EventRow {
            label,
            detail,
            location: non_blank(entry.location.as_deref()),
            at: Stamp::time(entry.happened_at),
        }
    }
}

struct ItemRow {
    title: String,
    variant: Option<String>,
    quantity: i64,
}

impl ItemRow {
    fn new(item: &LineItemView) -> ItemRow {
        ItemRow {
            title: item.title.clone(),
            variant: non_blank(item.variant.as_deref()),
            quantity: item.quantity,
        }
    }
}

fn non_blank(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// A source's own status word made readable: `arrived_at_facility` → "Arrived at facility".
fn humanize(raw: &str) -> String {
    let spaced = raw.trim().replace(['_', '-'], " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Update".to_string(),
    }
}

#[cfg(test)]
mod tests {
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
}
