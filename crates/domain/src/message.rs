//! Messages after they leave: the states an outgoing message moves through, the
//! receipts providers report about it, and what customers send back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{Channel, Keyword, PhoneNumber};

/// Where an outgoing message stands.
///
/// `Pending → Sending → Sent → Delivered → Read` is the way forward; `Failed` and
/// `Revoked` end it. Receipts can arrive out of order (a READ before its DELIVERED, a
/// DELIVERED before the send call returned), so a state only ever moves forward: see
/// [`MessageState::advance`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Waiting to be sent, now or at its next attempt.
    Pending,
    /// Claimed by a dispatcher that is calling the provider.
    Sending,
    /// The provider accepted it.
    Sent,
    /// The provider reported it on the customer's device.
    Delivered,
    /// The customer opened it.
    Read,
    /// It will not be sent; the reason is kept with it.
    Failed,
    /// Withdrawn before delivery (its time to live ran out, or Tidings revoked it).
    Revoked,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0:?} is not a message state (pending, sending, sent, delivered, read, failed, revoked)")]
pub struct UnknownState(pub String);

impl MessageState {
    pub const ALL: [MessageState; 7] = [
        MessageState::Pending,
        MessageState::Sending,
        MessageState::Sent,
        MessageState::Delivered,
        MessageState::Read,
        MessageState::Failed,
        MessageState::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Pending => "pending",
            MessageState::Sending => "sending",
            MessageState::Sent => "sent",
            MessageState::Delivered => "delivered",
            MessageState::Read => "read",
            MessageState::Failed => "failed",
            MessageState::Revoked => "revoked",
        }
    }

    /// # Errors
    /// When the name is not a state.
    pub fn parse(name: &str) -> Result<MessageState, UnknownState> {
        MessageState::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| UnknownState(name.to_string()))
    }

    /// How far along the way forward a state is; `None` for the end states.
    fn rank(self) -> Option<u8> {
        match self {
            MessageState::Pending => Some(0),
            MessageState::Sending => Some(1),
            MessageState::Sent => Some(2),
            MessageState::Delivered => Some(3),
            MessageState::Read => Some(4),
            MessageState::Failed | MessageState::Revoked => None,
        }
    }

    /// The state after a receipt reports `reported`: the further of the two along the
    /// way forward. A message the customer received counts as received even when it was
    /// also revoked or marked failed (a DELIVERED can race a revocation, and wins), but
    /// a revocation never undoes a delivery.
    pub fn advance(self, reported: MessageState) -> MessageState {
        match (self.rank(), reported.rank()) {
            (Some(now), Some(new)) if new > now => reported,
            (Some(_), Some(_)) => self,
            (None, Some(new)) if new >= 3 => reported,
            (None, _) => self,
            (Some(now), None) if now >= 3 => self,
            (Some(_), None) => reported,
        }
    }
}

/// What a provider reported about a message Tidings sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Receipt {
    Delivered,
    Read,
    /// The message's time to live ran out and the provider withdrew it undelivered.
    Expired,
    /// The time to live ran out but the provider could not withdraw it: it may still
    /// arrive. Recorded, and the state is left as it was.
    ExpiryInconclusive,
    /// The provider gave up delivering it (a MaaP `failed` status). Like any end state,
    /// it does not undo a delivery already reported.
    Failed,
}

impl Receipt {
    pub fn as_str(self) -> &'static str {
        match self {
            Receipt::Delivered => "delivered",
            Receipt::Read => "read",
            Receipt::Expired => "expired",
            Receipt::ExpiryInconclusive => "expiry_inconclusive",
            Receipt::Failed => "failed",
        }
    }

    /// The state this receipt reports, if it reports one.
    pub fn state(self) -> Option<MessageState> {
        match self {
            Receipt::Delivered => Some(MessageState::Delivered),
            Receipt::Read => Some(MessageState::Read),
            Receipt::Expired => Some(MessageState::Revoked),
            Receipt::ExpiryInconclusive => None,
            Receipt::Failed => Some(MessageState::Failed),
        }
    }
}

/// A receipt for one message, as a provider's webhook reported it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiptInput {
    /// The id Tidings gave the message when it sent it.
    pub message_id: String,
    pub channel: Channel,
    pub receipt: Receipt,
    pub at: DateTime<Utc>,
    /// The provider's reason for a failure (Twilio's error code and what it means, the
    /// SMSC's answer), kept on the message for "why was this not delivered".
    #[serde(default)]
    pub error: Option<String>,
}

/// What a customer sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundContent {
    Text {
        text: String,
    },
    /// A tap on a suggested reply or action Tidings offered.
    Suggestion {
        text: String,
        postback: String,
    },
    /// A place the customer shared (not necessarily where they are).
    Location {
        latitude: f64,
        longitude: f64,
    },
    File {
        mime_type: String,
        url: String,
        name: Option<String>,
        size_bytes: Option<i64>,
    },
}

impl InboundContent {
    pub fn kind(&self) -> &'static str {
        match self {
            InboundContent::Text { .. } => "text",
            InboundContent::Suggestion { .. } => "suggestion",
            InboundContent::Location { .. } => "location",
            InboundContent::File { .. } => "file",
        }
    }

    /// The text a person would read in a thread.
    pub fn summary(&self) -> String {
        match self {
            InboundContent::Text { text } | InboundContent::Suggestion { text, .. } => text.clone(),
            InboundContent::Location {
                latitude,
                longitude,
            } => format!("Shared a location: {latitude:.5}, {longitude:.5}"),
            InboundContent::File {
                name, mime_type, ..
            } => match name {
                Some(name) => format!("Sent a file: {name}"),
                None => format!("Sent a file ({mime_type})"),
            },
        }
    }
}

/// A message a customer sent, as a provider's webhook reported it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundInput {
    pub channel: Channel,
    /// The provider's id for the message, unique per channel; replays carry the same.
    pub provider_message_id: String,
    pub phone: PhoneNumber,
    pub content: InboundContent,
    pub at: DateTime<Utc>,
    /// The provider already answered the message as a keyword (Twilio's own opt-out
    /// handling replies to STOP and blocks later sends to the number), so Tidings must
    /// not answer it a second time.
    #[serde(default)]
    pub provider_answered: bool,
}

impl InboundInput {
    /// The keyword the message is, if it is a text that is one as a whole.
    pub fn keyword(&self) -> Option<Keyword> {
        match &self.content {
            InboundContent::Text { text } => Keyword::recognize(text),
            _ => None,
        }
    }
}

/// A customer's choice to stop or resume business messages on a channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionInput {
    pub channel: Channel,
    pub phone: PhoneNumber,
    pub subscribed: bool,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for state in MessageState::ALL {
            assert_eq!(MessageState::parse(state.as_str()), Ok(state));
        }
        assert!(MessageState::parse("bounced").is_err());
    }

    #[test]
    fn a_late_delivered_does_not_undo_a_read() {
        let read = MessageState::Sent.advance(MessageState::Read);
        assert_eq!(read, MessageState::Read);
        assert_eq!(read.advance(MessageState::Delivered), MessageState::Read);
    }

    #[test]
    fn a_delivery_wins_over_an_expiry() {
        let revoked = MessageState::Sent.advance(MessageState::Revoked);
        assert_eq!(revoked, MessageState::Revoked);
        assert_eq!(
            revoked.advance(MessageState::Delivered),
            MessageState::Delivered
        );
        assert_eq!(
            MessageState::Delivered.advance(MessageState::Revoked),
            MessageState::Delivered
        );
    }

    #[test]
    fn a_receipt_does_not_resend_a_failed_message() {
        assert_eq!(
            MessageState::Failed.advance(MessageState::Sending),
            MessageState::Failed
        );
    }

    fn any_state() -> impl Strategy<Value = MessageState> {
        proptest::sample::select(MessageState::ALL.to_vec())
    }

    proptest! {
        /// Applying the same receipts in any order ends in the same state once the
        /// message was delivered: the order providers report in does not matter.
        #[test]
        fn delivered_or_read_is_order_independent(
            start in any_state(),
            receipts in proptest::collection::vec(any_state(), 0..6),
        ) {
            let mut with_read = receipts.clone();
            with_read.push(MessageState::Read);
            let forward = with_read.iter().fold(start, |s, r| s.advance(*r));
            let backward = with_read.iter().rev().fold(start, |s, r| s.advance(*r));
            prop_assert_eq!(forward, MessageState::Read);
            prop_assert_eq!(backward, MessageState::Read);
        }

        #[test]
        fn advancing_never_goes_back(start in any_state(), reported in any_state()) {
            let next = start.advance(reported);
            if let (Some(before), Some(after)) = (start.rank(), next.rank()) {
                prop_assert!(after >= before);
            }
            prop_assert_eq!(next.advance(reported), next);
        }
    }
}
