//! Capability queries: which RCS services a contact's client supports, as the platform
//! reports them.

use serde::Deserialize;

/// An RCS service a contact supports, by its MaaP service tag.
///
/// These are RCS service names, not RBM feature names: a contact that is reachable at
/// all can take text, and `chatBotCommunication` is what says it can talk to a bot.
/// Tags this client does not know are kept as [`Capability::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(from = "String")]
pub enum Capability {
    /// Talking to chatbots (rich cards, suggestions).
    ChatBotCommunication,
    /// One-to-one chat.
    Chat,
    /// File transfer.
    FileTransfer,
    /// Sending and receiving a location.
    GeolocationPush,
    /// A service tag this client does not know.
    Other(String),
}

impl From<String> for Capability {
    fn from(tag: String) -> Capability {
        match tag.as_str() {
            "chatBotCommunication" => Capability::ChatBotCommunication,
            "chat" => Capability::Chat,
            "fileTransfer" => Capability::FileTransfer,
            "geolocationPush" => Capability::GeolocationPush,
            _ => Capability::Other(tag),
        }
    }
}

/// What a capability query found out about a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachability {
    /// The contact is on RCS with these services.
    Reachable {
        /// What the contact's client supports.
        capabilities: Vec<Capability>,
    },
    /// The platform cannot reach the contact over RCS (404): send by another channel.
    NotReachable,
}

impl Reachability {
    /// Whether the contact is reachable and lists `capability`.
    pub fn supports(&self, capability: &Capability) -> bool {
        match self {
            Reachability::Reachable { capabilities } => capabilities.contains(capability),
            Reachability::NotReachable => false,
        }
    }
}

/// The body of a successful capability query; a missing list is an empty one.
#[derive(Deserialize)]
pub(crate) struct CapabilitiesBody {
    #[serde(default)]
    pub(crate) capabilities: Vec<Capability>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_tags_parse_and_unknown_ones_are_kept() {
        let body: CapabilitiesBody = serde_json::from_str(
            r#"{"capabilities":["chatBotCommunication","fileTransfer","sharedSketch"]}"#,
        )
        .expect("a capabilities body");
        let expected = [
            Capability::ChatBotCommunication,
            Capability::FileTransfer,
            Capability::Other("sharedSketch".into()),
        ];
        assert_eq!(body.capabilities, expected);
        let reach = Reachability::Reachable {
            capabilities: body.capabilities,
        };
        assert!(reach.supports(&Capability::ChatBotCommunication));
        assert!(!reach.supports(&Capability::Chat));
        assert!(!Reachability::NotReachable.supports(&Capability::Chat));
    }
}
