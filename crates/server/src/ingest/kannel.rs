//! Delivery reports from a Kannel smsbox about the SMS Tidings sent through it.
//!
//! Kannel calls the `dlr-url` the client gave it, with its escape codes replaced:
//! `?message_id=<uuid>&status=%d&answer=%A&secret=…`. The webhook checks the secret and
//! stores the rest as JSON, with when it arrived, since a report carries no time Tidings
//! can trust:
//!
//! ```json
//! {"messageId": "0190a6d2-…", "status": 1, "answer": "ACK/",
//!  "receivedAt": "2026-12-01T10:00:00Z"}
//! ```
//!
//! The report types are Kannel's bits: 1 delivered to the phone, 2 not delivered, 4
//! buffered, 8 taken by the SMSC, 16 refused by the SMSC. Only 1, 2 and 16 tell Tidings
//! something it follows.
//!
//! Texts customers send (MO messages) arrive the same way, from an `sms-service` whose
//! `get-url` calls `/webhooks/kannel/inbound` with `?id=%I&from=%p&to=%P&text=%a&ts=%T`
//! and the secret. They are stored as
//!
//! ```json
//! {"kind": "mo", "id": "b00c8ee3-…", "from": "+16135550123", "to": "+15005550006",
//!  "text": "Where is my parcel?", "sentAt": "…", "receivedAt": "…"}
//! ```
//!
//! with the sender already in E.164 (the webhook knows the default region), and become
//! inbound texts, keywords among them.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::{Channel, Command, InboundContent, InboundInput, PhoneNumber, Receipt, ReceiptInput};
use serde_json::json;

use super::json::{parse_body, Obj};
use super::PayloadError;

pub const SOURCE: &str = "kannel";

/// Kannel's delivery report types (`%d`).
const DELIVERED: i64 = 1;
const FAILED: i64 = 2;
const BUFFERED: i64 = 4;
const SMSC_SUBMIT: i64 = 8;
const SMSC_REJECT: i64 = 16;

/// The longest SMSC answer kept: a DLR's answer is a short PDU summary.
const MAX_ANSWER_CHARS: usize = 500;

/// The `kind` of a stored MO message; reports have none.
const MO_KIND: &str = "mo";

/// The longest MO text kept: ten concatenated GSM-7 parts, more than any phone sends.
const MAX_MO_CHARS: usize = 1_600;

/// How a delivery is stored: its key for de-duplication, and its kind as the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub delivery_id: String,
    pub topic: String,
}

/// What the webhook read from a report's query, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Tidings' message, a UUID.
    pub message_id: String,
    /// Kannel's report type.
    pub status: i64,
    /// The SMSC's answer, when Kannel had one.
    pub answer: Option<String>,
}

/// What the inbound webhook read from smsbox's `get-url` call, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mo {
    /// Kannel's id for the message (`%I`), the same on a retried call.
    pub id: String,
    /// The sender, in E.164.
    pub from: PhoneNumber,
    /// The number the customer texted (`%P`), when Kannel gave it.
    pub to: Option<String>,
    pub text: String,
    /// When the SMSC says the message was sent (`%T`).
    pub sent_at: Option<DateTime<Utc>>,
}

/// The document the webhook stores for a verified MO message (see the module docs).
pub fn stored_mo_body(mo: &Mo, received_at: DateTime<Utc>) -> Vec<u8> {
    let time = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let document = json!({
        "kind": MO_KIND,
        "id": mo.id,
        "from": mo.from.as_str(),
        "to": mo.to,
        "text": mo.text.chars().take(MAX_MO_CHARS).collect::<String>(),
        "sentAt": mo.sent_at.map(time),
        "receivedAt": time(received_at),
    });
    serde_json::to_vec(&document).unwrap_or_default()
}

/// The document the webhook stores for a verified report (see the module docs).
pub fn stored_body(report: &Report, received_at: DateTime<Utc>) -> Vec<u8> {
    let answer = report
        .answer
        .as_deref()
        .map(|a| a.chars().take(MAX_ANSWER_CHARS).collect::<String>());
    let document = json!({
        "messageId": report.message_id,
        "status": report.status,
        "answer": answer,
        "receivedAt": received_at.to_rfc3339_opts(SecondsFormat::Micros, true),
    });
    serde_json::to_vec(&document).unwrap_or_default()
}

/// A stored report's key: one per message and report type, so that Kannel retrying a
/// report stores it once, and `8` then `1` are two deliveries.
///
/// # Errors
/// When the document lacks the message id or the status.
pub fn key(body: &[u8]) -> Result<Key, PayloadError> {
    let value = parse_body(body)?;
    let root = Obj::root(&value)?;
    if is_mo(&root)? {
        return Ok(Key {
            delivery_id: format!("mo:{}", root.str("id")?),
            topic: "inbound".to_string(),
        });
    }
    let message_id = root.str("messageId")?;
    let status = status(&root)?;
    Ok(Key {
        delivery_id: format!("dlr:{message_id}:{status}"),
        topic: topic(status).to_string(),
    })
}

/// What a stored report asks of the store.
///
/// # Errors
/// When the document is not what the webhook stores; the error names the field.
pub fn parse(body: &[u8]) -> Result<Command, PayloadError> {
    let value = parse_body(body)?;
    let root = Obj::root(&value)?;
    if is_mo(&root)? {
        return parse_mo(&root);
    }
    let message_id = root.str("messageId")?;
    let status = status(&root)?;
    let answer = root.opt_str("answer")?.filter(|a| !a.is_empty());
    let at = root.opt_time("receivedAt")?.unwrap_or_else(Utc::now);
    let receipt = match status {
        DELIVERED => Receipt::Delivered,
        FAILED | SMSC_REJECT => Receipt::Failed,
        BUFFERED | SMSC_SUBMIT => {
            return Ok(ignore(&format!(
                "report {status} ({}) adds nothing Tidings lacks",
                topic(status)
            )));
        }
        _ => return Ok(ignore(&format!("report {status} is not followed"))),
    };
    let error = match receipt {
        Receipt::Failed => Some(format!(
            "Kannel report {status} ({}){}",
            topic(status),
            answer.map(|a| format!(": {a}")).unwrap_or_default()
        )),
        _ => None,
    };
    Ok(Command::Receipt(ReceiptInput {
        message_id,
        channel: Channel::Sms,
        receipt,
        at,
        error,
    }))
}

fn is_mo(root: &Obj) -> Result<bool, PayloadError> {
    Ok(root.opt_str("kind")?.as_deref() == Some(MO_KIND))
}

/// A text a customer sent; the store acts on keywords (STOP, START, HELP) among them.
fn parse_mo(root: &Obj) -> Result<Command, PayloadError> {
    let id = root.str("id")?;
    let from = root.str("from")?;
    // Stored in E.164 by the webhook, so the region is never used.
    let phone =
        PhoneNumber::parse(&from, "US").map_err(|e| PayloadError::new("from", e.to_string()))?;
    let text = root.opt_str("text")?.unwrap_or_default();
    let at = match root.opt_time("sentAt")? {
        Some(at) => at,
        None => root.opt_time("receivedAt")?.unwrap_or_else(Utc::now),
    };
    if text.trim().is_empty() {
        return Ok(ignore("an empty message"));
    }
    Ok(Command::Inbound(Box::new(InboundInput {
        channel: Channel::Sms,
        provider_message_id: format!("kannel:{id}"),
        phone,
        content: InboundContent::Text { text },
        at,
        // Kannel has no opt-out handling of its own: Tidings answers keywords itself.
        provider_answered: false,
    })))
}

fn status(root: &Obj) -> Result<i64, PayloadError> {
    root.opt_i64("status")?
        .ok_or_else(|| PayloadError::new("status", "is required"))
}

/// A report type's name, the stored delivery's topic.
pub fn topic(status: i64) -> &'static str {
    match status {
        DELIVERED => "delivered",
        FAILED => "failed",
        BUFFERED => "buffered",
        SMSC_SUBMIT => "smsc-submit",
        SMSC_REJECT => "smsc-reject",
        _ => "other",
    }
}

fn ignore(reason: &str) -> Command {
    Command::Ignore {
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE_ID: &str = "0190a6d2-0000-7000-8000-000000000001";

    fn stored(status: i64) -> Vec<u8> {
        let report = Report {
            message_id: MESSAGE_ID.into(),
            status,
            answer: Some("ACK/".into()),
        };
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").unwrap();
        stored_body(&report, at.with_timezone(&Utc))
    }

    #[test]
    fn delivered_and_failed_reports_are_receipts_for_the_message() {
        let expected = [
            (1, Receipt::Delivered),
            (2, Receipt::Failed),
            (16, Receipt::Failed),
        ];
        for (status, receipt) in expected {
            let Command::Receipt(input) = parse(&stored(status)).unwrap() else {
                panic!("{status} is not a receipt");
            };
            assert_eq!(input.receipt, receipt);
            assert_eq!(input.message_id, MESSAGE_ID);
            assert_eq!(input.channel, Channel::Sms);
            assert_eq!(input.at.to_rfc3339(), "2026-12-01T10:00:00+00:00");
        }
    }

    #[test]
    fn buffered_submitted_and_unknown_reports_are_ignored() {
        for status in [4, 8, 3, 0] {
            assert!(
                matches!(parse(&stored(status)).unwrap(), Command::Ignore { .. }),
                "{status}"
            );
        }
    }

    #[test]
    fn keys_tell_report_types_apart_and_replays_alike() {
        assert_eq!(
            key(&stored(1)).unwrap(),
            Key {
                delivery_id: format!("dlr:{MESSAGE_ID}:1"),
                topic: "delivered".into()
            }
        );
        assert_eq!(key(&stored(8)).unwrap().topic, "smsc-submit");
        assert_ne!(key(&stored(1)).unwrap(), key(&stored(2)).unwrap());
    }

    fn mo(text: &str) -> Vec<u8> {
        let mo = Mo {
            id: "b00c8ee3-8485-427d-be39-643c0437eb83".into(),
            from: PhoneNumber::parse("+16135550123", "US").unwrap(),
            to: Some("+15005550006".into()),
            text: text.into(),
            sent_at: DateTime::parse_from_rfc3339("2026-12-01T09:59:58Z")
                .ok()
                .map(|at| at.with_timezone(&Utc)),
        };
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").unwrap();
        stored_mo_body(&mo, at.with_timezone(&Utc))
    }

    #[test]
    fn an_mo_text_is_an_inbound_sms_keyed_by_kannels_id() {
        let body = mo("Where is my parcel?");
        let key = key(&body).unwrap();
        assert_eq!(key.delivery_id, "mo:b00c8ee3-8485-427d-be39-643c0437eb83");
        assert_eq!(key.topic, "inbound");

        let Command::Inbound(input) = parse(&body).unwrap() else {
            panic!("not an inbound text");
        };
        assert_eq!(input.channel, Channel::Sms);
        assert_eq!(input.phone.as_str(), "+16135550123");
        assert_eq!(input.at.to_rfc3339(), "2026-12-01T09:59:58+00:00");
        assert_eq!(
            input.content,
            InboundContent::Text {
                text: "Where is my parcel?".into()
            }
        );
    }

    #[test]
    fn mo_keywords_are_inbound_texts_for_the_store_to_answer_and_empty_ones_are_ignored() {
        let Command::Inbound(stop) = parse(&mo(" Stop ")).unwrap() else {
            panic!("STOP is not an inbound text");
        };
        assert_eq!(stop.keyword(), Some(domain::Keyword::OptOut));
        assert!(!stop.provider_answered, "Kannel answers no keyword itself");
        assert!(matches!(parse(&mo("  ")).unwrap(), Command::Ignore { .. }));
    }

    #[test]
    fn a_malformed_document_names_the_field() {
        assert_eq!(parse(b"not json").unwrap_err().field, "body");
        let no_status = br#"{"messageId": "x"}"#;
        assert_eq!(key(no_status).unwrap_err().field, "status");
        let no_id = br#"{"status": 1}"#;
        assert_eq!(parse(no_id).unwrap_err().field, "messageId");
    }
}
