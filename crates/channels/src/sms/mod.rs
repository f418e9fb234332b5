//! SMS, the fallback when a phone has no RCS: [`twilio`], a client of Twilio's
//! Programmable Messaging REST API (and of anything that speaks it, such as the
//! emulator), and the `X-Twilio-Signature` scheme its webhooks are signed with; and
//! [`kannel`], a client of a self-hosted Kannel's smsbox.
//!
//! Composing the text is the domain's job (`domain::sms::sms_text`); this module only
//! carries it. Status callbacks name Tidings' message by the `message_id` query
//! parameter the client puts on the callback URL ([`status_callback_url`]), so the
//! webhook finds the message without keeping Twilio's ids.

pub mod kannel;
pub mod twilio;

use reqwest::Url;
use uuid::Uuid;

pub use kannel::{KannelClient, KannelConfig, KannelError};
pub use twilio::{
    BuildError, Sender, Sent, TwilioClient, TwilioConfig, TwilioCredentials, TwilioError,
};

/// The query parameter of a status callback URL that names Tidings' message.
pub const MESSAGE_ID_PARAM: &str = "message_id";

/// `base` with `message_id=<uuid>` added to its query: where Twilio reports what became
/// of that message.
pub fn status_callback_url(base: &Url, message_id: Uuid) -> Url {
    let mut url = base.clone();
    url.query_pairs_mut()
        .append_pair(MESSAGE_ID_PARAM, &message_id.to_string());
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_url_keeps_its_query_and_adds_the_message_id() {
        let base = Url::parse("https://track.example/webhooks/sms?tenant=a").expect("a URL");
        let id = Uuid::parse_str("0190a6d2-0000-7000-8000-000000000001").expect("a UUID");
        assert_eq!(
            status_callback_url(&base, id).as_str(),
            "https://track.example/webhooks/sms?tenant=a\
             &message_id=0190a6d2-0000-7000-8000-000000000001"
        );
    }
}
