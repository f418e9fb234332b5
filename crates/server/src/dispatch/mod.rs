//! The dispatcher: sends what the outbox holds.
//!
//! It claims due messages in batches (a lease per message, so a node that dies does
//! not strand them; on PostgreSQL nodes claim disjoint rows), renders each one's
//! template for its customer, sends it under the provider's rate limit with a bounded
//! number of calls in flight, and records every attempt and its answer in one commit
//! per batch. Receipts (delivered, read) come back through the provider's webhook.

mod breaker;
pub mod context;
pub mod pacing;
pub mod policy;
pub mod provider;
pub mod sms;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use channels::email::EmailSender;
use channels::RetryPolicy;
use chrono::{DateTime, TimeDelta, Utc};
use domain::template::ShopContext;
use domain::{Channel, PhoneNumber};
use store::{AttemptRecord, DueMessage, Outcome, SendOutcome, Store};
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::templates::SharedTemplates;
pub use policy::{Plan, Policy};
pub use provider::{Failure, Provider};

/// How long an idle dispatcher waits before looking for retries that came due; new
/// messages wake it at once.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// Attempts at recording a batch's outcomes before leaving its messages to their lease.
const RECORD_ATTEMPTS: u32 = 5;

/// The longest an order update waits in memory for its provider's quota.
const MOST_PACING_WAIT: Duration = Duration::from_secs(10);
/// The longest a promotion waits in memory for its provider's quota.
const PROMOTION_PACING_WAIT: Duration = Duration::from_secs(1);

/// How often the dispatcher looks for messages to send on the next channel: expired on
/// one, or not delivered in time.
const FALLBACK_SWEEP: Duration = Duration::from_secs(5);

/// Sends due messages on the channel the delivery policy picks.
pub struct Dispatcher {
    store: Store,
    templates: SharedTemplates,
    rcs: Option<Sender<Provider>>,
    sms: Option<Sender<sms::SmsProvider>>,
    email: Option<Sender<EmailSender>>,
    policy: Policy,
    available: Vec<Channel>,
    config: Arc<Config>,
    shop: ShopContext,
    /// Provider calls at once.
    in_flight: Semaphore,
    /// Messages claimed and not yet handed to the recorder: claiming waits for room.
    claimed: Arc<Semaphore>,
    /// The messages of each customer with one being sent, in the order to send them.
    lanes: Mutex<HashMap<i64, VecDeque<Job>>>,
    retry: RetryPolicy,
}

/// A claimed message and its room among the claimed.
struct Job {
    message: DueMessage,
    _claimed: OwnedSemaphorePermit,
}

/// A channel's provider behind its token buckets and circuit breaker.
struct Sender<P> {
    provider: P,
    /// Every send waits for its cost from each: the node's share of the account, and
    /// for SMS the sending number's own quota when one is set.
    buckets: Vec<pacing::Bucket>,
    /// When the messages the buckets could not take in time come due again.
    backoff: pacing::Backoff,
    breaker: breaker::Breaker,
}

impl<P> Sender<P> {
    fn new(provider: P, per_second: u32) -> Sender<P> {
        Sender {
            provider,
            buckets: vec![pacing::Bucket::new(per_second)],
            backoff: pacing::Backoff::new(per_second),
            breaker: breaker::Breaker::default(),
        }
    }

    /// Also paced at `per_second`, when set.
    fn also_paced(mut self, per_second: Option<u32>) -> Sender<P> {
        self.buckets.extend(per_second.map(pacing::Bucket::new));
        self.backoff = pacing::Backoff::new(self.rate());
        self
    }

    /// The most units a second every bucket lets through.
    fn rate(&self) -> u32 {
        self.buckets
            .iter()
            .map(pacing::Bucket::per_second)
            .min()
            .unwrap_or(0)
    }

    /// Waits until every bucket gave `cost` (segments for SMS, 1 for a message), when
    /// that takes at most `most`; otherwise `Paced` with when to try again.
    async fn pace(&self, cost: u32, most: Duration) -> Result<(), SendError> {
        pacing::take_within(&self.buckets, cost, most)
            .await
            .map_err(|wait| {
                let again = self.backoff.delay(cost, wait, Instant::now());
                SendError::Paced(again)
            })
    }
}

/// Why a send did not happen.
enum SendError {
    /// The provider's answer, or a reason found before calling it.
    Failed(Failure),
    /// The quota is taken for longer than the message may wait; try again after this.
    Paced(Duration),
}

impl From<Failure> for SendError {
    fn from(failure: Failure) -> SendError {
        SendError::Failed(failure)
    }
}

/// Says on the attempt why it skipped RCS, so that the message's history explains it.
fn note_rcs_skipped(recorded: &mut Recorded) {
    const SKIPPED: &str = "RCS skipped: the phone answered RBM with 404 recently";
    if let Some(attempt) = recorded.attempt.as_mut() {
        attempt.detail = Some(match attempt.detail.take() {
            Some(detail) => format!("{SKIPPED}; {detail}"),
            None => SKIPPED.to_string(),
        });
    }
}

/// One message's attempt, ready to record.
type Recorded = Outcome;

impl Dispatcher {
    /// A dispatcher sending RCS through `rcs`, SMS through the `[sms]` settings' provider
    /// (Twilio or Kannel) and email through the `[email]` settings' server, when they
    /// name them.
    ///
    /// # Errors
    /// When the delivery policy's or the email settings do not make sense.
    pub fn new(
        store: Store,
        templates: SharedTemplates,
        rcs: Option<Provider>,
        config: Arc<Config>,
    ) -> anyhow::Result<Dispatcher> {
        let retry = RetryPolicy {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(15 * 60),
            max_attempts: u32::try_from(config.dispatch.max_attempts).unwrap_or(u32::MAX),
        };
        let policy = Policy::from_config(&config.delivery).map_err(anyhow::Error::msg)?;
        let rcs = rcs.map(|p| {
            let rate = p.rate_per_second(&config);
            Sender::new(p, rate)
        });
        let email = config
            .email
            .build_sender()
            .map_err(anyhow::Error::msg)?
            .map(|sender| Sender::new(sender, config.email.rate_per_second));
        let sms = sms::SmsProvider::from_config(&config)?.map(|provider| {
            Sender::new(provider, config.sms.rate_per_second).also_paced(config.sms.sender_rate())
        });
        let available = [
            (Channel::Rcs, rcs.is_some()),
            (Channel::Sms, sms.is_some()),
            (Channel::Email, email.is_some()),
        ]
        .into_iter()
        .filter_map(|(channel, set_up)| set_up.then_some(channel))
        .collect();
        Ok(Dispatcher {
            store,
            templates,
            rcs,
            sms,
            email,
            policy,
            available,
            shop: context::shop_context(&config),
            in_flight: Semaphore::new(config.dispatch.max_in_flight),
            claimed: Arc::new(Semaphore::new(claim_room(&config))),
            lanes: Mutex::new(HashMap::new()),
            config,
            retry,
        })
    }

    /// Whether any channel can send.
    pub fn has_channels(&self) -> bool {
        !self.available.is_empty()
    }

    /// The channels that can send, each with the rate it is paced at: segments a
    /// second for SMS, messages a second for the others.
    pub fn rates(&self) -> pacing::Rates {
        let rates = [
            (Channel::Rcs, self.rcs.as_ref().map(Sender::rate)),
            (Channel::Sms, self.sms.as_ref().map(Sender::rate)),
            (Channel::Email, self.email.as_ref().map(Sender::rate)),
        ];
        let rates = rates.into_iter().filter_map(|(c, r)| Some((c, r?)));
        pacing::Rates(rates.collect())
    }

    /// Runs until `stop` turns true, then finishes what it claimed: every message is
    /// sent and its outcome recorded.
    pub fn spawn(
        self,
        wake: Arc<Notify>,
        stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(Arc::new(self).run(wake, stop))
    }

    /// Claims due messages whenever there is room and they are due, and starts each
    /// one's send as soon as it is claimed.
    ///
    /// Nothing waits for a whole batch: a message on a slow channel (an SMS number
    /// paced at one text a second, a slow mail server) holds up only the customer's
    /// later messages, never other customers' or other channels'. Outcomes go to one
    /// recorder, which writes all that have come in by then in one commit.
    async fn run(self: Arc<Self>, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        let (outcomes, received) = mpsc::channel(claim_room(&self.config));
        let recorder = tokio::spawn(self.clone().record_all(received, wake.clone()));
        let mut lanes = JoinSet::new();
        let mut last_sweep = Instant::now();
        let every = self.sweep_every();
        let mut saturated = false;
        while !*stop.borrow() {
            if last_sweep.elapsed() >= every {
                last_sweep = Instant::now();
                self.sweep().await;
            }
            reap(&mut lanes);

            let Some(room) = self.room(saturated, &mut stop).await else {
                break;
            };
            let limit = room.num_permits();
            match self.claim(limit).await {
                Ok(due) => {
                    saturated = due.len() == limit;
                    self.start(due, room, &mut lanes, &outcomes);
                    if saturated {
                        continue;
                    }
                }
                Err(error) => {
                    tracing::error!(error.message = %error, "claiming due messages failed");
                }
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = stop.changed() => {}
            }
        }

        while let Some(done) = lanes.join_next().await {
            log_lane_end(done);
        }
        drop(outcomes);
        if recorder.await.is_err() {
            tracing::error!("the outcome recorder failed");
        }
        tracing::debug!("dispatcher stopped");
    }

    /// How often the fallback sweep runs: a short fallback window as often as it needs.
    fn sweep_every(&self) -> Duration {
        let delivery = &self.config.delivery;
        let window = delivery.not_delivered_within_secs;
        let window = window.min(delivery.escalate_unread_after_secs.unwrap_or(window));
        FALLBACK_SWEEP.min(Duration::from_secs(window.max(1)))
    }

    /// Waits for room to claim into: any, or after a full claim half a batch, so that
    /// a busy dispatcher claims in batches rather than one message at a time. `None`
    /// when told to stop meanwhile.
    async fn room(
        &self,
        saturated: bool,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<OwnedSemaphorePermit> {
        let batch = self.batch_size();
        let least = if saturated { (batch / 2).max(1) } else { 1 };
        let claimed = self.claimed.clone();
        let mut room = tokio::select! {
            room = claimed.acquire_many_owned(least as u32) => room.ok()?,
            _ = stop.changed() => return None,
        };
        let more = self.claimed.available_permits().min(batch - least);
        if more > 0 {
            if let Ok(extra) = self.claimed.clone().try_acquire_many_owned(more as u32) {
                room.merge(extra);
            }
        }
        Some(room)
    }

    /// The most messages one claim takes.
    fn batch_size(&self) -> usize {
        usize::try_from(self.config.dispatch.batch)
            .unwrap_or(1)
            .max(1)
    }

    /// Leases up to `limit` due messages to this node.
    async fn claim(&self, limit: usize) -> store::Result<Vec<DueMessage>> {
        let now = Utc::now();
        let lease = TimeDelta::seconds(self.config.dispatch.lease_secs as i64);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.store.claim_due_messages(limit, now, now + lease).await
    }

    /// Starts sending what was claimed. A customer's messages go one after another in
    /// the order they were queued, so that "shipped" never overtakes "confirmed" on the
    /// phone: one that has a message on its way already joins the end of its lane.
    fn start(
        self: &Arc<Self>,
        due: Vec<DueMessage>,
        mut room: OwnedSemaphorePermit,
        lanes: &mut JoinSet<()>,
        outcomes: &mpsc::Sender<Recorded>,
    ) {
        for message in by_customer(due).into_iter().flatten() {
            // The claim took at most as many messages as the room holds.
            let Some(claimed) = room.split(1) else {
                break;
            };
            let customer = message.customer.as_ref().map(|c| c.id);
            let job = Job {
                message,
                _claimed: claimed,
            };
            let Some(job) = self.join_lane(customer, job) else {
                continue;
            };
            let (this, outcomes) = (self.clone(), outcomes.clone());
            lanes.spawn(async move { this.run_lane(customer, job, outcomes).await });
        }
    }

    /// Queues `job` behind the customer's message on its way, if there is one; else
    /// opens the customer's lane and gives the job back to start it.
    fn join_lane(&self, customer: Option<i64>, job: Job) -> Option<Job> {
        let Some(customer) = customer else {
            return Some(job);
        };
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        match lanes.get_mut(&customer) {
            Some(lane) => {
                lane.push_back(job);
                None
            }
            None => {
                lanes.insert(customer, VecDeque::new());
                Some(job)
            }
        }
    }

    /// Sends `job`, then the customer's messages queued behind it, handing each outcome
    /// to the recorder.
    async fn run_lane(
        self: Arc<Self>,
        customer: Option<i64>,
        mut job: Job,
        outcomes: mpsc::Sender<Recorded>,
    ) {
        loop {
            let Job {
                message,
                _claimed: claimed,
            } = job;
            let outcome = self.send_one(message).await;
            // The room is given back only once the recorder has the outcome: a slow
            // database slows claiming rather than piling outcomes up.
            if outcomes.send(outcome).await.is_err() {
                // The recorder is gone; the leases bring the messages back.
                return;
            }
            drop(claimed);
            let Some(next) = customer.and_then(|c| self.next_in_lane(c)) else {
                return;
            };
            job = next;
        }
    }

    /// The customer's next message, or `None` (closing the lane) when there is none.
    fn next_in_lane(&self, customer: i64) -> Option<Job> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let next = lanes.get_mut(&customer).and_then(VecDeque::pop_front);
        if next.is_none() {
            lanes.remove(&customer);
        }
        next
    }

    /// Writes outcomes as they come, all that have come in by then in one commit. A
    /// message sent on to the next channel is due at once, so the claimer is woken.
    async fn record_all(
        self: Arc<Self>,
        mut received: mpsc::Receiver<Recorded>,
        wake: Arc<Notify>,
    ) {
        let limit = claim_room(&self.config);
        let mut outcomes = Vec::with_capacity(limit);
        while received.recv_many(&mut outcomes, limit).await > 0 {
            self.record(&outcomes).await;
            let due_now = outcomes
                .iter()
                .any(|o| matches!(o.next, SendOutcome::Reroute { .. }));
            if due_now {
                wake.notify_one();
            }
            outcomes.clear();
        }
    }

    /// Records a batch's outcomes, trying again for a while when the database fails;
    /// past that the messages are sent again once their leases run out, which the
    /// provider's de-duplication by message id makes safe.
    async fn record(&self, outcomes: &[Recorded]) {
        if outcomes.is_empty() {
            return;
        }
        for attempt in 1..=RECORD_ATTEMPTS {
            match self.store.record_send_outcomes(outcomes, Utc::now()).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(
                        attempt,
                        error.message = %error,
                        "recording send outcomes failed"
                    );
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        tracing::error!(
            messages = outcomes.len(),
            "send outcomes could not be recorded; the messages will be sent again when \
             their leases run out"
        );
    }

    /// Sends on the next channel what the last one gave up on: messages whose time to
    /// live ran out, RCS messages not delivered in time (revoked first, so that the
    /// customer cannot get both), and time-critical order updates delivered on RCS but
    /// not read in time, when escalation is on.
    pub async fn sweep(&self) {
        if let Some(after) = self.config.delivery.escalate_unread_after_secs {
            self.escalate_unread(after).await;
        }
        match self.store.reroute_expired().await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "expired messages sent on to the next channel"),
            Err(error) => tracing::warn!(error.message = %error, "the fallback sweep failed"),
        }
        if let Some(rcs) = &self.rcs {
            if let Err(error) = self.revoke_stalled(rcs).await {
                tracing::warn!(error.message = %error, "revoking undelivered messages failed");
            }
        }
    }

    /// Hands order updates delivered on RCS more than `after` seconds ago and still
    /// unread to the next channel; the next batches send them.
    async fn escalate_unread(&self, after: u64) {
        let cutoff = Utc::now() - TimeDelta::seconds(i64::try_from(after).unwrap_or(i64::MAX));
        let reason = format!(
            "delivered on rcs but not read within {after} s; sending it again on the next \
             channel"
        );
        let templates = &self.config.delivery.escalate_templates;
        match self
            .store
            .escalate_unread(templates, cutoff, &reason, 100)
            .await
        {
            Ok(ids) if ids.is_empty() => {}
            Ok(ids) => tracing::info!(count = ids.len(), "unread order updates escalated"),
            Err(error) => tracing::warn!(error.message = %error, "the escalation sweep failed"),
        }
    }

    async fn revoke_stalled(&self, rcs: &Sender<Provider>) -> anyhow::Result<()> {
        let window = self.config.delivery.not_delivered_within_secs;
        let cutoff = Utc::now() - TimeDelta::seconds(window as i64);
        let stalled = self.store.stalled_sends("rcs", cutoff, 100).await?;
        for message in stalled {
            let Some(phone) = message.phone.as_deref() else {
                continue;
            };
            let phone = PhoneNumber::parse(phone, &self.config.default_region)?;
            // A quota taken for long leaves the rest to the next sweep.
            if rcs.pace(1, MOST_PACING_WAIT).await.is_err() {
                break;
            }
            match rcs.provider.revoke(&phone, message.id).await {
                Ok(true) => {
                    let reason = format!("not delivered within {window} s; revoked");
                    self.store
                        .reroute_stalled(message.id, "rcs", &reason)
                        .await?;
                }
                // Delivered meanwhile: its receipt is on the way.
                Ok(false) => {}
                Err(failure) => tracing::info!(
                    message_id = %message.id,
                    detail = %failure.detail,
                    "could not revoke an undelivered message; trying again later"
                ),
            }
        }
        Ok(())
    }

    #[tracing::instrument(
        name = "send",
        skip_all,
        fields(message_id = %message.id, escalated = message.escalated)
    )]
    async fn send_one(&self, message: DueMessage) -> Recorded {
        let escalated = message.escalated;
        let recorded = self.plan_and_send(message).await;
        if escalated {
            self.escalation_outcome(recorded)
        } else {
            recorded
        }
    }

    /// An escalated message's outcome: the reason on a successful attempt, and a
    /// message that no other channel would take (no consent, no contact, a refusal)
    /// left delivered, since the customer has it on RCS, instead of failed.
    fn escalation_outcome(&self, mut recorded: Recorded) -> Recorded {
        let after = self.config.delivery.escalate_unread_after_secs.unwrap_or(0);
        match &mut recorded.next {
            SendOutcome::Sent { channel } => {
                if let Some(attempt) = recorded.attempt.as_mut() {
                    attempt.detail = Some(format!(
                        "delivered on rcs but not read within {after} s; sent again on \
                         {channel}"
                    ));
                }
            }
            SendOutcome::Failed { error } => {
                let reason = std::mem::take(error);
                tracing::info!(%reason, "escalated message not sent again");
                recorded.next = SendOutcome::KeepDelivered { reason };
            }
            _ => {}
        }
        recorded
    }

    async fn plan_and_send(&self, mut message: DueMessage) -> Recorded {
        let mut plan = self.policy.plan(&message, &self.available, Utc::now());
        // A phone that answered 404 a moment ago goes straight to the next channel,
        // without another RBM call and another round through the outbox; when no other
        // channel may carry the message, RCS is asked again.
        let mut skipped_rcs = false;
        if matches!(plan, Plan::Send(Channel::Rcs)) && self.rcs_known_absent(&message) {
            message.exhausted.push(Channel::Rcs.as_str().to_string());
            match self.policy.plan(&message, &self.available, Utc::now()) {
                next @ Plan::Send(_) => (plan, skipped_rcs) = (next, true),
                _ => {
                    message.exhausted.pop();
                }
            }
        }
        let channel = match plan {
            Plan::Send(channel) => channel,
            Plan::Defer { until, reason } => {
                tracing::debug!(%reason, "message deferred");
                return held(&message, SendOutcome::Defer { until, reason });
            }
            Plan::Stop { reason } => {
                tracing::info!(%reason, "message not sent");
                return held(&message, SendOutcome::Failed { error: reason });
            }
        };

        if let Some((wait, name)) = self.circuit_open(channel) {
            let until = Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
            let reason = format!("the {name} provider kept failing; sends resume after a pause");
            return held(&message, SendOutcome::Defer { until, reason });
        }

        let started_at = Utc::now();
        let clock = Instant::now();
        let result = match self.send_on(channel, &message).await {
            Ok(()) => Ok(()),
            Err(SendError::Failed(failure)) => Err(failure),
            Err(SendError::Paced(wait)) => return paced(&message, channel, wait),
        };
        let duration_ms = clock.elapsed().as_millis() as i64;
        let mut recorded = self.settle(&message, channel, started_at, duration_ms, result);
        if skipped_rcs {
            note_rcs_skipped(&mut recorded);
        }
        recorded
    }

    /// Whether the RCS provider already knows the message's phone has no RCS. Asked
    /// of every RCS send, so it looks the stored number up as it is (customers' phones
    /// are stored in E.164) instead of parsing it again.
    fn rcs_known_absent(&self, message: &DueMessage) -> bool {
        let phone = message.customer.as_ref().and_then(|c| c.phone.as_deref());
        match (&self.rcs, phone) {
            (Some(rcs), Some(e164)) => rcs.provider.known_unreachable(e164),
            _ => false,
        }
    }

    async fn send_on(&self, channel: Channel, message: &DueMessage) -> Result<(), SendError> {
        match channel {
            Channel::Rcs => self.send_rcs(message).await,
            Channel::Sms => self.send_sms(message).await,
            Channel::Email => self.send_email(message).await,
        }
    }

    async fn send_rcs(&self, message: &DueMessage) -> Result<(), SendError> {
        let rcs = self
            .rcs
            .as_ref()
            .ok_or_else(|| Failure::permanent("error", "no RCS provider is set up"))?;
        let phone = self.phone(message)?;
        let rendered = self.render(message)?;

        rcs.pace(1, self.most_wait(message)).await?;
        let _call = self.call_slot().await;
        let result = rcs.provider.send(&phone, message.id, &rendered).await;
        let passing = matches!(&result, Err(f) if f.retry.is_some());
        rcs.breaker.record(passing, Instant::now());
        Ok(result?)
    }

    async fn send_sms(&self, message: &DueMessage) -> Result<(), SendError> {
        let sms = self
            .sms
            .as_ref()
            .ok_or_else(|| Failure::permanent("error", "no SMS provider is set up"))?;
        let phone = self.phone(message)?;
        let rendered = self.render(message)?;
        let text = context::sms_text(message, &rendered, &self.config);
        // Carriers meter texts by the segment: a long text uses up more of the quota.
        let segments = domain::sms::count_segments(&text).count;

        let cost = u32::try_from(segments).unwrap_or(u32::MAX);
        sms.pace(cost, self.most_wait(message)).await?;
        let _call = self.call_slot().await;
        let result = sms.provider.send(&phone, message.id, &text).await;
        let passing = matches!(&result, Err(f) if f.retry.is_some());
        sms.breaker.record(passing, Instant::now());
        Ok(result?)
    }

    async fn send_email(&self, message: &DueMessage) -> Result<(), SendError> {
        let email = self
            .email
            .as_ref()
            .ok_or_else(|| Failure::permanent("error", "no email server is set up"))?;
        let address = message
            .customer
            .as_ref()
            .and_then(|c| c.email.as_deref())
            .ok_or_else(|| Failure::permanent("error", "the customer has no email address"))?;
        let to = domain::Email::parse(address).map_err(|e| {
            Failure::permanent("error", format!("the customer's address is unusable: {e}"))
        })?;
        let rendered = self.render(message)?;
        let subject = context::email_subject(message, &self.shop);
        let brand = channels::email::Brand {
            shop_name: self.config.shop.name.clone(),
            color: self.config.shop.brand_color.clone(),
            logo_url: self.config.shop.logo_url.clone(),
        };
        let unsubscribe = self.unsubscribe(message);
        let content = channels::email::EmailContent {
            subject: &subject,
            message: &rendered,
            brand: &brand,
            unsubscribe: unsubscribe.as_ref(),
        };

        email.pace(1, self.most_wait(message)).await?;
        let _call = self.call_slot().await;
        let result = email.provider.send(&to, message.id, &content).await;
        let result = result.map(|_| ()).map_err(provider::from_email);
        let passing = matches!(&result, Err(f) if f.retry.is_some());
        email.breaker.record(passing, Instant::now());
        Ok(result?)
    }

    /// The longest a message waits in memory for its provider's quota before going back
    /// to the outbox: well inside its lease, so that no other node claims it meanwhile;
    /// for a promotion only briefly, so that order updates queued behind it in the
    /// same bucket wait little.
    fn most_wait(&self, message: &DueMessage) -> Duration {
        let lease = Duration::from_secs(self.config.dispatch.lease_secs);
        let most = (lease / 4).min(MOST_PACING_WAIT);
        if message.purpose == "transactional" {
            most
        } else {
            most.min(PROMOTION_PACING_WAIT)
        }
    }

    /// A place among the provider calls in flight; waits while they are all taken.
    async fn call_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed, so acquiring only waits.
        self.in_flight.acquire().await.ok()
    }

    /// The customer's one-click unsubscribe link and the mailbox, for `List-Unsubscribe`
    /// and the footer; `None` (and a warning) when the settings make no usable header.
    fn unsubscribe(&self, message: &DueMessage) -> Option<channels::email::Unsubscribe> {
        let token = message.customer.as_ref()?.unsubscribe_token.as_deref()?;
        let url = self.config.unsubscribe_url(token);
        let mailto = self.config.email.unsubscribe_address()?;
        match channels::email::Unsubscribe::new(&url, &mailto) {
            Ok(unsubscribe) => Some(unsubscribe),
            Err(error) => {
                tracing::warn!(error.message = %error, "email sent without List-Unsubscribe");
                None
            }
        }
    }

    /// How long the channel's provider is left alone after a run of failures, if it is.
    fn circuit_open(&self, channel: Channel) -> Option<(Duration, &'static str)> {
        let breaker = match channel {
            Channel::Rcs => &self.rcs.as_ref()?.breaker,
            Channel::Sms => &self.sms.as_ref()?.breaker,
            Channel::Email => &self.email.as_ref()?.breaker,
        };
        let wait = breaker.check(Instant::now()).err()?;
        Some((wait, channel.as_str()))
    }

    /// The customer's phone number, or why the message cannot go to a phone.
    fn phone(&self, message: &DueMessage) -> Result<PhoneNumber, Failure> {
        let text = message
            .customer
            .as_ref()
            .and_then(|c| c.phone.as_deref())
            .ok_or_else(|| Failure::permanent("error", "the customer has no phone number"))?;
        PhoneNumber::parse(text, &self.config.default_region).map_err(|e| {
            Failure::permanent(
                "error",
                format!("the customer's phone number is unusable: {e}"),
            )
        })
    }

    fn render(&self, message: &DueMessage) -> Result<domain::rcs::AgentMessage, Failure> {
        let context = context::message_context(message, &self.shop, &self.config)
            .map_err(|e| Failure::permanent("error", e))?;
        let templates = self.templates.read();
        templates
            .render(&message.template_key, None, &context)
            .map_err(|e| Failure::permanent("error", format!("template: {e}")))
    }

    /// Turns a send's result into the attempt and the message's next state.
    fn settle(
        &self,
        message: &DueMessage,
        channel: Channel,
        started_at: DateTime<Utc>,
        duration_ms: i64,
        result: Result<(), Failure>,
    ) -> Recorded {
        let channel = channel.as_str().to_string();
        let attempt = |outcome: &str, http_status, detail| AttemptRecord {
            message_id: message.id,
            channel: channel.clone(),
            started_at,
            duration_ms,
            outcome: outcome.to_string(),
            http_status,
            detail,
        };
        let failure = match result {
            Ok(()) => {
                return Outcome {
                    message_id: message.id,
                    attempt: Some(attempt("sent", Some(200), None)),
                    next: SendOutcome::Sent { channel },
                };
            }
            Err(failure) => failure,
        };
        tracing::info!(outcome = failure.outcome, detail = %failure.detail, "message not sent");
        let record = attempt(
            failure.outcome,
            failure.http_status,
            Some(failure.detail.clone()),
        );
        let next = if failure.outcome == "unreachable" {
            // The next channel in the policy's list takes it, now.
            SendOutcome::Reroute {
                channel,
                reason: failure.detail,
            }
        } else {
            self.next_step(message, failure)
        };
        Outcome {
            message_id: message.id,
            attempt: Some(record),
            next,
        }
    }

    /// Retry later or give up: a passing failure is retried with backoff until the
    /// message has used its attempts.
    fn next_step(&self, message: &DueMessage, failure: Failure) -> SendOutcome {
        let made = message.attempts + 1;
        match failure.retry {
            Some(retry_after) if made < self.config.dispatch.max_attempts => {
                let retry = u32::try_from(message.attempts).unwrap_or(u32::MAX);
                let wait = self.retry.delay(retry, retry_after);
                let wait = TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
                SendOutcome::Retry {
                    at: Utc::now() + wait,
                    error: failure.detail,
                }
            }
            Some(_) => SendOutcome::Failed {
                error: format!("gave up after {made} attempts: {}", failure.detail),
            },
            None => SendOutcome::Failed {
                error: failure.detail,
            },
        }
    }
}

/// Room for claimed messages not yet recorded: two batches, so that the next claim is
/// taken while the last one is still being sent.
fn claim_room(config: &Config) -> usize {
    usize::try_from(config.dispatch.batch)
        .unwrap_or(1)
        .max(1)
        .saturating_mul(2)
}

/// Collects the lanes that ended, so that their results do not pile up.
fn reap(lanes: &mut JoinSet<()>) {
    while let Some(done) = lanes.try_join_next() {
        log_lane_end(done);
    }
}

fn log_lane_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(error) = done {
        // Its messages stay claimed and are sent again when their leases run out.
        tracing::error!(error.message = %error, "a send lane failed");
    }
}

/// A message whose provider's quota is taken for longer than it may wait: back to the
/// outbox until `wait` from now, without using an attempt.
fn paced(message: &DueMessage, channel: Channel, wait: Duration) -> Recorded {
    let until = Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
    let reason = format!(
        "the {} rate limit is taken for the next {:.1} s",
        channel.as_str(),
        wait.as_secs_f64()
    );
    tracing::debug!(%reason, "message paced");
    held(message, SendOutcome::Defer { until, reason })
}

/// An outcome decided without calling a provider.
fn held(message: &DueMessage, next: SendOutcome) -> Recorded {
    Outcome {
        message_id: message.id,
        attempt: None,
        next,
    }
}

/// The batch split into one queue per customer, each oldest first (message ids are
/// UUIDv7, ordered by creation); messages without a customer each make a queue of
/// their own. Queues holding an order update go first: they are started, and take
/// from the rate limit, before queues of promotions only.
fn by_customer(due: Vec<DueMessage>) -> Vec<Vec<DueMessage>> {
    let mut queues = customer_queues(due);
    queues.sort_by_key(|queue| !queue.iter().any(|m| m.purpose == "transactional"));
    queues
}

fn customer_queues(mut due: Vec<DueMessage>) -> Vec<Vec<DueMessage>> {
    due.sort_by_key(|m| m.id);
    let mut queues: Vec<Vec<DueMessage>> = Vec::new();
    let mut index: HashMap<i64, usize> = HashMap::new();
    for message in due {
        let Some(customer) = message.customer.as_ref().map(|c| c.id) else {
            queues.push(vec![message]);
            continue;
        };
        match index.get(&customer) {
            Some(&i) => queues[i].push(message),
            None => {
                index.insert(customer, queues.len());
                queues.push(vec![message]);
            }
        }
    }
    queues
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use domain::Status;
    use store::{MessageCustomer, MessageOrder};
    use uuid::Uuid;

    use super::*;

    fn message(id: u128, customer: Option<i64>) -> DueMessage {
        DueMessage {
            id: Uuid::from_u128(id),
            template_key: "confirmed".into(),
            status: Some(Status::Confirmed),
            purpose: "transactional".into(),
            attempts: 0,
            order: Some(MessageOrder {
                id: 1,
                number: "#1".into(),
                currency: "USD".into(),
                total_minor: 100,
                placed_at: Utc::now(),
                status: Status::Confirmed,
                status_detail: None,
                tracking_token: "t".into(),
                shipping_address: None,
            }),
            customer: customer.map(|id| MessageCustomer {
                id,
                first_name: None,
                last_name: None,
                phone: None,
                email: None,
                locale: None,
                time_zone: None,
                unsubscribe_token: None,
            }),
            shipment: None,
            exhausted: Vec::new(),
            only_channel: None,
            consents: Vec::new(),
            recent_promotional: Vec::new(),
            escalated: false,
        }
    }

    #[test]
    fn a_customers_messages_queue_oldest_first() {
        let due = vec![
            message(4, Some(7)),
            message(2, Some(9)),
            message(1, Some(7)),
            message(3, None),
            message(5, None),
        ];
        let queues: Vec<Vec<u128>> = by_customer(due)
            .iter()
            .map(|q| q.iter().map(|m| m.id.as_u128()).collect())
            .collect();
        assert_eq!(queues, [vec![1, 4], vec![2], vec![3], vec![5]]);
    }

    #[test]
    fn queues_with_an_order_update_start_before_promotions() {
        let promotion = |id, customer| DueMessage {
            purpose: "promotional".into(),
            ..message(id, customer)
        };
        let due = vec![
            promotion(1, Some(7)),
            promotion(2, Some(8)),
            message(3, Some(9)),
            promotion(4, None),
            message(5, Some(8)),
        ];
        let queues: Vec<Vec<u128>> = by_customer(due)
            .iter()
            .map(|q| q.iter().map(|m| m.id.as_u128()).collect())
            .collect();
        // Customer 8's promotion stays ahead of the update queued after it.
        assert_eq!(queues, [vec![2, 5], vec![3], vec![1], vec![4]]);
    }
}
