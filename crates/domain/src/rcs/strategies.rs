//! Proptest generators of RBM messages: valid ones, which stay inside every limit,
//! and invalid ones, which break exactly one and say which error that must produce.
//!
//! Other crates' tests reach them through the `proptest` feature, to check that what
//! [`AgentMessage::validate_at`] accepts, an RBM endpoint accepts too.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use super::limits::*;
use super::model::*;
use super::uri::UrlProblem;
use super::validate::{LimitError, Violation};

/// How long the longest free-text fields may grow. Full limits everywhere could push
/// a carousel past the 250 KB message limit, so nested content gets a smaller budget.
#[derive(Clone, Copy, Debug)]
struct Budget {
    text: usize,
    description: usize,
    postback: usize,
}

const FULL: Budget = Budget {
    text: MAX_TEXT_CHARS,
    description: MAX_CARD_DESCRIPTION_CHARS,
    postback: MAX_POSTBACK_CHARS,
};

const SMALL: Budget = Budget {
    text: 200,
    description: 200,
    postback: 64,
};

/// A message inside every limit, with an expiry (if any) valid at `now`.
pub fn valid_message(now: DateTime<Utc>) -> impl Strategy<Value = AgentMessage> {
    message_within(FULL, now).prop_filter("fits in RBM's size limit", |m| {
        m.serialised_len() <= MAX_MESSAGE_BYTES
    })
}

/// A message that breaks exactly one limit at `now`, with the one error
/// [`AgentMessage::validate_at`] must report for it.
pub fn invalid_message(now: DateTime<Utc>) -> impl Strategy<Value = (AgentMessage, LimitError)> {
    (message_within(SMALL, now), breakage(now)).prop_map(|(mut message, breakage)| {
        let expected = breakage.apply(&mut message);
        (message, expected)
    })
}

/// Any content message inside every limit (size aside: see [`valid_message`]).
pub fn content_message() -> impl Strategy<Value = AgentContentMessage> {
    content_message_within(FULL)
}

/// Any suggestion inside every limit.
pub fn suggestion() -> impl Strategy<Value = Suggestion> {
    suggestion_within(FULL)
}

fn message_within(budget: Budget, now: DateTime<Utc>) -> impl Strategy<Value = AgentMessage> {
    let traffic = option::of(select(vec![
        TrafficType::Authentication,
        TrafficType::Transaction,
        TrafficType::Promotion,
        TrafficType::ServiceRequest,
        TrafficType::Acknowledgement,
    ]));
    (
        content_message_within(budget),
        traffic,
        option::of(expiry(now)),
    )
        .prop_map(
            |(content_message, message_traffic_type, expiry)| AgentMessage {
                content_message,
                message_traffic_type,
                expiry,
            },
        )
}

fn expiry(now: DateTime<Utc>) -> impl Strategy<Value = Expiry> {
    prop_oneof![
        (1..=MAX_EXPIRY_SECONDS).prop_map(|s| Expiry::ttl(Duration::from_secs(s))),
        (0..MAX_EXPIRY_SECONDS, 1..1_000_000_000u32)
            .prop_map(|(s, nanos)| Expiry::ttl(Duration::new(s, nanos))),
        (1..=MAX_EXPIRY_SECONDS as i64)
            .prop_map(move |s| Expiry::expire_at(now + TimeDelta::seconds(s))),
    ]
}

fn content_message_within(budget: Budget) -> impl Strategy<Value = AgentContentMessage> {
    let suggestions = vec(suggestion_within(budget), 0..=MAX_MESSAGE_SUGGESTIONS);
    (content(budget), suggestions).prop_map(|(content, suggestions)| AgentContentMessage {
        content,
        suggestions,
    })
}

fn content(budget: Budget) -> impl Strategy<Value = Content> {
    prop_oneof![
        text(1, budget.text).prop_map(Content::Text),
        rich_card(budget).prop_map(Content::RichCard),
        content_info().prop_map(Content::ContentInfo),
        uploaded_file().prop_map(Content::UploadedRbmFile),
    ]
}

fn rich_card(budget: Budget) -> impl Strategy<Value = RichCard> {
    prop_oneof![standalone(budget), carousel()]
}

fn standalone(budget: Budget) -> impl Strategy<Value = RichCard> {
    let alignment = select(vec![ThumbnailAlignment::Left, ThumbnailAlignment::Right]);
    (any::<bool>(), alignment, card_content(budget, true)).prop_map(
        |(horizontal, alignment, content)| match horizontal {
            true => RichCard::horizontal(content, alignment),
            false => RichCard::standalone(content),
        },
    )
}

fn carousel() -> impl Strategy<Value = RichCard> {
    select(vec![CardWidth::Small, CardWidth::Medium]).prop_flat_map(|width| {
        let allow_tall = width == CardWidth::Medium;
        let cards = vec(
            card_content(SMALL, allow_tall),
            MIN_CAROUSEL_CARDS..=MAX_CAROUSEL_CARDS,
        );
        cards.prop_map(move |cards| RichCard::carousel(width, cards))
    })
}

fn card_content(budget: Budget, allow_tall: bool) -> impl Strategy<Value = CardContent> {
    (
        option::of(text(1, MAX_CARD_TITLE_CHARS)),
        option::of(text(1, budget.description)),
        option::of(media(allow_tall)),
        vec(suggestion_within(budget), 0..=MAX_CARD_SUGGESTIONS),
    )
        .prop_map(|(title, description, media, suggestions)| CardContent {
            title,
            description,
            media,
            suggestions,
        })
        .prop_filter("a card shows something", |c| {
            c.title.is_some() || c.description.is_some() || c.media.is_some()
        })
}

fn media(allow_tall: bool) -> impl Strategy<Value = Media> {
    let mut heights = vec![MediaHeight::Short, MediaHeight::Medium];
    if allow_tall {
        heights.push(MediaHeight::Tall);
    }
    let file = prop_oneof![
        content_info().prop_map(MediaFile::ContentInfo),
        uploaded_file().prop_map(MediaFile::UploadedRbmFile),
    ];
    (select(heights), file).prop_map(|(height, file)| Media { height, file })
}

fn content_info() -> impl Strategy<Value = ContentInfo> {
    (url(), option::of(url()), option::of(any::<bool>())).prop_map(
        |(file_url, thumbnail_url, force_refresh)| ContentInfo {
            file_url,
            thumbnail_url,
            force_refresh,
        },
    )
}

fn uploaded_file() -> impl Strategy<Value = UploadedRbmFile> {
    ("files/[a-z0-9]{1,40}", option::of("files/[a-z0-9]{1,40}")).prop_map(
        |(file_name, thumbnail_name)| UploadedRbmFile {
            file_name,
            thumbnail_name,
        },
    )
}

fn suggestion_within(budget: Budget) -> impl Strategy<Value = Suggestion> {
    let reply = (suggestion_text(), text(0, budget.postback))
        .prop_map(|(text, postback)| Suggestion::reply(text, postback));
    let action = (
        suggestion_text(),
        text(0, budget.postback),
        option::of(url()),
        action(),
    )
        .prop_map(|(text, postback, fallback_url, action)| {
            let action = SuggestedAction::new(text, postback, action);
            Suggestion::Action(SuggestedAction {
                fallback_url,
                ..action
            })
        });
    prop_oneof![reply, action]
}

fn suggestion_text() -> impl Strategy<Value = String> {
    text(1, MAX_SUGGESTION_TEXT_CHARS)
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        "[0-9+*#]{1,20}".prop_map(|phone_number| Action::Dial(DialAction { phone_number })),
        view_location().prop_map(Action::ViewLocation),
        calendar_event().prop_map(Action::CreateCalendarEvent),
        open_url().prop_map(Action::OpenUrl),
        Just(Action::ShareLocation(ShareLocationAction {})),
    ]
}

fn view_location() -> impl Strategy<Value = ViewLocationAction> {
    let label = || option::of(text(1, 60));
    let pin = (lat_lng(), label(), option::of(text(1, 60))).prop_map(|(at, label, query)| {
        ViewLocationAction {
            lat_long: Some(at),
            label,
            query,
        }
    });
    let search = (label(), text(1, 60)).prop_map(|(label, query)| ViewLocationAction {
        lat_long: None,
        label,
        query: Some(query),
    });
    prop_oneof![pin, search]
}

/// Whole micro-degrees: finer than any pin needs, and short enough decimals that
/// serde_json reads back exactly the `f64` it wrote.
fn lat_lng() -> impl Strategy<Value = LatLng> {
    (-90_000_000i32..=90_000_000, -180_000_000i32..=180_000_000)
        .prop_map(|(lat, long)| LatLng::new(f64::from(lat) / 1e6, f64::from(long) / 1e6))
}

fn calendar_event() -> impl Strategy<Value = CreateCalendarEventAction> {
    let title = text(0, MAX_CALENDAR_TITLE_CHARS);
    let description = text(0, MAX_CALENDAR_DESCRIPTION_CHARS);
    (time(), 1..=30 * 86_400i64, title, description).prop_map(
        |(start, length, title, description)| {
            let end = start + TimeDelta::seconds(length);
            CreateCalendarEventAction::new(title, description, start, end)
        },
    )
}

fn open_url() -> impl Strategy<Value = OpenUrlAction> {
    let application = option::of(select(vec![
        OpenUrlApplication::Browser,
        OpenUrlApplication::Webview,
    ]));
    let mode = option::of(select(vec![
        WebviewViewMode::Full,
        WebviewViewMode::Half,
        WebviewViewMode::Tall,
    ]));
    (url(), application, mode, option::of(text(1, 100))).prop_map(
        |(url, application, webview_view_mode, description)| OpenUrlAction {
            url,
            application,
            webview_view_mode,
            description,
        },
    )
}

/// Some time in 2020 to 2039, to the millisecond.
fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (1_577_836_800_000i64..2_208_988_800_000)
        .prop_map(|ms| DateTime::<Utc>::UNIX_EPOCH + TimeDelta::milliseconds(ms))
}

/// An absolute http(s) URL of at most about 1,600 characters, with percent escapes.
fn url() -> impl Strategy<Value = String> {
    concat!(
        "https?://[a-z0-9-]{1,30}(\\.[a-z0-9-]{1,20}){0,3}(:[0-9]{1,5})?",
        "(/([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2}){0,40}){0,10}",
        "(\\?([A-Za-z0-9=&_-]|%[0-9A-F]{2}){0,60})?(#[a-z0-9]{0,10})?"
    )
}

/// Text of `min..=max` characters: mostly ASCII (quotes and backslashes included, so
/// JSON escaping is exercised), with accented, Cyrillic, CJK and emoji characters.
fn text(min: usize, max: usize) -> impl Strategy<Value = String> {
    let character = prop_oneof![
        6 => proptest::char::range(' ', '~'),
        1 => proptest::char::range('¡', 'ÿ'),
        1 => proptest::char::range('А', 'я'),
        1 => proptest::char::range('\u{4e00}', '\u{9fff}'),
        1 => proptest::char::range('😀', '🙏'),
    ];
    vec(character, min..=max).prop_map(|chars| chars.into_iter().collect())
}

/// One way to break one limit, and where it puts the broken piece.
#[derive(Clone, Debug)]
enum Breakage {
    /// Replace the content; the error is known in advance.
    Content(Content, LimitError),
    /// Replace the message's suggestions.
    Suggestions(Vec<Suggestion>, LimitError),
    /// Replace the expiry.
    Expiry(Expiry, LimitError),
    /// Replace the content with one so large the message passes 250 KB.
    Oversize(Content),
}

impl Breakage {
    /// Puts the broken piece into `message` and returns the error it must cause.
    fn apply(self, message: &mut AgentMessage) -> LimitError {
        match self {
            Breakage::Content(content, error) => {
                message.content_message.content = content;
                error
            }
            Breakage::Suggestions(suggestions, error) => {
                message.content_message.suggestions = suggestions;
                error
            }
            Breakage::Expiry(expiry, error) => {
                message.expiry = Some(expiry);
                error
            }
            Breakage::Oversize(content) => {
                message.content_message.content = content;
                let bytes = message.serialised_len();
                error(
                    "",
                    Violation::TooLarge {
                        bytes,
                        max: MAX_MESSAGE_BYTES,
                    },
                )
            }
        }
    }
}

fn error(path: impl Into<String>, violation: Violation) -> LimitError {
    LimitError {
        path: path.into(),
        violation,
    }
}

/// `base.suffix`, or `base` alone when the suffix is empty.
fn join(base: &str, suffix: &str) -> String {
    if suffix.is_empty() {
        base.to_string()
    } else {
        format!("{base}.{suffix}")
    }
}

fn breakage(now: DateTime<Utc>) -> impl Strategy<Value = Breakage> {
    prop_oneof![
        broken_text(),
        broken_message_suggestions(),
        broken_standalone(),
        broken_carousel(),
        broken_content_info(),
        broken_expiry(now),
        oversize(),
    ]
}

fn broken_text() -> impl Strategy<Value = Breakage> {
    let path = "contentMessage.text";
    prop_oneof![
        Just(Breakage::Content(
            Content::Text(String::new()),
            error(path, Violation::Empty)
        )),
        too_long(MAX_TEXT_CHARS).prop_map(move |(text, violation)| {
            Breakage::Content(Content::Text(text), error(path, violation))
        }),
    ]
}

/// Text just over `max` characters, and the violation it causes.
fn too_long(max: usize) -> impl Strategy<Value = (String, Violation)> {
    text(max + 1, max + 40).prop_map(move |text| {
        let chars = text.chars().count();
        (text, Violation::TooLong { chars, max })
    })
}

fn broken_message_suggestions() -> impl Strategy<Value = Breakage> {
    let path = "contentMessage.suggestions";
    let max = MAX_MESSAGE_SUGGESTIONS;
    let too_many = vec(suggestion_within(SMALL), max + 1..=max + 6).prop_map(move |list| {
        let count = list.len();
        let violation = Violation::Count {
            noun: "suggestion",
            count,
            min: 0,
            max,
        };
        Breakage::Suggestions(list, error(path, violation))
    });
    let one_broken = suggestions_with_one_broken(max).prop_map(move |(list, at, violation)| {
        Breakage::Suggestions(list, error(format!("{path}{at}"), violation))
    });
    prop_oneof![too_many, one_broken]
}

/// At most `max` suggestions, one of them broken; with the broken field's path below
/// the list (`[2].reply.text`) and its violation.
fn suggestions_with_one_broken(
    max: usize,
) -> impl Strategy<Value = (Vec<Suggestion>, String, Violation)> {
    let valid = vec(suggestion_within(SMALL), 0..max);
    (valid, broken_suggestion(), any::<prop::sample::Index>()).prop_map(
        |(mut list, (broken, field, violation), index)| {
            let at = index.index(list.len() + 1);
            list.insert(at, broken);
            (list, format!("[{at}].{field}"), violation)
        },
    )
}

/// A suggestion breaking one limit, the path of the field within it, and the violation.
fn broken_suggestion() -> impl Strategy<Value = (Suggestion, String, Violation)> {
    let reply = |text: String, postback: String| Suggestion::reply(text, postback);
    let act = |action: Action| Suggestion::action("Go", "go", action);
    prop_oneof![
        Just((
            reply(String::new(), "p".into()),
            "reply.text".into(),
            Violation::Empty
        )),
        too_long(MAX_SUGGESTION_TEXT_CHARS).prop_map(move |(text, v)| (
            reply(text, "p".into()),
            "reply.text".into(),
            v
        )),
        too_long(MAX_POSTBACK_CHARS).prop_map(move |(postback, v)| (
            reply("Go".into(), postback),
            "reply.postbackData".into(),
            v
        )),
        broken_link().prop_map(move |(url, v)| {
            let open = Action::OpenUrl(OpenUrlAction::browser(url));
            (act(open), "action.openUrlAction.url".into(), v)
        }),
        broken_link().prop_map(move |(url, v)| {
            let share =
                SuggestedAction::new("Go", "go", Action::ShareLocation(ShareLocationAction {}));
            (
                share.with_fallback_url(url).into(),
                "action.fallbackUrl".into(),
                v,
            )
        }),
        broken_action().prop_map(move |(action, field, v)| (
            act(action),
            format!("action.{field}"),
            v
        )),
    ]
}

/// A link that is too long or not an http(s) URI, and the violation.
fn broken_link() -> impl Strategy<Value = (String, Violation)> {
    let too_long = (MAX_URL_CHARS + 1..=MAX_URL_CHARS + 40).prop_map(|length| {
        let url = format!("https://example.com/{}", "a".repeat(length - 20));
        (
            url,
            Violation::TooLong {
                chars: length,
                max: MAX_URL_CHARS,
            },
        )
    });
    prop_oneof![too_long, malformed_url()]
}

fn malformed_url() -> impl Strategy<Value = (String, Violation)> {
    select(vec![
        ("example.com/track", UrlProblem::NotAbsolute),
        ("ftp://example.com/track", UrlProblem::Scheme),
        ("https:///track", UrlProblem::NoHost),
        ("https://example.com:8o/", UrlProblem::Port),
        ("https://example.com/order 1042", UrlProblem::Unencoded(' ')),
        ("https://example.com/%G1", UrlProblem::BadPercent),
    ])
    .prop_map(|(url, problem)| (url.to_string(), Violation::NotHttpUrl(problem)))
}

/// An action breaking one limit, the path of the field within the action, and the
/// violation.
fn broken_action() -> impl Strategy<Value = (Action, String, Violation)> {
    let dial = |number: &str| {
        Action::Dial(DialAction {
            phone_number: number.to_string(),
        })
    };
    let event = |title: String, description: String, length: i64| {
        let start = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000);
        let end = start + TimeDelta::seconds(length);
        Action::CreateCalendarEvent(CreateCalendarEventAction::new(
            title,
            description,
            start,
            end,
        ))
    };
    let calendar = "createCalendarEventAction";
    prop_oneof![
        Just((dial(""), "dialAction.phoneNumber".into(), Violation::Empty)),
        "[0-9]{1,6}[a-z .()-][0-9]{0,6}".prop_map(move |n| (
            dial(&n),
            "dialAction.phoneNumber".into(),
            Violation::NotDialable
        )),
        out_of_range_pin().prop_map(|(at, field, v)| {
            let view = ViewLocationAction {
                lat_long: Some(at),
                label: None,
                query: None,
            };
            (
                Action::ViewLocation(view),
                format!("viewLocationAction.latLong.{field}"),
                v,
            )
        }),
        Just((
            Action::ViewLocation(ViewLocationAction {
                lat_long: None,
                label: Some("Store".into()),
                query: None
            }),
            "viewLocationAction".into(),
            Violation::NoLocation,
        )),
        (-86_400i64..=0).prop_map(move |length| {
            let action = event("Pickup".into(), String::new(), length);
            (
                action,
                format!("{calendar}.endTime"),
                Violation::EndNotAfterStart,
            )
        }),
        too_long(MAX_CALENDAR_TITLE_CHARS).prop_map(move |(title, v)| {
            (
                event(title, String::new(), 60),
                format!("{calendar}.title"),
                v,
            )
        }),
        too_long(MAX_CALENDAR_DESCRIPTION_CHARS).prop_map(move |(description, v)| {
            (
                event("Pickup".into(), description, 60),
                format!("{calendar}.description"),
                v,
            )
        }),
    ]
}

/// A pin with one coordinate out of range, that coordinate's name, and the violation.
fn out_of_range_pin() -> impl Strategy<Value = (LatLng, &'static str, Violation)> {
    let beyond = |bound: f64| {
        (1i32..=1_000_000_000, any::<bool>()).prop_map(move |(excess, negative)| {
            let value = bound + f64::from(excess) / 1e6;
            if negative {
                -value
            } else {
                value
            }
        })
    };
    let range = |value: f64, bound: f64| Violation::OutOfRange {
        value,
        min: -bound,
        max: bound,
    };
    prop_oneof![
        beyond(MAX_LATITUDE)
            .prop_map(move |lat| { (LatLng::new(lat, 0.0), "latitude", range(lat, MAX_LATITUDE)) }),
        beyond(MAX_LONGITUDE).prop_map(move |long| {
            (
                LatLng::new(0.0, long),
                "longitude",
                range(long, MAX_LONGITUDE),
            )
        }),
    ]
}

const STANDALONE: &str = "contentMessage.richCard.standaloneCard";
const CAROUSEL: &str = "contentMessage.richCard.carouselCard";

fn broken_standalone() -> impl Strategy<Value = Breakage> {
    let alignment = format!("{STANDALONE}.thumbnailImageAlignment");
    let card = |orientation, alignment, card_content| {
        Content::RichCard(RichCard::Standalone(StandaloneCard {
            card_orientation: orientation,
            thumbnail_image_alignment: alignment,
            card_content,
        }))
    };
    let missing = card_content(SMALL, true).prop_map({
        let path = alignment.clone();
        move |content| {
            let content = card(CardOrientation::Horizontal, None, content);
            Breakage::Content(content, error(&path, Violation::AlignmentMissing))
        }
    });
    let on_vertical = card_content(SMALL, true).prop_map(move |content| {
        let content = card(
            CardOrientation::Vertical,
            Some(ThumbnailAlignment::Left),
            content,
        );
        Breakage::Content(content, error(&alignment, Violation::AlignmentOnVertical))
    });
    let inside = broken_card().prop_map(|(content, field, violation)| {
        let path = join(&format!("{STANDALONE}.cardContent"), &field);
        Breakage::Content(
            Content::RichCard(RichCard::standalone(content)),
            error(path, violation),
        )
    });
    prop_oneof![missing, on_vertical, inside]
}

fn broken_carousel() -> impl Strategy<Value = Breakage> {
    let path = format!("{CAROUSEL}.cardContents");
    let (min, max) = (MIN_CAROUSEL_CARDS, MAX_CAROUSEL_CARDS);
    let cards = |range: std::ops::RangeInclusive<usize>| vec(card_content(SMALL, true), range);
    let wrong_count = prop_oneof![cards(0..=min - 1), cards(max + 1..=max + 4)].prop_map({
        let path = path.clone();
        move |cards| {
            let violation = Violation::Count {
                noun: "card",
                count: cards.len(),
                min,
                max,
            };
            let content = Content::RichCard(RichCard::carousel(CardWidth::Medium, cards));
            Breakage::Content(content, error(&path, violation))
        }
    });
    let tall = (
        vec(card_content(SMALL, false), min..=max),
        any::<prop::sample::Index>(),
    )
        .prop_map({
            let path = path.clone();
            move |(mut cards, index)| {
                let at = index.index(cards.len());
                cards[at].media = Some(Media::from_url(
                    MediaHeight::Tall,
                    "https://example.com/a.png",
                ));
                let content = Content::RichCard(RichCard::carousel(CardWidth::Small, cards));
                let path = format!("{path}[{at}].media.height");
                Breakage::Content(content, error(path, Violation::TallMediaInSmallCard))
            }
        });
    let inside = (
        vec(card_content(SMALL, true), min..max),
        broken_card(),
        any::<prop::sample::Index>(),
    )
        .prop_map(move |(mut cards, (broken, field, violation), index)| {
            let at = index.index(cards.len() + 1);
            cards.insert(at, broken);
            let content = Content::RichCard(RichCard::carousel(CardWidth::Medium, cards));
            Breakage::Content(
                content,
                error(join(&format!("{path}[{at}]"), &field), violation),
            )
        });
    prop_oneof![wrong_count, tall, inside]
}

/// A card breaking one limit, the path of the field within the card (empty for the
/// card itself), and the violation.
fn broken_card() -> impl Strategy<Value = (CardContent, String, Violation)> {
    let titled = || CardContent::new().with_title("Order 1042");
    let max = MAX_CARD_SUGGESTIONS;
    prop_oneof![
        select(vec![
            CardContent::new(),
            CardContent::new().with_title("").with_description("")
        ])
        .prop_map(|card| (card, String::new(), Violation::EmptyCard)),
        too_long(MAX_CARD_TITLE_CHARS).prop_map(|(title, v)| (
            CardContent::new().with_title(title),
            "title".into(),
            v
        )),
        too_long(MAX_CARD_DESCRIPTION_CHARS).prop_map(move |(description, v)| {
            (
                titled().with_description(description),
                "description".into(),
                v,
            )
        }),
        vec(suggestion_within(SMALL), max + 1..=max + 4).prop_map(move |list| {
            let violation = Violation::Count {
                noun: "suggestion",
                count: list.len(),
                min: 0,
                max,
            };
            (
                titled().with_suggestions(list),
                "suggestions".into(),
                violation,
            )
        }),
        suggestions_with_one_broken(max).prop_map(move |(list, at, violation)| {
            (
                titled().with_suggestions(list),
                format!("suggestions{at}"),
                violation,
            )
        }),
        malformed_url().prop_map(|(url, violation)| {
            let media = Media::from_url(MediaHeight::Medium, url);
            (
                CardContent::new().with_media(media),
                "media.contentInfo.fileUrl".into(),
                violation,
            )
        }),
        Just((
            CardContent::new().with_media(Media::from_upload(
                MediaHeight::Short,
                UploadedRbmFile::new("")
            )),
            "media.uploadedRbmFile.fileName".into(),
            Violation::Empty,
        )),
    ]
}

fn broken_content_info() -> impl Strategy<Value = Breakage> {
    let file = |info| Content::ContentInfo(info);
    prop_oneof![
        malformed_url().prop_map(move |(url, violation)| {
            let path = "contentMessage.contentInfo.fileUrl";
            Breakage::Content(file(ContentInfo::new(url)), error(path, violation))
        }),
        malformed_url().prop_map(move |(url, violation)| {
            let info = ContentInfo::new("https://example.com/a.pdf").with_thumbnail(url);
            let path = "contentMessage.contentInfo.thumbnailUrl";
            Breakage::Content(file(info), error(path, violation))
        }),
        Just(Breakage::Content(
            Content::UploadedRbmFile(UploadedRbmFile::new("")),
            error("contentMessage.uploadedRbmFile.fileName", Violation::Empty),
        )),
    ]
}

fn broken_expiry(now: DateTime<Utc>) -> impl Strategy<Value = Breakage> {
    let ttl =
        |text: String, violation| Breakage::Expiry(Expiry::Ttl(text), error("ttl", violation));
    let at = move |seconds: i64, violation| {
        let expiry = Expiry::expire_at(now + TimeDelta::seconds(seconds));
        Breakage::Expiry(expiry, error("expireTime", violation))
    };
    let max = MAX_EXPIRY_SECONDS;
    prop_oneof![
        (max + 1..=max * 100).prop_map(move |s| ttl(format!("{s}s"), Violation::ExpiryTooFar)),
        Just(ttl(format!("{max}.5s"), Violation::ExpiryTooFar)),
        select(vec!["0s", "0.000s"]).prop_map(move |t| ttl(t.into(), Violation::ExpiryNotAhead)),
        select(vec!["86400", "-5s", "1h", "5.s", "1e3s", " 5s"])
            .prop_map(move |t| ttl(t.into(), Violation::NotDuration)),
        (max as i64 + 1..=max as i64 * 10).prop_map(move |s| at(s, Violation::ExpiryTooFar)),
        (-30 * 86_400i64..=0).prop_map(move |s| at(s, Violation::ExpiryNotAhead)),
        select(vec![
            "2025-13-01T00:00:00Z",
            "tomorrow",
            "2025-01-01 00:00:00"
        ])
        .prop_map(|t| {
            Breakage::Expiry(
                Expiry::ExpireTime(t.into()),
                error("expireTime", Violation::NotTimestamp),
            )
        }),
    ]
}

/// Ten cards whose postbacks are each 2,048 four-byte emoji: every field within its
/// own limit, over 300 KB in all.
fn oversize() -> impl Strategy<Value = Breakage> {
    let postback = "😀".repeat(MAX_POSTBACK_CHARS);
    let card = CardContent::new()
        .with_title("Order 1042")
        .with_suggestions((0..MAX_CARD_SUGGESTIONS).map(|_| Suggestion::reply("Track", &postback)));
    let cards = std::iter::repeat_n(card, MAX_CAROUSEL_CARDS);
    Just(Breakage::Oversize(Content::RichCard(RichCard::carousel(
        CardWidth::Medium,
        cards,
    ))))
}
