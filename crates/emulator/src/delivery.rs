//! How simulated phones take part: delivery once online, reading after a delay, the
//! user's scripted or manual replies, and expiry of what could not be delivered.
//!
//! Every step changes the world under its lock and queues the webhook notice in the
//! same critical section, so notices leave in the order the steps happened.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::config::UserAction;
use crate::error::{ApiError, ApiResult};
use crate::phones::{AgentMessageRecord, MessageState, Phone, UserMessageRecord};
use crate::state::{Shared, World};
use crate::webhook::{enqueue, Notice};

/// Which suggestion of a message the user taps.
#[derive(Clone, Debug)]
pub enum Choice {
    /// The one with this label.
    Label(String),
    /// The n-th, counting card suggestions first, then the message's chips.
    Index(usize),
}

/// One tappable suggestion of an agent message.
#[derive(Clone, Debug, PartialEq)]
pub struct Chip {
    /// The label.
    pub text: String,
    /// What comes back to the agent.
    pub postback_data: String,
    /// `REPLY` or `ACTION`.
    pub kind: &'static str,
}

/// Starts delivery of a message just accepted, and its expiry clock.
pub fn accept(shared: &Arc<Shared>, phone: &str, record: &AgentMessageRecord, delay: Duration) {
    schedule_delivery(shared, phone, &record.message_id, delay);
    if let Some(expire_time) = record.expire_time {
        let wait = (expire_time - Utc::now()).to_std().unwrap_or_default();
        let (phone, id) = (phone.to_string(), record.message_id.clone());
        shared.after(wait, move |shared| expire(shared, &phone, &id));
    }
}

fn schedule_delivery(shared: &Arc<Shared>, phone: &str, message_id: &str, delay: Duration) {
    let (phone, id) = (phone.to_string(), message_id.to_string());
    shared.after(delay, move |shared| deliver(shared, &phone, &id));
}

/// Puts a pending message on an online phone, then plans the read and the script step.
fn deliver(shared: &Arc<Shared>, phone: &str, message_id: &str) {
    let mut world = shared.world();
    let Some(device) = world.phone_mut(phone) else {
        return;
    };
    if !device.online {
        // It waits for the phone to come online.
        return;
    }
    let read_after = device.config.read_after_ms;
    let Some(message) = device.message_mut(message_id) else {
        return;
    };
    if message.state != MessageState::Pending {
        return;
    }
    message.state = MessageState::Delivered;
    message.delivered_at = Some(Utc::now());
    let step = device.script.pop_front();
    device.touch();
    let notice = Notice::UserEvent {
        event_type: "DELIVERED",
        message_id: message_id.to_string(),
    };
    enqueue(shared, &mut world, phone, notice);
    drop(world);

    let (number, id) = (phone.to_string(), message_id.to_string());
    if let Some(ms) = read_after {
        shared.after(Duration::from_millis(ms), move |shared| {
            read(shared, &number, &id);
        });
    }
    if let Some(step) = step {
        let (number, id) = (phone.to_string(), message_id.to_string());
        shared.after(Duration::from_millis(step.after_ms), move |shared| {
            let reply = act(shared, &number, Some(&id), &step.action);
            if let Err(error) = reply {
                tracing::warn!(message_id = %id, error = %error.message, "a script step failed");
            }
        });
    }
}

/// Marks a delivered message read and tells the agent; false when it was not in the
/// delivered state.
pub fn read(shared: &Shared, phone: &str, message_id: &str) -> bool {
    read_in(shared, &mut shared.world(), phone, message_id)
}

/// [`read`] in a world already locked.
fn read_in(shared: &Shared, world: &mut World, phone: &str, message_id: &str) -> bool {
    if !mark_read(world, phone, message_id) {
        return false;
    }
    let notice = Notice::UserEvent {
        event_type: "READ",
        message_id: message_id.to_string(),
    };
    enqueue(shared, world, phone, notice);
    true
}

fn mark_read(world: &mut World, phone: &str, message_id: &str) -> bool {
    let Some(device) = world.phone_mut(phone) else {
        return false;
    };
    let Some(message) = device.message_mut(message_id) else {
        return false;
    };
    if message.state != MessageState::Delivered {
        return false;
    }
    message.state = MessageState::Read;
    message.read_at = Some(Utc::now());
    device.touch();
    true
}

/// Gives up on a message still pending at its expiry.
fn expire(shared: &Shared, phone: &str, message_id: &str) {
    let mut world = shared.world();
    let Some(device) = world.phone_mut(phone) else {
        return;
    };
    let Some(message) = device.message_mut(message_id) else {
        return;
    };
    if message.state != MessageState::Pending {
        return;
    }
    message.state = MessageState::Expired;
    device.touch();
    let notice = Notice::ServerEvent {
        event_type: "TTL_EXPIRATION_REVOKED",
        message_id: message_id.to_string(),
    };
    enqueue(shared, &mut world, phone, notice);
}

/// Takes a phone on or off the network; coming online delivers what waited.
pub fn set_online(shared: &Arc<Shared>, phone: &str, online: bool) -> ApiResult<()> {
    let (waiting, delay) = {
        let mut world = shared.world();
        let device = world.phone_mut(phone).ok_or_else(unknown_phone)?;
        device.online = online;
        device.touch();
        let waiting: Vec<String> = device
            .messages
            .iter()
            .filter(|m| m.state == MessageState::Pending)
            .map(|m| m.message_id.clone())
            .collect();
        (waiting, device.config.delivery_delay_ms)
    };
    if online {
        for id in waiting {
            schedule_delivery(shared, phone, &id, Duration::from_millis(delay));
        }
        crate::sms::deliver_waiting(shared, phone);
    }
    Ok(())
}

/// The user does `action`, about agent message `about` when given; returns the id of
/// the user message sent.
pub fn act(
    shared: &Shared,
    phone: &str,
    about: Option<&str>,
    action: &UserAction,
) -> ApiResult<String> {
    let (message_type, content) = match action {
        UserAction::Text(text) => text_content(text)?,
        UserAction::TapSuggestion(label) => {
            return tap(shared, phone, about, &Choice::Label(label.clone()));
        }
        UserAction::ShareLocation {
            latitude,
            longitude,
        } => location_content(*latitude, *longitude)?,
        UserAction::SendFile(file) => {
            let payload = json!({
                "mimeType": file.mime_type,
                "fileSizeBytes": file.file_size_bytes,
                "fileUri": file.file_uri,
                "fileName": file.file_name,
            });
            ("USER_FILE", json!({"userFile": {"payload": payload}}))
        }
    };
    send_user_message(shared, phone, message_type, content)
}

fn text_content(text: &str) -> ApiResult<(&'static str, Value)> {
    if text.trim().is_empty() {
        return Err(ApiError::invalid("text: empty; type something to send"));
    }
    Ok(("TEXT", json!({ "text": text })))
}

fn location_content(latitude: f64, longitude: f64) -> ApiResult<(&'static str, Value)> {
    if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
        return Err(ApiError::invalid(
            "location: latitude must be within -90 to 90 and longitude within -180 to 180",
        ));
    }
    let location = json!({"latitude": latitude, "longitude": longitude});
    Ok(("LOCATION", json!({ "location": location })))
}

/// The user taps a suggestion of `about`, or of the newest delivered message that has
/// a matching one; the message counts as read.
pub fn tap(
    shared: &Shared,
    phone: &str,
    about: Option<&str>,
    choice: &Choice,
) -> ApiResult<String> {
    // One lock for the whole tap: a tap that is refused (the phone is offline, the
    // chip is not there) must not have marked the message read on the way.
    let mut world = shared.world();
    let (message_id, chip) = find_chip(&mut world, phone, about, choice)?;
    read_in(shared, &mut world, phone, &message_id);
    let response = json!({
        "postbackData": chip.postback_data,
        "text": chip.text,
        "type": chip.kind,
    });
    let content = json!({ "suggestionResponse": response });
    record_user_message(shared, &mut world, phone, "SUGGESTION_RESPONSE", content)
}

/// The message and chip a tap picks, on a phone that can answer.
fn find_chip(
    world: &mut World,
    phone: &str,
    about: Option<&str>,
    choice: &Choice,
) -> ApiResult<(String, Chip)> {
    let device = world.phone_mut(phone).ok_or_else(unknown_phone)?;
    check_can_send(device)?;
    let shown = |m: &&AgentMessageRecord| {
        matches!(m.state, MessageState::Delivered | MessageState::Read)
            && about.is_none_or(|id| m.message_id == id)
    };
    let found = device.messages.iter().rev().filter(shown).find_map(|m| {
        let chips = chips(&m.body);
        let chip = match choice {
            Choice::Label(label) => chips.into_iter().find(|c| &c.text == label),
            Choice::Index(index) => chips.into_iter().nth(*index),
        };
        chip.map(|chip| (m.message_id.clone(), chip))
    });
    found.ok_or_else(|| {
        ApiError::not_found(
            "no delivered message on this phone has that suggestion; check the label or \
             index and that the message was delivered",
        )
    })
}

fn send_user_message(
    shared: &Shared,
    phone: &str,
    message_type: &'static str,
    content: Value,
) -> ApiResult<String> {
    let mut world = shared.world();
    record_user_message(shared, &mut world, phone, message_type, content)
}

/// Adds a user message to the conversation and queues it for the agent.
fn record_user_message(
    shared: &Shared,
    world: &mut World,
    phone: &str,
    message_type: &'static str,
    content: Value,
) -> ApiResult<String> {
    let message_id = format!("Mx{}", Uuid::new_v4().simple());
    let seq = world.next_seq();
    let device = world.phone_mut(phone).ok_or_else(unknown_phone)?;
    check_can_send(device)?;
    device.user_messages.push(UserMessageRecord {
        message_id: message_id.clone(),
        content: content.clone(),
        sent_at: Utc::now(),
        seq,
    });
    device.touch();
    let content = match content {
        Value::Object(fields) => fields,
        _ => Map::new(),
    };
    let notice = Notice::UserMessage {
        message_id: message_id.clone(),
        message_type,
        content,
    };
    enqueue(shared, world, phone, notice);
    Ok(message_id)
}

/// A 409 unless the phone can message the agent: it has RCS and is online.
fn check_can_send(device: &Phone) -> ApiResult<()> {
    if !device.config.rcs {
        return Err(ApiError::precondition(
            "this phone has no RCS, so it cannot message the agent",
        ));
    }
    if !device.online {
        return Err(ApiError::precondition(
            "this phone is offline; bring it online first",
        ));
    }
    Ok(())
}

/// Every suggestion of an AgentMessage body: those on its cards, card by card, then
/// the message's chips.
pub fn chips(body: &Value) -> Vec<Chip> {
    let content = &body["contentMessage"];
    let card = &content["richCard"];
    let mut cards: Vec<&Value> = vec![&card["standaloneCard"]["cardContent"]];
    if let Some(list) = card["carouselCard"]["cardContents"].as_array() {
        cards.extend(list);
    }
    let mut found: Vec<Chip> = cards
        .iter()
        .flat_map(|c| chip_list(&c["suggestions"]))
        .collect();
    found.extend(chip_list(&content["suggestions"]));
    found
}

/// The chips of one `suggestions` list.
pub fn chip_list(list: &Value) -> Vec<Chip> {
    let Some(list) = list.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|suggestion| {
            let (kind, inner) = match (&suggestion["reply"], &suggestion["action"]) {
                (reply, _) if reply.is_object() => ("REPLY", reply),
                (_, action) if action.is_object() => ("ACTION", action),
                _ => return None,
            };
            Some(Chip {
                text: inner["text"].as_str().unwrap_or_default().to_string(),
                postback_data: inner["postbackData"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                kind,
            })
        })
        .collect()
}

fn unknown_phone() -> ApiError {
    ApiError::not_found("no phone with this number; add it through POST /emulator/phones")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chips_list_card_suggestions_before_message_chips() {
        let body = json!({"contentMessage": {
            "richCard": {"carouselCard": {"cardWidth": "MEDIUM", "cardContents": [
                {"title": "A", "suggestions": [{"reply": {"text": "a", "postbackData": "pa"}}]},
                {"title": "B", "suggestions": [{"action": {
                    "text": "b", "postbackData": "pb", "dialAction": {"phoneNumber": "+1"}}}]},
            ]}},
            "suggestions": [{"reply": {"text": "c", "postbackData": "pc"}}],
        }});
        let labels: Vec<(String, &str)> =
            chips(&body).into_iter().map(|c| (c.text, c.kind)).collect();
        let expected = [("a", "REPLY"), ("b", "ACTION"), ("c", "REPLY")];
        assert_eq!(labels, expected.map(|(t, k)| (t.to_string(), k)));
    }
}
