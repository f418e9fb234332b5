//! What a failed send means for the caller, decided from the SMTP server's answer.

use std::error::Error as _;
use std::time::Duration;

use lettre::transport::smtp::response::{Code, Severity};
use thiserror::Error;

use crate::retry::RetryableError;

/// Why an email was not sent, sorted by what the caller does next.
///
/// Messages never contain an email address, even where the server's reply quoted one:
/// they are safe to log.
#[derive(Debug, Error)]
pub enum EmailError {
    /// The server refused for good (a 5xx reply other than an authentication one):
    /// the mailbox does not exist, the domain takes no mail, the message was refused
    /// by policy. Sending it again fails the same way; dead-letter it, and when
    /// [`EmailError::address_unusable`] says so, stop mailing the address.
    #[error("the SMTP server refused the message ({code} {reply})")]
    Rejected {
        /// The SMTP reply code, such as 550.
        code: u16,
        /// The server's text, enhanced status code first when it gave one
        /// (`5.1.1 ...`), with addresses taken out.
        reply: String,
    },

    /// A passing failure: a 4xx reply (greylisting, a full mailbox, throttling), a
    /// refused or broken connection, a TLS handshake that failed, or a timeout. Try
    /// again later. A timeout after the message was sent may mean it was delivered:
    /// the retry carries the same Message-ID, so mail systems and people can tell.
    #[error("the email could not be sent for now ({reason}); try again later")]
    Retryable {
        /// What failed, for the log.
        reason: String,
    },

    /// The server refused Tidings' credentials, or wants some and none are configured
    /// (530, 534, 535, 538), or offers no AUTH mechanism Tidings speaks. Every message
    /// fails the same way until the configuration changes.
    #[error(
        "the SMTP server refused to let Tidings send ({reply}); check email.username and \
         email.password, and that the server offers AUTH over this connection's TLS mode"
    )]
    AuthRefused {
        /// The server's reply, or what was missing.
        reply: String,
    },

    /// The server and the configuration do not fit: it does not offer STARTTLS
    /// though the URL asks for it, or it cannot take the message as written. Every
    /// message fails the same way until one of them changes.
    #[error("the SMTP server cannot take mail as configured: {detail}")]
    Incompatible {
        /// What does not fit.
        detail: String,
    },

    /// The recipient's address cannot be written in an SMTP envelope; nothing was
    /// sent.
    #[error("the recipient's address is not one SMTP can carry; nothing was sent")]
    InvalidRecipient,

    /// A promotional message without an unsubscribe link: mailbox providers drop bulk
    /// mail that has none, and the law in most places requires one. Nothing was sent.
    #[error(
        "a promotional email needs an unsubscribe URL and address (List-Unsubscribe); \
         nothing was sent"
    )]
    MissingUnsubscribe,

    /// The email could not be put together; nothing was sent.
    #[error("the email cannot be built: {0}")]
    Build(String),
}

impl EmailError {
    /// Whether the same send may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, EmailError::Retryable { .. })
    }

    /// Whether the failure says the recipient's address itself is unusable, so that
    /// mailing it again is pointless: an address SMTP cannot carry, or a rejection
    /// whose enhanced status code names the recipient's mailbox or domain (5.1.1 bad
    /// mailbox, 5.1.2 bad domain, 5.1.3 bad syntax, 5.1.6 moved, 5.1.10 null MX).
    ///
    /// A bare 550 without an enhanced code is not taken as one: servers also answer
    /// it for spam and policy blocks, which say nothing about the address.
    pub fn address_unusable(&self) -> bool {
        match self {
            EmailError::InvalidRecipient => true,
            EmailError::Rejected { reply, .. } => names_bad_recipient(reply),
            _ => false,
        }
    }
}

impl RetryableError for EmailError {
    fn is_retryable(&self) -> bool {
        EmailError::is_retryable(self)
    }

    /// SMTP has no `Retry-After`; the caller's backoff decides.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// Sorts lettre's error for a send into what the caller does next.
pub(crate) fn classify(error: &lettre::transport::smtp::Error) -> EmailError {
    if let Some(code) = error.status() {
        return classify_reply(code, &reply_text(error));
    }
    if error.is_client() {
        return classify_client(&error_chain(error));
    }
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_response() {
        "got an answer it could not read"
    } else {
        "lost the connection"
    };
    EmailError::Retryable {
        reason: format!("the SMTP exchange {what}: {}", error_chain(error)),
    }
}

/// A negative reply: 4xx passes, authentication codes blame the configuration, the
/// rest of 5xx blames the message or its recipient.
fn classify_reply(code: Code, reply: &str) -> EmailError {
    let number = u16::from(code);
    match (code.severity, number) {
        (Severity::PermanentNegativeCompletion, 530 | 534 | 535 | 538) => EmailError::AuthRefused {
            reply: format!("{number} {reply}"),
        },
        (Severity::PermanentNegativeCompletion, _) => EmailError::Rejected {
            code: number,
            reply: reply.to_string(),
        },
        _ => EmailError::Retryable {
            reason: format!("the server answered {number} {reply}"),
        },
    }
}

/// lettre's own refusals, when the server lacks what a send needs: STARTTLS, an AUTH
/// mechanism lettre speaks, SMTPUTF8 or 8BITMIME.
fn classify_client(detail: &str) -> EmailError {
    let detail = scrub_addresses(detail);
    if detail.contains("authentication mechanism") {
        EmailError::AuthRefused { reply: detail }
    } else {
        EmailError::Incompatible { detail }
    }
}

/// The server's text of a negative reply (lettre keeps it as the error's source).
fn reply_text(error: &lettre::transport::smtp::Error) -> String {
    let text = error.source().map(ToString::to_string).unwrap_or_default();
    let text = scrub_addresses(text.trim());
    if text.is_empty() {
        "no explanation given".to_string()
    } else {
        text
    }
}

/// An error and its causes on one line, with addresses taken out.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        // lettre's message already ends with its source's; do not say it twice.
        if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = source.and_then(|s| s.source());
    }
    scrub_addresses(&text)
}

/// Replaces every word that holds an `@` with `[address]`: servers quote the
/// recipient (`<bob@example.com>: Recipient address rejected`), and addresses are
/// personal data that must stay out of logs and the dead-letter table.
pub(crate) fn scrub_addresses(text: &str) -> String {
    let words: Vec<String> = text.split(' ').map(scrub_word).collect();
    words.join(" ")
}

/// A word with its address replaced, keeping the punctuation around it (`<a@b.c>:`).
fn scrub_word(word: &str) -> String {
    if !word.contains('@') {
        return word.to_string();
    }
    let start = word.find(char::is_alphanumeric).unwrap_or(0);
    let end = word
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_alphanumeric())
        .map_or(word.len(), |(i, c)| i + c.len_utf8());
    format!("{}[address]{}", &word[..start], &word[end.max(start)..])
}

/// Whether an enhanced status code at the start of `reply` (RFC 3463) says the
/// recipient's mailbox or domain is bad.
fn names_bad_recipient(reply: &str) -> bool {
    let Some(status) = reply.split_whitespace().next() else {
        return false;
    };
    let mut parts = status.split('.');
    let (Some("5"), Some("1"), Some(detail), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    // 5.1.7 and 5.1.8 are about the sender's address, not the recipient's.
    matches!(detail, "1" | "2" | "3" | "6" | "10")
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettre::transport::smtp::response::Response;

    fn code(text: &str) -> Code {
        // Going through a reply as lettre reads one keeps this honest.
        let reply: Response = format!("{text} x\r\n").parse().expect("a reply");
        reply.code()
    }

    #[test]
    fn a_5xx_is_rejected_and_a_4xx_retried() {
        let rejected = classify_reply(code("550"), "5.1.1 [address]: User unknown");
        assert!(matches!(rejected, EmailError::Rejected { code: 550, .. }));
        assert!(!rejected.is_retryable());
        for text in ["421", "450", "451", "452", "454"] {
            let error = classify_reply(code(text), "try later");
            assert!(error.is_retryable(), "{text} should be retryable");
        }
    }

    #[test]
    fn authentication_codes_blame_the_credentials() {
        for text in ["530", "534", "535", "538"] {
            let error = classify_reply(code(text), "5.7.8 Authentication failed");
            assert!(matches!(error, EmailError::AuthRefused { .. }), "{text}");
            assert!(!error.is_retryable());
        }
        let error = classify_client("No compatible authentication mechanism was found");
        assert!(matches!(error, EmailError::AuthRefused { .. }));
        let error = classify_client("STARTTLS is not supported on this server");
        assert!(matches!(error, EmailError::Incompatible { .. }));
    }

    #[test]
    fn addresses_are_scrubbed_from_server_text() {
        let text = "5.1.1 <bob@example.com>: Recipient address rejected, to bob@example.com.";
        assert_eq!(
            scrub_addresses(text),
            "5.1.1 <[address]>: Recipient address rejected, to [address]."
        );
        assert_eq!(scrub_addresses("no address here"), "no address here");
    }

    #[test]
    fn enhanced_codes_tell_a_dead_address_from_a_policy_block() {
        let rejected = |reply: &str| EmailError::Rejected {
            code: 550,
            reply: reply.to_string(),
        };
        for reply in ["5.1.1 User unknown", "5.1.2 Bad domain", "5.1.10 Null MX"] {
            assert!(rejected(reply).address_unusable(), "{reply}");
        }
        for reply in [
            "5.7.1 Message rejected as spam",
            "5.1.8 Bad sender's address",
            "User unknown",
            "",
        ] {
            assert!(!rejected(reply).address_unusable(), "{reply}");
        }
        assert!(EmailError::InvalidRecipient.address_unusable());
        let passing = EmailError::Retryable { reason: "x".into() };
        assert!(!passing.address_unusable());
    }
}
