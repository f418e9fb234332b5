//! GSMA MaaP chatbot platform notifications: what customers send (`message`, `response`)
//! and what the platform reports about Tidings' messages (`messageStatus`).
//!
//! Every notification is a JSON object whose `event` names its kind; the message sits
//! under `RCSMessage`, the customer under `messageContact`:
//!
//! ```json
//! {"event": "messageStatus",
//!  "messageContact": {"userContact": "+14251234567"},
//!  "RCSMessage": {"msgId": "<Tidings' message id>", "status": "displayed",
//!                 "timestamp": "2017-09-26T01:33:20.315Z"}}
//! ```
//!
//! The webhook stores the body as the platform sent it; this module reads one.

use chrono::{DateTime, Utc};
use domain::{Channel, Command, InboundContent, InboundInput, PhoneNumber, Receipt, ReceiptInput};
use serde_json::Value;

use super::json::{parse_body, Obj};
use super::PayloadError;

pub const SOURCE: &str = "maap";

/// The longest event name kept as a stored delivery's topic.
const MAX_TOPIC_CHARS: usize = 64;

/// How a notification is stored: its key for de-duplication, and its event as the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub delivery_id: String,
    pub topic: String,
}

/// A notification's key. A message's statuses share its `msgId`, so a status key adds
/// the status: `delivered` then `displayed` are two deliveries, a replay of either is
/// one. A `fileStatus` is keyed by its file the same way.
///
/// # Errors
/// When the body is not a JSON object, or lacks its event or the id its event needs.
pub fn key(body: &[u8]) -> Result<Key, PayloadError> {
    let value = parse_body(body)?;
    let root = Obj::root(&value)?;
    let event = root.str("event")?;
    let delivery_id = match event.as_str() {
        "fileStatus" => {
            let file = required_obj(&root, "file")?;
            format!("fileStatus:{}:{}", file.str("fileId")?, file.str("status")?)
        }
        "messageStatus" => {
            let message = rcs_message(&root)?;
            format!(
                "{event}:{}:{}",
                message.str("msgId")?,
                message.str("status")?
            )
        }
        "isTyping" => {
            let message = rcs_message(&root)?;
            format!(
                "{event}:{}:{}",
                message.str("msgId")?,
                message.str("isTyping")?
            )
        }
        _ => format!("{event}:{}", rcs_message(&root)?.str("msgId")?),
    };
    let topic = event.chars().take(MAX_TOPIC_CHARS).collect();
    Ok(Key { delivery_id, topic })
}

/// What a notification asks of the store.
///
/// # Errors
/// When the body is not JSON, or lacks what its event needs; the error names the field.
pub fn parse(body: &[u8]) -> Result<Command, PayloadError> {
    let value = parse_body(body)?;
    let root = Obj::root(&value)?;
    let event = root.str("event")?;
    match event.as_str() {
        "messageStatus" => message_status(&root),
        "message" | "response" => inbound(&root),
        // A first contact ("Start chat") may carry the tap that started it.
        "newUser" if has_suggested_response(&root)? => inbound(&root),
        "newUser" => Ok(ignore("a new user without a message")),
        "isTyping" => Ok(ignore("typing indicators are not kept")),
        "fileStatus" => Ok(ignore("file uploads are not followed")),
        "alias" => Ok(ignore("alias changes are not followed")),
        other => Ok(ignore(&format!("MaaP event {other} is not followed"))),
    }
}

/// A status for a message Tidings sent, by the `msgId` Tidings gave it.
fn message_status(root: &Obj) -> Result<Command, PayloadError> {
    let message = rcs_message(root)?;
    let status = message.str("status")?;
    let receipt = match status.to_ascii_lowercase().as_str() {
        "delivered" => Receipt::Delivered,
        "displayed" => Receipt::Read,
        "failed" => Receipt::Failed,
        // Recorded when the platform took the message (`sent`, `pending`) or when
        // Tidings asked for the cancellation: nothing new.
        "sent" | "pending" | "cancelled" => {
            return Ok(ignore(&format!(
                "status {status} adds nothing Tidings lacks"
            )));
        }
        _ => return Ok(ignore(&format!("status {status} is not followed"))),
    };
    Ok(Command::Receipt(ReceiptInput {
        message_id: message.str("msgId")?,
        channel: Channel::Rcs,
        receipt,
        at: timestamp(&message)?,
        error: None,
    }))
}

/// Something the customer sent: a text, a tap on a suggestion, a location or a file.
fn inbound(root: &Obj) -> Result<Command, PayloadError> {
    let message = rcs_message(root)?;
    let content = content(&message)?;
    let Some(phone) = sender(root)? else {
        return Ok(ignore(
            "an anonymous contact (chatId only) cannot be linked to a customer",
        ));
    };
    Ok(Command::Inbound(Box::new(InboundInput {
        channel: Channel::Rcs,
        provider_message_id: message.str("msgId")?,
        phone,
        content,
        at: timestamp(&message)?,
        provider_answered: false,
    })))
}

fn content(message: &Obj) -> Result<InboundContent, PayloadError> {
    if let Some(text) = message.opt_str("textMessage")? {
        return Ok(InboundContent::Text { text });
    }
    if let Some(response) = message.obj("suggestedResponse")? {
        return suggestion(&response);
    }
    if let Some(location) = message.obj("geolocationPushMessage")? {
        return geolocation(&location);
    }
    for key in ["fileMessage", "audioMessage"] {
        if let Some(file) = message.obj(key)? {
            return file_content(&file);
        }
    }
    Err(PayloadError::new(
        message.field_path("textMessage"),
        "a message needs textMessage, suggestedResponse, geolocationPushMessage, \
         fileMessage or audioMessage",
    ))
}

/// `suggestedResponse.response.{reply|action}.{displayText, postback.data}`.
fn suggestion(response: &Obj) -> Result<InboundContent, PayloadError> {
    let inner = required_obj(response, "response")?;
    let tapped = match (inner.obj("reply")?, inner.obj("action")?) {
        (Some(reply), _) => reply,
        (None, Some(action)) => action,
        (None, None) => {
            let path = inner.field_path("reply");
            return Err(PayloadError::new(path, "is required (or action)"));
        }
    };
    let postback = match tapped.obj("postback")? {
        Some(postback) => postback.opt_str("data")?,
        None => None,
    };
    Ok(InboundContent::Suggestion {
        text: tapped.opt_str("displayText")?.unwrap_or_default(),
        postback: postback.unwrap_or_default(),
    })
}

/// A geolocation push: `pos` holds latitude and longitude in WGS 84 decimal degrees,
/// separated by a space (as in the GML `pos` it comes from) or a comma.
fn geolocation(location: &Obj) -> Result<InboundContent, PayloadError> {
    let path = location.field_path("pos");
    let pos = location.str("pos")?;
    let numbers: Vec<f64> = pos
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|part| !part.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| PayloadError::new(&path, format!("{pos:?} is not two numbers")))?;
    let [latitude, longitude] = numbers[..] else {
        let message = format!("{pos:?} is not a latitude and a longitude");
        return Err(PayloadError::new(path, message));
    };
    if latitude.abs() > 90.0 || longitude.abs() > 180.0 {
        return Err(PayloadError::new(path, format!("{pos:?} is out of range")));
    }
    Ok(InboundContent::Location {
        latitude,
        longitude,
    })
}

fn file_content(file: &Obj) -> Result<InboundContent, PayloadError> {
    let mime_type = file.opt_str("fileMIMEType")?;
    Ok(InboundContent::File {
        mime_type: mime_type.unwrap_or_else(|| "application/octet-stream".into()),
        url: file.str("fileUrl")?,
        name: file.opt_str("fileName")?,
        size_bytes: file.opt_i64("fileSize")?,
    })
}

/// The customer's number, from `messageContact.userContact`; `None` for a contact the
/// platform anonymised (a `chatId` alone).
///
/// Platforms send an MSISDN, written with or without its `+` and sometimes as a
/// `tel:` URI; it is an international number either way.
fn sender(root: &Obj) -> Result<Option<PhoneNumber>, PayloadError> {
    let contact = required_obj(root, "messageContact")?;
    let Some(text) = contact.opt_str("userContact")? else {
        if contact.opt_str("chatId")?.is_some() {
            return Ok(None);
        }
        let path = contact.field_path("userContact");
        return Err(PayloadError::new(path, "is required (or chatId)"));
    };
    let number = text.trim_start_matches("tel:");
    let international = if number.starts_with('+') {
        number.to_string()
    } else {
        format!("+{number}")
    };
    // Any region will do: an international number carries its own.
    PhoneNumber::parse(&international, "US")
        .map(Some)
        .map_err(|e| PayloadError::new(contact.field_path("userContact"), e.to_string()))
}

fn has_suggested_response(root: &Obj) -> Result<bool, PayloadError> {
    match root.obj("RCSMessage")? {
        Some(message) => Ok(message.obj("suggestedResponse")?.is_some()),
        None => Ok(false),
    }
}

fn rcs_message<'a>(root: &Obj<'a>) -> Result<Obj<'a>, PayloadError> {
    required_obj(root, "RCSMessage")
}

fn required_obj<'a>(parent: &Obj<'a>, key: &str) -> Result<Obj<'a>, PayloadError> {
    parent
        .obj(key)?
        .ok_or_else(|| PayloadError::new(parent.field_path(key), "is required"))
}

fn timestamp(message: &Obj) -> Result<DateTime<Utc>, PayloadError> {
    Ok(message.opt_time("timestamp")?.unwrap_or_else(Utc::now))
}

fn ignore(reason: &str) -> Command {
    Command::Ignore {
        reason: reason.to_string(),
    }
}

/// A notification as a platform would send it, for tests and demos: `event` with
/// `rcs_message` under `RCSMessage`, from `phone`.
pub fn notification(event: &str, phone: &str, rcs_message: Value) -> Value {
    serde_json::json!({
        "event": event,
        "messageContact": {"userContact": phone},
        "RCSMessage": rcs_message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const PHONE: &str = "+14155550100";

    fn body(value: &Value) -> Vec<u8> {
        serde_json::to_vec(value).unwrap()
    }

    fn parsed(value: Value) -> Command {
        parse(&body(&value)).unwrap()
    }

    fn status(status: &str) -> Value {
        notification(
            "messageStatus",
            PHONE,
            json!({"msgId": "0190a6d2-0000-7000-8000-000000000001", "status": status,
                "timestamp": "2026-12-01T10:00:00.315Z"}),
        )
    }

    fn inbound_content(rcs_message: Value) -> InboundContent {
        let mut message = rcs_message;
        message["msgId"] = json!("Xs8CI3tdf");
        match parsed(notification("message", PHONE, message)) {
            Command::Inbound(input) => input.content,
            other => panic!("not inbound: {other:?}"),
        }
    }

    #[test]
    fn statuses_become_receipts_for_the_message_tidings_sent() {
        let receipt = |name: &str| match parsed(status(name)) {
            Command::Receipt(receipt) => Some(receipt),
            _ => None,
        };
        let read = receipt("displayed").expect("a receipt");
        assert_eq!(read.receipt, Receipt::Read);
        assert_eq!(read.message_id, "0190a6d2-0000-7000-8000-000000000001");
        assert_eq!(read.at.to_rfc3339(), "2026-12-01T10:00:00.315+00:00");
        assert_eq!(receipt("delivered").unwrap().receipt, Receipt::Delivered);
        assert_eq!(receipt("FAILED").unwrap().receipt, Receipt::Failed);
        for quiet in ["sent", "pending", "cancelled", "teleported"] {
            assert!(receipt(quiet).is_none(), "{quiet}");
        }
    }

    #[test]
    fn each_kind_of_inbound_message_is_kept() {
        let text = inbound_content(json!({"textMessage": "¿Dónde está mi pedido?"}));
        assert_eq!(
            text,
            InboundContent::Text {
                text: "¿Dónde está mi pedido?".into()
            }
        );
        let tap = inbound_content(json!({"suggestedResponse": {"response": {"reply": {
            "displayText": "5", "postback": {"data": "csat:5:12"}}}}}));
        let expected = InboundContent::Suggestion {
            text: "5".into(),
            postback: "csat:5:12".into(),
        };
        assert_eq!(tap, expected);
        let place = inbound_content(json!({"geolocationPushMessage": {
            "pos": "26.1181289 -80.1283921", "label": "Home"}}));
        let expected = InboundContent::Location {
            latitude: 26.1181289,
            longitude: -80.1283921,
        };
        assert_eq!(place, expected);
        let file = inbound_content(json!({"fileMessage": {"fileUrl": "https://m.example/f/1",
            "fileMIMEType": "image/jpeg", "fileName": "parcel.jpg", "fileSize": 1200}}));
        assert!(matches!(
            file,
            InboundContent::File {
                size_bytes: Some(1200),
                ..
            }
        ));
    }

    #[test]
    fn a_response_event_is_a_tap_and_an_action_counts_too() {
        let response = notification(
            "response",
            PHONE,
            json!({"msgId": "r-1", "suggestedResponse": {"response": {"action": {
                "displayText": "Track", "postback": {"data": "track:1042"}}}}}),
        );
        let Command::Inbound(input) = parsed(response) else {
            panic!("not inbound");
        };
        assert_eq!(input.provider_message_id, "r-1");
        assert_eq!(input.phone.as_str(), PHONE);
        assert!(
            matches!(input.content, InboundContent::Suggestion { postback, .. }
            if postback == "track:1042")
        );
    }

    #[test]
    fn contacts_are_read_as_international_numbers() {
        let from = |contact: Value| {
            let mut value =
                notification("message", PHONE, json!({"msgId": "m", "textMessage": "hi"}));
            value["messageContact"] = contact;
            parse(&body(&value))
        };
        for written in ["+14155550100", "14155550100", "tel:+14155550100"] {
            let Ok(Command::Inbound(input)) = from(json!({"userContact": written})) else {
                panic!("{written} not read");
            };
            assert_eq!(input.phone.as_str(), PHONE);
        }
        let anonymous = from(json!({"chatId": "93JF93SEIJFE"})).unwrap();
        assert!(matches!(anonymous, Command::Ignore { .. }));
        assert_eq!(
            from(json!({})).unwrap_err().field,
            "messageContact.userContact"
        );
        let bad = from(json!({"userContact": "12"})).unwrap_err();
        assert_eq!(bad.field, "messageContact.userContact");
    }

    #[test]
    fn a_malformed_notification_names_the_field() {
        let error = |value: Value| parse(&body(&value)).unwrap_err().field;
        assert_eq!(error(json!({"RCSMessage": {}})), "event");
        assert_eq!(error(json!({"event": "messageStatus"})), "RCSMessage");
        let no_id = notification("messageStatus", PHONE, json!({"status": "delivered"}));
        assert_eq!(error(no_id), "RCSMessage.msgId");
        let empty = notification("message", PHONE, json!({"msgId": "m"}));
        assert_eq!(error(empty), "RCSMessage.textMessage");
        let far = notification(
            "message",
            PHONE,
            json!({"msgId": "m", "geolocationPushMessage": {"pos": "91 0"}}),
        );
        assert_eq!(error(far), "RCSMessage.geolocationPushMessage.pos");
        let one = notification(
            "message",
            PHONE,
            json!({"msgId": "m", "geolocationPushMessage": {"pos": "40.4"}}),
        );
        assert_eq!(error(one), "RCSMessage.geolocationPushMessage.pos");
        assert_eq!(parse(b"[1]").unwrap_err().field, "body");
    }

    #[test]
    fn other_events_are_ignored() {
        let typing = notification(
            "isTyping",
            PHONE,
            json!({"msgId": "t", "isTyping": "active"}),
        );
        assert!(matches!(parsed(typing), Command::Ignore { .. }));
        let greeting = notification("newUser", PHONE, json!({"msgId": "n"}));
        assert!(matches!(parsed(greeting), Command::Ignore { .. }));
        let started = notification(
            "newUser",
            PHONE,
            json!({"msgId": "n",
            "suggestedResponse": {"response": {"reply": {"displayText": "Start chat",
            "postback": {"data": "new_bot_user_initiation"}}}}}),
        );
        assert!(matches!(parsed(started), Command::Inbound(_)));
        let file = json!({"event": "fileStatus", "file": {"fileId": "f", "status": "ready"}});
        assert!(matches!(parsed(file), Command::Ignore { .. }));
    }

    #[test]
    fn statuses_of_one_message_are_keyed_apart_and_replays_alike() {
        let delivered = key(&body(&status("delivered"))).unwrap();
        let read = key(&body(&status("displayed"))).unwrap();
        assert_ne!(delivered.delivery_id, read.delivery_id);
        assert_eq!(delivered, key(&body(&status("delivered"))).unwrap());
        assert_eq!(delivered.topic, "messageStatus");
        let message = notification(
            "message",
            PHONE,
            json!({"msgId": "u-1", "textMessage": "x"}),
        );
        assert_eq!(key(&body(&message)).unwrap().delivery_id, "message:u-1");
        let file = json!({"event": "fileStatus", "file": {"fileId": "f", "status": "ready"}});
        assert_eq!(key(&body(&file)).unwrap().delivery_id, "fileStatus:f:ready");
        assert_eq!(
            key(&body(&json!({"event": "message"}))).unwrap_err().field,
            "RCSMessage"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_parser(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let _ = key(&bytes);
            let _ = parse(&bytes);
        }
    }
}
