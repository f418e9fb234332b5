//! An RCS message made into a short SMS: what the customer must read, the one link that
//! matters, and the canned replies as numbers to text back.
//!
//! SMS has no cards, buttons or chips, and every part costs money, so the text is built
//! from the pieces in order of importance and kept within [`SMS_TEXT_SEGMENTS`] parts:
//! the description gives way first (down to a useful minimum), then the reply options,
//! then the rest of the description, and the title last. The link is never cut, since
//! half a URL is worth nothing; a link too long for the budget on its own is sent anyway.
//!
//! Typographic punctuation becomes its GSM-7 look-alike and emoji are dropped, so that
//! a template written for RCS does not turn the whole SMS into UCS-2 (70 characters a
//! part instead of 160) for a decoration. Letters GSM-7 lacks (`á`, `ç`) are kept: the
//! customer's language matters more than the price of a part.

use super::fits;
use crate::rcs::{Action, AgentMessage, CardContent, Content, RichCard, Suggestion};

/// How many SMS parts [`sms_text`] aims to stay within.
pub const SMS_TEXT_SEGMENTS: usize = 2;

/// More reply options than this are not listed: a customer will not read a menu by SMS.
const MAX_REPLIES: usize = 5;
/// Longer reply labels are not listed either; they are sentences, not choices.
const MAX_REPLY_CHARS: usize = 20;
/// The description is cut no shorter than this to make room for the reply options.
const MIN_BODY_CHARS: usize = 60;
/// A cut is moved back to a word boundary when one is this close to it.
const WORD_CUT_WINDOW: usize = 15;
/// Marks a cut; three dots because `…` is not in GSM-7.
const ELLIPSIS: &str = "...";

/// `message` as an SMS of at most [`SMS_TEXT_SEGMENTS`] parts when it can be, with the
/// reply options worded in English. See [`sms_text_in`].
pub fn sms_text(message: &AgentMessage, tracking_url: Option<&str>) -> String {
    sms_text_in(message, tracking_url, "en")
}

/// `message` as an SMS, with the reply options worded for `language` (a BCP 47 tag such
/// as `es-MX`; English unless it is Spanish).
///
/// - The text is the message's text, or a card's title and description (each card's,
///   for a carousel).
/// - The link is the first "open URL" action's, else `tracking_url`, else the URL of a
///   file the message carries; it is left out when the text already holds it.
/// - Reply suggestions are listed as `Reply 1 for …, 2 for …` when there are at most
///   five with short labels. An answer comes back as the bare number.
pub fn sms_text_in(message: &AgentMessage, tracking_url: Option<&str>, language: &str) -> String {
    let wording = Wording::for_language(language);
    Draft::of(message, tracking_url, wording).fit(SMS_TEXT_SEGMENTS)
}

/// The pieces of the SMS, cleaned, before fitting.
struct Draft {
    head: String,
    body: String,
    link: Option<String>,
    replies: Option<String>,
}

impl Draft {
    fn of(message: &AgentMessage, tracking_url: Option<&str>, wording: Wording) -> Draft {
        let content = &message.content_message;
        let cards = cards(&content.content);
        let (head, body) = match (&content.content, cards.as_slice()) {
            (Content::Text(text), _) => (String::new(), clean(text)),
            (Content::RichCard(RichCard::Standalone(_)), [card]) => (
                clean(card.title.as_deref().unwrap_or_default()),
                clean(card.description.as_deref().unwrap_or_default()),
            ),
            _ => (String::new(), carousel_text(&cards)),
        };
        let suggestions: Vec<&Suggestion> = cards
            .iter()
            .flat_map(|card| &card.suggestions)
            .chain(&content.suggestions)
            .collect();
        let link = open_url(&suggestions)
            .or(tracking_url)
            .or_else(|| file_url(&content.content))
            .map(str::trim)
            .filter(|link| !link.is_empty() && !head.contains(link) && !body.contains(link))
            .map(str::to_string);
        let replies = reply_line(&suggestions, wording);
        Draft {
            head,
            body,
            link,
            replies,
        }
    }

    /// The SMS with `body` in place of the description, with or without the replies.
    fn render(&self, head: &str, body: &str, replies: bool) -> String {
        let replies = self.replies.as_deref().filter(|_| replies);
        [Some(head), Some(body), self.link.as_deref(), replies]
            .into_iter()
            .flatten()
            .filter(|piece| !piece.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The fullest rendering that fits `max` parts, giving up pieces in order.
    fn fit(&self, max: usize) -> String {
        let head = self.head.as_str();
        let full = self.render(head, &self.body, true);
        if fits(&full, max) {
            return full;
        }
        if self.replies.is_some() {
            let floor = MIN_BODY_CHARS.min(self.body.chars().count());
            let body = shortest_fit(&self.body, |b| fits(&self.render(head, b, true), max));
            if let Some(body) = body.filter(|b| b.chars().count() >= floor) {
                return self.render(head, &body, true);
            }
        }
        if let Some(body) = shortest_fit(&self.body, |b| fits(&self.render(head, b, false), max)) {
            return self.render(head, &body, false);
        }
        let head = shortest_fit(head, |h| fits(&self.render(h, "", false), max));
        self.render(head.as_deref().unwrap_or_default(), "", false)
    }
}

/// The cards of a rich card message, in the order they are shown.
fn cards(content: &Content) -> Vec<&CardContent> {
    match content {
        Content::RichCard(RichCard::Standalone(card)) => vec![&card.card_content],
        Content::RichCard(RichCard::Carousel(carousel)) => carousel.card_contents.iter().collect(),
        _ => Vec::new(),
    }
}

/// A carousel's cards, one line each: `title: description`.
fn carousel_text(cards: &[&CardContent]) -> String {
    let line = |card: &&CardContent| {
        let title = clean(card.title.as_deref().unwrap_or_default());
        let description = clean(card.description.as_deref().unwrap_or_default());
        match (title.is_empty(), description.is_empty()) {
            (false, false) => format!("{title}: {description}"),
            (false, true) => title,
            _ => description,
        }
    };
    let lines: Vec<String> = cards.iter().map(line).filter(|l| !l.is_empty()).collect();
    lines.join("\n")
}

/// The URL of the first suggestion that opens one.
fn open_url<'a>(suggestions: &[&'a Suggestion]) -> Option<&'a str> {
    suggestions.iter().find_map(|suggestion| match suggestion {
        Suggestion::Action(action) => match &action.action {
            Action::OpenUrl(open) => Some(open.url.as_str()),
            _ => None,
        },
        Suggestion::Reply(_) => None,
    })
}

/// The URL of a file the message is, when RBM would fetch it from one.
fn file_url(content: &Content) -> Option<&str> {
    match content {
        Content::ContentInfo(info) => Some(info.file_url.as_str()),
        _ => None,
    }
}

/// How reply options are worded.
#[derive(Clone, Copy)]
struct Wording {
    /// Before the first option: `Reply`.
    verb: &'static str,
    /// Between number and label: `for`.
    joiner: &'static str,
}

impl Wording {
    fn for_language(language: &str) -> Wording {
        let primary = language.split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("es") {
            Wording {
                verb: "Responde",
                joiner: "para",
            }
        } else {
            Wording {
                verb: "Reply",
                joiner: "for",
            }
        }
    }
}

/// `Reply 1 for Yes, 2 for No`, when the replies are few and short.
fn reply_line(suggestions: &[&Suggestion], wording: Wording) -> Option<String> {
    let labels: Vec<String> = suggestions
        .iter()
        .filter_map(|suggestion| match suggestion {
            Suggestion::Reply(reply) => Some(clean(&reply.text)),
            Suggestion::Action(_) => None,
        })
        .collect();
    let short = |label: &String| !label.is_empty() && label.chars().count() <= MAX_REPLY_CHARS;
    if labels.is_empty() || labels.len() > MAX_REPLIES || !labels.iter().all(short) {
        return None;
    }
    let options: Vec<String> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| format!("{} {} {label}", i + 1, wording.joiner))
        .collect();
    Some(format!("{} {}", wording.verb, options.join(", ")))
}

/// The longest shortening of `text` (itself, a cut prefix with an ellipsis, or nothing)
/// that `fits`; `None` when even nothing does not.
fn shortest_fit(text: &str, fits: impl Fn(&str) -> bool) -> Option<String> {
    if fits(text) {
        return Some(text.to_string());
    }
    if !fits("") {
        return None;
    }
    // Cutting at more characters never makes the text shorter, so the cut that fits can
    // be searched for: `low` always fits, `high` never does.
    let (mut low, mut high) = (0, text.chars().count());
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if fits(&cut(text, middle)) {
            low = middle;
        } else {
            high = middle;
        }
    }
    Some(cut(text, low))
}

/// The first `chars` characters of `text`, moved back to a word boundary when one is
/// near, with an ellipsis; empty for 0.
fn cut(text: &str, chars: usize) -> String {
    let end = text
        .char_indices()
        .nth(chars)
        .map_or(text.len(), |(i, _)| i);
    let prefix = &text[..end];
    if prefix.is_empty() {
        return String::new();
    }
    let at_word = prefix
        .char_indices()
        .rev()
        .take(WORD_CUT_WINDOW)
        .find(|(_, c)| c.is_whitespace())
        .map_or(prefix, |(i, _)| &prefix[..i]);
    let kept = at_word.trim_end_matches(|c: char| c.is_whitespace() || ",;:-".contains(c));
    if kept.is_empty() {
        return String::new();
    }
    format!("{kept}{ELLIPSIS}")
}

/// `text` with typographic punctuation made GSM-7, emoji dropped, and spacing tidied.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match gsm_stand_in(c) {
            Some(stand_in) => out.push_str(stand_in),
            None if is_pictograph(c) => {}
            None => out.push(c),
        }
    }
    tidy(&out)
}

/// The GSM-7 look-alike of a character GSM-7 lacks, when there is a faithful one.
fn gsm_stand_in(c: char) -> Option<&'static str> {
    let stand_in = match c {
        '‘' | '’' | '‚' | '‛' | '′' | '`' | '´' => "'",
        '“' | '”' | '„' | '‟' | '″' | '«' | '»' => "\"",
        '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | '•' | '‣' | '◦' | '·' => "-",
        '→' => "->",
        '…' => "...",
        '\t' | '\u{A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => " ",
        '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{AD}' => "",
        _ => return None,
    };
    Some(stand_in)
}

/// Emoji and the invisible characters that build them: decoration an SMS can do
/// without.
fn is_pictograph(c: char) -> bool {
    matches!(
        u32::from(c),
        0x1F000..=0x1FAFF // playing cards to symbols and pictographs extended-A
            | 0x2600..=0x27BF // miscellaneous symbols, dingbats
            | 0x2300..=0x23FF // miscellaneous technical (⌚, ⏰)
            | 0x2B00..=0x2BFF // miscellaneous symbols and arrows (⭐)
            | 0xFE00..=0xFE0F // variation selectors
            | 0x200D // zero-width joiner
            | 0x20E3 // combining enclosing keycap
            | 0xE0000..=0xE007F // tags (subdivision flags)
    )
}

/// Runs of spaces made one, lines trimmed, and at most one blank line in a row.
fn tidy(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>();
        let line = line.join(" ");
        let blank_after_blank = line.is_empty() && lines.last().is_none_or(|l| l.is_empty());
        if !blank_after_blank {
            lines.push(line);
        }
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::super::{count_segments, encoding, Encoding};
    use super::*;
    use crate::rcs::strategies::valid_message;
    use crate::rcs::{AgentContentMessage, CardWidth, ContentInfo, RichCard};
    use proptest::prelude::*;

    const TRACK: &str = "https://shop.example/t/abc123";

    fn card(title: &str, description: &str) -> CardContent {
        CardContent::new()
            .with_title(title)
            .with_description(description)
    }

    fn message(content: AgentContentMessage) -> AgentMessage {
        AgentMessage::new(content)
    }

    #[test]
    fn a_card_becomes_title_description_and_its_link() {
        let shipped = card(
            "Order #1001 is on its way",
            "Carrier: UPS\nExpected Friday.",
        )
        .with_suggestion(Suggestion::open_url("Track", "track:1", TRACK));
        let sms = sms_text(
            &message(AgentContentMessage::rich_card(RichCard::standalone(
                shipped,
            ))),
            None,
        );
        assert_eq!(
            sms,
            format!("Order #1001 is on its way\nCarrier: UPS\nExpected Friday.\n{TRACK}")
        );
        assert_eq!(encoding(&sms), Encoding::Gsm7);
    }

    #[test]
    fn the_first_open_url_wins_over_the_tracking_url() {
        let content = AgentContentMessage::text("Your order shipped.")
            .with_suggestion(Suggestion::dial("Call", "call", "+16135550100"))
            .with_suggestion(Suggestion::open_url(
                "Track",
                "t",
                "https://carrier.example/1",
            ))
            .with_suggestion(Suggestion::open_url("Shop", "s", "https://shop.example"));
        let sms = sms_text(&message(content), Some(TRACK));
        assert_eq!(sms, "Your order shipped.\nhttps://carrier.example/1");
    }

    #[test]
    fn the_tracking_url_serves_when_there_is_no_link_and_is_not_repeated() {
        let plain = message(AgentContentMessage::text("Your order shipped."));
        assert_eq!(
            sms_text(&plain, Some(TRACK)),
            format!("Your order shipped.\n{TRACK}")
        );
        let with_link = message(AgentContentMessage::text(format!("Track it: {TRACK}")));
        assert_eq!(
            sms_text(&with_link, Some(TRACK)),
            format!("Track it: {TRACK}")
        );
        assert_eq!(sms_text(&plain, None), "Your order shipped.");
    }

    #[test]
    fn short_replies_are_numbered_and_emoji_dropped() {
        let content = AgentContentMessage::text("Delivered! 🎉 How did we do?")
            .with_suggestion(Suggestion::reply("😍 Great", "csat:5"))
            .with_suggestion(Suggestion::reply("🙂 Fine", "csat:4"))
            .with_suggestion(Suggestion::reply("😞 Bad", "csat:1"));
        let sms = sms_text(&message(content.clone()), None);
        assert_eq!(
            sms,
            "Delivered! How did we do?\nReply 1 for Great, 2 for Fine, 3 for Bad"
        );
        assert_eq!(encoding(&sms), Encoding::Gsm7);
        let spanish = sms_text_in(&message(content), None, "es-MX");
        assert!(
            spanish.ends_with("Responde 1 para Great, 2 para Fine, 3 para Bad"),
            "{spanish}"
        );
    }

    #[test]
    fn long_or_many_replies_are_left_out() {
        let long = AgentContentMessage::text("Any questions?")
            .with_suggestion(Suggestion::reply("Tell me more about returns", "returns"));
        assert_eq!(sms_text(&message(long), None), "Any questions?");
        let many = (1..=6).map(|n| Suggestion::reply(n.to_string(), format!("n:{n}")));
        let many = AgentContentMessage::text("Rate us").with_suggestions(many);
        assert_eq!(sms_text(&message(many), None), "Rate us");
    }

    #[test]
    fn typographic_punctuation_keeps_the_sms_in_gsm7() {
        let content = AgentContentMessage::text("We’re “nearly” there — 2–3 days…\u{a0}ok");
        let sms = sms_text(&message(content), None);
        assert_eq!(sms, "We're \"nearly\" there - 2-3 days... ok");
        assert_eq!(encoding(&sms), Encoding::Gsm7);
    }

    #[test]
    fn letters_gsm7_lacks_are_kept() {
        let content = AgentContentMessage::text("Tu pedido está en camino");
        let sms = sms_text(&message(content), None);
        assert_eq!(sms, "Tu pedido está en camino");
        assert_eq!(encoding(&sms), Encoding::Ucs2);
    }

    #[test]
    fn a_long_description_is_cut_at_a_word_and_the_link_survives() {
        let description = "word ".repeat(200);
        let long = card("Big news", &description);
        let content = AgentContentMessage::rich_card(RichCard::standalone(long))
            .with_suggestion(Suggestion::reply("Yes", "y"))
            .with_suggestion(Suggestion::reply("No", "n"));
        let sms = sms_text(&message(content), Some(TRACK));
        assert!(sms.starts_with("Big news\nword word"), "{sms}");
        assert!(sms.contains("word..."), "{sms}");
        assert!(sms.contains(TRACK), "{sms}");
        assert!(sms.ends_with("Reply 1 for Yes, 2 for No"), "{sms}");
        assert_eq!(count_segments(&sms).count, SMS_TEXT_SEGMENTS);
    }

    #[test]
    fn replies_give_way_before_the_description_becomes_too_short() {
        // In UCS-2 two parts hold 134 units: the link and the replies leave too little.
        let description = "á".repeat(300);
        let long = card("Título", &description);
        let content = AgentContentMessage::rich_card(RichCard::standalone(long))
            .with_suggestion(Suggestion::reply("Sí, gracias", "y"))
            .with_suggestion(Suggestion::reply("No", "n"));
        let link = format!("{TRACK}/{}", "x".repeat(40));
        let sms = sms_text_in(&message(content), Some(&link), "es");
        assert!(!sms.contains("Responde"), "{sms}");
        assert!(sms.ends_with(&link), "{sms}");
        assert!(count_segments(&sms).count <= SMS_TEXT_SEGMENTS);
    }

    #[test]
    fn a_carousel_lists_its_cards() {
        let cards = [
            card("Mug", "Blue, 350 ml"),
            card("Plate", ""),
            CardContent::new().with_description("Spoon"),
        ];
        let content = AgentContentMessage::rich_card(RichCard::carousel(CardWidth::Medium, cards));
        let sms = sms_text(&message(content), Some(TRACK));
        assert_eq!(sms, format!("Mug: Blue, 350 ml\nPlate\nSpoon\n{TRACK}"));
    }

    #[test]
    fn a_file_alone_sends_its_url() {
        let info = ContentInfo::new("https://shop.example/receipt.pdf");
        let content = AgentContentMessage::content_info(info);
        let sms = sms_text(&message(content), None);
        assert_eq!(sms, "https://shop.example/receipt.pdf");
    }

    #[test]
    fn a_cut_prefers_a_word_boundary() {
        assert_eq!(cut("hello wonderful world", 12), "hello...");
        assert_eq!(
            cut("abcdefghijklmnopqrstuvwxyz", 20),
            "abcdefghijklmnopqrst..."
        );
        assert_eq!(cut("anything", 0), "");
        assert_eq!(cut("a, b", 2), "a...");
    }

    proptest! {
        /// Whatever a template renders, the SMS fits the budget unless the link alone
        /// cannot, and it is GSM-7 unless the message has letters GSM-7 lacks.
        #[test]
        fn any_valid_message_fits_the_budget(
            message in valid_message(chrono::Utc::now()),
            tracking in proptest::option::of("https://[a-z]{1,20}\\.example/t/[a-z0-9]{1,40}"),
        ) {
            let sms = sms_text(&message, tracking.as_deref());
            let link_alone = Draft::of(&message, tracking.as_deref(), Wording::for_language("en"))
                .link
                .unwrap_or_default();
            if fits(&link_alone, SMS_TEXT_SEGMENTS) {
                prop_assert!(fits(&sms, SMS_TEXT_SEGMENTS), "{} parts: {sms:?}",
                    count_segments(&sms).count);
            } else {
                prop_assert_eq!(sms, link_alone);
            }
        }

        #[test]
        fn cleaning_leaves_no_emoji_or_typographic_punctuation(text in "\\PC{0,80}") {
            let cleaned = clean(&text);
            for c in cleaned.chars() {
                prop_assert!(gsm_stand_in(c).is_none() && !is_pictograph(c), "{c:?}");
            }
        }
    }
}
