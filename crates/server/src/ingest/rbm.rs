//! Google RBM webhook deliveries: what customers send (user messages), what their
//! phones report (user events) and what Google reports (server events).
//!
//! The webhook stores the decoded `message.data` of each Pub/Sub push, the bytes
//! Google signed; this module reads one. The kinds of payload carry no type field, so
//! they are told apart by their keys.

use chrono::{DateTime, Utc};
use domain::{
    Channel, Command, InboundContent, InboundInput, PhoneNumber, Receipt, ReceiptInput,
    SubscriptionInput,
};
use serde_json::Value;

use super::json::{parse_body, Obj};
use super::PayloadError;

pub const SOURCE: &str = "rbm";

/// A payload's key for de-duplication: the event id for events, the message id (which
/// the customer's phone assigns) for user messages.
///
/// # Errors
/// When the payload has neither.
pub fn delivery_id(body: &[u8]) -> Result<String, PayloadError> {
    let value = parse_body(body)?;
    let payload = Obj::root(&value)?;
    if let Some(event_id) = payload.opt_str("eventId")? {
        return Ok(format!("event:{event_id}"));
    }
    match payload.opt_str("messageId")? {
        Some(message_id) => Ok(format!("message:{message_id}")),
        None => Err(PayloadError::new("eventId", "is required (or messageId)")),
    }
}

/// What a payload asks of the store.
///
/// # Errors
/// When the payload is not JSON, or lacks what its kind needs.
pub fn parse(body: &[u8]) -> Result<Command, PayloadError> {
    let value = parse_body(body)?;
    let payload = Obj::root(&value)?;
    if payload.opt_str("newLaunchState")?.is_some() {
        return Ok(ignore("agent launch events are not followed"));
    }
    match (
        payload.opt_str("eventType")?,
        payload.opt_str("phoneNumber")?,
    ) {
        // Server events name the phone `phoneNumber`; user events `senderPhoneNumber`.
        (Some(event), Some(_)) => server_event(&payload, &event),
        (Some(event), None) => user_event(&payload, &event),
        (None, _) => user_message(&payload),
    }
}

fn server_event(payload: &Obj, event: &str) -> Result<Command, PayloadError> {
    let receipt = match event {
        "TTL_EXPIRATION_REVOKED" => Receipt::Expired,
        "TTL_EXPIRATION_REVOKE_FAILED" => Receipt::ExpiryInconclusive,
        other => return Ok(ignore(&format!("server event {other} is not followed"))),
    };
    receipt_for(payload, receipt)
}

fn user_event(payload: &Obj, event: &str) -> Result<Command, PayloadError> {
    match event {
        "DELIVERED" => receipt_for(payload, Receipt::Delivered),
        "READ" => receipt_for(payload, Receipt::Read),
        "UNSUBSCRIBE" | "SUBSCRIBE" => Ok(Command::Subscription(SubscriptionInput {
            channel: Channel::Rcs,
            phone: sender(payload)?,
            subscribed: event == "SUBSCRIBE",
            at: send_time(payload)?,
        })),
        "IS_TYPING" => Ok(ignore("typing indicators are not kept")),
        other => Ok(ignore(&format!("user event {other} is not followed"))),
    }
}

fn receipt_for(payload: &Obj, receipt: Receipt) -> Result<Command, PayloadError> {
    Ok(Command::Receipt(ReceiptInput {
        message_id: payload.str("messageId")?,
        channel: Channel::Rcs,
        receipt,
        at: send_time(payload)?,
        error: None,
    }))
}

fn user_message(payload: &Obj) -> Result<Command, PayloadError> {
    let content = if let Some(text) = payload.opt_str("text")? {
        InboundContent::Text { text }
    } else if let Some(response) = payload.obj("suggestionResponse")? {
        InboundContent::Suggestion {
            text: response.opt_str("text")?.unwrap_or_default(),
            postback: response.opt_str("postbackData")?.unwrap_or_default(),
        }
    } else if let Some(location) = payload.obj("location")? {
        InboundContent::Location {
            latitude: coordinate(&location, "latitude", 90.0)?,
            longitude: coordinate(&location, "longitude", 180.0)?,
        }
    } else if let Some(file) = payload.obj("userFile")? {
        file_content(&file)?
    } else {
        return Err(PayloadError::new(
            "text",
            "a user message needs text, suggestionResponse, location or userFile",
        ));
    };
    Ok(Command::Inbound(Box::new(InboundInput {
        channel: Channel::Rcs,
        provider_message_id: payload.str("messageId")?,
        phone: sender(payload)?,
        content,
        at: send_time(payload)?,
        provider_answered: false,
    })))
}

fn file_content(file: &Obj) -> Result<InboundContent, PayloadError> {
    let info = file
        .obj("payload")?
        .ok_or_else(|| PayloadError::new(file.field_path("payload"), "is required"))?;
    Ok(InboundContent::File {
        mime_type: info.str("mimeType")?,
        url: info.str("fileUri")?,
        name: info.opt_str("fileName")?,
        size_bytes: info.opt_i64("fileSizeBytes")?,
    })
}

fn coordinate(location: &Obj, key: &str, limit: f64) -> Result<f64, PayloadError> {
    let path = location.field_path(key);
    let number = match &location.value[key] {
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    match number {
        Some(n) if n.abs() <= limit => Ok(n),
        Some(n) => Err(PayloadError::new(path, format!("{n} is out of range"))),
        None => Err(PayloadError::new(path, "must be a number")),
    }
}

fn sender(payload: &Obj) -> Result<PhoneNumber, PayloadError> {
    let text = payload.str("senderPhoneNumber")?;
    // Google sends E.164, so no default region is needed.
    PhoneNumber::parse(&text, "US")
        .map_err(|e| PayloadError::new(payload.field_path("senderPhoneNumber"), e.to_string()))
}

fn send_time(payload: &Obj) -> Result<DateTime<Utc>, PayloadError> {
    Ok(payload.opt_time("sendTime")?.unwrap_or_else(Utc::now))
}

fn ignore(reason: &str) -> Command {
    Command::Ignore {
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(value: Value) -> Command {
        parse(&serde_json::to_vec(&value).unwrap()).unwrap()
    }

    #[test]
    fn a_read_event_is_a_read_receipt_for_the_message_tidings_sent() {
        let command = parsed(json!({
            "senderPhoneNumber": "+14155550100", "eventType": "READ",
            "eventId": "e-1", "messageId": "0190a6d2-0000-7000-8000-000000000001",
            "sendTime": "2026-12-01T10:00:00.123456Z", "agentId": "shop@rbm.goog"
        }));
        let Command::Receipt(receipt) = command else {
            panic!("not a receipt: {command:?}")
        };
        assert_eq!(receipt.receipt, Receipt::Read);
        assert_eq!(receipt.message_id, "0190a6d2-0000-7000-8000-000000000001");
        assert_eq!(receipt.at.to_rfc3339(), "2026-12-01T10:00:00.123456+00:00");
    }

    #[test]
    fn a_server_event_names_the_phone_differently_and_reports_an_expiry() {
        let command = parsed(json!({
            "phoneNumber": "+14155550100", "eventType": "TTL_EXPIRATION_REVOKED",
            "eventId": "e-2", "messageId": "m-1", "agentId": "shop@rbm.goog"
        }));
        assert!(matches!(command, Command::Receipt(r) if r.receipt == Receipt::Expired));
    }

    #[test]
    fn each_kind_of_user_message_is_kept() {
        let base = json!({"senderPhoneNumber": "+34612345678", "messageId": "u-1"});
        let with = |key: &str, value: Value| {
            let mut message = base.clone();
            message[key] = value;
            match parsed(message) {
                Command::Inbound(input) => input.content,
                other => panic!("not inbound: {other:?}"),
            }
        };
        assert_eq!(
            with("text", json!("¿Dónde está mi pedido?")),
            InboundContent::Text {
                text: "¿Dónde está mi pedido?".into()
            }
        );
        let tap = with(
            "suggestionResponse",
            json!({"postbackData": "csat:5:12", "text": "5", "type": "REPLY"}),
        );
        assert_eq!(
            tap,
            InboundContent::Suggestion {
                text: "5".into(),
                postback: "csat:5:12".into()
            }
        );
        let place = with("location", json!({"latitude": 40.4, "longitude": -3.7}));
        assert!(matches!(place, InboundContent::Location { latitude, .. } if latitude == 40.4));
        let file = with(
            "userFile",
            json!({"payload": {"mimeType": "image/jpeg", "fileSizeBytes": 1200,
                "fileUri": "https://rcs.example/f/1", "fileName": "parcel.jpg"}}),
        );
        assert!(matches!(
            file,
            InboundContent::File {
                size_bytes: Some(1200),
                ..
            }
        ));
    }

    #[test]
    fn unsubscribing_is_a_subscription_change_and_typing_is_ignored() {
        let event = |kind: &str| {
            parsed(
                json!({"senderPhoneNumber": "+14155550100", "eventType": kind,
                "eventId": "e-3"}),
            )
        };
        assert!(matches!(event("UNSUBSCRIBE"), Command::Subscription(s) if !s.subscribed));
        assert!(matches!(event("SUBSCRIBE"), Command::Subscription(s) if s.subscribed));
        assert!(matches!(event("IS_TYPING"), Command::Ignore { .. }));
    }

    #[test]
    fn a_malformed_payload_names_the_field() {
        let body = |value: Value| serde_json::to_vec(&value).unwrap();
        let error = parse(&body(json!({"senderPhoneNumber": "+14155550100",
            "messageId": "u-2"})))
        .unwrap_err();
        assert_eq!(error.field, "text");
        let error = parse(&body(json!({"senderPhoneNumber": "12", "messageId": "u-3",
            "text": "hi"})))
        .unwrap_err();
        assert_eq!(error.field, "senderPhoneNumber");
        let error = parse(&body(json!({"senderPhoneNumber": "+14155550100",
            "messageId": "u-4", "location": {"latitude": 91, "longitude": 0}})))
        .unwrap_err();
        assert_eq!(error.field, "location.latitude");
        assert!(delivery_id(&body(json!({"text": "hi"}))).is_err());
    }

    #[test]
    fn events_and_messages_are_keyed_apart() {
        let body = |value: Value| serde_json::to_vec(&value).unwrap();
        assert_eq!(
            delivery_id(&body(json!({"eventId": "x", "messageId": "m"}))).unwrap(),
            "event:x"
        );
        assert_eq!(
            delivery_id(&body(json!({"messageId": "m"}))).unwrap(),
            "message:m"
        );
    }
}
