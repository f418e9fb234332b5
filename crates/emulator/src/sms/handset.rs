//! The phones as SMS handsets: how a text sent to one plays out, and what its user texts
//! back.
//!
//! A text is queued, then sent to the carrier, then after the phone's delivery delay
//! delivered, or undelivered or failed when the phone is set up so. A phone that is
//! offline keeps the text at `sent` until it comes online, as a carrier's SMS centre
//! holds it. Each status is posted to the text's callback before the next one is
//! decided, so callbacks about one text arrive in order.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use uuid::Uuid;

use super::{post, SmsRecord, SmsStatus, API_VERSION};
use crate::config::SmsOutcome;
use crate::error::{ApiError, ApiResult};
use crate::state::{Shared, World};

/// What an undelivered text reports when the phone names no code: "Unreachable
/// destination handset".
const UNREACHABLE: u32 = 30003;
/// What a text to a number no phone has reports: "Unknown destination handset".
const UNKNOWN_HANDSET: u32 = 30005;
/// What a failed text reports when the phone names no code: "Unknown error".
const UNKNOWN_ERROR: u32 = 30008;
/// The delivery delay of a number no phone has.
const DEFAULT_DELAY: Duration = Duration::from_millis(50);

/// Twilio's default opt-out keywords, matched against the whole text.
const OPT_OUT: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// Twilio's default opt-in keywords.
const OPT_IN: [&str; 3] = ["START", "YES", "UNSTOP"];

/// A new Twilio-style id: the prefix and 32 hex digits.
pub(super) fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", Uuid::new_v4().simple())
}

/// Plays out a text just accepted, in the background.
pub(super) fn play(shared: &Arc<Shared>, sid: String) {
    let weak = Arc::downgrade(shared);
    let stop = shared.shutdown.subscribe();
    tokio::spawn(playbook(weak, sid, stop));
}

/// What happens after `queued`.
enum Next {
    /// It failed and goes no further.
    Failed,
    /// It was sent; it reaches the phone after this delay.
    Sent(Duration),
}

async fn playbook(weak: Weak<Shared>, sid: String, mut stop: watch::Receiver<bool>) {
    let queued = locked(&weak, |world| status_post(world, &sid)).flatten();
    if let Some(id) = queued {
        post::send(&weak, id).await;
    }
    let left = locked(&weak, |world| {
        let next = leave(world, &sid);
        (next, status_post(world, &sid))
    });
    let Some((next, post_id)) = left else { return };
    if let Some(id) = post_id {
        post::send(&weak, id).await;
    }
    let Some(Next::Sent(delay)) = next else {
        return;
    };
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        _ = stop.wait_for(|stopped| *stopped) => return,
    }
    finish(&weak, &sid).await;
}

/// Runs `change` on the world, unless the emulator is gone.
fn locked<T>(weak: &Weak<Shared>, change: impl FnOnce(&mut World) -> T) -> Option<T> {
    let shared = weak.upgrade()?;
    let mut world = shared.world();
    Some(change(&mut world))
}

/// Moves a queued text on: failed, or sent to the carrier.
fn leave(world: &mut World, sid: &str) -> Option<Next> {
    let to = world.sms.message_mut(sid)?.to.clone();
    let handset = world
        .phones
        .get_mut(&to)
        .map(|phone| (phone.config.sms.clone(), phone.config.delivery_delay_ms));
    let (next, error_code) = match handset {
        Some((sms, _)) if sms.outcome == SmsOutcome::Failed => {
            (Next::Failed, Some(sms.error_code.unwrap_or(UNKNOWN_ERROR)))
        }
        Some((_, delay_ms)) => (Next::Sent(Duration::from_millis(delay_ms)), None),
        None => (Next::Sent(DEFAULT_DELAY), None),
    };
    let status = match next {
        Next::Failed => SmsStatus::Failed,
        Next::Sent(_) => SmsStatus::Sent,
    };
    set_status(world, sid, status, error_code);
    Some(next)
}

/// Puts a sent text on the phone, or reports it undelivered; the post to make, if any.
async fn finish(weak: &Weak<Shared>, sid: &str) {
    let post_id = locked(weak, |world| {
        if arrive(world, sid) {
            status_post(world, sid)
        } else {
            None
        }
    });
    if let Some(id) = post_id.flatten() {
        post::send(weak, id).await;
    }
}

/// Delivers a sent text, or marks it undelivered; false when nothing changed (it was
/// not at `sent`, or the phone is offline and it waits).
fn arrive(world: &mut World, sid: &str) -> bool {
    let Some(record) = world.sms.message_mut(sid) else {
        return false;
    };
    if record.status != SmsStatus::Sent {
        return false;
    }
    let to = record.to.clone();
    let (status, error_code) = match world.phones.get(&to) {
        None => (SmsStatus::Undelivered, Some(UNKNOWN_HANDSET)),
        Some(phone) if phone.config.sms.outcome == SmsOutcome::Undelivered => {
            let code = phone.config.sms.error_code.unwrap_or(UNREACHABLE);
            (SmsStatus::Undelivered, Some(code))
        }
        Some(phone) if !phone.online => {
            world.sms.waiting.push(sid.to_string());
            return false;
        }
        Some(_) => (SmsStatus::Delivered, None),
    };
    set_status(world, sid, status, error_code);
    true
}

/// Sets a text's status, and marks the phone's page for a refresh.
fn set_status(world: &mut World, sid: &str, status: SmsStatus, error_code: Option<u32>) {
    let Some(record) = world.sms.message_mut(sid) else {
        return;
    };
    record.status = status;
    record.error_code = error_code;
    record.date_updated = Utc::now();
    let to = record.to.clone();
    if let Some(phone) = world.phone_mut(&to) {
        phone.touch();
    }
}

/// Records the status callback of a text's current status, when it asked for them.
fn status_post(world: &mut World, sid: &str) -> Option<usize> {
    let record = world.sms.messages.iter().find(|m| m.sid == sid)?;
    let url = record.status_callback.clone()?;
    let params = status_params(&world.sms.account.account_sid, record);
    Some(post::record(world, "status", sid, &url, params))
}

/// The form of a status callback, as Twilio posts it.
fn status_params(account_sid: &str, record: &SmsRecord) -> BTreeMap<String, String> {
    let status = record.status.as_str();
    let mut params: BTreeMap<String, String> = [
        ("MessageSid", record.sid.as_str()),
        ("SmsSid", record.sid.as_str()),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("AccountSid", account_sid),
        ("From", record.from.as_str()),
        ("To", record.to.as_str()),
        ("ApiVersion", API_VERSION),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    if let Some(service) = &record.messaging_service_sid {
        params.insert("MessagingServiceSid".into(), service.clone());
    }
    if let Some(code) = record.error_code {
        params.insert("ErrorCode".into(), code.to_string());
    }
    params
}

/// Delivers the texts that waited for `phone` to come online.
pub(crate) fn deliver_waiting(shared: &Arc<Shared>, phone: &str) {
    let (ready, delay) = {
        let mut world = shared.world();
        let Some(delay) = world.phones.get(phone).map(|p| p.config.delivery_delay_ms) else {
            return;
        };
        let waiting = std::mem::take(&mut world.sms.waiting);
        let (ready, still): (Vec<String>, Vec<String>) = waiting.into_iter().partition(|sid| {
            world
                .sms
                .messages
                .iter()
                .any(|m| &m.sid == sid && m.to == phone)
        });
        world.sms.waiting = still;
        (ready, Duration::from_millis(delay))
    };
    for sid in ready {
        let weak = Arc::downgrade(shared);
        let mut stop = shared.shutdown.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            finish(&weak, &sid).await;
        });
    }
}

/// The user of `phone` texts `body` to the business; returns the text's SID.
///
/// The text goes to the number that last texted the phone (the account's number when
/// none has), and is posted to the SMS webhook. STOP and START keywords opt the phone
/// out and back in, as Twilio's default handling does, and are posted too, marked with
/// `OptOutType`.
pub(crate) fn reply(shared: &Arc<Shared>, phone: &str, body: &str) -> ApiResult<String> {
    if body.trim().is_empty() {
        return Err(ApiError::invalid("body: empty; type something to send"));
    }
    let (sid, post_id) = {
        let mut world = shared.world();
        let seq = world.next_seq();
        let device = world.phone_mut(phone).ok_or_else(unknown_phone)?;
        if !device.online {
            return Err(ApiError::precondition(
                "this phone is offline; bring it online first",
            ));
        }
        device.touch();
        let record = inbound_record(&world, phone, body, seq);
        let opt_out_type = keyword(body);
        match opt_out_type {
            Some("STOP") => world.sms.opted_out.insert(phone.to_string()),
            Some(_) => world.sms.opted_out.remove(phone),
            None => false,
        };
        let params = inbound_params(&world.sms.account.account_sid, &record, opt_out_type);
        let sid = record.sid.clone();
        world.sms.messages.push(record);
        let url = world.sms.webhook_url.clone();
        let post_id = url.map(|url| post::record(&mut world, "inbound", &sid, &url, params));
        (sid, post_id)
    };
    if let Some(id) = post_id {
        let weak = Arc::downgrade(shared);
        tokio::spawn(async move { post::send(&weak, id).await });
    }
    Ok(sid)
}

fn inbound_record(world: &World, phone: &str, body: &str, seq: u64) -> SmsRecord {
    let to = world
        .sms
        .messages
        .iter()
        .rev()
        .find(|m| m.to == phone && m.direction == "outbound-api")
        .map_or_else(|| world.sms.account.number.clone(), |m| m.from.clone());
    let segments = domain::sms::count_segments(body);
    let now = Utc::now();
    SmsRecord {
        sid: new_sid("SM"),
        direction: "inbound",
        from: phone.to_string(),
        to,
        messaging_service_sid: None,
        body: body.to_string(),
        status: SmsStatus::Received,
        error_code: None,
        num_segments: segments.count,
        encoding: segments.encoding.as_str(),
        status_callback: None,
        date_created: now,
        date_updated: now,
        seq,
    }
}

/// The form of an inbound text, as Twilio posts it to a number's webhook.
fn inbound_params(
    account_sid: &str,
    record: &SmsRecord,
    opt_out_type: Option<&str>,
) -> BTreeMap<String, String> {
    let segments = record.num_segments.to_string();
    let mut params: BTreeMap<String, String> = [
        ("MessageSid", record.sid.as_str()),
        ("SmsSid", record.sid.as_str()),
        ("SmsMessageSid", record.sid.as_str()),
        ("AccountSid", account_sid),
        ("From", record.from.as_str()),
        ("To", record.to.as_str()),
        ("Body", record.body.as_str()),
        ("NumMedia", "0"),
        ("NumSegments", segments.as_str()),
        ("SmsStatus", "received"),
        ("ApiVersion", API_VERSION),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    if let Some(kind) = opt_out_type {
        params.insert("OptOutType".into(), kind.to_string());
    }
    params
}

/// `STOP` or `START` when the whole text is one of Twilio's default keywords.
fn keyword(body: &str) -> Option<&'static str> {
    let word = body.trim().to_uppercase();
    if OPT_OUT.contains(&word.as_str()) {
        Some("STOP")
    } else if OPT_IN.contains(&word.as_str()) {
        Some("START")
    } else {
        None
    }
}

fn unknown_phone() -> ApiError {
    ApiError::not_found("no phone with this number; add it through POST /emulator/phones")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_keywords_opt_out_or_in() {
        assert_eq!(keyword(" stop "), Some("STOP"));
        assert_eq!(keyword("Unsubscribe"), Some("STOP"));
        assert_eq!(keyword("yes"), Some("START"));
        assert_eq!(keyword("stop it"), None);
        assert_eq!(keyword("BAJA"), None);
    }
}
