//! Integration tests: the real application on port 0, on SQLite and, when
//! `TIDINGS_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod browser;
mod cli;
mod escalation;
mod helpers;
mod ingest;
mod insight;
mod kannel;
mod maap;
mod messaging;
mod queue;
mod rbm;
mod rest;
mod sms;
mod smtp;
mod templates;
mod unsubscribe;
mod webhooks;
mod workspace;
