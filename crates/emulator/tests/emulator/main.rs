//! The emulator against real HTTP on 127.0.0.1: the RBM API as the RBM client and raw
//! requests see it, the token endpoint, simulated phones with a webhook receiver in
//! place of the agent, the phone pages and the inspection API.

mod auth;
mod helpers;
mod messages;
mod pages;
mod phones;
mod properties;
mod reach;
mod sms;
