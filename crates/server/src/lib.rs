//! Tidings: order tracking and retention messaging over RCS.
//!
//! The library builds the whole application so that tests can start it on port 0;
//! `main.rs` only parses the command line.

pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod import;
pub mod ingest;
pub mod startup;
pub mod telemetry;

pub use config::Config;
pub use startup::Application;
