//! One message per limit, breaking only that limit, refused with exactly one error
//! at the right path; and the largest value each limit allows, accepted.

use chrono::{DateTime, TimeDelta, Utc};
use domain::rcs::limits::*;
use domain::rcs::*;

fn now() -> DateTime<Utc> {
    "2025-06-01T12:00:00Z"
        .parse()
        .expect("a valid test timestamp")
}

fn errors(message: &AgentMessage) -> Vec<LimitError> {
    match message.validate_at(now()) {
        Ok(()) => Vec::new(),
        Err(invalid) => invalid.into_errors(),
    }
}

/// `message` breaks one limit: the one at `path`.
fn assert_only(message: AgentMessage, path: &str, violation: Violation) {
    let expected = LimitError {
        path: path.to_string(),
        violation,
    };
    assert_eq!(errors(&message), vec![expected]);
}

fn assert_valid(message: AgentMessage) {
    assert_eq!(errors(&message), Vec::new(), "{message:?}");
}

fn text_message(text: impl Into<String>) -> AgentMessage {
    AgentMessage::new(AgentContentMessage::text(text))
}

/// A plain text message carrying `suggestion` as its only chip.
fn with_chip(suggestion: Suggestion) -> AgentMessage {
    AgentMessage::new(AgentContentMessage::text("Your order shipped").with_suggestion(suggestion))
}

/// A vertical standalone card.
fn with_card(card: CardContent) -> AgentMessage {
    AgentMessage::new(AgentContentMessage::rich_card(RichCard::standalone(card)))
}

fn carousel(width: CardWidth, cards: Vec<CardContent>) -> AgentMessage {
    AgentMessage::new(AgentContentMessage::rich_card(RichCard::carousel(
        width, cards,
    )))
}

fn titled(title: &str) -> CardContent {
    CardContent::new().with_title(title)
}

fn event(title: &str, description: &str, start: &str, end: &str) -> Suggestion {
    let event = CreateCalendarEventAction {
        start_time: start.into(),
        end_time: end.into(),
        title: title.into(),
        description: description.into(),
    };
    Suggestion::calendar_event("Add", "cal", event)
}

fn with_action(action: Action) -> AgentMessage {
    with_chip(Suggestion::action("Go", "go", action))
}

fn too_long(chars: usize, max: usize) -> Violation {
    Violation::TooLong { chars, max }
}

const CARD: &str = "contentMessage.richCard.standaloneCard.cardContent";
const CHIP: &str = "contentMessage.suggestions[0]";

#[test]
fn text_is_limited_in_characters_not_bytes() {
    // 'é' is two bytes: the longest text is 3,072 characters, 6,144 bytes.
    assert_valid(text_message("é".repeat(MAX_TEXT_CHARS)));
    let long = text_message("é".repeat(MAX_TEXT_CHARS + 1));
    assert_only(long, "contentMessage.text", too_long(3073, 3072));
}

#[test]
fn text_may_not_be_empty() {
    assert_only(text_message(""), "contentMessage.text", Violation::Empty);
}

#[test]
fn a_message_holds_at_most_11_suggestions() {
    let chips = |n| (0..n).map(|i| Suggestion::reply(format!("Option {i}"), i.to_string()));
    assert_valid(AgentMessage::new(
        AgentContentMessage::text("Pick").with_suggestions(chips(11)),
    ));
    let crowded = AgentMessage::new(AgentContentMessage::text("Pick").with_suggestions(chips(12)));
    let violation = Violation::Count {
        noun: "suggestion",
        count: 12,
        min: 0,
        max: 11,
    };
    assert_only(crowded, "contentMessage.suggestions", violation);
}

#[test]
fn a_card_holds_at_most_4_suggestions() {
    let chips = |n| (0..n).map(|i| Suggestion::reply("Ok", i.to_string()));
    assert_valid(with_card(titled("Order").with_suggestions(chips(4))));
    let crowded = with_card(titled("Order").with_suggestions(chips(5)));
    let violation = Violation::Count {
        noun: "suggestion",
        count: 5,
        min: 0,
        max: 4,
    };
    assert_only(crowded, &format!("{CARD}.suggestions"), violation);
}

#[test]
fn suggestion_text_is_at_most_25_characters() {
    assert_valid(with_chip(Suggestion::reply("📦".repeat(25), "p")));
    let long = with_chip(Suggestion::reply("x".repeat(26), "p"));
    assert_only(long, &format!("{CHIP}.reply.text"), too_long(26, 25));
    let long_action = with_chip(Suggestion::share_location("y".repeat(30), "p"));
    assert_only(
        long_action,
        &format!("{CHIP}.action.text"),
        too_long(30, 25),
    );
}

#[test]
fn suggestion_text_may_not_be_empty() {
    let empty = with_chip(Suggestion::reply("", "p"));
    assert_only(empty, &format!("{CHIP}.reply.text"), Violation::Empty);
    let empty_action = with_chip(Suggestion::dial("", "p", "+16135550123"));
    assert_only(
        empty_action,
        &format!("{CHIP}.action.text"),
        Violation::Empty,
    );
}

#[test]
fn postback_data_is_at_most_2048_characters() {
    assert_valid(with_chip(Suggestion::reply("Ok", "p".repeat(2048))));
    let long = with_chip(Suggestion::reply("Ok", "p".repeat(2049)));
    assert_only(
        long,
        &format!("{CHIP}.reply.postbackData"),
        too_long(2049, 2048),
    );
}

/// `https://example.com/` followed by `a`s, `length` characters in all.
fn url_of_length(length: usize) -> String {
    let base = "https://example.com/";
    format!("{base}{}", "a".repeat(length - base.len()))
}

#[test]
fn a_fallback_url_is_at_most_2048_characters() {
    let chip = |url| {
        let action =
            SuggestedAction::new("Go", "go", Action::ShareLocation(ShareLocationAction {}));
        with_chip(action.with_fallback_url(url).into())
    };
    assert_valid(chip(url_of_length(2048)));
    let path = format!("{CHIP}.action.fallbackUrl");
    assert_only(chip(url_of_length(2049)), &path, too_long(2049, 2048));
}

#[test]
fn a_fallback_url_is_an_absolute_http_uri() {
    let action = SuggestedAction::new("Go", "go", Action::ShareLocation(ShareLocationAction {}))
        .with_fallback_url("www.example.com/track");
    let path = format!("{CHIP}.action.fallbackUrl");
    assert_only(
        with_chip(action.into()),
        &path,
        Violation::NotHttpUrl(UrlProblem::NotAbsolute),
    );
}

#[test]
fn an_open_url_is_at_most_2048_characters() {
    assert_valid(with_chip(Suggestion::open_url(
        "Track",
        "t",
        url_of_length(2048),
    )));
    let long = with_chip(Suggestion::open_url("Track", "t", url_of_length(2049)));
    assert_only(
        long,
        &format!("{CHIP}.action.openUrlAction.url"),
        too_long(2049, 2048),
    );
}

#[test]
fn an_open_url_is_an_absolute_http_uri() {
    let cases = [
        ("ftp://example.com/a", UrlProblem::Scheme),
        (
            "https://example.com/track order",
            UrlProblem::Unencoded(' '),
        ),
    ];
    for (url, problem) in cases {
        let message = with_chip(Suggestion::open_url("Track", "t", url));
        let path = format!("{CHIP}.action.openUrlAction.url");
        assert_only(message, &path, Violation::NotHttpUrl(problem));
    }
}

#[test]
fn a_card_title_is_at_most_200_characters() {
    assert_valid(with_card(titled(&"t".repeat(200))));
    assert_only(
        with_card(titled(&"t".repeat(201))),
        &format!("{CARD}.title"),
        too_long(201, 200),
    );
}

#[test]
fn a_card_description_is_at_most_2000_characters() {
    assert_valid(with_card(
        CardContent::new().with_description("d".repeat(2000)),
    ));
    let long = with_card(CardContent::new().with_description("d".repeat(2001)));
    assert_only(long, &format!("{CARD}.description"), too_long(2001, 2000));
}

#[test]
fn a_card_shows_a_title_a_description_or_media() {
    let buttons_only = CardContent::new().with_suggestion(Suggestion::reply("Ok", "ok"));
    assert_only(with_card(buttons_only), CARD, Violation::EmptyCard);
    let blank_text = CardContent::new().with_title("").with_description("");
    assert_only(with_card(blank_text), CARD, Violation::EmptyCard);
    let media_only = Media::from_url(MediaHeight::Short, "https://x.example/a.png");
    assert_valid(with_card(CardContent::new().with_media(media_only)));
}

#[test]
fn a_calendar_title_is_at_most_100_characters() {
    let (start, end) = ("2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z");
    let path = format!("{CHIP}.action.createCalendarEventAction.title");
    assert_valid(with_chip(event(&"t".repeat(100), "", start, end)));
    assert_only(
        with_chip(event(&"t".repeat(101), "", start, end)),
        &path,
        too_long(101, 100),
    );
}

#[test]
fn a_calendar_description_is_at_most_500_characters() {
    let (start, end) = ("2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z");
    let path = format!("{CHIP}.action.createCalendarEventAction.description");
    assert_valid(with_chip(event("Pickup", &"d".repeat(500), start, end)));
    let long = with_chip(event("Pickup", &"d".repeat(501), start, end));
    assert_only(long, &path, too_long(501, 500));
}

#[test]
fn a_calendar_event_ends_after_it_starts() {
    let path = format!("{CHIP}.action.createCalendarEventAction.endTime");
    let backwards = event("Pickup", "", "2025-06-02T10:00:00Z", "2025-06-02T09:59:59Z");
    assert_only(with_chip(backwards), &path, Violation::EndNotAfterStart);
    // Same instant written with two offsets: not after.
    let instant = event(
        "Pickup",
        "",
        "2025-06-02T10:00:00Z",
        "2025-06-02T12:00:00+02:00",
    );
    assert_only(with_chip(instant), &path, Violation::EndNotAfterStart);
}

#[test]
fn calendar_times_are_rfc_3339() {
    let path = format!("{CHIP}.action.createCalendarEventAction.startTime");
    let bad = event("Pickup", "", "2 June 2025, 10:00", "2025-06-02T11:00:00Z");
    assert_only(with_chip(bad), &path, Violation::NotTimestamp);
}

#[test]
fn a_carousel_holds_2_to_10_cards() {
    let path = "contentMessage.richCard.carouselCard.cardContents";
    let cards = |n| {
        (0..n)
            .map(|i| titled(&format!("Item {i}")))
            .collect::<Vec<_>>()
    };
    assert_valid(carousel(CardWidth::Medium, cards(2)));
    assert_valid(carousel(CardWidth::Medium, cards(10)));
    let count = |count| Violation::Count {
        noun: "card",
        count,
        min: 2,
        max: 10,
    };
    assert_only(carousel(CardWidth::Medium, cards(1)), path, count(1));
    assert_only(carousel(CardWidth::Medium, cards(11)), path, count(11));
}

#[test]
fn small_carousel_cards_take_no_tall_media() {
    let tall = Media::from_url(MediaHeight::Tall, "https://x.example/a.png");
    let cards = vec![titled("Boots"), titled("Socks").with_media(tall)];
    assert_valid(carousel(CardWidth::Medium, cards.clone()));
    let path = "contentMessage.richCard.carouselCard.cardContents[1].media.height";
    assert_only(
        carousel(CardWidth::Small, cards),
        path,
        Violation::TallMediaInSmallCard,
    );
}

#[test]
fn only_horizontal_cards_take_a_thumbnail_alignment() {
    let path = "contentMessage.richCard.standaloneCard.thumbnailImageAlignment";
    let card = |orientation, alignment| {
        let card = StandaloneCard {
            card_orientation: orientation,
            thumbnail_image_alignment: alignment,
            card_content: titled("Order"),
        };
        AgentMessage::new(AgentContentMessage::rich_card(RichCard::Standalone(card)))
    };
    assert_only(
        card(CardOrientation::Horizontal, None),
        path,
        Violation::AlignmentMissing,
    );
    let vertical = card(CardOrientation::Vertical, Some(ThumbnailAlignment::Left));
    assert_only(vertical, path, Violation::AlignmentOnVertical);
    assert_valid(card(
        CardOrientation::Horizontal,
        Some(ThumbnailAlignment::Left),
    ));
}

#[test]
fn a_dial_number_holds_digits_and_plus_star_hash() {
    let dial = |number: &str| with_chip(Suggestion::dial("Call", "call", number));
    let path = format!("{CHIP}.action.dialAction.phoneNumber");
    assert_valid(dial("+16135550123"));
    assert_valid(dial("*#06#"));
    assert_only(dial(""), &path, Violation::Empty);
    assert_only(dial("+1 613 555 0123"), &path, Violation::NotDialable);
    assert_only(dial("1-800-FLOWERS"), &path, Violation::NotDialable);
}

#[test]
fn latitude_is_within_90_degrees() {
    let pin = |lat| Suggestion::view_location("Map", "map", LatLng::new(lat, 0.0), "Store");
    let path = format!("{CHIP}.action.viewLocationAction.latLong.latitude");
    assert_valid(with_chip(pin(90.0)));
    assert_valid(with_chip(pin(-90.0)));
    let range = Violation::OutOfRange {
        value: 90.5,
        min: -90.0,
        max: 90.0,
    };
    assert_only(with_chip(pin(90.5)), &path, range);
}

#[test]
fn longitude_is_within_180_degrees() {
    let pin = |long| Suggestion::view_location("Map", "map", LatLng::new(0.0, long), "Store");
    let path = format!("{CHIP}.action.viewLocationAction.latLong.longitude");
    assert_valid(with_chip(pin(180.0)));
    let range = Violation::OutOfRange {
        value: -180.25,
        min: -180.0,
        max: 180.0,
    };
    assert_only(with_chip(pin(-180.25)), &path, range);
    let errors = errors(&with_chip(pin(f64::NAN)));
    assert!(
        matches!(
            errors.as_slice(),
            [LimitError {
                violation: Violation::OutOfRange { .. },
                ..
            }]
        ),
        "NaN is out of every range: {errors:?}"
    );
}

#[test]
fn a_map_action_needs_a_pin_or_a_query() {
    let nowhere = ViewLocationAction {
        lat_long: None,
        label: Some("Store".into()),
        query: None,
    };
    let path = format!("{CHIP}.action.viewLocationAction");
    assert_only(
        with_action(Action::ViewLocation(nowhere)),
        &path,
        Violation::NoLocation,
    );
    assert_valid(with_chip(Suggestion::search_location(
        "Map",
        "map",
        "Tidings store",
    )));
}

fn with_ttl(ttl: &str) -> AgentMessage {
    text_message("Hi").with_expiry(Expiry::Ttl(ttl.into()))
}

#[test]
fn a_ttl_is_at_most_15_days() {
    assert_valid(with_ttl("1296000s"));
    assert_valid(with_ttl("1295999.999999999s"));
    assert_only(with_ttl("1296001s"), "ttl", Violation::ExpiryTooFar);
    assert_only(with_ttl("1296000.5s"), "ttl", Violation::ExpiryTooFar);
    assert_only(
        with_ttl("99999999999999999999999s"),
        "ttl",
        Violation::ExpiryTooFar,
    );
}

#[test]
fn a_ttl_is_a_positive_duration_in_seconds() {
    assert_valid(with_ttl("0.5s"));
    assert_only(with_ttl("0s"), "ttl", Violation::ExpiryNotAhead);
    for bad in ["86400", "1d", "-60s", "1e5s", "60 s"] {
        assert_only(with_ttl(bad), "ttl", Violation::NotDuration);
    }
}

fn expiring_in(delta: TimeDelta) -> AgentMessage {
    text_message("Hi").with_expiry(Expiry::expire_at(now() + delta))
}

#[test]
fn an_expire_time_is_at_most_15_days_ahead() {
    assert_valid(expiring_in(TimeDelta::days(15)));
    let late = expiring_in(TimeDelta::days(15) + TimeDelta::milliseconds(1));
    assert_only(late, "expireTime", Violation::ExpiryTooFar);
}

#[test]
fn an_expire_time_is_in_the_future() {
    assert_valid(expiring_in(TimeDelta::seconds(10)));
    assert_only(
        expiring_in(TimeDelta::zero()),
        "expireTime",
        Violation::ExpiryNotAhead,
    );
    assert_only(
        expiring_in(TimeDelta::hours(-1)),
        "expireTime",
        Violation::ExpiryNotAhead,
    );
}

#[test]
fn an_expire_time_is_rfc_3339() {
    let message = text_message("Hi").with_expiry(Expiry::ExpireTime("tomorrow".into()));
    assert_only(message, "expireTime", Violation::NotTimestamp);
}

#[test]
fn the_whole_message_is_at_most_250_kb() {
    // Every field within its own limit: ten cards of four chips whose postbacks are
    // 2,048 four-byte emoji each.
    let postback = "🚚".repeat(MAX_POSTBACK_CHARS);
    let card = titled("Order").with_suggestions((0..4).map(|_| Suggestion::reply("Ok", &postback)));
    let message = carousel(CardWidth::Medium, vec![card; 10]);
    let bytes = message.serialised_len();
    assert!(
        bytes > MAX_MESSAGE_BYTES,
        "the test message is only {bytes} bytes"
    );
    assert_eq!(
        bytes,
        serde_json::to_vec(&message).expect("serialises").len()
    );
    assert_only(
        message,
        "",
        Violation::TooLarge {
            bytes,
            max: 250_000,
        },
    );
}

#[test]
fn file_urls_are_absolute_http_uris() {
    let file = |info| AgentMessage::new(AgentContentMessage::content_info(info));
    assert_only(
        file(ContentInfo::new("file:///tmp/label.pdf")),
        "contentMessage.contentInfo.fileUrl",
        Violation::NotHttpUrl(UrlProblem::Scheme),
    );
    assert_only(
        file(ContentInfo::new("https://x.example/l.pdf").with_thumbnail("l.png")),
        "contentMessage.contentInfo.thumbnailUrl",
        Violation::NotHttpUrl(UrlProblem::NotAbsolute),
    );
    let media = Media::from_url(MediaHeight::Short, "https://x.example/%zz.png");
    assert_only(
        with_card(CardContent::new().with_media(media)),
        &format!("{CARD}.media.contentInfo.fileUrl"),
        Violation::NotHttpUrl(UrlProblem::BadPercent),
    );
}

#[test]
fn uploaded_files_are_named() {
    let message = AgentMessage::new(AgentContentMessage::uploaded_file(UploadedRbmFile::new("")));
    assert_only(
        message,
        "contentMessage.uploadedRbmFile.fileName",
        Violation::Empty,
    );
    let media = Media::from_upload(MediaHeight::Short, UploadedRbmFile::new(""));
    let card = with_card(CardContent::new().with_media(media));
    assert_only(
        card,
        &format!("{CARD}.media.uploadedRbmFile.fileName"),
        Violation::Empty,
    );
}

#[test]
fn a_carousel_names_the_card_and_suggestion_at_fault() {
    let cards = vec![
        titled("Boots"),
        titled("Socks"),
        titled("Hats").with_suggestion(Suggestion::reply("Add this hat to my basket!", "hat")),
    ];
    let path = "contentMessage.richCard.carouselCard.cardContents[2].suggestions[0].reply.text";
    assert_only(carousel(CardWidth::Medium, cards), path, too_long(26, 25));
}

#[test]
fn every_problem_is_reported_in_json_order() {
    let message = AgentMessage::new(
        AgentContentMessage::text("x".repeat(3100))
            .with_suggestion(Suggestion::reply("", "p"))
            .with_suggestion(Suggestion::open_url("Track", "t", "track/1042")),
    )
    .with_expiry(Expiry::Ttl("30d".into()));
    let paths: Vec<String> = errors(&message).into_iter().map(|e| e.path).collect();
    assert_eq!(
        paths,
        [
            "contentMessage.text",
            "contentMessage.suggestions[0].reply.text",
            "contentMessage.suggestions[1].action.openUrlAction.url",
            "ttl",
        ]
    );
}

#[test]
fn errors_read_as_path_then_problem() {
    let shown = |message: AgentMessage| match message.validate_at(now()) {
        Ok(()) => panic!("{message:?} should be refused"),
        Err(invalid) => invalid
            .errors()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
    };
    assert_eq!(
        shown(text_message("x".repeat(3100))),
        ["contentMessage.text: 3,100 characters; RBM allows at most 3,072"]
    );
    assert_eq!(
        shown(with_chip(Suggestion::open_url(
            "Track",
            "t",
            "ftp://x.example/1"
        ))),
        [
            "contentMessage.suggestions[0].action.openUrlAction.url: not an absolute http(s) \
             URI: the scheme must be http or https"
        ]
    );
    let count = |n| (0..n).map(|_| titled("x")).collect::<Vec<_>>();
    assert_eq!(
        shown(carousel(CardWidth::Medium, count(1))),
        ["contentMessage.richCard.carouselCard.cardContents: 1 card; RBM needs at least 2"]
    );
    assert_eq!(
        shown(with_ttl("2000000s")),
        ["ttl: more than 15 days ahead; RBM allows at most 1,296,000 seconds"]
    );
}

#[test]
fn the_refusal_lists_every_problem() {
    let message = text_message("").with_expiry(Expiry::Ttl("0s".into()));
    let Err(invalid) = message.validate_at(now()) else {
        panic!("an empty text with a zero ttl should be refused");
    };
    assert_eq!(
        invalid.to_string(),
        "RBM would refuse this message: contentMessage.text: empty; RBM needs at least one \
         character; ttl: not in the future; give the message some time to be delivered"
    );
}
