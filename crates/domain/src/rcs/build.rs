//! Short constructors for the common shapes, so template code reads as the message
//! it builds:
//!
//! ```
//! use domain::rcs::{AgentContentMessage, AgentMessage, Suggestion, TrafficType};
//!
//! let track = Suggestion::open_url("Track it", "track:1042", "https://t.example/1042");
//! let message = AgentMessage::new(
//!     AgentContentMessage::text("Your order #1042 has shipped.")
//!         .with_suggestion(track)
//!         .with_suggestion(Suggestion::reply("Stop updates", "stop:1042")),
//! )
//! .with_traffic_type(TrafficType::Transaction);
//! assert!(message.validate_at(chrono::Utc::now()).is_ok());
//! ```

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::model::*;

impl AgentMessage {
    /// A message with no traffic type and no expiry.
    pub fn new(content_message: AgentContentMessage) -> Self {
        AgentMessage {
            content_message,
            message_traffic_type: None,
            expiry: None,
        }
    }

    /// Sets `messageTrafficType`; agents registered for several use cases must.
    pub fn with_traffic_type(mut self, traffic_type: TrafficType) -> Self {
        self.message_traffic_type = Some(traffic_type);
        self
    }

    /// Sets when RBM stops trying to deliver the message.
    pub fn with_expiry(mut self, expiry: Expiry) -> Self {
        self.expiry = Some(expiry);
        self
    }
}

impl Expiry {
    /// A time to live, written as protobuf duration text (`"86400s"`, `"1.5s"`).
    pub fn ttl(duration: Duration) -> Self {
        let seconds = duration.as_secs();
        let nanos = duration.subsec_nanos();
        if nanos == 0 {
            return Expiry::Ttl(format!("{seconds}s"));
        }
        let fraction = format!("{nanos:09}");
        Expiry::Ttl(format!("{seconds}.{}s", fraction.trim_end_matches('0')))
    }

    /// A fixed expiry time, written in RFC 3339 with a `Z` offset.
    pub fn expire_at(time: DateTime<Utc>) -> Self {
        Expiry::ExpireTime(rfc3339(time))
    }
}

impl AgentContentMessage {
    /// A plain text message.
    pub fn text(text: impl Into<String>) -> Self {
        Self::holding(Content::Text(text.into()))
    }

    /// A standalone card or a carousel.
    pub fn rich_card(card: RichCard) -> Self {
        Self::holding(Content::RichCard(card))
    }

    /// A file RBM fetches from a URL (an image, a video, a PDF).
    pub fn content_info(info: ContentInfo) -> Self {
        Self::holding(Content::ContentInfo(info))
    }

    /// A file uploaded to RBM beforehand.
    pub fn uploaded_file(file: UploadedRbmFile) -> Self {
        Self::holding(Content::UploadedRbmFile(file))
    }

    fn holding(content: Content) -> Self {
        AgentContentMessage {
            content,
            suggestions: Vec::new(),
        }
    }

    /// Adds one chip after those already there.
    pub fn with_suggestion(mut self, suggestion: Suggestion) -> Self {
        self.suggestions.push(suggestion);
        self
    }

    /// Adds chips after those already there.
    pub fn with_suggestions(mut self, suggestions: impl IntoIterator<Item = Suggestion>) -> Self {
        self.suggestions.extend(suggestions);
        self
    }
}

impl RichCard {
    /// A vertical standalone card: media above the text.
    pub fn standalone(content: CardContent) -> Self {
        RichCard::Standalone(StandaloneCard {
            card_orientation: CardOrientation::Vertical,
            thumbnail_image_alignment: None,
            card_content: content,
        })
    }

    /// A horizontal standalone card with its media on the given side.
    pub fn horizontal(content: CardContent, alignment: ThumbnailAlignment) -> Self {
        RichCard::Standalone(StandaloneCard {
            card_orientation: CardOrientation::Horizontal,
            thumbnail_image_alignment: Some(alignment),
            card_content: content,
        })
    }

    /// A carousel of 2 to 10 cards of one width.
    pub fn carousel(width: CardWidth, cards: impl IntoIterator<Item = CardContent>) -> Self {
        RichCard::Carousel(CarouselCard {
            card_width: width,
            card_contents: cards.into_iter().collect(),
        })
    }
}

impl CardContent {
    /// An empty card; give it at least a title, a description or media.
    pub fn new() -> Self {
        CardContent::default()
    }

    /// Sets the heading.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the body text.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the image, video or document.
    pub fn with_media(mut self, media: Media) -> Self {
        self.media = Some(media);
        self
    }

    /// Adds one button after those already there.
    pub fn with_suggestion(mut self, suggestion: Suggestion) -> Self {
        self.suggestions.push(suggestion);
        self
    }

    /// Adds buttons after those already there.
    pub fn with_suggestions(mut self, suggestions: impl IntoIterator<Item = Suggestion>) -> Self {
        self.suggestions.extend(suggestions);
        self
    }
}

impl Media {
    /// Media RBM fetches from `file_url`.
    pub fn from_url(height: MediaHeight, file_url: impl Into<String>) -> Self {
        Media {
            height,
            file: MediaFile::ContentInfo(ContentInfo::new(file_url)),
        }
    }

    /// Media uploaded to RBM beforehand.
    pub fn from_upload(height: MediaHeight, file: UploadedRbmFile) -> Self {
        Media {
            height,
            file: MediaFile::UploadedRbmFile(file),
        }
    }
}

impl ContentInfo {
    /// A file at `file_url`, with no thumbnail, served from RBM's cache when it can.
    pub fn new(file_url: impl Into<String>) -> Self {
        ContentInfo {
            file_url: file_url.into(),
            thumbnail_url: None,
            force_refresh: None,
        }
    }

    /// Sets the public URL of a preview image.
    pub fn with_thumbnail(mut self, thumbnail_url: impl Into<String>) -> Self {
        self.thumbnail_url = Some(thumbnail_url.into());
        self
    }

    /// Makes RBM fetch the file again rather than serve its cached copy.
    pub fn with_force_refresh(mut self) -> Self {
        self.force_refresh = Some(true);
        self
    }
}

impl UploadedRbmFile {
    /// A file by the name `files.create` returned (`files/{id}`).
    pub fn new(file_name: impl Into<String>) -> Self {
        UploadedRbmFile {
            file_name: file_name.into(),
            thumbnail_name: None,
        }
    }

    /// Sets the uploaded preview image.
    pub fn with_thumbnail(mut self, thumbnail_name: impl Into<String>) -> Self {
        self.thumbnail_name = Some(thumbnail_name.into());
        self
    }
}

impl Suggestion {
    /// A canned reply; tapping it sends `text` and hands us `postback_data`.
    pub fn reply(text: impl Into<String>, postback_data: impl Into<String>) -> Self {
        Suggestion::Reply(SuggestedReply {
            text: text.into(),
            postback_data: postback_data.into(),
        })
    }

    /// An action with no fallback URL.
    pub fn action(
        text: impl Into<String>,
        postback_data: impl Into<String>,
        action: Action,
    ) -> Self {
        Suggestion::Action(SuggestedAction::new(text, postback_data, action))
    }

    /// Opens `url` in the browser (or the app registered for it).
    pub fn open_url(
        text: impl Into<String>,
        postback_data: impl Into<String>,
        url: impl Into<String>,
    ) -> Self {
        Self::action(
            text,
            postback_data,
            Action::OpenUrl(OpenUrlAction::browser(url)),
        )
    }

    /// Opens `url` in a webview over the conversation.
    pub fn open_webview(
        text: impl Into<String>,
        postback_data: impl Into<String>,
        url: impl Into<String>,
        mode: WebviewViewMode,
    ) -> Self {
        Self::action(
            text,
            postback_data,
            Action::OpenUrl(OpenUrlAction::webview(url, mode)),
        )
    }

    /// Opens the dialler with `phone_number` filled in.
    pub fn dial(
        text: impl Into<String>,
        postback_data: impl Into<String>,
        phone_number: impl Into<String>,
    ) -> Self {
        let dial = DialAction {
            phone_number: phone_number.into(),
        };
        Self::action(text, postback_data, Action::Dial(dial))
    }

    /// Opens the map at a pin named `label`, such as a pickup point.
    pub fn view_location(
        text: impl Into<String>,
        postback_data: impl Into<String>,
        at: LatLng,
        label: impl Into<String>,
    ) -> Self {
        let view = ViewLocationAction {
            lat_long: Some(at),
            label: Some(label.into()),
            query: None,
        };
        Self::action(text, postback_data, Action::ViewLocation(view))
    }

    /// Opens the map searching for `query` (a store name, an address).
    pub fn search_location(
        text: impl Into<String>,
        postback_data: impl Into<String>,
        query: impl Into<String>,
    ) -> Self {
        let view = ViewLocationAction {
            lat_long: None,
            label: None,
            query: Some(query.into()),
        };
        Self::action(text, postback_data, Action::ViewLocation(view))
    }

    /// Opens the calendar with `event` filled in.
    pub fn calendar_event(
        text: impl Into<String>,
        postback_data: impl Into<String>,
        event: CreateCalendarEventAction,
    ) -> Self {
        Self::action(text, postback_data, Action::CreateCalendarEvent(event))
    }

    /// Asks the customer to send their location.
    pub fn share_location(text: impl Into<String>, postback_data: impl Into<String>) -> Self {
        Self::action(
            text,
            postback_data,
            Action::ShareLocation(ShareLocationAction {}),
        )
    }

    /// The label on the chip.
    pub fn text(&self) -> &str {
        match self {
            Suggestion::Reply(reply) => &reply.text,
            Suggestion::Action(action) => &action.text,
        }
    }

    /// What RBM hands back to us when the chip is tapped.
    pub fn postback_data(&self) -> &str {
        match self {
            Suggestion::Reply(reply) => &reply.postback_data,
            Suggestion::Action(action) => &action.postback_data,
        }
    }
}

impl From<SuggestedReply> for Suggestion {
    fn from(reply: SuggestedReply) -> Self {
        Suggestion::Reply(reply)
    }
}

impl From<SuggestedAction> for Suggestion {
    fn from(action: SuggestedAction) -> Self {
        Suggestion::Action(action)
    }
}

impl SuggestedAction {
    /// An action with no fallback URL.
    pub fn new(text: impl Into<String>, postback_data: impl Into<String>, action: Action) -> Self {
        SuggestedAction {
            text: text.into(),
            postback_data: postback_data.into(),
            fallback_url: None,
            action,
        }
    }

    /// The page a phone opens when it cannot perform the action.
    pub fn with_fallback_url(mut self, url: impl Into<String>) -> Self {
        self.fallback_url = Some(url.into());
        self
    }
}

impl LatLng {
    /// A point at `latitude` degrees north and `longitude` degrees east.
    pub fn new(latitude: f64, longitude: f64) -> Self {
        LatLng {
            latitude,
            longitude,
        }
    }
}

impl CreateCalendarEventAction {
    /// An event from `start` to `end`, written as RFC 3339 with a `Z` offset.
    pub fn new(
        title: impl Into<String>,
        description: impl Into<String>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Self {
        CreateCalendarEventAction {
            start_time: rfc3339(start),
            end_time: rfc3339(end),
            title: title.into(),
            description: description.into(),
        }
    }
}

impl OpenUrlAction {
    /// Opens `url` in the browser.
    pub fn browser(url: impl Into<String>) -> Self {
        OpenUrlAction {
            url: url.into(),
            application: None,
            webview_view_mode: None,
            description: None,
        }
    }

    /// Opens `url` in a webview covering `mode` of the screen.
    pub fn webview(url: impl Into<String>, mode: WebviewViewMode) -> Self {
        OpenUrlAction {
            url: url.into(),
            application: Some(OpenUrlApplication::Webview),
            webview_view_mode: Some(mode),
            description: None,
        }
    }

    /// What a screen reader says about the webview.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// RFC 3339 in UTC with a `Z` offset, and only as many fraction digits as the time
/// needs.
fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
