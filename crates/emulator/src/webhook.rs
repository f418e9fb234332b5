//! What the platform posts to the agent's webhook: user messages, user events and
//! server events, each in a Pub/Sub push envelope signed with the client token.
//!
//! One worker posts every notice in the order it arose and retries the one at the head
//! with a growing backoff until the webhook answers 200: as with Google's single queue
//! per partner, a failing webhook holds back everything behind it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::Sha512;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use uuid::Uuid;

use crate::state::{Shared, World};

/// Where one webhook post stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryState {
    /// Waiting its turn, or between retries.
    Pending,
    /// The webhook answered 200.
    Delivered,
    /// The webhook kept failing past the retry window; the notice was dropped.
    GaveUp,
    /// No webhook URL was configured when its turn came.
    NoWebhook,
}

/// One try at posting a notice.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The webhook's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// One notice for the webhook and what became of it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Its place in the queue.
    pub id: usize,
    /// `DELIVERED`, `READ`, `TEXT`, `SUGGESTION_RESPONSE`, `LOCATION`, `USER_FILE` or
    /// `TTL_EXPIRATION_REVOKED`.
    pub kind: &'static str,
    /// The phone it concerns.
    pub phone_number: String,
    /// The decoded `message.data`.
    pub data: Value,
    /// The whole envelope as posted.
    pub body: Value,
    /// The `X-Goog-Signature` header.
    pub signature: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Every try so far.
    pub attempts: Vec<Attempt>,
}

/// Something that happened on a phone that the agent hears of.
#[derive(Clone, Debug)]
pub enum Notice {
    /// DELIVERED or READ of an agent message.
    UserEvent {
        /// `DELIVERED` or `READ`.
        event_type: &'static str,
        /// The agent message.
        message_id: String,
    },
    /// Something the user sent.
    UserMessage {
        /// The id RBM gives it.
        message_id: String,
        /// `TEXT`, `SUGGESTION_RESPONSE`, `LOCATION` or `USER_FILE`.
        message_type: &'static str,
        /// One key: `text`, `suggestionResponse`, `location` or `userFile`.
        content: Map<String, Value>,
    },
    /// The platform gave up on an agent message.
    ServerEvent {
        /// `TTL_EXPIRATION_REVOKED`.
        event_type: &'static str,
        /// The agent message.
        message_id: String,
    },
}

/// The time format of RBM's payloads.
pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Records `notice` about `phone` and hands it to the worker.
pub fn enqueue(shared: &Shared, world: &mut World, phone: &str, notice: Notice) {
    let id = world.deliveries.len();
    let (kind, data, attributes) = payload(shared, phone, notice);
    let data_bytes = serde_json::to_vec(&data).unwrap_or_default();
    let body = envelope(shared, id, &data_bytes, attributes);
    let delivery = Delivery {
        id,
        kind,
        phone_number: phone.to_string(),
        data,
        body,
        signature: sign(&shared.settings.client_token, &data_bytes),
        state: DeliveryState::Pending,
        attempts: Vec::new(),
    };
    world.deliveries.push(delivery);
    // Fails only once the worker has stopped, at shutdown, when nothing is posted.
    let _ = shared.outbox.send(id);
}

/// The notice's kind, its decoded data, and its Pub/Sub attributes.
fn payload(shared: &Shared, phone: &str, notice: Notice) -> (&'static str, Value, Value) {
    let agent_id = shared.settings.agent_id.as_str();
    let send_time = timestamp(Utc::now());
    let mut attributes = json!({
        "business_id": agent_id,
        "product": "RBM",
        "project_number": shared.settings.project_number,
    });
    let (kind, data) = match notice {
        Notice::UserEvent {
            event_type,
            message_id,
        } => {
            attributes["type"] = "event".into();
            attributes["event_type"] = event_type.into();
            let data = json!({
                "senderPhoneNumber": phone,
                "eventType": event_type,
                "eventId": format!("Ev{}", Uuid::new_v4().simple()),
                "messageId": message_id,
                "sendTime": send_time,
                "agentId": agent_id,
            });
            (event_type, data)
        }
        Notice::UserMessage {
            message_id,
            message_type,
            content,
        } => {
            attributes["type"] = "message".into();
            attributes["message_type"] = message_type.into();
            let mut data = json!({
                "senderPhoneNumber": phone,
                "messageId": message_id,
                "sendTime": send_time,
                "agentId": agent_id,
            });
            if let Value::Object(fields) = &mut data {
                fields.extend(content);
            }
            (message_type, data)
        }
        Notice::ServerEvent {
            event_type,
            message_id,
        } => {
            attributes["type"] = "server_event".into();
            attributes["event_type"] = event_type.into();
            // Server events name the phone `phoneNumber`, unlike user events.
            let data = json!({
                "phoneNumber": phone,
                "agentId": agent_id,
                "messageId": message_id,
                "eventType": event_type,
                "eventId": format!("Se{}", Uuid::new_v4().simple()),
                "sendTime": send_time,
            });
            (event_type, data)
        }
    };
    (kind, data, attributes)
}

fn envelope(shared: &Shared, id: usize, data: &[u8], attributes: Value) -> Value {
    let publish_time = timestamp(Utc::now());
    // Pub/Sub message ids are decimal strings; these only need to be unique per run.
    let message_id = (4_000_000_000_000_000u64 + id as u64).to_string();
    json!({
        "message": {
            "attributes": attributes,
            "data": STANDARD.encode(data),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": publish_time,
            "publish_time": publish_time,
        },
        "subscription": format!(
            "projects/rbm-emulator-{}/subscriptions/rbm-push",
            shared.settings.project_number
        ),
    })
}

/// `X-Goog-Signature`: base64 of HMAC-SHA512 keyed by the client token over `data`.
pub fn sign(client_token: &str, data: &[u8]) -> String {
    // HMAC takes keys of any length; the error case exists only for other MACs.
    let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(client_token.as_bytes()) else {
        return String::new();
    };
    mac.update(data);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Posts queued notices one at a time, in order, until the emulator goes away.
pub async fn run_worker(
    weak: Weak<Shared>,
    mut inbox: mpsc::UnboundedReceiver<usize>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let id = tokio::select! {
            id = inbox.recv() => id,
            _ = stop.wait_for(|stopped| *stopped) => None,
        };
        let Some(id) = id else { return };
        if !post_until_done(&weak, id, &mut stop).await {
            return;
        }
    }
}

/// Posts delivery `id` until it succeeds or its retry window closes; false when the
/// emulator stopped meanwhile.
async fn post_until_done(weak: &Weak<Shared>, id: usize, stop: &mut watch::Receiver<bool>) -> bool {
    let started = Instant::now();
    let mut backoff = None;
    loop {
        let Some(shared) = weak.upgrade() else {
            return false;
        };
        let retry = shared.settings.retry;
        if !attempt(&shared, id).await {
            return true;
        }
        if started.elapsed() >= Duration::from_secs(retry.give_up_after_secs) {
            tracing::warn!(
                delivery = id,
                "the webhook kept failing; dropping the notice"
            );
            set_state(&shared, id, DeliveryState::GaveUp);
            return true;
        }
        // The next wait doubles, up to the ceiling.
        let wait = backoff.map_or(retry.initial_backoff_ms, |ms: u64| ms.saturating_mul(2));
        let wait = wait.min(retry.max_backoff_ms);
        backoff = Some(wait);
        drop(shared);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = stop.wait_for(|stopped| *stopped) => return false,
        }
    }
}

/// One post of delivery `id`; true when it must be tried again.
async fn attempt(shared: &Arc<Shared>, id: usize) -> bool {
    let (url, body, signature) = {
        let world = shared.world();
        let Some(delivery) = world.deliveries.get(id) else {
            return false;
        };
        let body = serde_json::to_vec(&delivery.body).unwrap_or_default();
        (world.webhook_url.clone(), body, delivery.signature.clone())
    };
    let Some(url) = url else {
        set_state(shared, id, DeliveryState::NoWebhook);
        return false;
    };
    let request = shared
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("x-goog-signature", signature)
        .body(body);
    let (status, error) = match request.send().await {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(error) => (None, Some(error.without_url().to_string())),
    };
    let delivered = status == Some(200);
    if !delivered {
        tracing::debug!(
            delivery = id,
            ?status,
            "the webhook did not answer 200; will retry"
        );
    }
    let mut world = shared.world();
    if let Some(delivery) = world.deliveries.get_mut(id) {
        let at = Utc::now();
        delivery.attempts.push(Attempt { at, status, error });
        if delivered {
            delivery.state = DeliveryState::Delivered;
        }
    }
    !delivered
}

fn set_state(shared: &Shared, id: usize, state: DeliveryState) {
    if let Some(delivery) = shared.world().deliveries.get_mut(id) {
        delivery.state = state;
    }
}

/// The outcome of a registration handshake.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// Whether the webhook answered 200 with the secret as its body.
    pub registered: bool,
    /// The webhook's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What was wrong, when it was not registered.
    pub problem: Option<String>,
}

/// The console's verification of a webhook: it posts the client token and a fresh
/// secret, and the webhook must answer 200 with the secret as the whole body.
pub async fn register(shared: &Shared, url: &str) -> Registration {
    let secret = Uuid::new_v4().simple().to_string();
    let body = json!({"clientToken": shared.settings.client_token, "secret": secret});
    let response = match shared.http.post(url).json(&body).send().await {
        Ok(response) => response,
        Err(error) => {
            return Registration {
                registered: false,
                status: None,
                problem: Some(format!(
                    "the webhook did not answer: {}",
                    error.without_url()
                )),
            }
        }
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let problem = match (status, text.trim() == secret) {
        (200, true) => None,
        (200, false) => Some("the body was not the secret; answer with its raw value".into()),
        _ => Some(format!("the webhook answered HTTP {status}, not 200")),
    };
    Registration {
        registered: problem.is_none(),
        status: Some(status),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_base64_hmac_sha512_of_the_data() {
        let signature = sign("key", b"The quick brown fox jumps over the lazy dog");
        // The well-known HMAC-SHA512 test vector for this key and message.
        let expected = concat!(
            "tCrwkFe6weLUFwjkipAuCbX/fxKrQopP6GZTxz3SSPuC+UilSfe3kaW0GRXu",
            "TR7Dk1NX5OIxclDQNyr6Lr7rOg=="
        );
        assert_eq!(signature, expected);
    }
}
