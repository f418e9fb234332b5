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

pub(crate) fn brand_of(state: Option<&AppState>) -> Brand {
    match state {
        Some(state) => Brand::from_shop(&state.config.shop),
        None => Brand::from_shop(&ShopConfig::default()),
    }
}

/// Renders a page with the headers every tracking response carries.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
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
pub(crate) fn is_token_shaped(token: &str) -> bool {
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
pub(crate) struct Brand {
    pub(crate) shop_name: String,
    pub(crate) logo_url: Option<String>,
    /// Decoration only (the top band, progress dots); may be any safe colour.
    pub(crate) accent: String,
    /// Links, buttons and focus rings: the accent when it reads on white, else dark.
    pub(crate) ink: String,
    pub(crate) support_email: Option<String>,
    pub(crate) lang: &'static str,
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
mod tests;
