//! One RCS message as an email: a text part and an HTML part with the same content.
//!
//! Templates write RBM `AgentMessage`s; [`render`] turns one into both parts of a
//! multipart/alternative email, so a shop writes each message once for every channel.
//! What cannot travel by email is dropped or becomes a link (see `layout`): canned
//! replies are left out, a dial action becomes a `tel:` link, a location a maps link,
//! a calendar or share-location action its fallback URL when it has one.
//!
//! Words the email adds around the content are the caller's, so that they can be in
//! the customer's language: the subject, and the unsubscribe link's label.

mod html;
mod layout;
mod text;

use domain::rcs::{AgentMessage, TrafficType};
use thiserror::Error;

use layout::lay_out;

/// The shop as its emails show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    /// Shown at the top (when there is no logo) and at the bottom of every email.
    pub shop_name: String,
    /// A hex colour (`#1a73e8` or `#18e`) for buttons and the name; anything else falls
    /// back to Tidings' blue, because it is written into inline CSS.
    pub color: String,
    /// An http(s) URL of a logo shown at the top instead of the name.
    pub logo_url: Option<String>,
}

/// Where a recipient unsubscribes: an https page that also takes RFC 8058 one-click
/// POSTs, and a mailto address. Both go into `List-Unsubscribe`, and the page into
/// the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    url: String,
    mailto: String,
    label: String,
}

/// An unsubscribe URL or address that cannot go into a `List-Unsubscribe` header.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("the unsubscribe {field} {value:?} is not usable: {problem}")]
pub struct UnsubscribeError {
    /// `url` or `mailto`.
    pub field: &'static str,
    /// What it held.
    pub value: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl Unsubscribe {
    /// An unsubscribe page (`https://…`, carrying whatever identifies the recipient)
    /// and a mailto (`unsubscribe@shop.example` or a whole `mailto:` URI), labelled
    /// "Unsubscribe" in the footer until [`Unsubscribe::with_label`] says otherwise.
    ///
    /// # Errors
    /// When the page is not https (RFC 8058 wants https for one-click), the mailto has
    /// no `@`, or either holds characters a header cannot carry unencoded.
    pub fn new(url: &str, mailto: &str) -> Result<Unsubscribe, UnsubscribeError> {
        let url = url.trim();
        let mailto = mailto.trim();
        let error = |field, value: &str, problem| UnsubscribeError {
            field,
            value: value.to_string(),
            problem,
        };
        let plain = "write it percent-encoded, without spaces, quotes or angle brackets";
        if !header_safe(url) || !header_safe(mailto) {
            let (field, value) = if header_safe(url) {
                ("mailto", mailto)
            } else {
                ("url", url)
            };
            return Err(error(field, value, plain));
        }
        let https = url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        if !https || url.len() <= 8 {
            return Err(error("url", url, "it must be an https:// URL"));
        }
        let mailto = match mailto.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("mailto:") => mailto.to_string(),
            _ => format!("mailto:{mailto}"),
        };
        if !mailto.contains('@') {
            return Err(error("mailto", &mailto, "it needs an address with an @"));
        }
        Ok(Unsubscribe {
            url: url.to_string(),
            mailto,
            label: "Unsubscribe".to_string(),
        })
    }

    /// The same links, with the footer's link text in the customer's language.
    pub fn with_label(mut self, label: impl Into<String>) -> Unsubscribe {
        let label = label.into();
        if !label.trim().is_empty() {
            self.label = label.trim().to_string();
        }
        self
    }

    /// The https unsubscribe page.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `mailto:` URI.
    pub fn mailto(&self) -> &str {
        &self.mailto
    }

    /// The footer's link text.
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// Printable ASCII without what would end a `<…>` in `List-Unsubscribe` or an HTML
/// attribute.
fn header_safe(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '<' | '>' | '\\' | '`'))
}

/// One email to write: an RCS message with what email needs beside it.
#[derive(Debug, Clone, Copy)]
pub struct EmailContent<'a> {
    /// The subject line; the caller picks one per template key and locale.
    pub subject: &'a str,
    /// The message, as a template rendered it.
    pub message: &'a AgentMessage,
    /// The shop's name, colour and logo.
    pub brand: &'a Brand,
    /// Required for promotional messages; shown in the footer of others when set.
    pub unsubscribe: Option<&'a Unsubscribe>,
}

impl EmailContent<'_> {
    /// Whether this is marketing (RBM traffic type `PROMOTION`), which must carry
    /// `List-Unsubscribe`.
    pub fn is_promotional(&self) -> bool {
        self.message.message_traffic_type == Some(TrafficType::Promotion)
    }
}

/// Both parts of an email, and its cleaned-up subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// One line; the shop's name when the caller gave none.
    pub subject: String,
    /// The text/plain part.
    pub text: String,
    /// The text/html part.
    pub html: String,
}

/// Writes `content` as a text part and an HTML part.
pub fn render(content: &EmailContent<'_>) -> RenderedEmail {
    let layout = lay_out(content.message);
    let mut subject = one_line(content.subject);
    if subject.is_empty() {
        subject = one_line(&content.brand.shop_name);
    }
    let text = text::write_text(&layout, content.brand, content.unsubscribe);
    let html = html::write_html(&subject, &layout, content.brand, content.unsubscribe);
    RenderedEmail {
        subject,
        text,
        html,
    }
}

/// The subject on one line: a line break in a header would end it.
fn one_line(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.join(" ")
}

#[cfg(test)]
mod tests;
