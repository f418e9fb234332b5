//! Tidings' messaging channels: the clients that carry a message from the dispatcher to a
//! phone.
//!
//! [`rbm`] is Google's RCS Business Messaging v1 REST API: service-account auth, sends,
//! revocations, agent events and capability checks, with Google's answers sorted into
//! what the caller does next ([`rbm::RbmError`]). [`retry`] holds the backoff that
//! passing failures call for.

pub mod rbm;
pub mod retry;

pub use rbm::{
    AgentEvent, BatchReach, BuildError, CapabilityCacheConfig, Feature, KeyError, KeyFileError,
    RbmClient, RbmConfig, RbmError, Reachability, Revocation, ServiceAccountKey, MAX_BATCH_USERS,
};
pub use retry::{RetryPolicy, RetryableError};
