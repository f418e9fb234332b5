//! The order aggregate: the order's track and its shipments', loaded and written back.

use super::*;

pub(super) struct ShipmentState {
    pub(super) id: i64,
    pub(super) external_id: String,
    pub(super) track: Track,
    /// False for a shipment created by the command being applied.
    pub(super) existed: bool,
    pub(super) changed: bool,
}

pub(super) struct Aggregate {
    pub(super) order_id: i64,
    pub(super) customer_id: Option<i64>,
    pub(super) source: String,
    pub(super) fully_shipped: Option<bool>,
    pub(super) track: Track,
    pub(super) status: OrderStatus,
    pub(super) shipments: Vec<ShipmentState>,
    pub(super) new_events: usize,
    pub(super) notifications: Vec<(Option<i64>, Status, &'static str)>,
    /// The track and status the order's row holds when this command wrote the row itself
    /// (a new order), so that `finish` can skip rewriting an unchanged row; `None` when
    /// the row was loaded.
    pub(super) written: Option<(Track, OrderStatus)>,
    /// The order's row was inserted or rewritten, so its customer's metrics are due.
    pub(super) metrics_due: bool,
}

impl Aggregate {
    /// The aggregate of an order row just inserted by [`insert_order_row`], without
    /// reading it back: placed, with no shipments.
    pub(super) fn new_order(
        order_id: i64,
        customer_id: Option<i64>,
        source: &str,
        fully_shipped: Option<bool>,
    ) -> Aggregate {
        let track = Track::starting_at(Status::Placed);
        let status = OrderStatus {
            status: track.status(),
            partial: None,
        };
        Aggregate {
            order_id,
            customer_id,
            source: source.to_string(),
            fully_shipped,
            written: Some((track.clone(), status)),
            track,
            status,
            shipments: Vec::new(),
            new_events: 0,
            notifications: Vec::new(),
            metrics_due: true,
        }
    }
}

pub(super) async fn load_aggregate_by_ref(conn: &mut Conn, order: &OrderRef) -> Result<Aggregate> {
    let sql = format!("SELECT id FROM orders WHERE source = $1 AND external_id = $2{FOR_UPDATE}");
    let row = sqlx::query(&sql)
        .bind(order.source.as_str())
        .bind(&order.external_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "order {} from {}",
                order.external_id,
                order.source.as_str()
            ))
        })?;
    load_aggregate(conn, row.try_get(0)?).await
}

pub(super) async fn load_aggregate(conn: &mut Conn, order_id: i64) -> Result<Aggregate> {
    let sql = format!(
        "SELECT customer_id, source, fully_shipped, status, status_detail, track_progress,
            track_last_scan_at, track_side, track_side_at, track_terminal
         FROM orders WHERE id = $1{FOR_UPDATE}"
    );
    let row = sqlx::query(&sql)
        .bind(order_id)
        .fetch_one(&mut *conn)
        .await?;
    let status = OrderStatus {
        status: parse_status(&row.try_get::<String, _>(3)?)?,
        partial: row
            .try_get::<Option<String>, _>(4)?
            .as_deref()
            .and_then(Partial::parse),
    };
    let track = read_track(&row, 5)?;
    let mut agg = Aggregate {
        order_id,
        customer_id: row.try_get(0)?,
        source: row.try_get(1)?,
        fully_shipped: row.try_get(2)?,
        track,
        status,
        shipments: Vec::new(),
        new_events: 0,
        notifications: Vec::new(),
        written: None,
        metrics_due: false,
    };

    let rows = sqlx::query(
        "SELECT id, external_id, track_progress, track_last_scan_at, track_side, track_side_at,
            track_terminal
         FROM shipments WHERE order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        agg.shipments.push(ShipmentState {
            id: row.try_get(0)?,
            external_id: row.try_get(1)?,
            track: read_track(&row, 2)?,
            existed: true,
            changed: false,
        });
    }
    Ok(agg)
}

/// Writes the tracks, the derived order status and the notifications.
pub(super) async fn finish(
    conn: &mut Conn,
    agg: Aggregate,
    opts: &ApplyOptions,
) -> Result<Applied> {
    for shipment in agg.shipments.iter().filter(|s| s.changed) {
        let t = TrackColumns::from(&shipment.track);
        sqlx::query(
            "UPDATE shipments SET status = $2, track_progress = $3, track_last_scan_at = $4,
                track_side = $5, track_side_at = $6, track_terminal = $7
             WHERE id = $1",
        )
        .bind(shipment.id)
        .bind(shipment.track.status().as_str())
        .bind(t.progress)
        .bind(t.last_scan_at)
        .bind(t.side)
        .bind(t.side_at)
        .bind(t.terminal)
        .execute(&mut *conn)
        .await?;
    }

    let statuses: Vec<Status> = agg.shipments.iter().map(|s| s.track.status()).collect();
    let facts = OrderFacts {
        track: agg.track.clone(),
        fully_shipped: agg.fully_shipped.unwrap_or(true),
    };
    let derived = derive_order_status(&facts, &statuses);
    if agg.written.as_ref() != Some(&(agg.track.clone(), derived)) {
        update_order_track(conn, &agg, derived, opts.now).await?;
    }
    if let Some(customer_id) = agg.customer_id {
        if agg.metrics_due || counts_differently(agg.status.status, derived.status) {
            refresh_customer_metrics(conn, customer_id, opts.now).await?;
        }
    }

    for (shipment_id, status, template) in &agg.notifications {
        insert_notification(conn, &agg, *shipment_id, *status, template, opts.now).await?;
    }
    if derived != agg.status {
        tracing::debug!(order_id = agg.order_id, status = %derived.status, "order status changed");
    }
    Ok(Applied {
        order_id: Some(agg.order_id),
        customer_id: agg.customer_id,
        new_events: agg.new_events,
        notifications: agg.notifications.len(),
    })
}

/// Writes the order's track and derived status.
async fn update_order_track(
    conn: &mut Conn,
    agg: &Aggregate,
    derived: OrderStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    let t = TrackColumns::from(&agg.track);
    sqlx::query(
        "UPDATE orders SET status = $2, status_detail = $3, track_progress = $4,
            track_last_scan_at = $5, track_side = $6, track_side_at = $7, track_terminal = $8,
            updated_at = $9
         WHERE id = $1",
    )
    .bind(agg.order_id)
    .bind(derived.status.as_str())
    .bind(derived.partial.map(Partial::as_str))
    .bind(t.progress)
    .bind(t.last_scan_at)
    .bind(t.side)
    .bind(t.side_at)
    .bind(t.terminal)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn insert_notification(
    conn: &mut Conn,
    agg: &Aggregate,
    shipment_id: Option<i64>,
    status: Status,
    template: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, order_id, shipment_id, customer_id, status, template_key,
            purpose, created_at, next_attempt_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'transactional', $7, $7, $7)",
    )
    .bind(Uuid::now_v7())
    .bind(agg.order_id)
    .bind(shipment_id)
    .bind(agg.customer_id)
    .bind(status.as_str())
    .bind(template)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) struct TrackColumns {
    pub(super) progress: &'static str,
    pub(super) last_scan_at: Option<DateTime<Utc>>,
    pub(super) side: Option<&'static str>,
    pub(super) side_at: Option<DateTime<Utc>>,
    pub(super) terminal: Option<&'static str>,
}

impl From<&Track> for TrackColumns {
    fn from(track: &Track) -> Self {
        TrackColumns {
            progress: track.progress.as_str(),
            last_scan_at: track.last_scan_at,
            side: track.side.map(|(flag, _)| flag.status().as_str()),
            side_at: track.side.map(|(_, at)| at),
            terminal: track.terminal.map(Status::as_str),
        }
    }
}

/// Reads the five track columns starting at `first`.
pub(super) fn read_track(row: &<Db as sqlx::Database>::Row, first: usize) -> Result<Track> {
    let side = match row.try_get::<Option<String>, _>(first + 2)? {
        Some(name) => {
            let flag = match parse_status(&name)? {
                Status::Delayed => domain::status::Flag::Delayed,
                Status::DeliveryException => domain::status::Flag::DeliveryException,
                other => return Err(StoreError::Corrupt(format!("{other} is not a side state"))),
            };
            let at: Option<DateTime<Utc>> = row.try_get(first + 3)?;
            Some((
                flag,
                at.ok_or_else(|| StoreError::Corrupt("side state without time".into()))?,
            ))
        }
        None => None,
    };
    Ok(Track {
        progress: parse_status(&row.try_get::<String, _>(first)?)?,
        last_scan_at: row.try_get(first + 1)?,
        side,
        terminal: row
            .try_get::<Option<String>, _>(first + 4)?
            .as_deref()
            .map(parse_status)
            .transpose()?,
    })
}

pub(super) fn parse_status(name: &str) -> Result<Status> {
    Status::parse(name).ok_or_else(|| StoreError::Corrupt(format!("unknown status {name:?}")))
}
