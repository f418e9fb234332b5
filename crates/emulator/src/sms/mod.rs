//! A Twilio-compatible SMS platform beside the RBM one, for the fallback path.
//!
//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` takes a message as Twilio's
//! Programmable Messaging API does (HTTP Basic auth, a form, Twilio's error JSON and
//! codes) and hands it to the phone with that number: every simulated phone is also
//! an SMS handset, RCS or not. What becomes of the text is posted to the message's
//! `StatusCallback` (queued, sent, then delivered, or undelivered or failed as the
//! phone is set up), and what a phone texts back is posted to the SMS webhook; every
//! post is signed with `X-Twilio-Signature` as Twilio signs them. As with Twilio's
//! default opt-out handling, a phone that texts STOP is refused further messages
//! (21610) until it texts START.
//!
//! Control and inspection, under `/emulator`:
//! - `POST /emulator/phones/{E164}/sms` `{"body"}`: the phone texts the business;
//! - `GET /emulator/phones/{E164}/sms`: the texts to and from one phone;
//! - `GET /emulator/sms/messages`: every text, with its segments and encoding;
//! - `GET /emulator/sms/posts`: every status callback and inbound post, with its answer;
//! - `GET`/`PUT /emulator/sms/webhook` `{"url"}`: where texts from phones go.

mod api;
mod control;
mod handset;
mod post;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{EmulatorConfig, TwilioAccount};
use crate::phones::is_e164;
use crate::state::{ConfigError, Shared};

pub(crate) use handset::{deliver_waiting, reply};
use post::SmsPost;

/// Twilio's API version, the first segment of every path.
const API_VERSION: &str = "2010-04-01";

/// Every SMS route: the Messages API and the control API.
pub(crate) fn router() -> Router<Arc<Shared>> {
    let messages = format!("/{API_VERSION}/Accounts/{{account}}/Messages.json");
    Router::new()
        .route(&messages, post(api::create))
        .merge(control::router())
}

/// Checks the SMS part of a configuration.
pub(crate) fn check_config(config: &EmulatorConfig) -> Result<(), ConfigError> {
    let account = &config.twilio;
    if account.account_sid.trim().is_empty() {
        return Err(ConfigError::Missing("twilio.accountSid"));
    }
    if account.auth_token.is_empty() {
        return Err(ConfigError::Missing("twilio.authToken"));
    }
    if !is_e164(&account.number) {
        return Err(ConfigError::BadNumber(account.number.clone()));
    }
    Ok(())
}

/// Texts both ways, the account, and what was posted about them.
#[derive(Debug, Default)]
pub struct SmsWorld {
    /// The account the Messages API takes and signs with.
    pub account: TwilioAccount,
    /// Where texts from phones are posted now.
    pub webhook_url: Option<String>,
    /// Every text, both ways, by the order it arrived.
    pub messages: Vec<SmsRecord>,
    /// Every post to a status callback or the SMS webhook, by id (its index).
    pub posts: Vec<SmsPost>,
    /// Phones that texted STOP, or started so, and have not texted START since.
    pub opted_out: BTreeSet<String>,
    /// Texts sent to a phone that was offline, waiting for it to come online.
    pub waiting: Vec<String>,
}

impl SmsWorld {
    /// The SMS side of a new emulator.
    pub fn new(config: &EmulatorConfig) -> SmsWorld {
        let opted_out = config
            .phones
            .iter()
            .filter(|phone| phone.sms.opted_out)
            .map(|phone| phone.number.clone())
            .collect();
        SmsWorld {
            account: config.twilio.clone(),
            webhook_url: config.sms_webhook_url.clone(),
            opted_out,
            ..SmsWorld::default()
        }
    }

    /// The text with Twilio's id `sid`.
    pub fn message_mut(&mut self, sid: &str) -> Option<&mut SmsRecord> {
        self.messages.iter_mut().find(|m| m.sid == sid)
    }

    /// The texts to or from `phone`, oldest first.
    pub fn of_phone<'a>(&'a self, phone: &'a str) -> impl Iterator<Item = &'a SmsRecord> {
        self.messages
            .iter()
            .filter(move |m| m.to == phone || m.from == phone)
    }
}

/// Where a text stands, in Twilio's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsStatus {
    /// Taken by a Messaging Service, which has not picked a sender yet.
    Accepted,
    /// Waiting to go to the carrier.
    Queued,
    /// Handed to the carrier; not on the phone yet.
    Sent,
    /// On the phone.
    Delivered,
    /// The carrier could not deliver it.
    Undelivered,
    /// It never left.
    Failed,
    /// Texted by a phone to the business.
    Received,
}

impl SmsStatus {
    /// Twilio's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SmsStatus::Accepted => "accepted",
            SmsStatus::Queued => "queued",
            SmsStatus::Sent => "sent",
            SmsStatus::Delivered => "delivered",
            SmsStatus::Undelivered => "undelivered",
            SmsStatus::Failed => "failed",
            SmsStatus::Received => "received",
        }
    }
}

/// One text, as the inspection API shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsRecord {
    /// Twilio's id for it (`SM…`).
    pub sid: String,
    /// `outbound-api` for texts the business sent, `inbound` for texts from phones.
    pub direction: &'static str,
    /// The sender.
    pub from: String,
    /// The recipient.
    pub to: String,
    /// The Messaging Service it was sent through, if any.
    pub messaging_service_sid: Option<String>,
    /// The text.
    pub body: String,
    /// Where it stands.
    pub status: SmsStatus,
    /// Twilio's error code for an undelivered or failed text.
    pub error_code: Option<u32>,
    /// How many SMS parts it is sent as.
    pub num_segments: usize,
    /// `GSM-7` or `UCS-2`.
    pub encoding: &'static str,
    /// Where its statuses are posted.
    pub status_callback: Option<String>,
    /// When it was taken.
    pub date_created: DateTime<Utc>,
    /// When its status last changed.
    pub date_updated: DateTime<Utc>,
    /// Its place in the phone's conversation, among RCS messages too.
    pub seq: u64,
}
