//! Checking a message against every limit RBM enforces, before it is sent.
//!
//! Validation walks the whole message and collects every problem rather than stopping
//! at the first, so a template author fixes them all in one pass. Each problem names
//! the JSON path of the field (`contentMessage.suggestions[0].reply.text`), so it can
//! be found in the rendered message. It is a pure function of the message and of the
//! `now` passed in, which only `expireTime` needs.

use std::fmt;
use std::io;

use chrono::{DateTime, TimeDelta, Utc};
use thiserror::Error;

use super::limits::*;
use super::model::*;
use super::uri::{check_http_url, UrlProblem};

/// A message RBM would refuse, with every reason found.
#[derive(Clone, Debug, PartialEq, Error)]
#[error("RBM would refuse this message: {}", join(.errors))]
pub struct InvalidMessage {
    errors: Vec<LimitError>,
}

impl InvalidMessage {
    /// Every problem found, in the order they appear in the JSON; never empty.
    pub fn errors(&self) -> &[LimitError] {
        &self.errors
    }

    /// Every problem found, owned.
    pub fn into_errors(self) -> Vec<LimitError> {
        self.errors
    }
}

/// One field that breaks one of RBM's limits.
#[derive(Clone, Debug, PartialEq, Error)]
pub struct LimitError {
    /// The JSON path of the field, such as
    /// `contentMessage.richCard.carouselCard.cardContents[2].title`; empty for a
    /// limit on the whole message.
    pub path: String,
    /// The limit it breaks.
    pub violation: Violation,
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "the whole message: {}", self.violation)
        } else {
            write!(f, "{}: {}", self.path, self.violation)
        }
    }
}

/// Which limit a field breaks, with the numbers involved.
#[derive(Clone, Debug, PartialEq)]
pub enum Violation {
    /// Text longer than RBM allows, counted in characters.
    TooLong {
        /// The text's length.
        chars: usize,
        /// The most allowed.
        max: usize,
    },
    /// Empty text where RBM needs some.
    Empty,
    /// A list with too few or too many items.
    Count {
        /// What the list holds, singular: `suggestion`, `card`.
        noun: &'static str,
        /// How many it holds.
        count: usize,
        /// The fewest allowed.
        min: usize,
        /// The most allowed.
        max: usize,
    },
    /// Not an absolute http(s) URI.
    NotHttpUrl(UrlProblem),
    /// A card with no title, no description and no media.
    EmptyCard,
    /// A horizontal card without `thumbnailImageAlignment`.
    AlignmentMissing,
    /// A vertical card with `thumbnailImageAlignment`.
    AlignmentOnVertical,
    /// TALL media in a carousel of SMALL cards.
    TallMediaInSmallCard,
    /// A dial number with characters other than digits and `+ * #`.
    NotDialable,
    /// A view-location action with neither `latLong` nor `query`.
    NoLocation,
    /// A coordinate outside its range.
    OutOfRange {
        /// The coordinate given.
        value: f64,
        /// The smallest allowed.
        min: f64,
        /// The largest allowed.
        max: f64,
    },
    /// Text that is not an RFC 3339 timestamp.
    NotTimestamp,
    /// Text that is not a protobuf duration such as `86400s`.
    NotDuration,
    /// A calendar event that ends at or before its start.
    EndNotAfterStart,
    /// An expiry that is not in the future.
    ExpiryNotAhead,
    /// An expiry more than 15 days away.
    ExpiryTooFar,
    /// The serialised message is larger than RBM accepts.
    TooLarge {
        /// The message's size in bytes of JSON.
        bytes: usize,
        /// The most allowed.
        max: usize,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::TooLong { chars, max } => write!(
                f,
                "{} characters; RBM allows at most {}",
                grouped(*chars),
                grouped(*max)
            ),
            Violation::Empty => write!(f, "empty; RBM needs at least one character"),
            Violation::Count {
                noun,
                count,
                min,
                max,
            } => write_count(f, noun, *count, *min, *max),
            Violation::NotHttpUrl(problem) => {
                write!(f, "not an absolute http(s) URI: {problem}")
            }
            Violation::EmptyCard => {
                write!(
                    f,
                    "no title, description or media; a card needs at least one of them"
                )
            }
            Violation::AlignmentMissing => write!(
                f,
                "missing; a HORIZONTAL card needs thumbnailImageAlignment LEFT or RIGHT"
            ),
            Violation::AlignmentOnVertical => write!(
                f,
                "set on a VERTICAL card; only HORIZONTAL cards take it, so leave it out"
            ),
            Violation::TallMediaInSmallCard => write!(
                f,
                "TALL media in a SMALL carousel; use SHORT or MEDIUM media, or MEDIUM cards"
            ),
            Violation::NotDialable => {
                write!(f, "a dial number may hold only digits and + * #")
            }
            Violation::NoLocation => {
                write!(f, "neither latLong nor query; set one of them")
            }
            Violation::OutOfRange { value, min, max } => {
                write!(f, "{value} is outside {min} to {max}")
            }
            Violation::NotTimestamp => {
                write!(f, "not an RFC 3339 timestamp such as 2025-01-01T09:00:00Z")
            }
            Violation::NotDuration => {
                write!(f, "not a duration in seconds such as 86400s or 0.5s")
            }
            Violation::EndNotAfterStart => {
                write!(f, "not after startTime; an event must end after it starts")
            }
            Violation::ExpiryNotAhead => {
                write!(
                    f,
                    "not in the future; give the message some time to be delivered"
                )
            }
            Violation::ExpiryTooFar => write!(
                f,
                "more than 15 days ahead; RBM allows at most {} seconds",
                grouped(MAX_EXPIRY_SECONDS as usize)
            ),
            Violation::TooLarge { bytes, max } => write!(
                f,
                "{} bytes of JSON; RBM allows at most {}",
                grouped(*bytes),
                grouped(*max)
            ),
        }
    }
}

fn write_count(
    f: &mut fmt::Formatter<'_>,
    noun: &str,
    count: usize,
    min: usize,
    max: usize,
) -> fmt::Result {
    let plural = if count == 1 { "" } else { "s" };
    if count > max {
        write!(f, "{count} {noun}{plural}; RBM allows at most {max}")
    } else {
        write!(f, "{count} {noun}{plural}; RBM needs at least {min}")
    }
}

/// `3100` as `3,100`, the way the limits are quoted.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut groups = Vec::new();
    let mut end = digits.len();
    while end > 3 {
        groups.push(&digits[end - 3..end]);
        end -= 3;
    }
    groups.push(&digits[..end]);
    groups.reverse();
    groups.join(",")
}

fn join(errors: &[LimitError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl AgentMessage {
    /// Checks every limit RBM puts on a message, taking `now` as the current time.
    ///
    /// # Errors
    /// [`InvalidMessage`] listing every field that breaks a limit.
    pub fn validate_at(&self, now: DateTime<Utc>) -> Result<(), InvalidMessage> {
        let mut check = Check {
            now,
            errors: Vec::new(),
        };
        check.content_message("contentMessage", &self.content_message);
        if let Some(expiry) = &self.expiry {
            check.expiry(expiry);
        }
        check.size(self);
        if check.errors.is_empty() {
            Ok(())
        } else {
            Err(InvalidMessage {
                errors: check.errors,
            })
        }
    }

    /// The length of the message's JSON in bytes, the figure RBM's size limit is on.
    pub fn serialised_len(&self) -> usize {
        let mut counter = ByteCounter(0);
        match serde_json::to_writer(&mut counter, self) {
            Ok(()) => counter.0,
            // Serialising these derived types cannot fail: every key is a string and
            // the writer never errors. Were it to, calling the message oversized gets
            // it refused rather than sent unmeasured.
            Err(_) => usize::MAX,
        }
    }
}

/// Counts bytes written and keeps none of them.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One walk over a message: the clock it runs against and what it found so far.
struct Check {
    now: DateTime<Utc>,
    errors: Vec<LimitError>,
}

impl Check {
    fn push(&mut self, path: impl Into<String>, violation: Violation) {
        self.errors.push(LimitError {
            path: path.into(),
            violation,
        });
    }

    fn content_message(&mut self, path: &str, message: &AgentContentMessage) {
        match &message.content {
            Content::Text(text) => self.text(&format!("{path}.text"), text, MAX_TEXT_CHARS),
            Content::RichCard(card) => self.rich_card(&format!("{path}.richCard"), card),
            Content::ContentInfo(info) => self.content_info(&format!("{path}.contentInfo"), info),
            Content::UploadedRbmFile(file) => {
                self.uploaded_file(&format!("{path}.uploadedRbmFile"), file);
            }
        }
        let max = MAX_MESSAGE_SUGGESTIONS;
        self.suggestions(&format!("{path}.suggestions"), &message.suggestions, max);
    }

    fn rich_card(&mut self, path: &str, card: &RichCard) {
        match card {
            RichCard::Standalone(card) => self.standalone(&format!("{path}.standaloneCard"), card),
            RichCard::Carousel(card) => self.carousel(&format!("{path}.carouselCard"), card),
        }
    }

    fn standalone(&mut self, path: &str, card: &StandaloneCard) {
        let alignment_path = format!("{path}.thumbnailImageAlignment");
        match (card.card_orientation, card.thumbnail_image_alignment) {
            (CardOrientation::Horizontal, None) => {
                self.push(alignment_path, Violation::AlignmentMissing);
            }
            (CardOrientation::Vertical, Some(_)) => {
                self.push(alignment_path, Violation::AlignmentOnVertical);
            }
            _ => {}
        }
        self.card_content(&format!("{path}.cardContent"), &card.card_content);
    }

    fn carousel(&mut self, path: &str, card: &CarouselCard) {
        let path = format!("{path}.cardContents");
        let (min, max) = (MIN_CAROUSEL_CARDS, MAX_CAROUSEL_CARDS);
        self.count(&path, "card", card.card_contents.len(), min, max);
        for (i, content) in card.card_contents.iter().enumerate() {
            let card_path = format!("{path}[{i}]");
            self.card_content(&card_path, content);
            // SMALL cards are 120 DP wide; TALL media (264 DP) would not fit them.
            let tall = content
                .media
                .as_ref()
                .is_some_and(|m| m.height == MediaHeight::Tall);
            if card.card_width == CardWidth::Small && tall {
                self.push(
                    format!("{card_path}.media.height"),
                    Violation::TallMediaInSmallCard,
                );
            }
        }
    }

    fn card_content(&mut self, path: &str, card: &CardContent) {
        // An empty title or description shows nothing, so it does not count as one.
        let shows_text = |field: &Option<String>| field.as_ref().is_some_and(|t| !t.is_empty());
        if !shows_text(&card.title) && !shows_text(&card.description) && card.media.is_none() {
            self.push(path, Violation::EmptyCard);
        }
        if let Some(title) = &card.title {
            self.max_chars(&format!("{path}.title"), title, MAX_CARD_TITLE_CHARS);
        }
        if let Some(description) = &card.description {
            let max = MAX_CARD_DESCRIPTION_CHARS;
            self.max_chars(&format!("{path}.description"), description, max);
        }
        if let Some(media) = &card.media {
            self.media(&format!("{path}.media"), media);
        }
        let max = MAX_CARD_SUGGESTIONS;
        self.suggestions(&format!("{path}.suggestions"), &card.suggestions, max);
    }

    fn media(&mut self, path: &str, media: &Media) {
        match &media.file {
            MediaFile::ContentInfo(info) => self.content_info(&format!("{path}.contentInfo"), info),
            MediaFile::UploadedRbmFile(file) => {
                self.uploaded_file(&format!("{path}.uploadedRbmFile"), file);
            }
        }
    }

    fn content_info(&mut self, path: &str, info: &ContentInfo) {
        self.http_url(&format!("{path}.fileUrl"), &info.file_url);
        if let Some(thumbnail) = &info.thumbnail_url {
            self.http_url(&format!("{path}.thumbnailUrl"), thumbnail);
        }
    }

    fn uploaded_file(&mut self, path: &str, file: &UploadedRbmFile) {
        if file.file_name.is_empty() {
            self.push(format!("{path}.fileName"), Violation::Empty);
        }
    }

    fn suggestions(&mut self, path: &str, suggestions: &[Suggestion], max: usize) {
        self.count(path, "suggestion", suggestions.len(), 0, max);
        for (i, suggestion) in suggestions.iter().enumerate() {
            self.suggestion(&format!("{path}[{i}]"), suggestion);
        }
    }

    fn suggestion(&mut self, path: &str, suggestion: &Suggestion) {
        let path = match suggestion {
            Suggestion::Reply(_) => format!("{path}.reply"),
            Suggestion::Action(_) => format!("{path}.action"),
        };
        self.text(
            &format!("{path}.text"),
            suggestion.text(),
            MAX_SUGGESTION_TEXT_CHARS,
        );
        let postback = suggestion.postback_data();
        self.max_chars(
            &format!("{path}.postbackData"),
            postback,
            MAX_POSTBACK_CHARS,
        );
        if let Suggestion::Action(action) = suggestion {
            self.action(&path, action);
        }
    }

    fn action(&mut self, path: &str, action: &SuggestedAction) {
        if let Some(url) = &action.fallback_url {
            self.link(&format!("{path}.fallbackUrl"), url);
        }
        match &action.action {
            Action::Dial(dial) => self.dial(&format!("{path}.dialAction"), dial),
            Action::ViewLocation(view) => {
                self.view_location(&format!("{path}.viewLocationAction"), view);
            }
            Action::CreateCalendarEvent(event) => {
                self.calendar_event(&format!("{path}.createCalendarEventAction"), event);
            }
            Action::OpenUrl(open) => self.link(&format!("{path}.openUrlAction.url"), &open.url),
            Action::ShareLocation(_) => {}
        }
    }

    fn dial(&mut self, path: &str, dial: &DialAction) {
        let path = format!("{path}.phoneNumber");
        let number = &dial.phone_number;
        if number.is_empty() {
            self.push(path, Violation::Empty);
        } else if !number
            .chars()
            .all(|c| c.is_ascii_digit() || DIAL_SYMBOLS.contains(c))
        {
            self.push(path, Violation::NotDialable);
        }
    }

    fn view_location(&mut self, path: &str, view: &ViewLocationAction) {
        match &view.lat_long {
            Some(at) => {
                let path = format!("{path}.latLong");
                let latitude = format!("{path}.latitude");
                self.in_range(&latitude, at.latitude, MAX_LATITUDE);
                self.in_range(&format!("{path}.longitude"), at.longitude, MAX_LONGITUDE);
            }
            // A label alone names a pin that is nowhere: there must be a place or a search.
            None if view.query.as_deref().is_none_or(str::is_empty) => {
                self.push(path, Violation::NoLocation);
            }
            None => {}
        }
    }

    fn calendar_event(&mut self, path: &str, event: &CreateCalendarEventAction) {
        let start = self.timestamp(&format!("{path}.startTime"), &event.start_time);
        let end = self.timestamp(&format!("{path}.endTime"), &event.end_time);
        if let (Some(start), Some(end)) = (start, end) {
            if end <= start {
                self.push(format!("{path}.endTime"), Violation::EndNotAfterStart);
            }
        }
        self.max_chars(
            &format!("{path}.title"),
            &event.title,
            MAX_CALENDAR_TITLE_CHARS,
        );
        let max = MAX_CALENDAR_DESCRIPTION_CHARS;
        self.max_chars(&format!("{path}.description"), &event.description, max);
    }

    fn expiry(&mut self, expiry: &Expiry) {
        match expiry {
            Expiry::Ttl(ttl) => match parse_ttl(ttl) {
                Some(ttl) => self.ttl_in_range("ttl", ttl),
                None => self.push("ttl", Violation::NotDuration),
            },
            Expiry::ExpireTime(text) => {
                if let Some(time) = self.timestamp("expireTime", text) {
                    self.expire_time_in_range(time);
                }
            }
        }
    }

    fn ttl_in_range(&mut self, path: &str, ttl: Ttl) {
        let max = MAX_EXPIRY_SECONDS;
        if ttl.seconds == 0 && !ttl.has_fraction {
            self.push(path, Violation::ExpiryNotAhead);
        } else if ttl.seconds > max || (ttl.seconds == max && ttl.has_fraction) {
            self.push(path, Violation::ExpiryTooFar);
        }
    }

    fn expire_time_in_range(&mut self, time: DateTime<Utc>) {
        let max = TimeDelta::seconds(MAX_EXPIRY_SECONDS as i64);
        if time <= self.now {
            self.push("expireTime", Violation::ExpiryNotAhead);
        } else if time - self.now > max {
            self.push("expireTime", Violation::ExpiryTooFar);
        }
    }

    fn size(&mut self, message: &AgentMessage) {
        let bytes = message.serialised_len();
        if bytes > MAX_MESSAGE_BYTES {
            self.push(
                "",
                Violation::TooLarge {
                    bytes,
                    max: MAX_MESSAGE_BYTES,
                },
            );
        }
    }

    /// Text that must hold between one and `max` characters.
    fn text(&mut self, path: &str, text: &str, max: usize) {
        if text.is_empty() {
            self.push(path, Violation::Empty);
        } else {
            self.max_chars(path, text, max);
        }
    }

    fn max_chars(&mut self, path: &str, text: &str, max: usize) {
        // Byte length bounds the character count from above, so most text skips the
        // count entirely.
        if text.len() <= max {
            return;
        }
        let chars = text.chars().count();
        if chars > max {
            self.push(path, Violation::TooLong { chars, max });
        }
    }

    fn count(&mut self, path: &str, noun: &'static str, count: usize, min: usize, max: usize) {
        if count < min || count > max {
            self.push(
                path,
                Violation::Count {
                    noun,
                    count,
                    min,
                    max,
                },
            );
        }
    }

    /// A URL a customer opens: at most 2048 characters and an http(s) URI.
    fn link(&mut self, path: &str, url: &str) {
        self.max_chars(path, url, MAX_URL_CHARS);
        self.http_url(path, url);
    }

    fn http_url(&mut self, path: &str, url: &str) {
        if let Err(problem) = check_http_url(url) {
            self.push(path, Violation::NotHttpUrl(problem));
        }
    }

    fn in_range(&mut self, path: &str, value: f64, bound: f64) {
        // `contains` is false for NaN, which JSON could not carry anyway.
        if !(-bound..=bound).contains(&value) {
            self.push(
                path,
                Violation::OutOfRange {
                    value,
                    min: -bound,
                    max: bound,
                },
            );
        }
    }

    fn timestamp(&mut self, path: &str, text: &str) -> Option<DateTime<Utc>> {
        match DateTime::parse_from_rfc3339(text) {
            Ok(time) => Some(time.with_timezone(&Utc)),
            Err(_) => {
                self.push(path, Violation::NotTimestamp);
                None
            }
        }
    }
}

/// A `ttl` as read: whole seconds (saturating), and whether a non-zero fraction follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ttl {
    seconds: u64,
    has_fraction: bool,
}

/// Reads protobuf duration text: ASCII digits, optionally `.` and 1 to 9 more, then `s`.
/// Signs and exponents are refused: a time to live is never negative.
fn parse_ttl(text: &str) -> Option<Ttl> {
    let number = text.strip_suffix('s')?;
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (number, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f) || f.len() > 9) {
        return None;
    }
    // Only digits remain, so the parse fails only on overflow: far beyond any limit.
    let seconds = whole.parse().unwrap_or(u64::MAX);
    let has_fraction = fraction.is_some_and(|f| f.bytes().any(|b| b != b'0'));
    Some(Ttl {
        seconds,
        has_fraction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_in_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(3072), "3,072");
        assert_eq!(grouped(250_000), "250,000");
        assert_eq!(grouped(1_296_000), "1,296,000");
    }

    #[test]
    fn ttl_text_is_read_as_protobuf_duration() {
        let ttl = |seconds, has_fraction| {
            Some(Ttl {
                seconds,
                has_fraction,
            })
        };
        assert_eq!(parse_ttl("86400s"), ttl(86400, false));
        assert_eq!(parse_ttl("0.5s"), ttl(0, true));
        assert_eq!(parse_ttl("10.000s"), ttl(10, false));
        assert_eq!(parse_ttl("1.123456789s"), ttl(1, true));
        assert_eq!(parse_ttl("99999999999999999999999s"), ttl(u64::MAX, false));
        for bad in [
            "",
            "s",
            "86400",
            "-5s",
            "+5s",
            "1e3s",
            ".5s",
            "5.s",
            "1.1234567890s",
            "5 s",
        ] {
            assert_eq!(parse_ttl(bad), None, "{bad:?}");
        }
    }
}
