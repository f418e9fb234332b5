//! Every key and enum value our serialiser writes is one Google's RBM v1 model defines
//! for that object, and every field Google defines is either written by us or on a
//! short list of fields Tidings deliberately leaves out.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use domain::rcs::*;
use serde::Deserialize;
use serde_json::Value;

/// `tests/data/rbm_v1_fields.json`: Google's field names per object, and enum values
/// per `Object.field`.
#[derive(Deserialize)]
struct Published {
    objects: BTreeMap<String, BTreeSet<String>>,
    enums: BTreeMap<String, BTreeSet<String>>,
}

fn published() -> Published {
    let text = include_str!("../data/rbm_v1_fields.json");
    serde_json::from_str(text).expect("the published field list is valid JSON")
}

/// Fields Google defines that the model leaves out, and why.
const NOT_MODELLED: &[(&str, &str)] = &[
    // Output-only: RBM fills these in its responses.
    ("AgentMessage", "name"),
    ("AgentMessage", "sendTime"),
    ("AgentMessage", "richMessageClassification"),
    ("AgentMessage", "totalPayloadSizeBytes"),
    ("AgentMessage", "carrier"),
    // Deprecated in favour of uploadedRbmFile.
    ("AgentContentMessage", "fileName"),
    ("Media", "fileName"),
    // Rollout paused by Google; Tidings does not offer it.
    ("SuggestedAction", "composeAction"),
];

/// The object type a key's value holds (each item, for arrays).
fn child_type(parent: &str, key: &str) -> Option<&'static str> {
    Some(match (parent, key) {
        ("AgentMessage", "contentMessage") => "AgentContentMessage",
        ("AgentContentMessage" | "CardContent", "suggestions") => "Suggestion",
        ("AgentContentMessage", "richCard") => "RichCard",
        ("AgentContentMessage" | "Media", "contentInfo") => "ContentInfo",
        ("AgentContentMessage" | "Media", "uploadedRbmFile") => "UploadedRbmFile",
        ("RichCard", "standaloneCard") => "StandaloneCard",
        ("RichCard", "carouselCard") => "CarouselCard",
        ("StandaloneCard", "cardContent") | ("CarouselCard", "cardContents") => "CardContent",
        ("CardContent", "media") => "Media",
        ("Suggestion", "reply") => "SuggestedReply",
        ("Suggestion", "action") => "SuggestedAction",
        ("SuggestedAction", "dialAction") => "DialAction",
        ("SuggestedAction", "viewLocationAction") => "ViewLocationAction",
        ("SuggestedAction", "createCalendarEventAction") => "CreateCalendarEventAction",
        ("SuggestedAction", "openUrlAction") => "OpenUrlAction",
        ("SuggestedAction", "shareLocationAction") => "ShareLocationAction",
        ("ViewLocationAction", "latLong") => "LatLng",
        _ => return None,
    })
}

/// What one walk over serialised messages saw.
#[derive(Default)]
struct Seen {
    /// Keys written, per object type (an object with no keys still gets an entry).
    keys: BTreeMap<String, BTreeSet<String>>,
    /// Enum values written, per `Object.field`.
    values: BTreeMap<String, BTreeSet<String>>,
}

impl Seen {
    fn walk(&mut self, object_type: &str, value: &Value) {
        let Value::Object(map) = value else {
            panic!("{object_type} serialised as {value}, not an object");
        };
        let keys = self.keys.entry(object_type.to_string()).or_default();
        keys.extend(map.keys().cloned());
        for (key, child) in map {
            match (child_type(object_type, key), child) {
                (Some(item_type), Value::Array(items)) => {
                    items.iter().for_each(|item| self.walk(item_type, item));
                }
                (Some(child_type), child) => self.walk(child_type, child),
                (None, Value::String(text)) => {
                    let field = format!("{object_type}.{key}");
                    self.values.entry(field).or_default().insert(text.clone());
                }
                (None, _) => {}
            }
        }
    }
}

fn time(text: &str) -> DateTime<Utc> {
    text.parse().expect("a valid test timestamp")
}

/// Messages that between them set every optional field and use every enum value.
fn samples() -> Vec<AgentMessage> {
    let mut messages = vec![
        AgentMessage::new(AgentContentMessage::text("Shipped").with_suggestions(every_action()))
            .with_traffic_type(TrafficType::Transaction)
            .with_expiry(Expiry::ttl(std::time::Duration::from_secs(3600))),
        AgentMessage::new(AgentContentMessage::rich_card(horizontal_card()))
            .with_expiry(Expiry::expire_at(time("2025-01-01T00:00:00Z"))),
        AgentMessage::new(AgentContentMessage::rich_card(carousel(CardWidth::Small))),
        AgentMessage::new(AgentContentMessage::rich_card(carousel(CardWidth::Medium))),
        AgentMessage::new(AgentContentMessage::content_info(
            ContentInfo::new("https://x.example/r.pdf")
                .with_thumbnail("https://x.example/r.png")
                .with_force_refresh(),
        )),
        AgentMessage::new(AgentContentMessage::uploaded_file(
            UploadedRbmFile::new("files/r").with_thumbnail("files/r-thumb"),
        )),
        AgentMessage::new(AgentContentMessage::rich_card(RichCard::standalone(
            CardContent::new().with_title("Vertical"),
        ))),
        AgentMessage::new(AgentContentMessage::rich_card(RichCard::horizontal(
            CardContent::new().with_title("Right"),
            ThumbnailAlignment::Right,
        ))),
    ];
    for traffic in [
        TrafficType::Authentication,
        TrafficType::Promotion,
        TrafficType::ServiceRequest,
        TrafficType::Acknowledgement,
    ] {
        let text = AgentContentMessage::text("Hi");
        messages.push(AgentMessage::new(text).with_traffic_type(traffic));
    }
    messages
}

fn every_action() -> Vec<Suggestion> {
    let webview = |mode| {
        let open = OpenUrlAction::webview("https://t.example/1", mode).with_description("Page");
        Suggestion::action("Open", "open", Action::OpenUrl(open))
    };
    let view = ViewLocationAction {
        lat_long: Some(LatLng::new(1.5, 2.5)),
        label: Some("Store".into()),
        query: Some("Store".into()),
    };
    let browser = OpenUrlAction {
        application: Some(OpenUrlApplication::Browser),
        ..OpenUrlAction::browser("https://t.example/1")
    };
    let event = CreateCalendarEventAction::new(
        "Delivery",
        "Order 1",
        time("2025-01-01T10:00:00Z"),
        time("2025-01-01T11:00:00Z"),
    );
    vec![
        Suggestion::reply("Yes", "yes"),
        SuggestedAction::new(
            "Call",
            "call",
            Action::Dial(DialAction {
                phone_number: "1".into(),
            }),
        )
        .with_fallback_url("https://t.example/call")
        .into(),
        Suggestion::action("Map", "map", Action::ViewLocation(view)),
        Suggestion::calendar_event("Add", "cal", event),
        Suggestion::action("Open", "open", Action::OpenUrl(browser)),
        webview(WebviewViewMode::Full),
        webview(WebviewViewMode::Half),
        webview(WebviewViewMode::Tall),
        Suggestion::share_location("Share", "share"),
    ]
}

fn horizontal_card() -> RichCard {
    let media = Media::from_url(MediaHeight::Tall, "https://x.example/a.png");
    let card = CardContent::new()
        .with_title("Title")
        .with_description("Description")
        .with_media(media)
        .with_suggestion(Suggestion::reply("Ok", "ok"));
    RichCard::horizontal(card, ThumbnailAlignment::Left)
}

fn carousel(width: CardWidth) -> RichCard {
    let upload = |height| Media::from_upload(height, UploadedRbmFile::new("files/a"));
    let card = |media| CardContent::new().with_title("Card").with_media(media);
    let mut cards = vec![
        card(upload(MediaHeight::Short)),
        card(upload(MediaHeight::Medium)),
    ];
    if width == CardWidth::Medium {
        cards.push(card(upload(MediaHeight::Tall)));
    }
    RichCard::carousel(width, cards)
}

#[test]
fn the_samples_are_valid_messages() {
    // Field names are only meaningful on messages RBM would take.
    for message in samples() {
        assert_eq!(
            message.validate_at(time("2024-12-25T00:00:00Z")),
            Ok(()),
            "{message:?}"
        );
    }
}

#[test]
fn every_key_we_write_is_one_google_defines() {
    let published = published();
    let seen = seen_in_samples();
    for (object, keys) in &seen.keys {
        let defined = published.objects.get(object).unwrap_or_else(|| {
            panic!("{object} is not an object in Google's list");
        });
        let unknown: Vec<_> = keys.difference(defined).collect();
        assert!(
            unknown.is_empty(),
            "{object} writes {unknown:?}, which Google does not define"
        );
    }
}

#[test]
fn every_enum_value_we_write_is_one_google_defines() {
    let published = published();
    let seen = seen_in_samples();
    for (field, values) in &seen.values {
        let Some(defined) = published.enums.get(field) else {
            continue;
        };
        let unknown: Vec<_> = values.difference(defined).collect();
        assert!(
            unknown.is_empty(),
            "{field} writes {unknown:?}, which Google does not define"
        );
        // Every value but the unspecified zero one appears in the samples.
        let unused: Vec<_> = defined
            .difference(values)
            .filter(|v| !v.ends_with("_UNSPECIFIED"))
            .collect();
        assert!(unused.is_empty(), "{field} never writes {unused:?}");
    }
    for field in published.enums.keys() {
        assert!(
            seen.values.contains_key(field),
            "the samples never write {field}"
        );
    }
}

#[test]
fn every_field_google_defines_is_written_or_deliberately_left_out() {
    let published = published();
    let seen = seen_in_samples();
    for (object, defined) in &published.objects {
        let written = seen.keys.get(object).unwrap_or_else(|| {
            panic!("the samples never write a {object}");
        });
        let left_out: BTreeSet<String> = NOT_MODELLED
            .iter()
            .filter(|(o, _)| o == object)
            .map(|(_, field)| field.to_string())
            .collect();
        let covered: BTreeSet<String> = written.union(&left_out).cloned().collect();
        assert_eq!(
            &covered, defined,
            "{object}: fields written plus fields left out"
        );
    }
}

fn seen_in_samples() -> Seen {
    let mut seen = Seen::default();
    for message in samples() {
        let value = serde_json::to_value(&message).expect("a message serialises");
        seen.walk("AgentMessage", &value);
    }
    seen
}
