//! The `AgentMessage` request body of RBM API v1, field for field.
//!
//! Field and enum names serialise to exactly Google's JSON names. Where Google defines
//! a "one of" (a message holds text *or* a card *or* a file), the Rust type is an enum,
//! so a value built in code always has exactly one; deserialising checks the same
//! rule and names the keys it found when it fails. Unknown keys are refused rather than
//! dropped, so a misspelt key in a template is an error and not a silently missing
//! button. Output-only fields (`name`, `sendTime`, ...) and deprecated ones (`fileName`,
//! `composeAction`) are not modelled: Tidings never sends them.
//!
//! Limits are not enforced here: see [`AgentMessage::validate_at`].

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// One message from the agent to a phone: the body of `phones.agentMessages.create`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentMessage {
    /// What the customer sees.
    pub content_message: AgentContentMessage,
    /// What kind of traffic this is; agents registered for several use cases must set
    /// it. Order tracking is [`TrafficType::Transaction`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_traffic_type: Option<TrafficType>,
    /// When RBM gives up delivering and revokes the message; without it RBM keeps
    /// trying for about 30 days.
    #[serde(flatten)]
    pub expiry: Option<Expiry>,
}

/// How long RBM keeps trying to deliver a message: serialised as a `ttl` or an
/// `expireTime` key on the message.
///
/// Both hold the wire text (`"86400s"`, `"2025-01-01T00:00:00Z"`) so that a
/// malformed value read from JSON reaches validation, which names it, instead of
/// failing the parse. Build them with [`Expiry::ttl`] and [`Expiry::expire_at`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Expiry {
    /// A protobuf duration: whole seconds, an optional fraction, then `s`.
    Ttl(String),
    /// An RFC 3339 timestamp.
    ExpireTime(String),
}

/// What RBM reports the message as, for billing and for its rules on multi-use agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TrafficType {
    /// A one-time password or other sign-in code.
    Authentication,
    /// An update about something the customer already did, such as an order.
    Transaction,
    /// Marketing.
    Promotion,
    /// A reply to something the customer explicitly asked for.
    ServiceRequest,
    /// The confirmation of an unsubscribe request.
    Acknowledgement,
}

/// The content of a message: exactly one [`Content`], plus suggestion chips.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentContentMessage {
    /// The text, card or file; serialised as its own key beside `suggestions`.
    #[serde(flatten)]
    pub content: Content,
    /// Chips shown under the message; an empty list is left out of the JSON.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<Suggestion>,
}

/// The one piece of content a message carries; its variant names the JSON key.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Content {
    /// Plain UTF-8 text.
    Text(String),
    /// A standalone card or a carousel.
    RichCard(RichCard),
    /// A file RBM fetches from a URL.
    ContentInfo(ContentInfo),
    /// A file uploaded to RBM beforehand.
    UploadedRbmFile(UploadedRbmFile),
}

/// A rich card: one card, or a carousel of several.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum RichCard {
    /// One card (`standaloneCard`).
    #[serde(rename = "standaloneCard")]
    Standalone(StandaloneCard),
    /// Two to ten cards side by side (`carouselCard`).
    #[serde(rename = "carouselCard")]
    Carousel(CarouselCard),
}

/// A single rich card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StandaloneCard {
    /// Media above the text, or beside it.
    pub card_orientation: CardOrientation,
    /// Which side the image sits on; only for [`CardOrientation::Horizontal`] cards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_image_alignment: Option<ThumbnailAlignment>,
    /// What the card shows.
    pub card_content: CardContent,
}

/// A row of cards the customer scrolls sideways.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CarouselCard {
    /// The width of every card in the row.
    pub card_width: CardWidth,
    /// The cards, in the order they are shown; 2 to 10 of them.
    pub card_contents: Vec<CardContent>,
}

/// What one card shows; at least one of title, description and media must be set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CardContent {
    /// Bold heading, at most 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Body text, at most 2,000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An image, GIF, video or PDF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
    /// Buttons on the card; an empty list is left out of the JSON.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<Suggestion>,
}

/// The image, video or document at the top (or side) of a card.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    /// Ignored by phones for horizontal standalone cards, but still required.
    pub height: MediaHeight,
    /// The file shown; serialised as its own key beside `height`.
    #[serde(flatten)]
    pub file: MediaFile,
}

/// Where a card's media comes from; its variant names the JSON key.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MediaFile {
    /// A file RBM fetches from a URL.
    ContentInfo(ContentInfo),
    /// A file uploaded to RBM beforehand.
    UploadedRbmFile(UploadedRbmFile),
}

/// A file RBM fetches (and caches) from a public URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContentInfo {
    /// A public http(s) URL; RBM does not follow redirects here.
    pub file_url: String,
    /// A public http(s) URL of a preview image (at most 100 kB) for images, audio and
    /// video; phones show a blank placeholder without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// Make RBM fetch the file again even if it has it cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_refresh: Option<bool>,
}

/// A file uploaded to RBM with `files.create`, named as RBM returned it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadedRbmFile {
    /// `files/{id}` as returned by the upload.
    pub file_name: String,
    /// The uploaded preview image's name, in the same form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_name: Option<String>,
}

/// A chip or button: a canned reply, or an action the phone performs.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Suggestion {
    /// A canned reply (`reply`).
    Reply(SuggestedReply),
    /// A phone action (`action`).
    Action(SuggestedAction),
}

/// A reply the customer sends with one tap; RBM hands `postbackData` back to us.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuggestedReply {
    /// The chip's label and the text sent; 1 to 25 characters.
    pub text: String,
    /// Handed back to us when tapped, so the reply can be routed; at most 2,048
    /// characters.
    pub postback_data: String,
}

/// A button that makes the phone do something (dial, open a map or a page, ...).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SuggestedAction {
    /// The button's label; 1 to 25 characters.
    pub text: String,
    /// Handed back to us when tapped; at most 2,048 characters.
    pub postback_data: String,
    /// Opened in a browser by phones that cannot perform the action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_url: Option<String>,
    /// What the phone does; serialised as its own key beside `text`.
    #[serde(flatten)]
    pub action: Action,
}

/// What a suggested action does; its variant names the JSON key.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// `dialAction`.
    #[serde(rename = "dialAction")]
    Dial(DialAction),
    /// `viewLocationAction`.
    #[serde(rename = "viewLocationAction")]
    ViewLocation(ViewLocationAction),
    /// `createCalendarEventAction`.
    #[serde(rename = "createCalendarEventAction")]
    CreateCalendarEvent(CreateCalendarEventAction),
    /// `openUrlAction`.
    #[serde(rename = "openUrlAction")]
    OpenUrl(OpenUrlAction),
    /// `shareLocationAction`.
    #[serde(rename = "shareLocationAction")]
    ShareLocation(ShareLocationAction),
}

/// Opens the dialler with a number filled in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DialAction {
    /// Digits and `+ * #`; E.164 is recommended but not required.
    pub phone_number: String,
}

/// Opens the map app at a pin, or searching for a query near the customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ViewLocationAction {
    /// Where to drop the pin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat_long: Option<LatLng>,
    /// The name on the pin at `lat_long`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// A search such as a store name or an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// A point on Earth in degrees (WGS 84).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LatLng {
    /// Degrees north, -90 to 90.
    pub latitude: f64,
    /// Degrees east, -180 to 180.
    pub longitude: f64,
}

/// Opens the calendar app with a new event filled in.
///
/// The times hold RFC 3339 text, as on the wire; [`CreateCalendarEventAction::new`]
/// writes them from typed times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCalendarEventAction {
    /// When the event starts.
    pub start_time: String,
    /// When it ends; after `start_time`.
    pub end_time: String,
    /// At most 100 characters.
    pub title: String,
    /// At most 500 characters.
    pub description: String,
}

/// Opens a web page, in the browser or in a webview over the conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenUrlAction {
    /// An absolute http(s) URL of at most 2,048 characters.
    pub url: String,
    /// Where to open it; RBM opens the browser when this is left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<OpenUrlApplication>,
    /// How much of the screen the webview covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webview_view_mode: Option<WebviewViewMode>,
    /// What a screen reader says about the webview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Opens the location picker so the customer can send where they are; serialised `{}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareLocationAction {}

/// How a standalone card lays out its media and text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CardOrientation {
    /// Media above the text.
    Vertical,
    /// Media beside the text; needs a [`ThumbnailAlignment`].
    Horizontal,
}

/// Which side a horizontal card's media sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ThumbnailAlignment {
    /// Media on the left.
    Left,
    /// Media on the right.
    Right,
}

/// How wide each carousel card is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CardWidth {
    /// 120 DP; too narrow for [`MediaHeight::Tall`] media.
    Small,
    /// 232 DP.
    Medium,
}

/// How tall a card's media is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MediaHeight {
    /// 112 DP.
    Short,
    /// 168 DP.
    Medium,
    /// 264 DP.
    Tall,
}

/// Where an open-URL action opens its page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OpenUrlApplication {
    /// The browser, or the app registered for the URL.
    Browser,
    /// A webview over the conversation; check the phone's capabilities first.
    Webview,
}

/// How much of the screen a webview covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WebviewViewMode {
    /// The whole screen.
    Full,
    /// Half the screen.
    Half,
    /// About three quarters of the screen.
    Tall,
}

// Deserialising the "one of" holders: each reads a private struct with every choice
// optional, then insists on exactly one. Deriving `Deserialize` on the flattened enums
// instead would take the first matching key and silently ignore a second one.

impl<'de> Deserialize<'de> for AgentMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = AgentMessageWire::deserialize(deserializer)?;
        let choices = [
            ("ttl", wire.ttl.map(Expiry::Ttl)),
            ("expireTime", wire.expire_time.map(Expiry::ExpireTime)),
        ];
        Ok(AgentMessage {
            content_message: wire.content_message,
            message_traffic_type: wire.message_traffic_type,
            expiry: at_most_one("an agentMessage", choices).map_err(D::Error::custom)?,
        })
    }
}

impl<'de> Deserialize<'de> for AgentContentMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = ContentMessageWire::deserialize(deserializer)?;
        let choices = [
            ("text", wire.text.map(Content::Text)),
            ("richCard", wire.rich_card.map(Content::RichCard)),
            ("contentInfo", wire.content_info.map(Content::ContentInfo)),
            (
                "uploadedRbmFile",
                wire.uploaded_rbm_file.map(Content::UploadedRbmFile),
            ),
        ];
        Ok(AgentContentMessage {
            content: exactly_one("a contentMessage", choices).map_err(D::Error::custom)?,
            suggestions: wire.suggestions,
        })
    }
}

impl<'de> Deserialize<'de> for RichCard {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = RichCardWire::deserialize(deserializer)?;
        let choices = [
            (
                "standaloneCard",
                wire.standalone_card.map(RichCard::Standalone),
            ),
            ("carouselCard", wire.carousel_card.map(RichCard::Carousel)),
        ];
        exactly_one("a richCard", choices).map_err(D::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Media {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = MediaWire::deserialize(deserializer)?;
        let choices = [
            ("contentInfo", wire.content_info.map(MediaFile::ContentInfo)),
            (
                "uploadedRbmFile",
                wire.uploaded_rbm_file.map(MediaFile::UploadedRbmFile),
            ),
        ];
        Ok(Media {
            height: wire.height,
            file: exactly_one("media", choices).map_err(D::Error::custom)?,
        })
    }
}

impl<'de> Deserialize<'de> for Suggestion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = SuggestionWire::deserialize(deserializer)?;
        let choices = [
            ("reply", wire.reply.map(Suggestion::Reply)),
            ("action", wire.action.map(Suggestion::Action)),
        ];
        exactly_one("a suggestion", choices).map_err(D::Error::custom)
    }
}

impl<'de> Deserialize<'de> for SuggestedAction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = SuggestedActionWire::deserialize(deserializer)?;
        let choices = [
            ("dialAction", wire.dial_action.map(Action::Dial)),
            (
                "viewLocationAction",
                wire.view_location_action.map(Action::ViewLocation),
            ),
            (
                "createCalendarEventAction",
                wire.create_calendar_event_action
                    .map(Action::CreateCalendarEvent),
            ),
            ("openUrlAction", wire.open_url_action.map(Action::OpenUrl)),
            (
                "shareLocationAction",
                wire.share_location_action.map(Action::ShareLocation),
            ),
        ];
        Ok(SuggestedAction {
            text: wire.text,
            postback_data: wire.postback_data,
            fallback_url: wire.fallback_url,
            action: exactly_one("a suggested action", choices).map_err(D::Error::custom)?,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AgentMessageWire {
    content_message: AgentContentMessage,
    message_traffic_type: Option<TrafficType>,
    ttl: Option<String>,
    expire_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ContentMessageWire {
    text: Option<String>,
    rich_card: Option<RichCard>,
    content_info: Option<ContentInfo>,
    uploaded_rbm_file: Option<UploadedRbmFile>,
    #[serde(default)]
    suggestions: Vec<Suggestion>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RichCardWire {
    standalone_card: Option<StandaloneCard>,
    carousel_card: Option<CarouselCard>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MediaWire {
    height: MediaHeight,
    content_info: Option<ContentInfo>,
    uploaded_rbm_file: Option<UploadedRbmFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SuggestionWire {
    reply: Option<SuggestedReply>,
    action: Option<SuggestedAction>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SuggestedActionWire {
    text: String,
    postback_data: String,
    fallback_url: Option<String>,
    dial_action: Option<DialAction>,
    view_location_action: Option<ViewLocationAction>,
    create_calendar_event_action: Option<CreateCalendarEventAction>,
    open_url_action: Option<OpenUrlAction>,
    share_location_action: Option<ShareLocationAction>,
}

/// JSON that sets the wrong number of a "one of" group's keys.
#[derive(Debug)]
struct OneOf {
    /// The object, as the message reads: "a contentMessage".
    object: &'static str,
    /// Every key of the group, in Google's order.
    choices: Vec<&'static str>,
    /// The keys the JSON set.
    found: Vec<&'static str>,
    /// Whether leaving every key out is allowed.
    optional: bool,
}

impl fmt::Display for OneOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = if self.optional { "at most" } else { "exactly" };
        let found = match self.found.as_slice() {
            [] => "none".to_string(),
            keys => keys.join(" and "),
        };
        write!(
            f,
            "{} must set {rule} one of {}; found {found}",
            self.object,
            self.choices.join(", ")
        )
    }
}

/// The one value set among `choices`, or an error naming the keys that were set.
fn exactly_one<T, const N: usize>(
    object: &'static str,
    choices: [(&'static str, Option<T>); N],
) -> Result<T, OneOf> {
    let set = Set::from(choices);
    match set.chosen {
        Some(value) if set.found.len() == 1 => Ok(value),
        _ => Err(OneOf {
            object,
            choices: set.names,
            found: set.found,
            optional: false,
        }),
    }
}

/// The value set among `choices`, if any; an error when more than one is set.
fn at_most_one<T, const N: usize>(
    object: &'static str,
    choices: [(&'static str, Option<T>); N],
) -> Result<Option<T>, OneOf> {
    let set = Set::from(choices);
    if set.found.len() <= 1 {
        Ok(set.chosen)
    } else {
        Err(OneOf {
            object,
            choices: set.names,
            found: set.found,
            optional: true,
        })
    }
}

/// A "one of" group as read: every key, the keys set, and the last value set.
struct Set<T> {
    names: Vec<&'static str>,
    found: Vec<&'static str>,
    chosen: Option<T>,
}

impl<T, const N: usize> From<[(&'static str, Option<T>); N]> for Set<T> {
    fn from(choices: [(&'static str, Option<T>); N]) -> Self {
        let mut set = Set {
            names: Vec::with_capacity(N),
            found: Vec::new(),
            chosen: None,
        };
        for (name, value) in choices {
            set.names.push(name);
            if let Some(value) = value {
                set.found.push(name);
                set.chosen = Some(value);
            }
        }
        set
    }
}
