//! Tidings: order tracking and retention messaging over RCS.
//!
//! The library builds the whole application so that tests can start it on port 0;
//! `main.rs` only parses the command line.

pub mod cli;
pub mod config;
pub mod demo;
pub mod dispatch;
pub mod http;
pub mod import;
pub mod ingest;
pub mod scoring;
pub mod startup;
pub mod telemetry;
pub mod templates;

pub use config::Config;
pub use startup::Application;

/// The allocator of every binary built on this library (the server, its tests and
/// benchmarks). A request allocates many small buffers on one worker thread and frees
/// them on another; glibc's allocator spends a large share of the ingest path's time
/// there, and fragments over the weeks a server runs. mimalloc does neither.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
