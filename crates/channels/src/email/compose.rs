//! The email as sent: headers around the two rendered parts.

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use uuid::Uuid;

use super::error::EmailError;
use super::render::{RenderedEmail, Unsubscribe};

/// Who the emails come from: the same for every message a sender sends.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
}

/// What one email needs besides its parts.
pub(super) struct Envelope<'a> {
    pub to: Mailbox,
    pub message_id: Uuid,
    /// Set for mail that gets `List-Unsubscribe` headers: always for promotional mail,
    /// and for any other when the sender has a one-click link for the recipient.
    pub list_unsubscribe: Option<&'a Unsubscribe>,
}

/// Puts the headers and both parts together.
///
/// # Errors
/// [`EmailError::Build`] when lettre refuses the headers (it should not: every value
/// was checked before).
pub(super) fn compose(
    origin: &Origin,
    envelope: Envelope<'_>,
    rendered: RenderedEmail,
) -> Result<Message, EmailError> {
    let mut builder = Message::builder()
        .from(origin.from.clone())
        .to(envelope.to)
        .subject(rendered.subject)
        .message_id(Some(message_id(envelope.message_id, &origin.from)));
    if let Some(reply_to) = &origin.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    if let Some(unsubscribe) = envelope.list_unsubscribe {
        for header in list_unsubscribe_headers(unsubscribe) {
            builder = builder.raw_header(header);
        }
    }
    let parts = MultiPart::alternative_plain_html(rendered.text, rendered.html);
    builder
        .multipart(parts)
        .map_err(|error| EmailError::Build(error.to_string()))
}

/// `<message-uuid@sender-domain>`: the same for every attempt at one message, so that
/// a retry after an unclear failure shows as a duplicate, not as a second email.
pub(super) fn message_id(id: Uuid, from: &Mailbox) -> String {
    format!("<{}@{}>", id.hyphenated(), from.email.domain())
}

/// RFC 2369's `List-Unsubscribe` with both ways out, and RFC 8058's one-click
/// marker, which lets mailbox providers unsubscribe with a single POST to the https
/// URL (Gmail and Yahoo require it of bulk senders).
fn list_unsubscribe_headers(unsubscribe: &Unsubscribe) -> [HeaderValue; 2] {
    let list = format!("<{}>, <{}>", unsubscribe.mailto(), unsubscribe.url());
    [
        HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), list),
        HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_string(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            from: "Linen & Co <orders@linen.example>".parse().unwrap(),
            reply_to: Some("help@linen.example".parse().unwrap()),
        }
    }

    fn rendered() -> RenderedEmail {
        RenderedEmail {
            subject: "Dein Paket ist unterwegs 📦".into(),
            text: "Hallo\n".into(),
            html: "<p>Hallo</p>\n".into(),
        }
    }

    fn formatted(message: &Message) -> String {
        String::from_utf8(message.formatted()).expect("ASCII")
    }

    #[test]
    fn the_message_id_comes_from_the_uuid_and_the_senders_domain() {
        let id = Uuid::parse_str("0190f0b4-8c2a-7cc4-9d52-3f0c1d2e3f40").unwrap();
        let envelope = Envelope {
            to: "bob@example.com".parse().unwrap(),
            message_id: id,
            list_unsubscribe: None,
        };
        let message = compose(&origin(), envelope, rendered()).expect("built");
        let text = formatted(&message);
        assert!(
            text.contains("Message-ID: <0190f0b4-8c2a-7cc4-9d52-3f0c1d2e3f40@linen.example>"),
            "{text}"
        );
        assert!(text.contains("Reply-To: help@linen.example"), "{text}");
        assert!(!text.contains("List-Unsubscribe"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        // Non-ASCII subjects are encoded, so the message itself is 7-bit.
        assert!(text.is_ascii());
    }

    #[test]
    fn promotional_mail_carries_both_unsubscribe_headers() {
        let unsubscribe =
            Unsubscribe::new("https://linen.example/u/tok3n", "unsubscribe@linen.example").unwrap();
        let envelope = Envelope {
            to: "bob@example.com".parse().unwrap(),
            message_id: Uuid::nil(),
            list_unsubscribe: Some(&unsubscribe),
        };
        let message = compose(&origin(), envelope, rendered()).expect("built");
        let text = formatted(&message);
        assert!(
            text.contains(
                "List-Unsubscribe: <mailto:unsubscribe@linen.example>,\r\n \
                 <https://linen.example/u/tok3n>"
            ) || text.contains(
                "List-Unsubscribe: <mailto:unsubscribe@linen.example>, \
                 <https://linen.example/u/tok3n>"
            ),
            "{text}"
        );
        assert!(
            text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{text}"
        );
    }
}
