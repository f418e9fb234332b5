//! Every variant of the model against the exact JSON RBM expects, both ways.

use std::fmt::Debug;

use chrono::{DateTime, Utc};
use domain::rcs::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// Serialising `value` gives exactly `wire`, and parsing `wire` gives back `value`.
fn assert_wire<T>(value: &T, wire: Value)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let written = serde_json::to_value(value).expect("the model serialises");
    assert_eq!(written, wire, "serialised form");
    let read: T = serde_json::from_value(wire).expect("the wire form parses");
    assert_eq!(&read, value, "parsed form");
}

fn parse_error<T: DeserializeOwned + Debug>(wire: Value) -> String {
    match serde_json::from_value::<T>(wire) {
        Ok(value) => panic!("parsed {value:?}, expected an error"),
        Err(error) => error.to_string(),
    }
}

fn time(text: &str) -> DateTime<Utc> {
    text.parse().expect("a valid test timestamp")
}

#[test]
fn a_text_message_with_traffic_type_and_ttl() {
    let message = AgentMessage::new(AgentContentMessage::text("Your order #1042 has shipped."))
        .with_traffic_type(TrafficType::Transaction)
        .with_expiry(Expiry::ttl(std::time::Duration::from_secs(86_400)));
    assert_wire(
        &message,
        json!({
            "contentMessage": {"text": "Your order #1042 has shipped."},
            "messageTrafficType": "TRANSACTION",
            "ttl": "86400s"
        }),
    );
}

#[test]
fn a_message_with_an_expiry_time() {
    let message = AgentMessage::new(AgentContentMessage::text("Pickup ready"))
        .with_expiry(Expiry::expire_at(time("2025-01-01T00:00:00Z")));
    assert_wire(
        &message,
        json!({
            "contentMessage": {"text": "Pickup ready"},
            "expireTime": "2025-01-01T00:00:00Z"
        }),
    );
}

#[test]
fn fractional_ttls_are_written_as_protobuf_durations() {
    let ttl = |seconds, nanos| Expiry::ttl(std::time::Duration::new(seconds, nanos));
    assert_eq!(ttl(90, 500_000_000), Expiry::Ttl("90.5s".into()));
    assert_eq!(ttl(0, 1), Expiry::Ttl("0.000000001s".into()));
    assert_eq!(ttl(0, 0), Expiry::Ttl("0s".into()));
}

#[test]
fn unset_fields_are_left_out() {
    let message = AgentMessage::new(AgentContentMessage::text("Hi"));
    let text = serde_json::to_string(&message).expect("serialises");
    assert_eq!(text, r#"{"contentMessage":{"text":"Hi"}}"#);
}

#[test]
fn every_traffic_type_has_its_wire_name() {
    for (traffic, name) in [
        (TrafficType::Authentication, "AUTHENTICATION"),
        (TrafficType::Transaction, "TRANSACTION"),
        (TrafficType::Promotion, "PROMOTION"),
        (TrafficType::ServiceRequest, "SERVICEREQUEST"),
        (TrafficType::Acknowledgement, "ACKNOWLEDGEMENT"),
    ] {
        assert_wire(&traffic, json!(name));
    }
}

#[test]
fn every_card_and_media_enum_has_its_wire_name() {
    assert_wire(&CardOrientation::Vertical, json!("VERTICAL"));
    assert_wire(&CardOrientation::Horizontal, json!("HORIZONTAL"));
    assert_wire(&ThumbnailAlignment::Left, json!("LEFT"));
    assert_wire(&ThumbnailAlignment::Right, json!("RIGHT"));
    assert_wire(&CardWidth::Small, json!("SMALL"));
    assert_wire(&CardWidth::Medium, json!("MEDIUM"));
    assert_wire(&MediaHeight::Short, json!("SHORT"));
    assert_wire(&MediaHeight::Medium, json!("MEDIUM"));
    assert_wire(&MediaHeight::Tall, json!("TALL"));
    assert_wire(&OpenUrlApplication::Browser, json!("BROWSER"));
    assert_wire(&OpenUrlApplication::Webview, json!("WEBVIEW"));
    assert_wire(&WebviewViewMode::Full, json!("FULL"));
    assert_wire(&WebviewViewMode::Half, json!("HALF"));
    assert_wire(&WebviewViewMode::Tall, json!("TALL"));
}

#[test]
fn a_vertical_card_with_fetched_media_and_a_button() {
    let card = CardContent::new()
        .with_title("Out for delivery")
        .with_description("Arriving today by 6 pm")
        .with_media(Media {
            height: MediaHeight::Medium,
            file: MediaFile::ContentInfo(
                ContentInfo::new("https://cdn.example.com/van.jpg")
                    .with_thumbnail("https://cdn.example.com/van-thumb.jpg")
                    .with_force_refresh(),
            ),
        })
        .with_suggestion(Suggestion::reply("Thanks", "thanks:1042"));
    let content = AgentContentMessage::rich_card(RichCard::standalone(card));
    assert_wire(
        &content,
        json!({"richCard": {"standaloneCard": {
            "cardOrientation": "VERTICAL",
            "cardContent": {
                "title": "Out for delivery",
                "description": "Arriving today by 6 pm",
                "media": {
                    "height": "MEDIUM",
                    "contentInfo": {
                        "fileUrl": "https://cdn.example.com/van.jpg",
                        "thumbnailUrl": "https://cdn.example.com/van-thumb.jpg",
                        "forceRefresh": true
                    }
                },
                "suggestions": [{"reply": {"text": "Thanks", "postbackData": "thanks:1042"}}]
            }
        }}}),
    );
}

#[test]
fn a_horizontal_card_with_uploaded_media() {
    let file = UploadedRbmFile::new("files/abc123").with_thumbnail("files/abc123-thumb");
    let card = CardContent::new().with_media(Media::from_upload(MediaHeight::Short, file));
    let rich = RichCard::horizontal(card, ThumbnailAlignment::Right);
    assert_wire(
        &rich,
        json!({"standaloneCard": {
            "cardOrientation": "HORIZONTAL",
            "thumbnailImageAlignment": "RIGHT",
            "cardContent": {"media": {
                "height": "SHORT",
                "uploadedRbmFile": {
                    "fileName": "files/abc123",
                    "thumbnailName": "files/abc123-thumb"
                }
            }}
        }}),
    );
}

#[test]
fn a_carousel() {
    let rich = RichCard::carousel(
        CardWidth::Small,
        [
            CardContent::new()
                .with_title("Boots")
                .with_media(Media::from_url(
                    MediaHeight::Short,
                    "https://cdn.example.com/boots.png",
                )),
            CardContent::new().with_description("Socks, 3 pairs"),
        ],
    );
    assert_wire(
        &rich,
        json!({"carouselCard": {
            "cardWidth": "SMALL",
            "cardContents": [
                {
                    "title": "Boots",
                    "media": {
                        "height": "SHORT",
                        "contentInfo": {"fileUrl": "https://cdn.example.com/boots.png"}
                    }
                },
                {"description": "Socks, 3 pairs"}
            ]
        }}),
    );
}

#[test]
fn file_messages_by_url_and_by_upload() {
    let by_url = AgentContentMessage::content_info(ContentInfo::new("https://x.example/r.pdf"));
    assert_wire(
        &by_url,
        json!({"contentInfo": {"fileUrl": "https://x.example/r.pdf"}}),
    );
    let uploaded = AgentContentMessage::uploaded_file(UploadedRbmFile::new("files/r1"));
    assert_wire(
        &uploaded,
        json!({"uploadedRbmFile": {"fileName": "files/r1"}}),
    );
}

#[test]
fn message_suggestions_follow_the_content() {
    let content = AgentContentMessage::text("Rate your delivery").with_suggestions([
        Suggestion::reply("Good", "rate:5"),
        Suggestion::reply("Bad", "rate:1"),
    ]);
    assert_wire(
        &content,
        json!({
            "text": "Rate your delivery",
            "suggestions": [
                {"reply": {"text": "Good", "postbackData": "rate:5"}},
                {"reply": {"text": "Bad", "postbackData": "rate:1"}}
            ]
        }),
    );
}

#[test]
fn dial_and_share_location_actions() {
    assert_wire(
        &Suggestion::dial("Call us", "call", "+16135550123"),
        json!({"action": {
            "text": "Call us", "postbackData": "call",
            "dialAction": {"phoneNumber": "+16135550123"}
        }}),
    );
    assert_wire(
        &Suggestion::share_location("Send location", "where"),
        json!({"action": {
            "text": "Send location", "postbackData": "where", "shareLocationAction": {}
        }}),
    );
}

#[test]
fn view_location_by_pin_and_by_query() {
    let pin = LatLng::new(45.4215, -75.6972);
    assert_wire(
        &Suggestion::view_location("Pickup point", "map", pin, "Rideau store"),
        json!({"action": {
            "text": "Pickup point", "postbackData": "map",
            "viewLocationAction": {
                "latLong": {"latitude": 45.4215, "longitude": -75.6972},
                "label": "Rideau store"
            }
        }}),
    );
    assert_wire(
        &Suggestion::search_location("Find a store", "find", "Tidings Outfitters"),
        json!({"action": {
            "text": "Find a store", "postbackData": "find",
            "viewLocationAction": {"query": "Tidings Outfitters"}
        }}),
    );
}

#[test]
fn a_calendar_event_action() {
    let event = CreateCalendarEventAction::new(
        "Delivery window",
        "Order #1042",
        time("2025-03-01T10:00:00Z"),
        time("2025-03-01T12:30:00.250Z"),
    );
    assert_wire(
        &Suggestion::calendar_event("Add to calendar", "cal:1042", event),
        json!({"action": {
            "text": "Add to calendar", "postbackData": "cal:1042",
            "createCalendarEventAction": {
                "startTime": "2025-03-01T10:00:00Z",
                "endTime": "2025-03-01T12:30:00.250Z",
                "title": "Delivery window",
                "description": "Order #1042"
            }
        }}),
    );
}

#[test]
fn open_url_in_the_browser_and_in_a_webview_with_a_fallback() {
    assert_wire(
        &Suggestion::open_url("Track", "track:1042", "https://t.example/1042"),
        json!({"action": {
            "text": "Track", "postbackData": "track:1042",
            "openUrlAction": {"url": "https://t.example/1042"}
        }}),
    );
    let open = OpenUrlAction::webview("https://t.example/1042", WebviewViewMode::Half)
        .with_description("Tracking page");
    let action = SuggestedAction::new("Track", "track:1042", Action::OpenUrl(open))
        .with_fallback_url("https://t.example/1042?plain=1");
    assert_wire(
        &Suggestion::from(action),
        json!({"action": {
            "text": "Track", "postbackData": "track:1042",
            "fallbackUrl": "https://t.example/1042?plain=1",
            "openUrlAction": {
                "url": "https://t.example/1042",
                "application": "WEBVIEW",
                "webviewViewMode": "HALF",
                "description": "Tracking page"
            }
        }}),
    );
}

#[test]
fn a_content_message_without_content_is_refused() {
    let error = parse_error::<AgentContentMessage>(json!({"suggestions": []}));
    assert!(
        error.contains(
            "a contentMessage must set exactly one of text, richCard, contentInfo, \
             uploadedRbmFile; found none"
        ),
        "{error}"
    );
}

#[test]
fn a_content_message_with_two_contents_is_refused() {
    let wire = json!({
        "text": "Hi",
        "richCard": {"standaloneCard": {
            "cardOrientation": "VERTICAL", "cardContent": {"title": "Hi"}
        }}
    });
    let error = parse_error::<AgentContentMessage>(wire);
    assert!(error.contains("found text and richCard"), "{error}");
}

#[test]
fn ttl_and_expire_time_together_are_refused() {
    let wire = json!({
        "contentMessage": {"text": "Hi"},
        "ttl": "60s",
        "expireTime": "2025-01-01T00:00:00Z"
    });
    let error = parse_error::<AgentMessage>(wire);
    assert!(
        error.contains(
            "an agentMessage must set at most one of ttl, expireTime; found ttl and expireTime"
        ),
        "{error}"
    );
}

#[test]
fn the_other_one_of_groups_are_refused_with_none_or_two() {
    let reply = json!({"text": "Hi", "postbackData": "hi"});
    let cases = [
        (
            parse_error::<Suggestion>(json!({"reply": reply, "action": {
                "text": "Hi", "postbackData": "hi", "shareLocationAction": {}
            }})),
            "a suggestion must set exactly one of reply, action; found reply and action",
        ),
        (
            parse_error::<Suggestion>(json!({})),
            "a suggestion must set exactly one of reply, action; found none",
        ),
        (
            parse_error::<SuggestedAction>(json!({"text": "Hi", "postbackData": "hi"})),
            "a suggested action must set exactly one of dialAction, viewLocationAction, \
             createCalendarEventAction, openUrlAction, shareLocationAction; found none",
        ),
        (
            parse_error::<SuggestedAction>(json!({
                "text": "Hi", "postbackData": "hi",
                "dialAction": {"phoneNumber": "1"}, "shareLocationAction": {}
            })),
            "found dialAction and shareLocationAction",
        ),
        (
            parse_error::<RichCard>(json!({})),
            "a richCard must set exactly one of standaloneCard, carouselCard; found none",
        ),
        (
            parse_error::<Media>(json!({
                "height": "TALL",
                "contentInfo": {"fileUrl": "https://x.example/a.png"},
                "uploadedRbmFile": {"fileName": "files/a"}
            })),
            "media must set exactly one of contentInfo, uploadedRbmFile; \
             found contentInfo and uploadedRbmFile",
        ),
    ];
    for (error, expected) in cases {
        assert!(
            error.contains(expected),
            "{error:?} should contain {expected:?}"
        );
    }
}

#[test]
fn unknown_and_misspelt_keys_are_refused() {
    let misspelt = json!({"reply": {"text": "Hi", "postBackData": "hi"}});
    let error = parse_error::<Suggestion>(misspelt);
    assert!(error.contains("unknown field `postBackData`"), "{error}");

    // Output-only fields are RBM's to set, never ours to send.
    let output_only =
        json!({"contentMessage": {"text": "Hi"}, "name": "phones/+1/agentMessages/x"});
    let error = parse_error::<AgentMessage>(output_only);
    assert!(error.contains("unknown field `name`"), "{error}");
}

#[test]
fn unspecified_enum_values_are_refused() {
    // Multi-use agents get an error from RBM for an unspecified traffic type.
    let error = parse_error::<TrafficType>(json!("MESSAGE_TRAFFIC_TYPE_UNSPECIFIED"));
    assert!(error.contains("unknown variant"), "{error}");
    let error = parse_error::<CardWidth>(json!("CARD_WIDTH_UNSPECIFIED"));
    assert!(error.contains("unknown variant"), "{error}");
}
