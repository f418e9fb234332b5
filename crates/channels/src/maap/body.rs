//! Tidings' RCS content model ([`domain::rcs::AgentMessage`], shaped after Google RBM)
//! written as the MaaP chatbot API's `RCSMessage`, with FNW.11's field names.
//!
//! Most of it maps one to one; the differences are in the names and nesting:
//!
//! | RBM (`AgentMessage`)        | MaaP (`RCSMessage`)                                  |
//! |-----------------------------|------------------------------------------------------|
//! | `contentMessage.text`       | `textMessage`                                        |
//! | `richCard.standaloneCard`   | `richcardMessage.message.generalPurposeCard`         |
//! | `richCard.carouselCard`     | `richcardMessage.message.generalPurposeCardCarousel` |
//! | `contentInfo`               | `fileMessage`                                        |
//! | `suggestions[]`             | `suggestedChipList.suggestions[]`                    |
//! | `{text, postbackData}`      | `{displayText, postback: {data}}`                    |
//! | `dialAction`                | `dialerAction.dialPhoneNumber`                       |
//! | `viewLocationAction`        | `mapAction.showLocation.location`                    |
//! | `shareLocationAction`       | `mapAction.requestLocationPush`                      |
//! | `createCalendarEventAction` | `calendarAction.createCalendarEvent`                 |
//! | `openUrlAction`             | `urlAction.openUrl`                                  |
//! | `SHORT`, `SMALL`…           | `SHORT_HEIGHT`, `SMALL_WIDTH`…                       |
//!
//! What MaaP (FNW.11 v1.0) has no field for is left out rather than refused: the expiry,
//! the traffic type of anything but promotions, a webview for an opened URL (it opens in
//! the browser), `forceRefresh`. Files uploaded to Google RBM have no MaaP form at all:
//! a message naming one is refused before anything is sent.

use domain::rcs::{
    Action, AgentMessage, CardContent, CardOrientation, CardWidth, CarouselCard, Content,
    ContentInfo, Media, MediaFile, MediaHeight, StandaloneCard, SuggestedAction, Suggestion,
    ThumbnailAlignment, TrafficType, ViewLocationAction,
};
use serde::Serialize;

use super::error::MaapError;

/// The body of `POST {root}/{botId}/messages`.
#[derive(Debug, Serialize)]
pub(crate) struct SendBody<'a> {
    #[serde(rename = "messageContact")]
    pub(crate) message_contact: MessageContact<'a>,
    #[serde(rename = "RCSMessage")]
    pub(crate) rcs_message: RcsMessage,
}

/// Who the message is for: FNW.11 also allows an anonymous `chatId`, but Tidings
/// always addresses customers by phone number.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageContact<'a> {
    pub(crate) user_contact: &'a str,
}

/// The message itself.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RcsMessage {
    /// Tidings' id for the message, so that receipts name it.
    pub(crate) msg_id: String,
    #[serde(flatten)]
    content: MaapContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    traffic_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suggested_chip_list: Option<ChipList>,
}

/// The one piece of content; its variant names the key.
#[derive(Debug, Serialize)]
enum MaapContent {
    #[serde(rename = "textMessage")]
    Text(String),
    #[serde(rename = "richcardMessage")]
    Richcard(RichcardMessage),
    #[serde(rename = "fileMessage")]
    File(FileMessage),
}

#[derive(Debug, Serialize)]
struct RichcardMessage {
    message: Richcard,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum Richcard {
    GeneralPurposeCard(Card),
    GeneralPurposeCardCarousel(Carousel),
}

#[derive(Debug, Serialize)]
struct Card {
    layout: CardLayout,
    content: CardBody,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CardLayout {
    card_orientation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_alignment: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct Carousel {
    layout: CarouselLayout,
    content: Vec<CardBody>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CarouselLayout {
    card_width: &'static str,
}

#[derive(Debug, Serialize)]
struct CardBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    media: Option<MediaBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suggestions: Vec<SuggestionBody>,
}

/// A card's media. The content types are read from the URLs' extensions where they
/// name a known type; file sizes are not known without fetching the files and are
/// left out.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MediaBody {
    media_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_content_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_content_type: Option<&'static str>,
    height: &'static str,
}

/// A file sent on its own. FNW.11 spells the MIME type fields `…MIMEType`.
#[derive(Debug, Serialize)]
struct FileMessage {
    #[serde(rename = "fileUrl")]
    file_url: String,
    #[serde(rename = "fileMIMEType", skip_serializing_if = "Option::is_none")]
    file_mime_type: Option<&'static str>,
    #[serde(rename = "thumbnailUrl", skip_serializing_if = "Option::is_none")]
    thumbnail_url: Option<String>,
    #[serde(rename = "thumbnailMIMEType", skip_serializing_if = "Option::is_none")]
    thumbnail_mime_type: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct ChipList {
    suggestions: Vec<SuggestionBody>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum SuggestionBody {
    Reply(ReplyBody),
    Action(ActionBody),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReplyBody {
    display_text: String,
    postback: Postback,
}

#[derive(Debug, Serialize)]
struct Postback {
    data: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ActionBody {
    display_text: String,
    postback: Postback,
    #[serde(flatten)]
    kind: ActionKind,
}

/// What an action does; its variant names the key beside `displayText`.
#[derive(Debug, Serialize)]
enum ActionKind {
    #[serde(rename = "urlAction")]
    Url(UrlAction),
    #[serde(rename = "dialerAction")]
    Dialer(DialerAction),
    #[serde(rename = "mapAction")]
    Map(MapAction),
    #[serde(rename = "calendarAction")]
    Calendar(CalendarAction),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UrlAction {
    open_url: OpenUrl,
}

#[derive(Debug, Serialize)]
struct OpenUrl {
    url: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DialerAction {
    dial_phone_number: DialPhoneNumber,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DialPhoneNumber {
    phone_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback_url: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
enum MapAction {
    ShowLocation(ShowLocation),
    RequestLocationPush(Empty),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ShowLocation {
    location: Location,
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback_url: Option<String>,
}

#[derive(Debug, Serialize)]
struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    longitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<String>,
}

#[derive(Debug, Serialize)]
struct Empty {}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CalendarAction {
    create_calendar_event: CalendarEvent,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CalendarEvent {
    start_time: String,
    end_time: String,
    title: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback_url: Option<String>,
}

impl RcsMessage {
    /// `message` as MaaP takes it, under `msg_id`.
    ///
    /// # Errors
    /// [`MaapError::Unsupported`] when the message names a file uploaded to Google RBM.
    pub(crate) fn from_agent_message(
        message: &AgentMessage,
        msg_id: String,
    ) -> Result<RcsMessage, MaapError> {
        let content_message = &message.content_message;
        let content = match &content_message.content {
            Content::Text(text) => MaapContent::Text(text.clone()),
            Content::RichCard(domain::rcs::RichCard::Standalone(card)) => {
                MaapContent::Richcard(standalone(card)?)
            }
            Content::RichCard(domain::rcs::RichCard::Carousel(carousel)) => {
                MaapContent::Richcard(carousel_card(carousel)?)
            }
            Content::ContentInfo(info) => MaapContent::File(file_message(info)),
            Content::UploadedRbmFile(file) => return Err(uploaded(&file.file_name)),
        };
        let suggestions = suggestions(&content_message.suggestions);
        Ok(RcsMessage {
            msg_id,
            content,
            traffic_type: message.message_traffic_type.and_then(traffic_type),
            suggested_chip_list: (!suggestions.is_empty()).then_some(ChipList { suggestions }),
        })
    }
}

/// FNW.11's `trafficType`. Only `advertisement` is seen in platforms' examples; the
/// other values are not confirmed, so other kinds of traffic leave the field out and
/// the platform applies the bot's registered default.
fn traffic_type(kind: TrafficType) -> Option<&'static str> {
    match kind {
        TrafficType::Promotion => Some("advertisement"),
        _ => None,
    }
}

fn standalone(card: &StandaloneCard) -> Result<RichcardMessage, MaapError> {
    let layout = CardLayout {
        card_orientation: match card.card_orientation {
            CardOrientation::Vertical => "VERTICAL",
            CardOrientation::Horizontal => "HORIZONTAL",
        },
        image_alignment: card.thumbnail_image_alignment.map(|side| match side {
            ThumbnailAlignment::Left => "LEFT",
            ThumbnailAlignment::Right => "RIGHT",
        }),
    };
    let card = Card {
        layout,
        content: card_body(&card.card_content)?,
    };
    Ok(RichcardMessage {
        message: Richcard::GeneralPurposeCard(card),
    })
}

fn carousel_card(carousel: &CarouselCard) -> Result<RichcardMessage, MaapError> {
    let card_width = match carousel.card_width {
        CardWidth::Small => "SMALL_WIDTH",
        CardWidth::Medium => "MEDIUM_WIDTH",
    };
    let content = carousel
        .card_contents
        .iter()
        .map(card_body)
        .collect::<Result<_, _>>()?;
    let carousel = Carousel {
        layout: CarouselLayout { card_width },
        content,
    };
    Ok(RichcardMessage {
        message: Richcard::GeneralPurposeCardCarousel(carousel),
    })
}

fn card_body(card: &CardContent) -> Result<CardBody, MaapError> {
    Ok(CardBody {
        media: card.media.as_ref().map(media_body).transpose()?,
        title: card.title.clone(),
        description: card.description.clone(),
        suggestions: suggestions(&card.suggestions),
    })
}

fn media_body(media: &Media) -> Result<MediaBody, MaapError> {
    let info = match &media.file {
        MediaFile::ContentInfo(info) => info,
        MediaFile::UploadedRbmFile(file) => return Err(uploaded(&file.file_name)),
    };
    let height = match media.height {
        MediaHeight::Short => "SHORT_HEIGHT",
        MediaHeight::Medium => "MEDIUM_HEIGHT",
        MediaHeight::Tall => "TALL_HEIGHT",
    };
    Ok(MediaBody {
        media_url: info.file_url.clone(),
        media_content_type: content_type(&info.file_url),
        thumbnail_url: info.thumbnail_url.clone(),
        thumbnail_content_type: info.thumbnail_url.as_deref().and_then(content_type),
        height,
    })
}

fn file_message(info: &ContentInfo) -> FileMessage {
    FileMessage {
        file_url: info.file_url.clone(),
        file_mime_type: content_type(&info.file_url),
        thumbnail_url: info.thumbnail_url.clone(),
        thumbnail_mime_type: info.thumbnail_url.as_deref().and_then(content_type),
    }
}

fn uploaded(file_name: &str) -> MaapError {
    MaapError::Unsupported(format!(
        "it names the file {file_name:?} uploaded to Google RBM, which a MaaP platform \
         cannot fetch; give the file by URL (contentInfo) instead"
    ))
}

fn suggestions(suggestions: &[Suggestion]) -> Vec<SuggestionBody> {
    suggestions.iter().map(suggestion).collect()
}

fn suggestion(suggestion: &Suggestion) -> SuggestionBody {
    match suggestion {
        Suggestion::Reply(reply) => SuggestionBody::Reply(ReplyBody {
            display_text: reply.text.clone(),
            postback: postback(&reply.postback_data),
        }),
        Suggestion::Action(action) => SuggestionBody::Action(ActionBody {
            display_text: action.text.clone(),
            postback: postback(&action.postback_data),
            kind: action_kind(action),
        }),
    }
}

fn postback(data: &str) -> Postback {
    Postback {
        data: data.to_string(),
    }
}

/// The action, with RBM's fallback URL moved into the action object, where MaaP keeps
/// it. An opened URL needs none: it is its own fallback.
fn action_kind(action: &SuggestedAction) -> ActionKind {
    let fallback_url = action.fallback_url.clone();
    match &action.action {
        Action::OpenUrl(open) => ActionKind::Url(UrlAction {
            open_url: OpenUrl {
                url: open.url.clone(),
            },
        }),
        Action::Dial(dial) => ActionKind::Dialer(DialerAction {
            dial_phone_number: DialPhoneNumber {
                phone_number: dial.phone_number.clone(),
                fallback_url,
            },
        }),
        Action::ViewLocation(view) => ActionKind::Map(MapAction::ShowLocation(ShowLocation {
            location: location(view),
            fallback_url,
        })),
        Action::ShareLocation(_) => ActionKind::Map(MapAction::RequestLocationPush(Empty {})),
        Action::CreateCalendarEvent(event) => ActionKind::Calendar(CalendarAction {
            create_calendar_event: CalendarEvent {
                start_time: event.start_time.clone(),
                end_time: event.end_time.clone(),
                title: event.title.clone(),
                description: event.description.clone(),
                fallback_url,
            },
        }),
    }
}

fn location(view: &ViewLocationAction) -> Location {
    Location {
        latitude: view.lat_long.map(|at| at.latitude),
        longitude: view.lat_long.map(|at| at.longitude),
        label: view.label.clone(),
        query: view.query.clone(),
    }
}

/// The MIME type a URL's file extension names, for the types RCS cards and files
/// carry; `None` when the extension is missing or unknown.
fn content_type(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let name = path.rsplit('/').next().unwrap_or_default();
    let (_, extension) = name.rsplit_once('.')?;
    let content_type = match extension.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mpeg" | "mpg" => "video/mpeg",
        "3gp" => "video/3gpp",
        "mp3" => "audio/mpeg",
        "aac" => "audio/aac",
        "pdf" => "application/pdf",
        _ => return None,
    };
    Some(content_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::rcs::{
        AgentContentMessage, CreateCalendarEventAction, LatLng, RichCard, UploadedRbmFile,
        WebviewViewMode,
    };
    use serde_json::{json, Value};

    fn written(message: &AgentMessage) -> Value {
        let body = RcsMessage::from_agent_message(message, "m-1".into()).expect("translatable");
        serde_json::to_value(body).expect("JSON")
    }

    #[test]
    fn a_text_with_chips_has_maaps_names() {
        let message = AgentMessage::new(
            AgentContentMessage::text("Your order #1042 has shipped.")
                .with_suggestion(Suggestion::reply("Stop updates", "stop:1042"))
                .with_suggestion(Suggestion::open_url(
                    "Track",
                    "track:1042",
                    "https://t.example/1042",
                )),
        )
        .with_traffic_type(TrafficType::Transaction);

        let expected = json!({
            "msgId": "m-1",
            "textMessage": "Your order #1042 has shipped.",
            "suggestedChipList": {"suggestions": [
                {"reply": {"displayText": "Stop updates", "postback": {"data": "stop:1042"}}},
                {"action": {"displayText": "Track", "postback": {"data": "track:1042"},
                    "urlAction": {"openUrl": {"url": "https://t.example/1042"}}}},
            ]},
        });
        assert_eq!(written(&message), expected);
    }

    #[test]
    fn only_promotions_carry_a_traffic_type() {
        let text = || AgentMessage::new(AgentContentMessage::text("Sale"));
        let promotion = written(&text().with_traffic_type(TrafficType::Promotion));
        assert_eq!(promotion["trafficType"], "advertisement");
        let transaction = written(&text().with_traffic_type(TrafficType::Transaction));
        assert!(transaction.get("trafficType").is_none());
    }

    #[test]
    fn a_horizontal_card_becomes_a_general_purpose_card() {
        let media = Media::from_url(MediaHeight::Medium, "https://cdn.example/p/mug.JPG?v=2");
        let card = CardContent::new()
            .with_title("Mug")
            .with_description("Out for delivery")
            .with_media(media)
            .with_suggestion(Suggestion::dial("Call us", "call", "+16135550100"));
        let message = AgentMessage::new(AgentContentMessage::rich_card(RichCard::horizontal(
            card,
            ThumbnailAlignment::Left,
        )));

        let card = &written(&message)["richcardMessage"]["message"]["generalPurposeCard"];
        let layout = json!({"cardOrientation": "HORIZONTAL", "imageAlignment": "LEFT"});
        assert_eq!(card["layout"], layout);
        let media = json!({"mediaUrl": "https://cdn.example/p/mug.JPG?v=2",
            "mediaContentType": "image/jpeg", "height": "MEDIUM_HEIGHT"});
        assert_eq!(card["content"]["media"], media);
        assert_eq!(card["content"]["title"], "Mug");
        let dial = &card["content"]["suggestions"][0]["action"]["dialerAction"];
        assert_eq!(
            dial,
            &json!({"dialPhoneNumber": {"phoneNumber": "+16135550100"}})
        );
    }

    #[test]
    fn a_carousel_keeps_its_cards_in_order_with_a_width() {
        let cards = ["One", "Two"].map(|title| CardContent::new().with_title(title));
        let message = AgentMessage::new(AgentContentMessage::rich_card(RichCard::carousel(
            CardWidth::Small,
            cards,
        )));

        let carousel =
            &written(&message)["richcardMessage"]["message"]["generalPurposeCardCarousel"];
        assert_eq!(carousel["layout"], json!({"cardWidth": "SMALL_WIDTH"}));
        assert_eq!(
            carousel["content"],
            json!([{"title": "One"}, {"title": "Two"}])
        );
    }

    #[test]
    fn each_action_nests_as_maap_does_with_its_fallback_url_inside() {
        let event = CreateCalendarEventAction {
            start_time: "2027-01-15T09:00:00Z".into(),
            end_time: "2027-01-15T12:00:00Z".into(),
            title: "Delivery".into(),
            description: "Between 9 and 12".into(),
        };
        let view = SuggestedAction::new(
            "Pickup point",
            "map",
            Action::ViewLocation(ViewLocationAction {
                lat_long: Some(LatLng::new(40.4, -3.7)),
                label: Some("Locker 12".into()),
                query: None,
            }),
        )
        .with_fallback_url("https://maps.example/locker-12");
        let message = AgentMessage::new(AgentContentMessage::text("Options").with_suggestions([
            Suggestion::from(view),
            Suggestion::share_location("Send location", "loc"),
            Suggestion::calendar_event("Add to calendar", "cal", event),
            Suggestion::open_webview("Open", "web", "https://t.example", WebviewViewMode::Half),
        ]));

        let chips = written(&message)["suggestedChipList"]["suggestions"].clone();
        let show = json!({"showLocation": {
            "location": {"latitude": 40.4, "longitude": -3.7, "label": "Locker 12"},
            "fallbackUrl": "https://maps.example/locker-12"}});
        assert_eq!(chips[0]["action"]["mapAction"], show);
        let push = json!({"requestLocationPush": {}});
        assert_eq!(chips[1]["action"]["mapAction"], push);
        let calendar = &chips[2]["action"]["calendarAction"]["createCalendarEvent"];
        assert_eq!(calendar["startTime"], "2027-01-15T09:00:00Z");
        assert_eq!(calendar["title"], "Delivery");
        // No webview in MaaP v1: the page opens in the browser.
        let open = json!({"openUrl": {"url": "https://t.example"}});
        assert_eq!(chips[3]["action"]["urlAction"], open);
    }

    #[test]
    fn a_file_by_url_is_a_file_message() {
        let info = ContentInfo::new("https://cdn.example/label.pdf")
            .with_thumbnail("https://cdn.example/label.png");
        let message = AgentMessage::new(AgentContentMessage::content_info(info));
        let expected = json!({
            "fileUrl": "https://cdn.example/label.pdf", "fileMIMEType": "application/pdf",
            "thumbnailUrl": "https://cdn.example/label.png", "thumbnailMIMEType": "image/png",
        });
        assert_eq!(written(&message)["fileMessage"], expected);
    }

    #[test]
    fn a_file_uploaded_to_rbm_is_refused_before_sending() {
        let message = AgentMessage::new(AgentContentMessage::uploaded_file(UploadedRbmFile::new(
            "files/abc",
        )));
        let error = RcsMessage::from_agent_message(&message, "m-1".into()).expect_err("refused");
        assert!(matches!(&error, MaapError::Unsupported(why) if why.contains("files/abc")));
    }

    #[test]
    fn content_types_come_from_known_extensions_only() {
        assert_eq!(
            content_type("https://a.example/x.jpeg#top"),
            Some("image/jpeg")
        );
        assert_eq!(
            content_type("https://a.example/clip.MP4"),
            Some("video/mp4")
        );
        assert_eq!(content_type("https://a.example/image"), None);
        assert_eq!(content_type("https://a.example/archive.tar.zst"), None);
        assert_eq!(content_type("https://a.example.com/"), None);
    }
}
