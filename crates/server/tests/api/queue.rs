//! The queue: order updates go out before promotions when the rate limit is short.

use chrono::{TimeDelta, Utc};

use crate::escalation::{queued_message, update_message};
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

async fn due_order_updates_are_claimed_before_older_promotions(backend: Backend) {
    // Arrange: a promotion waiting for an hour, then an order update due now.
    let app = TestApp::spawn(backend).await;
    let promotion = queued_message(&app, "Q-1").await;
    let hour_ago = Utc::now() - TimeDelta::hours(1);
    let older = "purpose = 'promotional', next_attempt_at = $1";
    update_message(&app, promotion, older, hour_ago).await;
    let update = queued_message(&app, "Q-2").await;

    // Act: room for one message at a time.
    let now = Utc::now();
    let lease = now + TimeDelta::minutes(1);
    let first = app.store.claim_due_messages(1, now, lease).await.unwrap();
    let second = app.store.claim_due_messages(1, now, lease).await.unwrap();

    // Assert
    assert_eq!(first.iter().map(|m| m.id).collect::<Vec<_>>(), [update]);
    assert_eq!(second.iter().map(|m| m.id).collect::<Vec<_>>(), [promotion]);
}

on_both_backends!(due_order_updates_are_claimed_before_older_promotions);
