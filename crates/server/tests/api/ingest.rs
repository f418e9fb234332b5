//! Durability: what was acknowledged survives a stop before processing.

use crate::helpers::{inner_fixture, json, Backend, Options, TestApp};
use crate::on_both_backends;

on_both_backends!(accepted_deliveries_survive_a_stop_before_processing);

async fn accepted_deliveries_survive_a_stop_before_processing(backend: Backend) {
    // Arrange: a node that accepts but does not process.
    let app = TestApp::spawn_with(backend, Options { processor: false }).await;
    let body = serde_json::to_vec(&inner_fixture("shopify-order.json")).unwrap();
    let response = app.post_shopify("orders/create", &body, "wh-1").await;
    assert_eq!(json(response).await["status"], "accepted");
    assert_eq!(app.store.inbox_counts().await.unwrap().pending, 1);

    // Act: stop it, and start a processing node on the same database.
    let app = app.restart(Options { processor: true }).await;
    app.wait_processed().await;

    // Assert
    let order = app.order("shopify", "450789469").await;
    assert_eq!(order.status.as_str(), "confirmed");
    assert_eq!(app.templates_sent(order.id).await, ["confirmed"]);
}
