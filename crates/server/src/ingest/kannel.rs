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

use chrono::{DateTime, SecondsFormat, Utc};
use domain::{Channel, Command, Receipt, ReceiptInput};
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
    let message_id = root.str("messageId")?;
    let status = status(&root)?;
    root.opt_str("answer")?;
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
    Ok(Command::Receipt(ReceiptInput {
        message_id,
        channel: Channel::Sms,
        receipt,
        at,
    }))
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

    #[test]
    fn a_malformed_document_names_the_field() {
        assert_eq!(parse(b"not json").unwrap_err().field, "body");
        let no_status = br#"{"messageId": "x"}"#;
        assert_eq!(key(no_status).unwrap_err().field, "status");
        let no_id = br#"{"status": 1}"#;
        assert_eq!(parse(no_id).unwrap_err().field, "messageId");
    }
}
