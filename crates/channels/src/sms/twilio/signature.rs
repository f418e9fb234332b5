//! `X-Twilio-Signature`: how Twilio signs the requests it makes to webhooks.
//!
//! The signed text is the full URL Twilio called (scheme, host, path and query, exactly
//! as configured), followed by each POST parameter's name and value with nothing
//! between them, the parameters sorted by name. The signature is the base64 of the
//! HMAC-SHA1 of that text keyed by the account's auth token
//! (<https://www.twilio.com/docs/usage/security#validating-requests>).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The header Twilio puts its signature in.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

type HmacSha1 = Hmac<Sha1>;

/// The `X-Twilio-Signature` of a POST of `params` to `url`, keyed by `auth_token`.
pub fn sign<K: AsRef<str>, V: AsRef<str>>(
    auth_token: &str,
    url: &str,
    params: &[(K, V)],
) -> String {
    STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `signature` is Twilio's for a POST of `params` to `url`, compared in
/// constant time.
///
/// Like Twilio's own libraries, it also accepts the signature of the same URL with its
/// port written out or left off (`https://host:443/…` and `https://host/…`): a proxy in
/// front of the webhook may have changed which form the server sees.
pub fn verify<K: AsRef<str>, V: AsRef<str>>(
    auth_token: &str,
    url: &str,
    params: &[(K, V)],
    signature: &str,
) -> bool {
    let Ok(expected) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    std::iter::once(url.to_string())
        .chain(port_variant(url))
        .any(|url| {
            // verify_slice compares in constant time.
            mac(auth_token, &url, params)
                .verify_slice(&expected)
                .is_ok()
        })
}

fn mac<K: AsRef<str>, V: AsRef<str>>(auth_token: &str, url: &str, params: &[(K, V)]) -> HmacSha1 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha1::new_from_slice(auth_token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_ref(), value.as_ref()))
        .collect();
    // By name, byte for byte; a repeated name's values in order too, as Twilio's
    // libraries sort them.
    sorted.sort_unstable();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// `url` with its port left off when it names one, or with the scheme's default port
/// written out when it does not.
fn port_variant(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // Credentials in the URL (`user:pass@host`) come before the host.
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host = &authority[host_start..];
    let with_port = host.rfind(':').filter(|&colon| {
        let port = &host[colon + 1..];
        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
    });
    let new_host = match with_port {
        Some(colon) => host[..colon].to_string(),
        None => {
            let port = match scheme.to_ascii_lowercase().as_str() {
                "https" => 443,
                "http" => 80,
                _ => return None,
            };
            format!("{host}:{port}")
        }
    };
    Some(format!(
        "{scheme}://{}{new_host}{tail}",
        &authority[..host_start]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    /// Twilio's published example: the request of "Validating requests" in
    /// <https://www.twilio.com/docs/usage/security>, auth token `12345`.
    #[test]
    fn twilios_published_example() {
        let params = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ];
        assert_eq!(sign("12345", URL, &params), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify(
            "12345",
            URL,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    /// The same request with the numbers of the twilio-php validation guide
    /// (`docs/usage/validation.rst`), whose expected header differs accordingly.
    #[test]
    fn twilio_phps_published_example_in_any_parameter_order() {
        let params = [
            ("To", "+18005551212"),
            ("From", "+14158675309"),
            ("Digits", "1234"),
            ("Caller", "+14158675309"),
            ("CallSid", "CA1234567890ABCDE"),
        ];
        assert_eq!(sign("12345", URL, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn anything_changed_fails_verification() {
        let params = [("Body", "STOP"), ("From", "+16135550123")];
        let signature = sign("token", URL, &params);
        assert!(verify("token", URL, &params, &signature));
        assert!(!verify("other", URL, &params, &signature));
        assert!(!verify("token", &format!("{URL}&x=1"), &params, &signature));
        let changed = [("Body", "START"), ("From", "+16135550123")];
        assert!(!verify("token", URL, &changed, &signature));
        assert!(!verify("token", URL, &params, "not base64!"));
        assert!(!verify("token", URL, &params, ""));
    }

    #[test]
    fn the_port_may_be_written_out_or_left_off() {
        let params = [("MessageSid", "SM1")];
        let with_port = sign(
            "t",
            "https://h.example:443/webhooks/sms?message_id=1",
            &params,
        );
        assert!(verify(
            "t",
            "https://h.example/webhooks/sms?message_id=1",
            &params,
            &with_port
        ));
        let without = sign("t", "http://h.example/hook", &params);
        assert!(verify("t", "http://h.example:80/hook", &params, &without));
        assert_eq!(
            port_variant("http://u:p@127.0.0.1:8080/x").as_deref(),
            Some("http://u:p@127.0.0.1/x")
        );
        assert_eq!(port_variant("not a url"), None);
    }
}
