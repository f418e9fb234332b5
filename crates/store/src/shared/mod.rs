//! Queries and write procedures common to both backends.
//!
//! This module is compiled twice, as `crate::sqlite::shared` and `crate::postgres::shared`;
//! each parent module defines `Db` and the `FOR_UPDATE` clause of its dialect. Both
//! backends accept `$n` placeholders, `ON CONFLICT` and `RETURNING`, so the SQL text is
//! the same; what differs (pool setup, claim locking, bulk inserts) lives in the parent.

use chrono::{DateTime, Duration, Utc};
use domain::{
    derive_order_status, template_for, Command, CustomerInput, EventInput, EventTarget, OrderFacts,
    OrderInput, OrderRef, OrderStatus, Partial, ShipmentInput, Status, Track,
};
use sqlx::{Acquire, Row};
use uuid::Uuid;

use super::{Db, ANONYMOUS_PARAMS, FOR_UPDATE, SKIP_LOCKED};
use crate::error::{Result, StoreError};
use crate::models::*;
use crate::ApplyOptions;

mod aggregate;
mod audit;
mod backend;
mod customers;
mod dead_letters;
mod events;
mod fallback;
mod inbox;
mod keys;
mod messages;
mod metrics;
mod orders;
mod reads;
mod segments;
mod workspace;

use aggregate::*;
use audit::*;
use customers::*;
use dead_letters::*;
use events::*;
use fallback::*;
use inbox::*;
use keys::*;
use messages::*;
use metrics::*;
use orders::*;
use reads::*;
use segments::*;
use workspace::*;

type Conn = <Db as sqlx::Database>::Connection;

/// The placeholder of the `n`-th parameter (from 1) of a statement whose parameters are
/// all bound in the order they appear.
pub(crate) fn param(n: usize) -> String {
    if ANONYMOUS_PARAMS {
        "?".into()
    } else {
        format!("${n}")
    }
}

/// Rows per multi-row statement: far under both backends' parameter limits.
const ROWS_PER_STATEMENT: usize = 500;

/// `($1, $2), ($3, $4)` for 2 rows of 2 columns: one statement for many rows costs one
/// round trip instead of one per row. The parameters must be all the statement has,
/// bound in order: on SQLite they are anonymous (`?`).
pub(crate) fn placeholders(rows: usize, columns: usize) -> String {
    let row = |r: usize| {
        let cells: Vec<String> = (1..=columns).map(|c| param(r * columns + c)).collect();
        format!("({})", cells.join(", "))
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

/// How long one processing transaction may hold the write lock before it commits.
const WRITE_BUDGET: std::time::Duration = std::time::Duration::from_millis(4);

/// Inbox rows that failed this many times are left as `failed` for an operator.
const MAX_ATTEMPTS: i64 = 8;

/// Applies one command inside the caller's transaction.
pub(crate) async fn apply_command(
    conn: &mut Conn,
    command: &Command,
    opts: &ApplyOptions,
) -> Result<Applied> {
    match command {
        Command::UpsertOrder(input) => upsert_order(conn, input, opts).await,
        Command::UpsertShipment { order, shipment } => {
            let mut agg = load_aggregate_by_ref(conn, order).await?;
            let source = agg.source.clone();
            apply_shipment(conn, &mut agg, shipment, &source, opts).await?;
            finish(conn, agg, opts).await
        }
        Command::AddEvents {
            target,
            estimated_delivery,
            events,
            reported_by,
        } => {
            let reported_by = reported_by.as_str();
            add_events(conn, target, *estimated_delivery, events, reported_by, opts).await
        }
        Command::UpsertCustomer { source, customer } => {
            let id = upsert_customer(conn, source.as_str(), customer, opts.now).await?;
            Ok(Applied {
                customer_id: id,
                ..Applied::default()
            })
        }
        Command::Receipt(input) => apply_receipt(conn, input, opts.now).await,
        Command::Inbound(input) => record_inbound(conn, input, opts.now).await,
        Command::Subscription(input) => record_subscription(conn, input, opts.now).await,
        Command::Ignore { .. } => Ok(Applied::default()),
    }
}
