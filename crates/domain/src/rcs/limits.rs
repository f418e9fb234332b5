//! The limits Google's RBM API v1 puts on an agent message, in one place.
//!
//! Character limits count Unicode scalar values (Rust `char`s), not bytes: RBM states
//! them in characters, and an emoji is one of them.

/// Largest serialised `AgentMessage`, in bytes of JSON.
///
/// Google states "250 KB"; we read it as 250,000 bytes, the smaller of the two
/// readings, so a message we accept is never refused for the other one.
pub const MAX_MESSAGE_BYTES: usize = 250_000;

/// Longest `contentMessage.text`, in characters.
pub const MAX_TEXT_CHARS: usize = 3072;

/// Most suggestion chips on one message (`contentMessage.suggestions`).
pub const MAX_MESSAGE_SUGGESTIONS: usize = 11;

/// Most suggestions on one rich card (`cardContent.suggestions`).
///
/// Google's generated client models say 10, while the sending guide and AWS's RCS
/// limits say 4. We take 4: a card that obeys the smaller limit is accepted under
/// either reading, while one with 5 to 10 might be refused by the live API.
pub const MAX_CARD_SUGGESTIONS: usize = 4;

/// Longest `text` of a suggested reply or action, in characters (and it may not be
/// empty).
pub const MAX_SUGGESTION_TEXT_CHARS: usize = 25;

/// Longest `postbackData` of a suggestion, in characters.
pub const MAX_POSTBACK_CHARS: usize = 2048;

/// Longest `fallbackUrl` or `openUrlAction.url`, in characters.
pub const MAX_URL_CHARS: usize = 2048;

/// Longest rich card `title`, in characters.
pub const MAX_CARD_TITLE_CHARS: usize = 200;

/// Longest rich card `description`, in characters.
pub const MAX_CARD_DESCRIPTION_CHARS: usize = 2000;

/// Longest calendar event `title`, in characters.
pub const MAX_CALENDAR_TITLE_CHARS: usize = 100;

/// Longest calendar event `description`, in characters.
///
/// One third-party schema allows 1000; Google's own models say 500, which we follow.
pub const MAX_CALENDAR_DESCRIPTION_CHARS: usize = 500;

/// Fewest cards in a carousel.
pub const MIN_CAROUSEL_CARDS: usize = 2;

/// Most cards in a carousel.
pub const MAX_CAROUSEL_CARDS: usize = 10;

/// Longest time a message may wait for delivery (`ttl`, or `expireTime` minus now):
/// 15 days, in seconds.
pub const MAX_EXPIRY_SECONDS: u64 = 15 * 24 * 60 * 60;

/// Largest absolute latitude of a map pin, in degrees.
pub const MAX_LATITUDE: f64 = 90.0;

/// Largest absolute longitude of a map pin, in degrees.
pub const MAX_LONGITUDE: f64 = 180.0;

/// The characters besides ASCII digits that a dial action's `phoneNumber` may hold.
/// E.164 form is optional, so `*` and `#` for extensions and codes are allowed.
pub const DIAL_SYMBOLS: &str = "+*#";
