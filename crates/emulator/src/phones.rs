//! Simulated phones: their settings, whether they are online, and the conversation
//! each holds with the agent.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::config::{PhoneConfig, ScriptStep};
use crate::rate::Bucket;

/// Where an agent message stands, as the phone sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageState {
    /// Accepted by the API, not on the phone yet (the phone may be offline).
    Pending,
    /// On the phone; a DELIVERED event was sent.
    Delivered,
    /// Opened by the user; a READ event was sent.
    Read,
    /// Withdrawn by the agent before delivery.
    Revoked,
    /// Its `ttl` or `expireTime` passed before delivery; a `TTL_EXPIRATION_REVOKED`
    /// server event was sent.
    Expired,
}

/// A message the agent sent to the phone.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentMessageRecord {
    /// The agent's `messageId`.
    pub message_id: String,
    /// The AgentMessage body exactly as the agent sent it.
    pub body: Value,
    /// Where it stands.
    pub state: MessageState,
    /// When the API accepted it.
    pub received_at: DateTime<Utc>,
    /// When it reached the phone.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the user read it.
    pub read_at: Option<DateTime<Utc>>,
    /// When RBM stops trying to deliver it, from `ttl` or `expireTime`.
    pub expire_time: Option<DateTime<Utc>>,
    /// Its place in the conversation.
    pub seq: u64,
}

/// A message the user sent to the agent.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserMessageRecord {
    /// The id RBM gave it.
    pub message_id: String,
    /// The content as the webhook carries it: `{"text"}`, `{"suggestionResponse"}`,
    /// `{"location"}` or `{"userFile"}`.
    pub content: Value,
    /// When the user sent it.
    pub sent_at: DateTime<Utc>,
    /// Its place in the conversation.
    pub seq: u64,
}

/// An agent event (read receipt, typing) the phone received.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentEventRecord {
    /// The agent's `eventId`.
    pub event_id: String,
    /// `READ` or `IS_TYPING`.
    pub event_type: String,
    /// The user message a READ refers to.
    pub message_id: Option<String>,
    /// When the API accepted it.
    pub received_at: DateTime<Utc>,
    /// Its place in the conversation.
    pub seq: u64,
}

/// One simulated phone.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Phone {
    /// Its settings as added.
    pub config: PhoneConfig,
    /// Whether it is on the network now.
    pub online: bool,
    /// The agent's messages, oldest first.
    pub messages: Vec<AgentMessageRecord>,
    /// The user's messages, oldest first.
    pub user_messages: Vec<UserMessageRecord>,
    /// The agent's events, oldest first.
    pub agent_events: Vec<AgentEventRecord>,
    /// The tester invitation status, once the agent invited this phone.
    pub tester: Option<String>,
    /// Grows with every change, so the phone's page knows when to refresh.
    pub revision: u64,
    /// The script steps not yet played.
    #[serde(skip)]
    pub script: VecDeque<ScriptStep>,
    /// This user's share of the agent's traffic.
    #[serde(skip)]
    pub bucket: Option<Bucket>,
}

impl Phone {
    /// A phone as `config` describes it, with an empty conversation.
    pub fn new(config: PhoneConfig, bucket: Option<Bucket>) -> Phone {
        Phone {
            online: config.online,
            script: config.script.iter().cloned().collect(),
            config,
            messages: Vec::new(),
            user_messages: Vec::new(),
            agent_events: Vec::new(),
            tester: None,
            revision: 0,
            bucket,
        }
    }

    /// The agent message `id`.
    pub fn message_mut(&mut self, id: &str) -> Option<&mut AgentMessageRecord> {
        self.messages.iter_mut().find(|m| m.message_id == id)
    }

    /// Whether the phone reports `feature` from `capabilities`.
    pub fn has_feature(&self, feature: &str) -> bool {
        self.config.features.iter().any(|f| f == feature)
    }

    /// Marks a change for the page.
    pub fn touch(&mut self) {
        self.revision += 1;
    }
}

/// Whether `number` is in E.164 form: `+`, a non-zero digit, then up to 14 digits.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_are_recognised() {
        assert!(is_e164("+16135550123"));
        assert!(is_e164("+442079460958"));
        for bad in [
            "16135550123",
            "+0613555",
            "+1",
            "+1 613 555",
            "+1234567890123456",
            "",
        ] {
            assert!(!is_e164(bad), "{bad:?}");
        }
    }
}
