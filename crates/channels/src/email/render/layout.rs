//! What of an RCS message survives in an email, before either part is written.
//!
//! RCS has things email has not: chips that send a canned reply into the chat, actions
//! the phone performs (dial, open the map, add to the calendar, share a location), and
//! files uploaded to Google. Here each becomes what email can carry, a link, or is left
//! out; the text and HTML writers then only lay out [`Layout`]s.

use domain::rcs::{
    Action, AgentMessage, CardContent, Content, ContentInfo, MediaFile, RichCard, Suggestion,
    ViewLocationAction,
};
use reqwest::Url;

/// An email's content, in the order it is shown.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Layout {
    pub blocks: Vec<Block>,
    /// The message's own chips that carry a link, shown under the content.
    pub links: Vec<Link>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Block {
    Text(String),
    Card(Card),
    /// Cards side by side where there is room, stacked where not.
    Carousel(Vec<Card>),
    Media(Media),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Card {
    pub media: Option<Media>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub links: Vec<Link>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Media {
    /// An image shown inline, itself a link when `href` is set (a video's thumbnail
    /// links to the video).
    Image { src: String, href: Option<String> },
    /// A file with nothing to show for it (a PDF without a thumbnail): a link.
    File(Link),
}

/// A labelled link; `href` is always http(s), `tel:` or `mailto:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Link {
    pub label: String,
    pub href: String,
}

/// The layout of `message`.
pub(super) fn lay_out(message: &AgentMessage) -> Layout {
    let content = &message.content_message;
    let block = match &content.content {
        Content::Text(text) => Some(Block::Text(text.clone())),
        Content::RichCard(RichCard::Standalone(card)) => {
            Some(Block::Card(card_of(&card.card_content)))
        }
        Content::RichCard(RichCard::Carousel(carousel)) => Some(Block::Carousel(
            carousel.card_contents.iter().map(card_of).collect(),
        )),
        Content::ContentInfo(info) => media_of(info).map(Block::Media),
        // A file uploaded to Google has no URL anyone else can fetch.
        Content::UploadedRbmFile(_) => None,
    };
    Layout {
        blocks: block.into_iter().collect(),
        links: links_of(&content.suggestions),
    }
}

fn card_of(content: &CardContent) -> Card {
    let media = content.media.as_ref().and_then(|media| match &media.file {
        MediaFile::ContentInfo(info) => media_of(info),
        MediaFile::UploadedRbmFile(_) => None,
    });
    Card {
        media,
        title: content.title.clone(),
        description: content.description.clone(),
        links: links_of(&content.suggestions),
    }
}

fn links_of(suggestions: &[Suggestion]) -> Vec<Link> {
    suggestions.iter().filter_map(link_of).collect()
}

/// The link a chip becomes, if any. Replies only make sense inside a chat (the answer
/// goes back to the agent as a message), so they are left out; so are actions with
/// nothing to open in a mail client, unless they carry a fallback URL.
fn link_of(suggestion: &Suggestion) -> Option<Link> {
    let Suggestion::Action(action) = suggestion else {
        return None;
    };
    let direct = match &action.action {
        Action::OpenUrl(open) => web_url(&open.url),
        Action::Dial(dial) => tel_uri(&dial.phone_number),
        Action::ViewLocation(view) => maps_url(view),
        Action::CreateCalendarEvent(_) | Action::ShareLocation(_) => None,
    };
    let href = direct.or_else(|| action.fallback_url.as_deref().and_then(web_url))?;
    Some(Link {
        label: action.text.clone(),
        href,
    })
}

/// How a file shows: an image inline, a thumbnail that links to the file, or a link
/// named after the file.
fn media_of(info: &ContentInfo) -> Option<Media> {
    let file = web_url(&info.file_url)?;
    if looks_like_image(&file) {
        return Some(Media::Image {
            src: file,
            href: None,
        });
    }
    let thumbnail = info.thumbnail_url.as_deref().and_then(web_url);
    Some(match thumbnail {
        Some(src) => Media::Image {
            src,
            href: Some(file),
        },
        None => Media::File(Link {
            label: file_name(&file),
            href: file,
        }),
    })
}

/// `text` when it is an http(s) URL that can sit in an attribute and a header; `None`
/// for anything else (`javascript:`, spaces, quotes), so no other scheme reaches an
/// `href`.
pub(super) fn web_url(text: &str) -> Option<String> {
    let text = text.trim();
    let (scheme, rest) = text.split_once("://")?;
    let web = scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http");
    let has_host = rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '[');
    let clean = text
        .chars()
        .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '<' | '>' | '\\' | '`'));
    (web && has_host && clean).then(|| text.to_string())
}

/// A `tel:` URI for what a dial action holds: digits with an optional leading `+`,
/// and `*` or `#`, without the spaces and punctuation people write numbers with.
fn tel_uri(number: &str) -> Option<String> {
    let mut uri = String::from("tel:");
    for (i, c) in number.trim().chars().enumerate() {
        match c {
            '0'..='9' | '*' => uri.push(c),
            '+' if i == 0 => uri.push(c),
            // `#` would start a fragment.
            '#' => uri.push_str("%23"),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    uri.bytes().any(|b| b.is_ascii_digit()).then_some(uri)
}

/// A Google Maps link (its documented cross-platform "search" URL) for a pin or a
/// query: it opens the maps app on phones and the web map elsewhere.
fn maps_url(view: &ViewLocationAction) -> Option<String> {
    let query = match (&view.lat_long, &view.query) {
        (Some(point), _) => format!("{},{}", point.latitude, point.longitude),
        (None, Some(query)) if !query.trim().is_empty() => query.trim().to_string(),
        _ => return None,
    };
    let params = [("api", "1"), ("query", query.as_str())];
    let url = Url::parse_with_params("https://www.google.com/maps/search/", params).ok()?;
    Some(url.into())
}

fn looks_like_image(url: &str) -> bool {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    [".png", ".jpg", ".jpeg", ".gif", ".webp"]
        .iter()
        .any(|extension| path.ends_with(extension))
}

/// The last segment of a URL's path (`invoice-1001.pdf`), or the URL itself.
fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
    match after_host.rsplit('/').next() {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::rcs::LatLng;

    fn message(json: serde_json::Value) -> AgentMessage {
        serde_json::from_value(json).expect("an AgentMessage")
    }

    #[test]
    fn replies_are_left_out_and_actions_become_links() {
        let message = message(serde_json::json!({"contentMessage": {
        "text": "Delivered. How did we do?",
        "suggestions": [
            {"reply": {"text": "Great", "postbackData": "csat:5"}},
            {"action": {"text": "Call us", "postbackData": "call",
                "dialAction": {"phoneNumber": "+1 (613) 555-0100"}}},
            {"action": {"text": "Track", "postbackData": "track",
                "openUrlAction": {"url": "https://t.example/1"}}},
            {"action": {"text": "Share", "postbackData": "share",
                "shareLocationAction": {}}},
            {"action": {"text": "Remind me", "postbackData": "cal",
                "fallbackUrl": "https://shop.example/cal",
                "createCalendarEventAction": {"startTime": "2026-01-01T10:00:00Z",
                    "endTime": "2026-01-01T11:00:00Z", "title": "Pickup",
                    "description": "Pick up"}}}
        ]}}));
        let layout = lay_out(&message);
        assert_eq!(
            layout.blocks,
            [Block::Text("Delivered. How did we do?".into())]
        );
        let links: Vec<(&str, &str)> = layout
            .links
            .iter()
            .map(|l| (l.label.as_str(), l.href.as_str()))
            .collect();
        assert_eq!(
            links,
            [
                ("Call us", "tel:+16135550100"),
                ("Track", "https://t.example/1"),
                ("Remind me", "https://shop.example/cal"),
            ]
        );
    }

    #[test]
    fn a_location_becomes_a_maps_link() {
        let pin = ViewLocationAction {
            lat_long: Some(LatLng {
                latitude: 45.5,
                longitude: -73.25,
            }),
            label: Some("Store".into()),
            query: None,
        };
        assert_eq!(
            maps_url(&pin).as_deref(),
            Some("https://www.google.com/maps/search/?api=1&query=45.5%2C-73.25")
        );
        let search = ViewLocationAction {
            lat_long: None,
            label: None,
            query: Some("Linen & Co, 1 Main St".into()),
        };
        assert_eq!(
            maps_url(&search).as_deref(),
            Some("https://www.google.com/maps/search/?api=1&query=Linen+%26+Co%2C+1+Main+St")
        );
    }

    #[test]
    fn only_web_urls_reach_an_href() {
        for good in ["https://a.example/x?y=1", "HTTP://a.example"] {
            assert!(web_url(good).is_some(), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "https://a.example/\"onmouseover=x",
            "https://a.example/ x",
            "ftp://a.example",
            "https://",
            "data:text/html,x",
        ] {
            assert_eq!(web_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn dial_numbers_keep_only_what_tel_allows() {
        assert_eq!(
            tel_uri("+1 613-555-0100").as_deref(),
            Some("tel:+16135550100")
        );
        assert_eq!(tel_uri("*123#").as_deref(), Some("tel:*123%23"));
        assert_eq!(tel_uri("call me"), None);
        assert_eq!(tel_uri("++1"), None);
        assert_eq!(tel_uri(""), None);
    }

    #[test]
    fn files_show_as_images_thumbnails_or_links() {
        let info = |file: &str, thumb: Option<&str>| ContentInfo {
            file_url: file.into(),
            thumbnail_url: thumb.map(Into::into),
            force_refresh: None,
        };
        let image = media_of(&info("https://cdn.example/a.JPG?v=2", None));
        assert!(matches!(image, Some(Media::Image { href: None, .. })));
        let video = media_of(&info(
            "https://cdn.example/a.mp4",
            Some("https://cdn.example/a.png"),
        ));
        assert_eq!(
            video,
            Some(Media::Image {
                src: "https://cdn.example/a.png".into(),
                href: Some("https://cdn.example/a.mp4".into()),
            })
        );
        let pdf = media_of(&info("https://cdn.example/docs/invoice-1001.pdf", None));
        assert_eq!(
            pdf,
            Some(Media::File(Link {
                label: "invoice-1001.pdf".into(),
                href: "https://cdn.example/docs/invoice-1001.pdf".into(),
            }))
        );
        assert_eq!(file_name("https://cdn.example/"), "https://cdn.example/");
        assert_eq!(media_of(&info("javascript:x", None)), None);
    }
}
