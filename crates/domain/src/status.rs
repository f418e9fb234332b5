//! The canonical order status machine.
//!
//! Every source (store platforms, carrier trackers, REST, CSV) speaks its own status
//! vocabulary; [`crate::mapping`] turns each into a [`Status`], and this module decides
//! what a status event does to a shipment and to its order:
//!
//! - progress (`fulfilled` → `in_transit` → `out_for_delivery` → `ready_for_pickup` →
//!   `delivered`) only moves forward: an older or duplicate scan never moves it back;
//! - `delayed` and `delivery_exception` are flags that a newer event raises and a newer
//!   progress scan clears;
//! - `returned` and `cancelled` end a shipment;
//! - an order derives its status from its shipments (least advanced first, with
//!   "partly shipped" / "partly delivered" details).
//!
//! The functions here are pure: the store loads the state, calls them, and writes what
//! they return in the same transaction as the event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A canonical status, as shown on the timeline and the tracking page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Placed,
    Confirmed,
    /// A shipping label exists; the carrier does not have the parcel yet.
    Fulfilled,
    InTransit,
    OutForDelivery,
    ReadyForPickup,
    Delivered,
    Delayed,
    DeliveryException,
    Cancelled,
    Returned,
    /// Money went back to the customer; a note on the timeline, not a progress step.
    Refunded,
}

impl Status {
    /// Every status, in display order.
    pub const ALL: [Status; 12] = [
        Status::Placed,
        Status::Confirmed,
        Status::Fulfilled,
        Status::InTransit,
        Status::OutForDelivery,
        Status::ReadyForPickup,
        Status::Delivered,
        Status::Delayed,
        Status::DeliveryException,
        Status::Cancelled,
        Status::Returned,
        Status::Refunded,
    ];

    /// The wire name (`in_transit`, ...), as used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Placed => "placed",
            Status::Confirmed => "confirmed",
            Status::Fulfilled => "fulfilled",
            Status::InTransit => "in_transit",
            Status::OutForDelivery => "out_for_delivery",
            Status::ReadyForPickup => "ready_for_pickup",
            Status::Delivered => "delivered",
            Status::Delayed => "delayed",
            Status::DeliveryException => "delivery_exception",
            Status::Cancelled => "cancelled",
            Status::Returned => "returned",
            Status::Refunded => "refunded",
        }
    }

    /// Parses a wire name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The position on the forward-only progress line, for progress statuses.
    pub fn rank(self) -> Option<u8> {
        match self {
            Status::Placed => Some(0),
            Status::Confirmed => Some(1),
            Status::Fulfilled => Some(2),
            Status::InTransit => Some(3),
            Status::OutForDelivery => Some(4),
            Status::ReadyForPickup => Some(5),
            Status::Delivered => Some(6),
            _ => None,
        }
    }

    /// A short human label for pages and logs.
    pub fn label(self) -> &'static str {
        match self {
            Status::Placed => "Order placed",
            Status::Confirmed => "Order confirmed",
            Status::Fulfilled => "Label created",
            Status::InTransit => "In transit",
            Status::OutForDelivery => "Out for delivery",
            Status::ReadyForPickup => "Ready for pickup",
            Status::Delivered => "Delivered",
            Status::Delayed => "Delayed",
            Status::DeliveryException => "Delivery problem",
            Status::Cancelled => "Cancelled",
            Status::Returned => "Returned",
            Status::Refunded => "Refunded",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A side state raised on a shipment that is still on its way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    Delayed,
    DeliveryException,
}

impl Flag {
    pub fn status(self) -> Status {
        match self {
            Flag::Delayed => Status::Delayed,
            Flag::DeliveryException => Status::DeliveryException,
        }
    }
}

/// The position of a shipment, or of an order before any shipment exists, as persisted
/// beside its row.
///
/// Every field is a maximum over the events seen, so the state depends on the set of
/// events and not on the order they arrived in: replays and late deliveries are
/// harmless by construction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    /// The furthest progress status reached; never moves back.
    pub progress: Status,
    /// Time of the newest progress scan, at any rank.
    pub last_scan_at: Option<DateTime<Utc>>,
    /// The newest side event; it shows while no progress scan is newer.
    pub side: Option<(Flag, DateTime<Utc>)>,
    /// `Returned` or `Cancelled`: the shipment is over.
    pub terminal: Option<Status>,
}

impl Default for Track {
    /// A new shipment: its label exists.
    fn default() -> Self {
        Track::starting_at(Status::Fulfilled)
    }
}

impl Track {
    /// A track whose progress starts at `progress` (`Placed` for an order).
    pub fn starting_at(progress: Status) -> Track {
        Track {
            progress,
            last_scan_at: None,
            side: None,
            terminal: None,
        }
    }

    /// What the customer sees for this shipment.
    pub fn status(&self) -> Status {
        if let Some(terminal) = self.terminal {
            return terminal;
        }
        if self.progress == Status::Delivered {
            return Status::Delivered;
        }
        match (self.side, self.last_scan_at) {
            (Some((flag, since)), Some(scan)) if since >= scan => flag.status(),
            (Some((flag, _)), None) => flag.status(),
            _ => self.progress,
        }
    }

    /// The side state currently shown, if any.
    pub fn flag(&self) -> Option<Flag> {
        match self.status() {
            Status::Delayed => Some(Flag::Delayed),
            Status::DeliveryException => Some(Flag::DeliveryException),
            _ => None,
        }
    }

    /// Applies one event and returns the status the customer now sees, if it changed.
    ///
    /// Duplicates and stale events change nothing; they still belong on the timeline,
    /// which the caller writes regardless.
    pub fn apply(&mut self, status: Status, at: DateTime<Utc>) -> Option<Status> {
        let before = self.status();
        match status {
            Status::Delayed => self.raise(Flag::Delayed, at),
            Status::DeliveryException => self.raise(Flag::DeliveryException, at),
            Status::Returned | Status::Cancelled => self.end(status),
            // A refund is a note on the timeline; it does not move anything.
            Status::Refunded => {}
            progress => self.advance(progress, at),
        }
        let after = self.status();
        (after != before).then_some(after)
    }

    fn raise(&mut self, flag: Flag, at: DateTime<Utc>) {
        // Ties in time go to the more serious flag, so arrival order never matters.
        let severity = |f: Flag| f == Flag::DeliveryException;
        if self
            .side
            .is_none_or(|(cur, since)| (at, severity(flag)) > (since, severity(cur)))
        {
            self.side = Some((flag, at));
        }
    }

    fn end(&mut self, status: Status) {
        // A return outranks a cancellation when both are reported.
        if self.terminal != Some(Status::Returned) {
            self.terminal = Some(status);
        }
    }

    fn advance(&mut self, status: Status, at: DateTime<Utc>) {
        if status.rank() > self.progress.rank() {
            self.progress = status;
        }
        if self.last_scan_at.is_none_or(|scan| at > scan) {
            self.last_scan_at = Some(at);
        }
    }
}

/// What the order knows of itself, before its shipments are taken into account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderFacts {
    /// The order's own track: `Placed`, `Confirmed`, and whatever a source without
    /// shipments reports (WooCommerce's `completed`, a REST client's events).
    pub track: Track,
    /// Every line item that needs shipping is covered by a shipment.
    pub fully_shipped: bool,
}

/// A refinement shown next to an order status when shipments disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partial {
    PartlyShipped,
    PartlyDelivered,
}

impl Partial {
    pub fn as_str(self) -> &'static str {
        match self {
            Partial::PartlyShipped => "partly_shipped",
            Partial::PartlyDelivered => "partly_delivered",
        }
    }

    pub fn parse(name: &str) -> Option<Partial> {
        match name {
            "partly_shipped" => Some(Partial::PartlyShipped),
            "partly_delivered" => Some(Partial::PartlyDelivered),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Partial::PartlyShipped => "Partly shipped",
            Partial::PartlyDelivered => "Partly delivered",
        }
    }
}

/// An order's derived status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderStatus {
    pub status: Status,
    pub partial: Option<Partial>,
}

/// Derives an order's status from its own facts and its shipments' statuses.
///
/// The customer waits for everything they bought, so the least advanced live shipment
/// sets the status; a problem on any shipment shows first.
pub fn derive_order_status(facts: &OrderFacts, shipments: &[Status]) -> OrderStatus {
    let plain = |status| OrderStatus {
        status,
        partial: None,
    };
    let own = facts.track.status();
    if own == Status::Cancelled {
        return plain(Status::Cancelled);
    }
    let live: Vec<Status> = shipments
        .iter()
        .copied()
        .filter(|s| *s != Status::Cancelled)
        .collect();
    if live.is_empty() {
        return plain(own);
    }
    if live.iter().all(|s| *s == Status::Returned) {
        return plain(Status::Returned);
    }

    let delivered = live.iter().filter(|s| **s == Status::Delivered).count();
    let partial = if delivered > 0 && (delivered < live.len() || !facts.fully_shipped) {
        Some(Partial::PartlyDelivered)
    } else if !facts.fully_shipped {
        Some(Partial::PartlyShipped)
    } else {
        None
    };
    let status = if live.contains(&Status::DeliveryException) {
        Status::DeliveryException
    } else if live.contains(&Status::Delayed) {
        Status::Delayed
    } else {
        least_advanced(&live)
    };
    OrderStatus { status, partial }
}

/// The least advanced progress status among shipments still on their way, or
/// `Delivered` when every shipment is.
fn least_advanced(live: &[Status]) -> Status {
    live.iter()
        .copied()
        .filter(|s| *s != Status::Delivered && s.rank().is_some())
        .min_by_key(|s| s.rank())
        .unwrap_or(Status::Delivered)
}

/// The notification a change of what the customer sees calls for, by template key.
///
/// `before` is `None` for a shipment that did not exist. "Shipped" is sent once, when a
/// parcel first shows up (label or first scan); `None` for changes that do not warrant a
/// message by default (`placed`, leaving a side state, ...).
pub fn template_for(before: Option<Status>, after: Status) -> Option<&'static str> {
    let first_shipping = before.is_none_or(|b| matches!(b, Status::Placed | Status::Confirmed));
    match after {
        Status::Fulfilled | Status::InTransit if first_shipping => Some("shipped"),
        Status::Confirmed => Some("confirmed"),
        Status::OutForDelivery => Some("out_for_delivery"),
        Status::ReadyForPickup => Some("ready_for_pickup"),
        Status::Delivered => Some("delivered"),
        Status::Delayed => Some("delayed"),
        Status::DeliveryException => Some("delivery_exception"),
        Status::Cancelled => Some("cancelled"),
        Status::Refunded => Some("refunded"),
        Status::Placed | Status::Fulfilled | Status::InTransit | Status::Returned => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(minute: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + minute * 60, 0).unwrap()
    }

    fn confirmed(fully_shipped: bool) -> OrderFacts {
        let mut track = Track::starting_at(Status::Placed);
        track.apply(Status::Confirmed, t(0));
        OrderFacts {
            track,
            fully_shipped,
        }
    }

    #[test]
    fn shipped_is_announced_once() {
        assert_eq!(template_for(None, Status::InTransit), Some("shipped"));
        assert_eq!(
            template_for(Some(Status::Confirmed), Status::Fulfilled),
            Some("shipped")
        );
        assert_eq!(
            template_for(Some(Status::Fulfilled), Status::InTransit),
            None
        );
        assert_eq!(template_for(Some(Status::Delayed), Status::InTransit), None);
        assert_eq!(
            template_for(Some(Status::InTransit), Status::Delayed),
            Some("delayed")
        );
    }

    #[test]
    fn a_shipment_moves_forward_and_ignores_older_scans() {
        let mut track = Track::default();
        assert_eq!(
            track.apply(Status::InTransit, t(1)),
            Some(Status::InTransit)
        );
        assert_eq!(
            track.apply(Status::OutForDelivery, t(5)),
            Some(Status::OutForDelivery)
        );
        assert_eq!(track.apply(Status::InTransit, t(3)), None);
        assert_eq!(track.status(), Status::OutForDelivery);
    }

    #[test]
    fn delayed_is_entered_and_left_by_a_newer_scan() {
        let mut track = Track::default();
        track.apply(Status::InTransit, t(1));
        assert_eq!(track.apply(Status::Delayed, t(2)), Some(Status::Delayed));
        // An older scan arriving late does not clear the delay.
        assert_eq!(track.apply(Status::InTransit, t(1)), None);
        assert_eq!(
            track.apply(Status::InTransit, t(3)),
            Some(Status::InTransit)
        );
    }

    #[test]
    fn a_stale_exception_does_not_override_a_newer_scan() {
        let mut track = Track::default();
        track.apply(Status::OutForDelivery, t(10));
        assert_eq!(track.apply(Status::DeliveryException, t(5)), None);
        assert_eq!(
            track.apply(Status::DeliveryException, t(11)),
            Some(Status::DeliveryException)
        );
        assert_eq!(
            track.apply(Status::Delivered, t(12)),
            Some(Status::Delivered)
        );
    }

    #[test]
    fn delivery_is_not_undone_by_a_later_delay() {
        let mut track = Track::default();
        track.apply(Status::Delivered, t(10));
        assert_eq!(track.apply(Status::Delayed, t(11)), None);
        assert_eq!(track.status(), Status::Delivered);
    }

    #[test]
    fn an_order_is_as_far_as_its_least_advanced_shipment() {
        let facts = confirmed(true);
        let derived = derive_order_status(&facts, &[Status::Delivered, Status::InTransit]);
        assert_eq!(derived.status, Status::InTransit);
        assert_eq!(derived.partial, Some(Partial::PartlyDelivered));

        let derived = derive_order_status(&facts, &[Status::Delivered, Status::Delivered]);
        assert_eq!(
            derived,
            OrderStatus {
                status: Status::Delivered,
                partial: None
            }
        );
    }

    #[test]
    fn an_order_with_unshipped_items_is_partly_shipped() {
        let facts = confirmed(false);
        let derived = derive_order_status(&facts, &[Status::InTransit]);
        assert_eq!(derived.partial, Some(Partial::PartlyShipped));
    }

    #[test]
    fn a_cancelled_order_stays_cancelled() {
        let mut facts = confirmed(true);
        facts.track.apply(Status::Cancelled, t(3));
        assert_eq!(
            derive_order_status(&facts, &[Status::InTransit]).status,
            Status::Cancelled
        );
    }

    fn any_status() -> impl Strategy<Value = Status> {
        proptest::sample::select(Status::ALL.to_vec())
    }

    /// Events as (status, minute) pairs.
    type Events = Vec<(Status, i64)>;

    fn any_events() -> impl Strategy<Value = Events> {
        proptest::collection::vec((any_status(), 0i64..50), 0..25)
    }

    fn events_and_a_shuffle() -> impl Strategy<Value = (Events, Events)> {
        any_events().prop_flat_map(|events| {
            let shuffled = Just(events.clone()).prop_shuffle();
            (Just(events), shuffled)
        })
    }

    fn replay(events: &[(Status, i64)]) -> Track {
        let mut track = Track::default();
        for (status, minute) in events {
            track.apply(*status, t(*minute));
        }
        track
    }

    proptest! {
        #[test]
        fn progress_never_moves_back(events in any_events()) {
            let mut track = Track::default();
            for (status, minute) in events {
                let before = track.progress.rank();
                track.apply(status, t(minute));
                prop_assert!(track.progress.rank() >= before);
            }
        }

        #[test]
        fn replaying_any_event_again_changes_nothing(events in any_events(), pick in 0usize..25) {
            let mut track = replay(&events);
            if let Some((status, minute)) = events.get(pick % events.len().max(1)) {
                let before = track.clone();
                prop_assert_eq!(track.apply(*status, t(*minute)), None);
                prop_assert_eq!(track, before);
            }
        }

        #[test]
        fn duplicates_in_the_stream_change_nothing(events in any_events()) {
            let doubled: Vec<_> = events.iter().flat_map(|e| [*e, *e]).collect();
            prop_assert_eq!(replay(&events), replay(&doubled));
        }

        #[test]
        fn progress_reached_is_the_furthest_progress_seen(events in any_events()) {
            let track = replay(&events);
            let seen = events.iter().filter_map(|(s, _)| s.rank().filter(|r| *r >= 2)).max();
            prop_assert_eq!(track.progress.rank(), Some(seen.unwrap_or(2)));
        }

        #[test]
        fn arrival_order_does_not_matter((events, shuffled) in events_and_a_shuffle()) {
            prop_assert_eq!(replay(&events), replay(&shuffled));
        }

        #[test]
        fn a_delivered_shipment_shows_delivered_unless_it_ended(events in any_events()) {
            let track = replay(&events);
            if track.progress == Status::Delivered {
                prop_assert!(matches!(
                    track.status(),
                    Status::Delivered | Status::Returned | Status::Cancelled
                ));
            }
        }

        #[test]
        fn a_side_state_is_left_by_any_newer_progress_scan(events in any_events()) {
            let mut track = replay(&events);
            track.apply(Status::InTransit, t(1_000));
            prop_assert!(track.flag().is_none());
        }

        #[test]
        fn the_order_status_is_never_ahead_of_a_live_shipment(
            shipments in proptest::collection::vec(any_status(), 1..5),
        ) {
            let facts = confirmed(true);
            let derived = derive_order_status(&facts, &shipments);
            if let Some(rank) = derived.status.rank() {
                for s in shipments.iter().filter_map(|s| s.rank()) {
                    prop_assert!(rank <= s || derived.status == Status::Delivered);
                }
            }
        }
    }
}
