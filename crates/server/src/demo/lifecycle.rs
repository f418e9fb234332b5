//! New demo orders moving through their lifecycle: placed, shipped, (sometimes
//! delayed,) out for delivery, delivered; one step every few seconds, so that a
//! newcomer sees each notification arrive on the phone pages.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use domain::{Command, EventInput, EventTarget, OrderRef, ShipmentInput, Source, Status};
use store::{ApplyOptions, Store};

use super::seed::{customer_order, DEMO_SOURCE, SAMPLES};

/// The time between two steps.
const TICK: Duration = Duration::from_secs(5);
/// A new order starts every this many ticks.
const NEW_ORDER_EVERY: u64 = 3;

/// One order on its way.
struct LiveOrder {
    /// Sequence number: the order's id at the source is `L-{seq}`.
    seq: usize,
    customer: usize,
    steps: Vec<Status>,
    done: usize,
}

/// Runs until the demo stops.
pub(super) async fn run(store: Store) {
    let mut seq = first_free_seq(&store).await;
    let mut live: Vec<LiveOrder> = Vec::new();
    let mut ticks = tokio::time::interval(TICK);
    for tick in 0u64.. {
        ticks.tick().await;
        if tick % NEW_ORDER_EVERY == 0 {
            live.push(LiveOrder::new(seq));
            seq += 1;
        }
        let commands: Vec<Command> = live.iter_mut().filter_map(LiveOrder::advance).collect();
        live.retain(|order| order.done <= order.steps.len());
        apply(&store, &commands).await;
    }
}

/// The next sequence number no earlier run of the demo used.
async fn first_free_seq(store: &Store) -> usize {
    let mut seq = 1;
    while let Ok(Some(_)) = store.order_id_by_ref(&order_ref(seq)).await {
        seq += 1;
    }
    seq
}

async fn apply(store: &Store, commands: &[Command]) {
    match store
        .apply_batch(commands, &ApplyOptions::live(), None)
        .await
    {
        Ok(results) => {
            for error in results.into_iter().filter_map(Result::err) {
                tracing::warn!(error.message = %error, "a demo step was refused");
            }
        }
        Err(error) => tracing::warn!(error.message = %error, "demo steps failed"),
    }
}

fn order_ref(seq: usize) -> OrderRef {
    OrderRef {
        source: Source::named(DEMO_SOURCE),
        external_id: format!("L-{seq}"),
    }
}

impl LiveOrder {
    fn new(seq: usize) -> LiveOrder {
        // Every fourth parcel is held up on the way, to show the delay notice.
        let steps = if seq.is_multiple_of(4) {
            vec![
                Status::InTransit,
                Status::Delayed,
                Status::OutForDelivery,
                Status::Delivered,
            ]
        } else {
            vec![Status::InTransit, Status::OutForDelivery, Status::Delivered]
        };
        LiveOrder {
            seq,
            customer: (seq - 1) % SAMPLES.len() + 1,
            steps,
            done: 0,
        }
    }

    /// The command for the next step, or `None` once delivered.
    fn advance(&mut self) -> Option<Command> {
        let now = Utc::now();
        let command = match self.done {
            0 => self.place(now),
            1 => Some(self.ship(now)),
            n => self.steps.get(n - 1).map(|status| self.event(*status, now)),
        };
        self.done += 1;
        command
    }

    fn place(&self, now: DateTime<Utc>) -> Option<Command> {
        let (name, product, _) = SAMPLES[self.customer - 1];
        let placed_at = now - TimeDelta::minutes(2);
        let number = 2000 + self.seq;
        let order_ref = order_ref(self.seq);
        customer_order(
            self.customer,
            &order_ref.external_id,
            number,
            name,
            product,
            placed_at,
        )
        .inspect_err(|e| tracing::warn!(error.message = %e, "a demo order is unusable"))
        .ok()
    }

    fn ship(&self, now: DateTime<Utc>) -> Command {
        let tracking_number = format!("1Z999AA10{:08}", self.seq);
        Command::UpsertShipment {
            order: order_ref(self.seq),
            shipment: ShipmentInput {
                external_id: format!("LS-{}", self.seq),
                carrier: Some("UPS".into()),
                tracking_url: Some(format!(
                    "https://www.ups.com/track?tracknum={tracking_number}"
                )),
                tracking_number: Some(tracking_number),
                estimated_delivery: Some(now + TimeDelta::days(2)),
                events: vec![event_input(self.steps[0], now)],
            },
        }
    }

    fn event(&self, status: Status, now: DateTime<Utc>) -> Command {
        Command::AddEvents {
            target: EventTarget::Shipment {
                order: order_ref(self.seq),
                shipment_external_id: format!("LS-{}", self.seq),
            },
            estimated_delivery: (status == Status::Delayed).then(|| now + TimeDelta::days(3)),
            events: vec![event_input(status, now)],
            reported_by: Source::named(DEMO_SOURCE),
        }
    }
}

fn event_input(status: Status, at: DateTime<Utc>) -> EventInput {
    EventInput {
        status: Some(status),
        raw_status: status.as_str().into(),
        detail: (status == Status::Delayed).then(|| "Weather delay at the hub".into()),
        location: Some("Louisville, KY".into()),
        happened_at: at,
    }
}
