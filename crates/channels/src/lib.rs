//! Tidings' messaging channels: the clients that carry a message from the dispatcher to a
//! phone.
//!
//! [`rbm`] is Google's RCS Business Messaging v1 REST API: service-account auth, sends,
//! revocations, agent events and capability checks, with Google's answers sorted into
//! what the caller does next ([`rbm::RbmError`]). [`maap`] is the GSMA MaaP chatbot API
//! (FNW.11) of an operator's platform, with the same surface and the same sorting of
//! failures ([`maap::MaapError`]). [`retry`] holds the backoff that passing failures call
//! for. [`email`] sends the same messages as email over SMTP, rendered as text and HTML,
//! with failures sorted the same way ([`email::EmailError`]). [`sms`] sends text through
//! Twilio's Messaging API (or anything speaking it) and checks its webhook signatures,
//! again with the same sorting ([`sms::TwilioError`]).

pub mod email;
pub mod maap;
pub mod rbm;
pub mod retry;
pub mod sms;

pub use email::{EmailConfig, EmailError, EmailSender};
pub use maap::{MaapAuth, MaapClient, MaapConfig, MaapError};
pub use rbm::{
    AgentEvent, BatchReach, BuildError, CapabilityCacheConfig, Feature, KeyError, KeyFileError,
    RbmClient, RbmConfig, RbmError, Reachability, Revocation, ServiceAccountKey, MAX_BATCH_USERS,
};
pub use retry::{RetryPolicy, RetryableError};
pub use sms::{TwilioClient, TwilioConfig, TwilioError};
