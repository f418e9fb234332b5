//! SMS webhook deliveries from Twilio (or anything speaking its webhooks): status
//! callbacks about Tidings' messages, and what customers text back.
//!
//! Twilio posts a form. The webhook verifies it and stores it as JSON, with the two
//! things the form lacks: Tidings' message id, which the dispatcher put in the status
//! callback URL's query (`?message_id=<uuid>`), and when it arrived, since a status
//! callback carries no time of its own:
//!
//! ```json
//! {"messageId": "0190a6d2-…", "receivedAt": "2026-12-01T10:00:00Z",
//!  "params": {"MessageSid": "SM…", "MessageStatus": "delivered", "To": "+1…", …}}
//! ```
//!
//! A status callback has a `MessageStatus` other than `received`; an inbound message
//! has `received` (Twilio's `SmsStatus`) or no status and a body. Keywords (STOP,
//! START, HELP and their families, see [`domain::Keyword`]) are kept like any text; the
//! store changes consent and queues the reply in the same transaction. Twilio marks a
//! keyword its own opt-out handling answered with `OptOutType`, and then Tidings does
//! not answer it again.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use domain::{Channel, Command, InboundContent, InboundInput, PhoneNumber, Receipt, ReceiptInput};
use serde_json::json;

use super::json::{parse_body, Obj};
use super::PayloadError;

pub const SOURCE: &str = "sms";

/// The longest status kept as a stored delivery's topic.
const MAX_TOPIC_CHARS: usize = 64;

/// How a delivery is stored: its key for de-duplication, and its kind as the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub delivery_id: String,
    pub topic: String,
}

/// The document the webhook stores for a verified form (see the module docs).
pub fn stored_body(
    message_id: Option<&str>,
    params: &[(String, String)],
    received_at: DateTime<Utc>,
) -> Vec<u8> {
    // A repeated name keeps its last value: Twilio's messaging webhooks repeat none.
    let params: BTreeMap<&str, &str> = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let document = json!({
        "messageId": message_id,
        "receivedAt": received_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "params": params,
    });
    serde_json::to_vec(&document).unwrap_or_default()
}

/// A stored delivery's key: a message's statuses share its `MessageSid`, so a status
/// key adds the status (`sent` then `delivered` are two deliveries, a replay of either
/// is one); an inbound message is keyed by its own SID.
///
/// # Errors
/// When the document lacks the SID or a status or body; the error names the form field.
pub fn key(body: &[u8]) -> Result<Key, PayloadError> {
    let value = parse_body(body)?;
    let root = Obj::root(&value)?;
    let params = params(&root)?;
    let sid = params.str("MessageSid")?;
    let (delivery_id, topic) = match kind(&params)? {
        Kind::Status(status) => {
            let status = status.to_ascii_lowercase();
            (format!("status:{sid}:{status}"), status)
        }
        Kind::Inbound => (format!("inbound:{sid}"), "inbound".to_string()),
    };
    let topic = topic.chars().take(MAX_TOPIC_CHARS).collect();
    Ok(Key { delivery_id, topic })
}

/// What a stored delivery asks of the store.
///
/// # Errors
/// When the document is not what the webhook stores, or the form lacks what its kind
/// needs; the error names the form field.
pub fn parse(body: &[u8]) -> Result<Command, PayloadError> {
    let value = parse_body(body)?;
    let root = Obj::root(&value)?;
    let params = params(&root)?;
    let at = root.opt_time("receivedAt")?.unwrap_or_else(Utc::now);
    match kind(&params)? {
        Kind::Status(status) => status_callback(&root, &params, &status, at),
        Kind::Inbound => inbound(&params, at),
    }
}

/// The form's parameters, with paths that name the form fields themselves.
fn params<'a>(root: &Obj<'a>) -> Result<Obj<'a>, PayloadError> {
    let params = root
        .obj("params")?
        .ok_or_else(|| PayloadError::new("params", "is required"))?;
    Ok(Obj {
        value: params.value,
        path: String::new(),
    })
}

enum Kind {
    Status(String),
    Inbound,
}

fn kind(params: &Obj) -> Result<Kind, PayloadError> {
    let status = match params.opt_str("MessageStatus")? {
        Some(status) => Some(status),
        None => params.opt_str("SmsStatus")?,
    };
    match status {
        Some(status) if status.eq_ignore_ascii_case("received") => Ok(Kind::Inbound),
        Some(status) => Ok(Kind::Status(status)),
        None if params.value.get("Body").is_some() => Ok(Kind::Inbound),
        None => Err(PayloadError::new(
            "MessageStatus",
            "is required (or Body, for a message a customer sent)",
        )),
    }
}

/// A status for a message Tidings sent, by the `message_id` of its callback URL.
fn status_callback(
    root: &Obj,
    params: &Obj,
    status: &str,
    at: DateTime<Utc>,
) -> Result<Command, PayloadError> {
    params.str("MessageSid")?;
    let error = params.opt_i64("ErrorCode")?.map(twilio_error);
    let receipt = match status.to_ascii_lowercase().as_str() {
        "delivered" => Receipt::Delivered,
        // Twilio reports reads for channels that have them (RCS, WhatsApp).
        "read" => Receipt::Read,
        "undelivered" | "failed" => Receipt::Failed,
        "accepted" | "scheduled" | "queued" | "sending" | "sent" => {
            return Ok(ignore(&format!(
                "status {status} adds nothing Tidings lacks"
            )));
        }
        _ => return Ok(ignore(&format!("status {status} is not followed"))),
    };
    let Some(message_id) = root.opt_str("messageId")? else {
        return Ok(ignore(
            "a status for a message Tidings did not send (no message_id in the callback URL)",
        ));
    };
    Ok(Command::Receipt(ReceiptInput {
        message_id,
        channel: Channel::Sms,
        receipt,
        at,
        error,
    }))
}

/// Twilio's error code with what its documentation says it means, for the codes a
/// failed or undelivered SMS most often carries.
fn twilio_error(code: i64) -> String {
    let meaning = match code {
        30001 => "queue overflow",
        30002 => "account suspended",
        30003 => "unreachable destination handset",
        30004 => "message blocked",
        30005 => "unknown destination handset",
        30006 => "landline or unreachable carrier",
        30007 => "message filtered by the carrier",
        30008 => "unknown error",
        30034 => "sent from an unregistered US A2P 10DLC number",
        21610 => "the recipient has replied STOP",
        21614 => "not a mobile number",
        _ => return format!("Twilio error {code}"),
    };
    format!("Twilio error {code}: {meaning}")
}

/// Something the customer texted: a text (a keyword among them) or media.
fn inbound(params: &Obj, at: DateTime<Utc>) -> Result<Command, PayloadError> {
    let provider_message_id = params.str("MessageSid")?;
    let phone = sender(params)?;
    let body = params.opt_str("Body")?;
    // Twilio sets `OptOutType` (STOP, START, HELP) when its own opt-out handling has
    // already replied to the keyword.
    let provider_answered = params.opt_str("OptOutType")?.is_some();
    let Some(content) = content(params, body)? else {
        return Ok(ignore("an empty message"));
    };
    Ok(Command::Inbound(Box::new(InboundInput {
        channel: Channel::Sms,
        provider_message_id,
        phone,
        content,
        at,
        provider_answered,
    })))
}

/// The text, or the first attachment when there is no text. With both, the text keeps
/// the attachment's URL on a line of its own, so that neither is lost.
fn content(params: &Obj, body: Option<String>) -> Result<Option<InboundContent>, PayloadError> {
    let media = match params.opt_i64("NumMedia")?.unwrap_or(0) {
        count if count < 0 => {
            return Err(PayloadError::new("NumMedia", "must not be negative"));
        }
        0 => None,
        _ => Some(first_media(params)?),
    };
    Ok(match (body, media) {
        (Some(text), None) => Some(InboundContent::Text { text }),
        (Some(text), Some((url, _))) => Some(InboundContent::Text {
            text: format!("{text}\n{url}"),
        }),
        (None, Some((url, mime_type))) => Some(InboundContent::File {
            mime_type,
            url,
            name: None,
            size_bytes: None,
        }),
        (None, None) => None,
    })
}

/// `MediaUrl0` and its type.
fn first_media(params: &Obj) -> Result<(String, String), PayloadError> {
    let url = params
        .opt_str("MediaUrl0")?
        .ok_or_else(|| PayloadError::new("MediaUrl0", "is required when NumMedia is above 0"))?;
    let mime_type = params
        .opt_str("MediaContentType0")?
        .unwrap_or_else(|| "application/octet-stream".to_string());
    Ok((url, mime_type))
}

fn sender(params: &Obj) -> Result<PhoneNumber, PayloadError> {
    let text = params.str("From")?;
    // Twilio sends E.164, so no default region is needed.
    PhoneNumber::parse(&text, "US").map_err(|e| PayloadError::new("From", e.to_string()))
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

    fn stored(message_id: Option<&str>, params: &[(&str, &str)]) -> Vec<u8> {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").unwrap();
        stored_body(message_id, &params, at.with_timezone(&Utc))
    }

    fn status(status: &str) -> Vec<u8> {
        let params = [
            ("MessageSid", "SM1"),
            ("MessageStatus", status),
            ("SmsStatus", status),
            ("To", "+16135550123"),
        ];
        stored(Some(MESSAGE_ID), &params)
    }

    fn text(body: &str) -> Vec<u8> {
        let params = [
            ("MessageSid", "SM2"),
            ("SmsStatus", "received"),
            ("From", "+16135550123"),
            ("Body", body),
            ("NumMedia", "0"),
        ];
        stored(None, &params)
    }

    #[test]
    fn delivery_statuses_are_receipts_for_the_message_in_the_callback_url() {
        let expected = [
            ("delivered", Receipt::Delivered),
            ("undelivered", Receipt::Failed),
            ("failed", Receipt::Failed),
            ("read", Receipt::Read),
        ];
        for (name, receipt) in expected {
            let Command::Receipt(input) = parse(&status(name)).unwrap() else {
                panic!("{name} is not a receipt");
            };
            assert_eq!(input.receipt, receipt);
            assert_eq!(input.message_id, MESSAGE_ID);
            assert_eq!(input.channel, Channel::Sms);
            assert_eq!(input.at.to_rfc3339(), "2026-12-01T10:00:00+00:00");
        }
        for name in ["queued", "sent", "accepted", "canceled"] {
            assert!(matches!(
                parse(&status(name)).unwrap(),
                Command::Ignore { .. }
            ));
        }
    }

    #[test]
    fn a_status_without_our_message_id_is_ignored() {
        let params = [("MessageSid", "SM1"), ("MessageStatus", "delivered")];
        let command = parse(&stored(None, &params)).unwrap();
        assert!(matches!(command, Command::Ignore { .. }));
    }

    #[test]
    fn an_inbound_text_is_kept_on_the_sms_channel() {
        let Command::Inbound(input) = parse(&text("Where is my parcel?")).unwrap() else {
            panic!("not inbound");
        };
        assert_eq!(input.channel, Channel::Sms);
        assert_eq!(input.provider_message_id, "SM2");
        assert_eq!(input.phone.as_str(), "+16135550123");
        assert_eq!(
            input.content,
            InboundContent::Text {
                text: "Where is my parcel?".into()
            }
        );
    }

    #[test]
    fn media_is_kept_as_a_file_or_beside_the_text() {
        let media = |body: &str| {
            let params = [
                ("MessageSid", "MM1"),
                ("From", "+16135550123"),
                ("Body", body),
                ("NumMedia", "1"),
                ("MediaUrl0", "https://api.twilio.com/media/ME1"),
                ("MediaContentType0", "image/jpeg"),
            ];
            match parse(&stored(None, &params)).unwrap() {
                Command::Inbound(input) => input.content,
                other => panic!("not inbound: {other:?}"),
            }
        };
        assert!(matches!(media(""), InboundContent::File { mime_type, .. }
            if mime_type == "image/jpeg"));
        assert_eq!(
            media("Broken!"),
            InboundContent::Text {
                text: "Broken!\nhttps://api.twilio.com/media/ME1".into()
            }
        );
    }

    #[test]
    fn keywords_are_kept_as_texts_marked_when_twilio_answered_them() {
        let Command::Inbound(stop) = parse(&text(" Stop. ")).unwrap() else {
            panic!("a keyword is an inbound text");
        };
        assert_eq!(stop.keyword(), Some(domain::Keyword::OptOut));
        assert!(!stop.provider_answered);

        let params = [
            ("MessageSid", "SM3"),
            ("From", "+16135550123"),
            ("Body", "STOP"),
            ("OptOutType", "STOP"),
        ];
        let Command::Inbound(answered) = parse(&stored(None, &params)).unwrap() else {
            panic!("a keyword is an inbound text");
        };
        assert!(answered.provider_answered);

        let Command::Inbound(chat) = parse(&text("stop sending me this")).unwrap() else {
            panic!("not inbound");
        };
        assert_eq!(chat.keyword(), None);
    }

    #[test]
    fn keys_tell_statuses_apart_and_replays_alike() {
        assert_eq!(key(&status("sent")).unwrap().delivery_id, "status:SM1:sent");
        assert_eq!(
            key(&status("DELIVERED")).unwrap(),
            Key {
                delivery_id: "status:SM1:delivered".into(),
                topic: "delivered".into()
            }
        );
        assert_eq!(key(&text("hi")).unwrap().delivery_id, "inbound:SM2");
    }

    #[test]
    fn a_malformed_form_names_the_field() {
        let field = |params: &[(&str, &str)]| {
            let body = stored(Some(MESSAGE_ID), params);
            key(&body).and_then(|_| parse(&body)).unwrap_err().field
        };
        assert_eq!(field(&[("MessageStatus", "delivered")]), "MessageSid");
        assert_eq!(field(&[("MessageSid", "SM1")]), "MessageStatus");
        assert_eq!(
            field(&[("MessageSid", "SM1"), ("Body", "hi"), ("From", "12")]),
            "From"
        );
        assert_eq!(
            field(&[
                ("MessageSid", "SM1"),
                ("Body", "hi"),
                ("From", "+16135550123"),
                ("NumMedia", "1")
            ]),
            "MediaUrl0"
        );
        assert_eq!(
            field(&[
                ("MessageSid", "SM1"),
                ("MessageStatus", "failed"),
                ("ErrorCode", "x")
            ]),
            "ErrorCode"
        );
        assert_eq!(parse(b"not json").unwrap_err().field, "body");
    }
}
