//! Tidings' storage.
//!
//! [`Store`] is the one handle the rest of Tidings uses. It is backed by SQLite (the
//! embedded default, one file in WAL mode) or PostgreSQL (for several nodes), chosen by
//! the URL scheme. Both backends run the same SQL from `shared/`; each keeps its own
//! migrations, pool setup, claim locking and bulk insert.
//!
//! The one rule that carries reliability: a state change and the work it causes commit
//! in one transaction. Applying a command writes the timeline, the new status and the
//! notification intents (the outbox) together.

// `shared/` is mounted once per backend on purpose: the same SQL, compiled against
// each backend's concrete types.
#![allow(clippy::duplicate_mod)]

mod error;
mod models;
mod postgres;
mod sqlite;

use chrono::{DateTime, Utc};
use domain::{Command, OrderRef};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use error::{Result, StoreError};
pub use models::*;

/// A connected store.
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::Backend),
    Postgres(postgres::Backend),
}

/// How a command is applied.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Write notification intents for customer-facing changes. Off for history imports,
    /// which must not message customers about orders delivered long ago.
    pub notify: bool,
    /// The time recorded as "now" (received, updated, retry times).
    pub now: DateTime<Utc>,
}

impl ApplyOptions {
    pub fn live() -> ApplyOptions {
        ApplyOptions {
            notify: true,
            now: Utc::now(),
        }
    }

    pub fn history() -> ApplyOptions {
        ApplyOptions {
            notify: false,
            now: Utc::now(),
        }
    }
}

/// Runs the same expression against whichever backend the store holds.
macro_rules! on_backend {
    ($store:expr, $backend:ident => $body:expr) => {
        match $store {
            Store::Sqlite($backend) => $body,
            Store::Postgres($backend) => $body,
        }
    };
}

impl Store {
    /// Connects to `url` (`sqlite://path`, `postgres://...`) and applies pending
    /// migrations, so a started store is always at the schema this build expects.
    ///
    /// # Errors
    /// When the URL scheme is unknown, the database is unreachable, or a migration fails.
    pub async fn open(url: &str) -> Result<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating.
    ///
    /// # Errors
    /// When the URL scheme is unknown or the database is unreachable.
    pub async fn connect(url: &str) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(postgres::Backend::connect(url).await?))
        } else if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(sqlite::Backend::connect(url).await?))
        } else {
            Err(StoreError::Conflict(format!(
                "database URL must start with sqlite:// or postgres://, got {}",
                redact_url(url)
            )))
        }
    }

    /// Applies the migrations this build carries; those already applied are skipped.
    ///
    /// # Errors
    /// When a migration fails or the database holds migrations newer than this build.
    pub async fn migrate(&self) -> Result<()> {
        on_backend!(self, b => b.migrate().await)
    }

    /// Name of the backend, for logs and health output.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Checks that the database answers.
    ///
    /// # Errors
    /// When it does not.
    pub async fn ping(&self) -> Result<()> {
        on_backend!(self, b => b.ping().await)
    }

    /// Stores raw deliveries durably in one commit; the answer for each says whether it
    /// was new. Nothing is processed here: see [`Store::process_inbox`].
    ///
    /// # Errors
    /// When the database fails; then none of the batch is stored.
    pub async fn accept_deliveries(&self, deliveries: &[Delivery]) -> Result<Vec<Accepted>> {
        on_backend!(self, b => b.accept_deliveries(deliveries).await)
    }

    /// Processes up to `limit` pending deliveries in one transaction, each in its own
    /// savepoint: parsed with `parse`, applied, and marked done, retried later or failed.
    /// The transaction commits after a few milliseconds even if rows are left, so that
    /// it never holds SQLite's write lock for long; call again while it returns more
    /// than zero.
    ///
    /// # Errors
    /// When the database fails; the batch is then rolled back and stays pending.
    pub async fn process_inbox<F>(
        &self,
        limit: i64,
        parse: &F,
        opts: &ApplyOptions,
    ) -> Result<usize>
    where
        F: Fn(&InboxRow) -> std::result::Result<Command, String>,
    {
        on_backend!(self, b => b.process_inbox(limit, parse, opts).await)
    }

    /// Stores a delivery and applies its command in one transaction (the synchronous
    /// REST path). A duplicate delivery is not applied again.
    ///
    /// # Errors
    /// `NotFound` when the command names something that does not exist; database errors.
    pub async fn ingest_and_apply(
        &self,
        delivery: &Delivery,
        command: &Command,
        opts: &ApplyOptions,
    ) -> Result<(Accepted, Applied)> {
        on_backend!(self, b => b.ingest_and_apply(delivery, command, opts).await)
    }

    /// Stores and applies several requests in one commit, each in its own savepoint, as
    /// [`Store::ingest_and_apply`] would one by one: a request's own failure is returned
    /// in its slot and leaves the others applied.
    ///
    /// # Errors
    /// When the database fails; nothing of the batch is then applied.
    pub async fn ingest_and_apply_many(
        &self,
        requests: &[(Delivery, Command)],
        opts: &ApplyOptions,
    ) -> Result<Vec<Result<(Accepted, Applied)>>> {
        on_backend!(self, b => b.ingest_and_apply_many(requests, opts).await)
    }

    /// Applies commands in one transaction, each in its own savepoint, and records how
    /// far an import got in the same commit, so an interrupted import resumes exactly.
    ///
    /// # Errors
    /// Database errors; a command's own failure is returned in its slot instead.
    pub async fn apply_batch(
        &self,
        commands: &[Command],
        opts: &ApplyOptions,
        progress: Option<(&str, i64)>,
    ) -> Result<Vec<Result<Applied>>> {
        on_backend!(self, b => b.apply_batch(commands, opts, progress).await)
    }

    /// How many rows of an import were already applied.
    ///
    /// # Errors
    /// Database errors.
    pub async fn import_rows_done(&self, file_key: &str) -> Result<i64> {
        on_backend!(self, b => b.import_rows_done(file_key).await)
    }

    /// An order with its items, shipments and timeline.
    ///
    /// # Errors
    /// `NotFound` for an unknown id.
    pub async fn get_order(&self, id: i64) -> Result<OrderView> {
        on_backend!(self, b => b.get_order(id).await)
    }

    /// The id of an order known by its source's id.
    ///
    /// # Errors
    /// Database errors.
    pub async fn order_id_by_ref(&self, order: &OrderRef) -> Result<Option<i64>> {
        on_backend!(self, b => b.order_id_by_ref(order).await)
    }

    /// The id of the order a tracking token opens.
    ///
    /// # Errors
    /// Database errors.
    pub async fn order_id_by_token(&self, token: &str) -> Result<Option<i64>> {
        on_backend!(self, b => b.order_id_by_token(token).await)
    }

    /// A customer with consents and orders.
    ///
    /// # Errors
    /// `NotFound` for an unknown id.
    pub async fn get_customer(&self, id: i64) -> Result<CustomerView> {
        on_backend!(self, b => b.get_customer(id).await)
    }

    /// Notification intents written for an order, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_outbox(&self, order_id: i64) -> Result<Vec<OutboxRow>> {
        on_backend!(self, b => b.list_outbox(order_id).await)
    }

    /// Inbox rows by state.
    ///
    /// # Errors
    /// Database errors.
    pub async fn inbox_counts(&self) -> Result<InboxCounts> {
        on_backend!(self, b => b.inbox_counts().await)
    }

    /// Creates an API key and returns its id; only the hash of `secret` is stored. The
    /// audit log records who created it, in the same transaction.
    ///
    /// # Errors
    /// Database errors.
    pub async fn create_api_key(
        &self,
        name: &str,
        scope: &str,
        secret: &str,
        actor: &Actor,
    ) -> Result<i64> {
        let prefix: String = secret.chars().take(12).collect();
        let hash = hash_secret(secret);
        on_backend!(self, b => b.create_api_key(name, scope, &prefix, &hash, actor).await)
    }

    /// The live key whose secret this is, if any.
    ///
    /// # Errors
    /// Database errors.
    pub async fn find_api_key(&self, secret: &str) -> Result<Option<ApiKey>> {
        on_backend!(self, b => b.find_api_key(&hash_secret(secret)).await)
    }

    /// Claims up to `limit` due messages for sending until `lease_until`, with what
    /// their templates need. Leases that ran out are released first, so messages a
    /// stopped node held are sent by another. On PostgreSQL, nodes claim disjoint rows.
    ///
    /// # Errors
    /// Database errors; nothing is claimed then.
    pub async fn claim_due_messages(
        &self,
        limit: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<DueMessage>> {
        on_backend!(self, b => b.claim_due_messages(limit, now, lease_until).await)
    }

    /// Records the outcomes of send attempts in one commit.
    ///
    /// # Errors
    /// Database errors; none of the outcomes is recorded then, and the messages stay
    /// claimed until their lease runs out.
    pub async fn record_send_outcomes(
        &self,
        outcomes: &[Outcome],
        now: DateTime<Utc>,
    ) -> Result<()> {
        on_backend!(self, b => b.record_send_outcomes(outcomes, now).await)
    }

    /// Every message about an order, with its status history and attempts.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_messages(&self, order_id: i64) -> Result<Vec<MessageView>> {
        on_backend!(self, b => b.list_messages(order_id).await)
    }

    /// Withdraws promotional email consent (source `email:unsubscribe`) from the
    /// customer whose unsubscribe token this is; their id, or `None` for an unknown
    /// token. Idempotent: a repeat records nothing more.
    ///
    /// # Errors
    /// Database errors.
    pub async fn unsubscribe_email(&self, token: &str) -> Result<Option<i64>> {
        on_backend!(self, b => b.unsubscribe_email(token, Utc::now()).await)
    }

    /// The customer an unsubscribe token belongs to, without changing anything.
    ///
    /// # Errors
    /// Database errors.
    pub async fn customer_by_unsubscribe_token(&self, token: &str) -> Result<Option<i64>> {
        on_backend!(self, b => b.customer_by_unsubscribe_token(token).await)
    }

    /// The token of a customer's one-click unsubscribe link.
    ///
    /// # Errors
    /// Database errors.
    pub async fn unsubscribe_token(&self, customer_id: i64) -> Result<Option<String>> {
        on_backend!(self, b => b.unsubscribe_token(customer_id).await)
    }

    /// Every message to a customer, order updates and replies to keywords alike, with
    /// status history and attempts, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_customer_messages(&self, customer_id: i64) -> Result<Vec<MessageView>> {
        on_backend!(self, b => b.list_customer_messages(customer_id).await)
    }

    /// Sends messages whose time to live ran out on a channel on to the next one; how
    /// many.
    ///
    /// # Errors
    /// Database errors; nothing is changed then.
    pub async fn reroute_expired(&self) -> Result<usize> {
        on_backend!(self, b => b.reroute_expired(Utc::now()).await)
    }

    /// Messages sent on `channel` before `cutoff` and not delivered since, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn stalled_sends(
        &self,
        channel: &str,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<StalledSend>> {
        on_backend!(self, b => b.stalled_sends(channel, cutoff, limit).await)
    }

    /// Sends a message `channel` did not deliver in time on to the next channel (after
    /// the caller revoked it there); `false` when a receipt moved it on first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn reroute_stalled(&self, id: Uuid, channel: &str, reason: &str) -> Result<bool> {
        on_backend!(self, b => b.reroute_stalled(id, channel, reason, Utc::now()).await)
    }

    /// Hands up to `limit` order updates with one of `templates`, delivered on RCS
    /// before `delivered_before` and not read since, to the next channel: each once, due
    /// now, with `reason` on its history. Nodes sweeping at once take disjoint
    /// messages. Their ids.
    ///
    /// # Errors
    /// Database errors; nothing is changed then.
    pub async fn escalate_unread(
        &self,
        templates: &[String],
        delivered_before: DateTime<Utc>,
        reason: &str,
        limit: i64,
    ) -> Result<Vec<Uuid>> {
        on_backend!(self, b => b
            .escalate_unread(templates, delivered_before, reason, limit, Utc::now())
            .await)
    }

    /// One message with its status history and attempts: what happened to it and why.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id; database errors.
    pub async fn get_message(&self, id: Uuid) -> Result<MessageView> {
        on_backend!(self, b => b.get_message(id).await)
    }

    /// Messages that failed for good (dead letters), the most recent first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn dead_letters(&self, limit: i64) -> Result<Vec<MessageView>> {
        on_backend!(self, b => b.dead_letters(limit).await)
    }

    /// Queues a dead letter again, due now; the actor is recorded on its history and in
    /// the audit log. `false` when the message is not (or no longer) failed.
    ///
    /// # Errors
    /// Database errors.
    pub async fn redrive_message(&self, id: Uuid, actor: &Actor) -> Result<bool> {
        on_backend!(self, b => b.redrive_message(id, actor).await)
    }

    /// How many messages wait to be sent (queued, or being sent), by purpose:
    /// `transactional` first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn queued_counts(&self) -> Result<Vec<(String, i64)>> {
        on_backend!(self, b => b.queued_counts().await)
    }

    /// Up to `limit` messages waiting to be sent, in the order they will be claimed,
    /// with what a send needs (order, customer, consent): what the queue holds.
    ///
    /// # Errors
    /// Database errors.
    pub async fn queued_messages(&self, limit: i64) -> Result<Vec<DueMessage>> {
        on_backend!(self, b => b.queued_messages(limit).await)
    }

    /// Messages by state.
    ///
    /// # Errors
    /// Database errors.
    pub async fn message_counts(&self) -> Result<MessageCounts> {
        on_backend!(self, b => b.message_counts().await)
    }

    /// What a customer sent, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_inbound(&self, customer_id: i64) -> Result<Vec<InboundView>> {
        on_backend!(self, b => b.list_inbound(customer_id).await)
    }

    /// The stored template for exactly this key and locale, if any.
    ///
    /// # Errors
    /// Database errors.
    pub async fn get_template(&self, key: &str, locale: &str) -> Result<Option<String>> {
        on_backend!(self, b => b.get_template(key, locale).await)
    }

    /// How many customers match `filter` (validated by the caller), and the first
    /// `sample` of them by id. `minor_per_major` turns the filter's amounts, in major
    /// units of the shop's currency, into the minor units the store keeps.
    ///
    /// # Errors
    /// Database errors.
    pub async fn segment_preview(
        &self,
        filter: &insight::segment::Filter,
        minor_per_major: f64,
        sample: i64,
    ) -> Result<SegmentPreview> {
        on_backend!(self, b => b.segment_preview(filter, minor_per_major, sample).await)
    }

    /// Every customer with an order: what scoring reads.
    ///
    /// # Errors
    /// Database errors.
    pub async fn scoring_inputs(&self) -> Result<Vec<ScoringInput>> {
        on_backend!(self, b => b.scoring_inputs().await)
    }

    /// Stores the scores of a scoring run.
    ///
    /// # Errors
    /// Database errors; the chunks committed before the error stay.
    pub async fn save_scores(&self, scores: &[CustomerScores]) -> Result<()> {
        on_backend!(self, b => b.save_scores(scores, Utc::now()).await)
    }

    /// Every stored template: key, locale, body.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_templates(&self) -> Result<Vec<(String, String, String)>> {
        on_backend!(self, b => b.list_templates().await)
    }

    /// Stores a template (validated by the caller), replacing any for the key and locale.
    ///
    /// # Errors
    /// Database errors.
    pub async fn put_template(
        &self,
        key: &str,
        locale: &str,
        body: &str,
        actor: &Actor,
    ) -> Result<()> {
        on_backend!(self, b => b.put_template(key, locale, body, actor).await)
    }

    /// Records a consent decision someone in the workspace made for a customer, with the
    /// audit entry, in one transaction.
    ///
    /// # Errors
    /// `NotFound` for an unknown customer; database errors.
    pub async fn record_consent(
        &self,
        customer_id: i64,
        record: &domain::ConsentRecord,
        actor: &Actor,
    ) -> Result<()> {
        on_backend!(self, b => b.record_consent(customer_id, record, actor).await)
    }

    /// Adds a user; `password_hash` is a PHC string the caller made.
    ///
    /// # Errors
    /// `Conflict` when the (lower-cased) email is taken; database errors.
    pub async fn add_user(
        &self,
        email: &str,
        role: &str,
        password_hash: &str,
        actor: &Actor,
    ) -> Result<User> {
        let email = email.trim().to_lowercase();
        on_backend!(self, b => b.add_user(&email, role, password_hash, actor).await)
    }

    /// A user by id.
    ///
    /// # Errors
    /// `NotFound`; database errors.
    pub async fn get_user(&self, id: i64) -> Result<User> {
        on_backend!(self, b => b.get_user(id).await)
    }

    /// Every user, by email.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        on_backend!(self, b => b.list_users().await)
    }

    /// A user and their password hash, by email in any case; for logging in.
    ///
    /// # Errors
    /// Database errors.
    pub async fn user_credentials(&self, email: &str) -> Result<Option<(User, String)>> {
        let email = email.trim().to_lowercase();
        on_backend!(self, b => b.user_credentials(&email).await)
    }

    /// Changes a user's role, disabled state or password, with the audit entry.
    ///
    /// # Errors
    /// `NotFound`; database errors.
    pub async fn change_user(
        &self,
        id: i64,
        change: &UserChange<'_>,
        actor: &Actor,
    ) -> Result<User> {
        on_backend!(self, b => b.change_user(id, change, actor).await)
    }

    /// Opens a session for the cookie token `token`; only its hash is stored.
    ///
    /// # Errors
    /// Database errors.
    pub async fn create_session(
        &self,
        user_id: i64,
        token: &str,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let hash = hash_secret(token);
        on_backend!(self, b => b.create_session(user_id, &hash, csrf_token, expires_at).await)
    }

    /// The live session of a cookie token: unexpired, of an enabled user.
    ///
    /// # Errors
    /// Database errors.
    pub async fn find_session(&self, token: &str) -> Result<Option<Session>> {
        on_backend!(self, b => b.find_session(&hash_secret(token)).await)
    }

    /// Ends the session of a cookie token, if there is one.
    ///
    /// # Errors
    /// Database errors.
    pub async fn delete_session(&self, token: &str) -> Result<()> {
        on_backend!(self, b => b.delete_session(&hash_secret(token)).await)
    }

    /// Every API key, live first; never a secret.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyListing>> {
        on_backend!(self, b => b.list_api_keys().await)
    }

    /// Revokes a key, with the audit entry; `false` when it was revoked already.
    ///
    /// # Errors
    /// `NotFound`; database errors.
    pub async fn revoke_api_key(&self, id: i64, actor: &Actor) -> Result<bool> {
        on_backend!(self, b => b.revoke_api_key(id, actor).await)
    }

    /// Audit entries matching `filter`, newest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        on_backend!(self, b => b.list_audit(filter).await)
    }
}

/// API keys and session tokens are long random strings, so one fast hash is enough to
/// make a stolen table useless; a slow password hash would only slow every request down.
fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new tracking-page token: 128 random bits from the operating system's generator.
pub fn new_tracking_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A database URL safe to print: the password is replaced.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://u:secret@db/x"),
            "postgres://u:***@db/x"
        );
        assert_eq!(
            redact_url("sqlite://./tidings-data/t.db"),
            "sqlite://./tidings-data/t.db"
        );
    }

    #[test]
    fn tracking_tokens_carry_128_bits() {
        let token = new_tracking_token();
        assert_eq!(token.len(), 32);
        assert_ne!(token, new_tracking_token());
    }
}
