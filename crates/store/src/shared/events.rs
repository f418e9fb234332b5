//! Shipments and events.

use super::*;

pub(super) async fn add_events(
    conn: &mut Conn,
    target: &EventTarget,
    estimated_delivery: Option<DateTime<Utc>>,
    events: &[EventInput],
    reported_by: &str,
    opts: &ApplyOptions,
) -> Result<Applied> {
    let (mut agg, shipment_external_id) = match target {
        EventTarget::Order(order) => (load_aggregate_by_ref(conn, order).await?, None),
        EventTarget::Shipment {
            order,
            shipment_external_id,
        } => (
            load_aggregate_by_ref(conn, order).await?,
            Some(shipment_external_id.clone()),
        ),
        EventTarget::TrackingNumber {
            tracking_number,
            carrier,
        } => {
            let (order_id, external_id) =
                find_shipment_by_tracking(conn, tracking_number, carrier.as_deref()).await?;
            (load_aggregate(conn, order_id).await?, Some(external_id))
        }
    };

    match shipment_external_id {
        None => {
            let before = agg.track.status();
            let new_events = record_events(conn, &agg, None, events, reported_by, opts.now).await?;
            agg.new_events += new_events.len();
            apply_to_track(&mut agg, None, Some(before), &new_events, opts);
        }
        Some(external_id) => {
            let shipment = ShipmentInput {
                external_id,
                carrier: None,
                tracking_number: None,
                tracking_url: None,
                estimated_delivery,
                events: events.to_vec(),
            };
            apply_shipment(conn, &mut agg, &shipment, reported_by, opts).await?;
        }
    }
    finish(conn, agg, opts).await
}

pub(super) async fn find_shipment_by_tracking(
    conn: &mut Conn,
    tracking_number: &str,
    carrier: Option<&str>,
) -> Result<(i64, String)> {
    let rows = sqlx::query(
        "SELECT order_id, external_id, carrier FROM shipments WHERE tracking_number = $1
         ORDER BY id DESC",
    )
    .bind(tracking_number)
    .fetch_all(&mut *conn)
    .await?;
    // Tracking numbers are unique per carrier, not globally: prefer the carrier's match.
    let matches_carrier = |row: &&<Db as sqlx::Database>::Row| {
        let stored: Option<String> = row.try_get(2).ok().flatten();
        match (carrier, stored) {
            (Some(wanted), Some(stored)) => carrier_key(wanted) == carrier_key(&stored),
            _ => true,
        }
    };
    let row = rows.iter().find(matches_carrier).ok_or_else(|| {
        StoreError::NotFound(format!("shipment with tracking number {tracking_number}"))
    })?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Carrier names compared loosely: "FedEx", "fedex" and "Fed Ex" are one carrier.
pub(super) fn carrier_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

pub(super) async fn apply_shipment(
    conn: &mut Conn,
    agg: &mut Aggregate,
    input: &ShipmentInput,
    reported_by: &str,
    opts: &ApplyOptions,
) -> Result<()> {
    let index = upsert_shipment_row(conn, agg, input, opts.now).await?;
    let before = agg.shipments[index]
        .existed
        .then(|| agg.shipments[index].track.status());
    let new_events =
        record_events(conn, agg, Some(index), &input.events, reported_by, opts.now).await?;
    agg.new_events += new_events.len();
    apply_to_track(agg, Some(index), before, &new_events, opts);
    agg.shipments[index].existed = true;
    Ok(())
}

/// Creates or updates the shipment row and returns its index in the aggregate.
pub(super) async fn upsert_shipment_row(
    conn: &mut Conn,
    agg: &mut Aggregate,
    input: &ShipmentInput,
    now: DateTime<Utc>,
) -> Result<usize> {
    if let Some(index) = agg
        .shipments
        .iter()
        .position(|s| s.external_id == input.external_id)
    {
        sqlx::query(
            "UPDATE shipments SET carrier = COALESCE($2, carrier),
                tracking_number = COALESCE($3, tracking_number),
                tracking_url = COALESCE($4, tracking_url),
                estimated_delivery = COALESCE($5, estimated_delivery), updated_at = $6
             WHERE id = $1",
        )
        .bind(agg.shipments[index].id)
        .bind(&input.carrier)
        .bind(&input.tracking_number)
        .bind(&input.tracking_url)
        .bind(input.estimated_delivery)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        return Ok(index);
    }

    let track = Track::default();
    let row = sqlx::query(
        "INSERT INTO shipments (order_id, external_id, carrier, tracking_number, tracking_url,
            estimated_delivery, status, track_progress, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $8) RETURNING id",
    )
    .bind(agg.order_id)
    .bind(&input.external_id)
    .bind(&input.carrier)
    .bind(&input.tracking_number)
    .bind(&input.tracking_url)
    .bind(input.estimated_delivery)
    .bind(track.progress.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    agg.shipments.push(ShipmentState {
        id: row.try_get(0)?,
        external_id: input.external_id.clone(),
        track,
        existed: false,
        changed: true,
    });
    Ok(agg.shipments.len() - 1)
}

/// Writes events to the timeline and returns those that were not there yet.
pub(super) async fn record_events(
    conn: &mut Conn,
    agg: &Aggregate,
    shipment: Option<usize>,
    events: &[EventInput],
    source: &str,
    now: DateTime<Utc>,
) -> Result<Vec<EventInput>> {
    let (shipment_id, key) = match shipment {
        Some(i) => (
            Some(agg.shipments[i].id),
            agg.shipments[i].external_id.as_str(),
        ),
        None => (None, ""),
    };
    let fingerprints: Vec<String> = events.iter().map(|e| e.fingerprint(key)).collect();
    let mut inserted = std::collections::HashSet::new();
    for (chunk, prints) in events
        .chunks(ROWS_PER_STATEMENT)
        .zip(fingerprints.chunks(ROWS_PER_STATEMENT))
    {
        let sql = format!(
            "INSERT INTO tracking_events (order_id, shipment_id, status, raw_status, detail,
                location, happened_at, source, fingerprint, recorded_at)
             VALUES {}
             ON CONFLICT (order_id, fingerprint) DO NOTHING RETURNING fingerprint",
            placeholders(chunk.len(), 10)
        );
        let mut query = sqlx::query(&sql);
        for (event, print) in chunk.iter().zip(prints) {
            query = query
                .bind(agg.order_id)
                .bind(shipment_id)
                .bind(event.status.map(Status::as_str))
                .bind(&event.raw_status)
                .bind(&event.detail)
                .bind(&event.location)
                .bind(event.happened_at)
                .bind(source)
                .bind(print)
                .bind(now);
        }
        for row in query.fetch_all(&mut *conn).await? {
            inserted.insert(row.try_get::<String, _>(0)?);
        }
    }
    // An event is fresh if this insert wrote it, once: a repeat within `events` is not.
    let fresh = events
        .iter()
        .zip(&fingerprints)
        .filter(|(_, print)| inserted.remove(*print))
        .map(|(event, _)| event.clone())
        .collect();
    Ok(fresh)
}

/// Runs new events through a track's status machine and queues the notification the
/// change calls for. `before` is `None` for a shipment that did not exist.
pub(super) fn apply_to_track(
    agg: &mut Aggregate,
    shipment: Option<usize>,
    before: Option<Status>,
    events: &[EventInput],
    opts: &ApplyOptions,
) {
    let (track, shipment_id) = match shipment {
        Some(i) => {
            let shipment = &mut agg.shipments[i];
            shipment.changed = true;
            (&mut shipment.track, Some(shipment.id))
        }
        None => (&mut agg.track, None),
    };
    for event in events {
        match event.status {
            Some(Status::Refunded) if opts.notify => {
                agg.notifications.push((None, Status::Refunded, "refunded"));
            }
            Some(status) => {
                track.apply(status, event.happened_at);
            }
            None => {}
        }
    }

    let after = track.status();
    // A voided label is not news for the customer; an order cancellation is.
    let voided_label = shipment.is_some() && after == Status::Cancelled;
    if before == Some(after) || voided_label || !opts.notify {
        return;
    }
    if let Some(template) = template_for(before, after) {
        agg.notifications.push((shipment_id, after, template));
    }
}
