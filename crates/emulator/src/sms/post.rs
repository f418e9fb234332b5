//! What the SMS platform posts: status callbacks and texts from phones, as forms signed
//! with `X-Twilio-Signature`.
//!
//! Twilio does not retry these posts, and neither does the emulator: each is made once
//! and its answer recorded.

use std::collections::BTreeMap;
use std::sync::Weak;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;

use crate::state::{Shared, World};

/// One post to a status callback or the SMS webhook, and its answer.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsPost {
    /// Its place among all posts.
    pub id: usize,
    /// `status` for a status callback, `inbound` for a text from a phone.
    pub kind: &'static str,
    /// The text it is about.
    pub message_sid: String,
    /// Where it went.
    pub url: String,
    /// The form posted.
    pub params: BTreeMap<String, String>,
    /// The `X-Twilio-Signature` header.
    pub signature: String,
    /// The HTTP status the receiver answered, once it did.
    pub status: Option<u16>,
    /// Why the post failed, when it got no answer.
    pub error: Option<String>,
}

/// `X-Twilio-Signature`: base64 of HMAC-SHA1 keyed by the auth token over the URL and
/// then each parameter's name and value, sorted by name.
pub fn sign(auth_token: &str, url: &str, params: &BTreeMap<String, String>) -> String {
    // HMAC takes keys of any length; the error case exists only for other MACs.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(url.as_bytes());
    // A BTreeMap iterates in name order, byte for byte, as the scheme sorts.
    for (name, value) in params {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Records a post of `params` to `url`, signed, and returns its id for [`send`].
pub(super) fn record(
    world: &mut World,
    kind: &'static str,
    message_sid: &str,
    url: &str,
    params: BTreeMap<String, String>,
) -> usize {
    let id = world.sms.posts.len();
    let signature = sign(&world.sms.account.auth_token, url, &params);
    world.sms.posts.push(SmsPost {
        id,
        kind,
        message_sid: message_sid.to_string(),
        url: url.to_string(),
        params,
        signature,
        status: None,
        error: None,
    });
    id
}

/// Makes post `id` and records the answer; nothing when the emulator is gone.
pub(super) async fn send(weak: &Weak<Shared>, id: usize) {
    let Some(shared) = weak.upgrade() else {
        return;
    };
    let Some(post) = shared.world().sms.posts.get(id).cloned() else {
        return;
    };
    let request = shared
        .http
        .post(&post.url)
        .header("x-twilio-signature", &post.signature)
        .form(&post.params);
    let (status, error) = match request.send().await {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(error) => (None, Some(error.without_url().to_string())),
    };
    if status.is_none_or(|s| !(200..300).contains(&s)) {
        tracing::debug!(post = id, ?status, "an SMS post was not accepted");
    }
    let mut world = shared.world();
    if let Some(recorded) = world.sms.posts.get_mut(id) {
        recorded.status = status;
        recorded.error = error;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_twilios_published_example() {
        // https://www.twilio.com/docs/usage/security, "Validating requests".
        let params = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ];
        let params = params
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(sign("12345", url, &params), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }
}
