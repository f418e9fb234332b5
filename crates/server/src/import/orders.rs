//! Orders CSV.

use super::*;

/// An order's identity in the file: its source name (raw) and external id.
pub(super) type OrderKey = (String, String);

pub(super) async fn orders_csv(
    store: &Store,
    path: &Path,
    region: &str,
    batch_size: usize,
) -> anyhow::Result<ImportReport> {
    let (mut run, file) = Run::start(store, "orders", path, batch_size).await?;
    // Flexible: a row with a wrong field count is rejected on its own line, rather than
    // ending the read or splitting the order it belongs to.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(BufReader::new(file));
    let header = Header::read(&mut reader)
        .with_context(|| format!("reading the header row of {}", path.display()))?;

    let mut grouper = Grouper::default();
    let mut record = ByteRecord::new();
    // The file is read synchronously: the import runs alone in its process, and a
    // buffered read of a local file stalls the runtime far less than a batch commit.
    while reader
        .read_byte_record(&mut record)
        .with_context(|| format!("reading {}", path.display()))?
    {
        let (line, byte) = record.position().map_or((0, 0), |p| (p.line(), p.byte()));
        run.bar.set_position(byte);
        let row = Row::decode(&header, &record, line);
        let is_new = run.take_row();
        if let Some(group) = grouper.add(row, is_new) {
            run.push(order_unit(&header, group, region)).await?;
        }
    }
    if let Some(group) = grouper.finish() {
        run.push(order_unit(&header, group, region)).await?;
    }
    run.finish().await
}

/// Where each known column sits in the file's rows.
pub(super) struct Header {
    index: HashMap<&'static str, usize>,
    width: usize,
}

impl Header {
    /// # Errors
    /// When the header is missing, names an unknown column twice or at all, or lacks a
    /// required column.
    fn read<R: Read>(reader: &mut csv::Reader<R>) -> anyhow::Result<Header> {
        let names = reader.headers()?.clone();
        if names.iter().all(str::is_empty) {
            bail!("the file is empty; an orders CSV starts with a row naming its columns");
        }
        let mut index = HashMap::new();
        for (position, name) in names.iter().enumerate() {
            // Spreadsheets often save a byte-order mark before the first name.
            let name = name.trim_start_matches('\u{feff}').to_ascii_lowercase();
            let column = COLUMNS.into_iter().find(|c| *c == name).ok_or_else(|| {
                anyhow!(
                    "unknown column {name:?}; the columns are {}",
                    COLUMNS.join(", ")
                )
            })?;
            if index.insert(column, position).is_some() {
                bail!("column {column} appears twice");
            }
        }
        if let Some(missing) = REQUIRED_COLUMNS
            .into_iter()
            .find(|c| !index.contains_key(c))
        {
            bail!(
                "there is no {missing} column; {} are required",
                REQUIRED_COLUMNS.join(", ")
            );
        }
        Ok(Header {
            index,
            width: names.len(),
        })
    }

    /// The value of `column` in `record`, trimmed; `None` when absent or empty.
    fn get<'r>(&self, record: &'r StringRecord, column: &str) -> Option<&'r str> {
        let value = record.get(*self.index.get(column)?)?.trim();
        (!value.is_empty()).then_some(value)
    }
}

/// A data row, with the problem that keeps it from importing whatever its values.
pub(super) struct Row {
    line: u64,
    record: StringRecord,
    /// `None` without an external id: such a row is an order of its own, rejected.
    key: Option<OrderKey>,
    problem: Option<String>,
}

impl Row {
    fn decode(header: &Header, bytes: &ByteRecord, line: u64) -> Row {
        let utf8 = bytes.iter().all(|field| std::str::from_utf8(field).is_ok());
        // Decoded anyway, so that the row still joins its order and rejects all of it.
        let record = StringRecord::from_byte_record_lossy(bytes.clone());
        let problem = if !utf8 {
            Some("the row is not valid UTF-8; save the file as UTF-8".to_string())
        } else if record.len() != header.width {
            Some(format!(
                "the row has {} fields where the header has {}; check its commas and quotes",
                record.len(),
                header.width
            ))
        } else {
            None
        };
        let source = header
            .get(&record, "source")
            .unwrap_or(CSV_SOURCE)
            .to_string();
        let key = header
            .get(&record, "external_id")
            .map(|id| (source, id.to_string()));
        Row {
            line,
            record,
            key,
            problem,
        }
    }
}

/// The consecutive rows of one order.
pub(super) struct Group {
    key: Option<OrderKey>,
    rows: Vec<Row>,
    /// The last line of earlier rows with the same key, which split the order.
    ended_before: Option<u64>,
}

/// Gathers consecutive rows into orders, and remembers where every order ended, so
/// that an order whose rows are apart is rejected instead of having its first part
/// overwritten by the second.
#[derive(Default)]
pub(super) struct Grouper {
    current: Option<Group>,
    ended: HashMap<OrderKey, u64>,
}

impl Grouper {
    /// Adds a row, and returns the previous order when the row starts another. A row an
    /// earlier run did (`is_new` false) is only remembered.
    fn add(&mut self, row: Row, is_new: bool) -> Option<Group> {
        if !is_new {
            if let Some(key) = row.key {
                self.ended.insert(key, row.line);
            }
            return None;
        }
        let same_order = |group: &&mut Group| group.key.is_some() && group.key == row.key;
        if let Some(group) = self.current.as_mut().filter(same_order) {
            group.rows.push(row);
            return None;
        }
        let finished = self.finish();
        let ended_before = row
            .key
            .as_ref()
            .and_then(|key| self.ended.get(key).copied());
        self.current = Some(Group {
            key: row.key.clone(),
            rows: vec![row],
            ended_before,
        });
        finished
    }

    /// Hands over the order being gathered.
    fn finish(&mut self) -> Option<Group> {
        let group = self.current.take()?;
        if let (Some(key), Some(last)) = (&group.key, group.rows.last()) {
            self.ended.insert(key.clone(), last.line);
        }
        Some(group)
    }
}

/// An order's rows as a command, or as rejections: the row at fault with its reason and
/// each other row of the order as rejected with it.
pub(super) fn order_unit(header: &Header, group: Group, region: &str) -> Unit {
    let lines: Vec<u64> = group.rows.iter().map(|row| row.line).collect();
    let outcome = build_order(header, &group, region).map_err(|(bad, reason)| {
        let sibling = format!("not imported: line {bad} of the same order was rejected");
        let reason_for = |line| {
            if line == bad {
                reason.clone()
            } else {
                sibling.clone()
            }
        };
        lines.iter().map(|&line| (line, reason_for(line))).collect()
    });
    Unit { lines, outcome }
}

pub(super) fn build_order(
    header: &Header,
    group: &Group,
    region: &str,
) -> Result<Command, Rejection> {
    let order = check_rows(group)?;
    let rows = group.rows.as_slice();
    let first_line = rows[0].line;
    let field = |column| merged(header, rows, column);

    let currency = required(field("currency")?, "currency", first_line)?;
    let currency = currency.parse(Currency::parse)?;
    let placed_at = required(field("placed_at")?, "placed_at", first_line)?;
    let placed_at = placed_at.parse(parse_placed_at)?;
    let status = field("status")?
        .map(|f| f.parse(parse_status))
        .transpose()?;
    let status = status.unwrap_or(Status::Placed);
    let line_items = rows
        .iter()
        .filter_map(|row| line_item(header, row, &currency).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    let total_minor = order_total(field("total")?, &line_items, &currency, first_line)?;
    let shipments = shipments(header, rows, status, placed_at);

    Ok(Command::UpsertOrder(Box::new(OrderInput {
        number: field("number")?.map_or_else(|| order.external_id.clone(), |f| f.value.into()),
        order,
        customer: customer(header, rows, region)?,
        currency,
        total_minor,
        line_items,
        shipping_address: None,
        placed_at,
        fully_shipped: None,
        events: order_events(status, placed_at, !shipments.is_empty()),
        shipments,
    })))
}

/// Checks what rejects an order before its values are read, and names it.
pub(super) fn check_rows(group: &Group) -> Result<OrderRef, Rejection> {
    if let Some(row) = group.rows.iter().find(|row| row.problem.is_some()) {
        return Err((row.line, row.problem.clone().unwrap_or_default()));
    }
    let line = group.rows[0].line;
    let Some((source, external_id)) = &group.key else {
        return Err((line, "external_id: required".into()));
    };
    if let Some(end) = group.ended_before {
        return Err((
            line,
            format!(
                "external_id: order {external_id:?} also has rows ending on line {end}; \
                 the rows of one order must be consecutive"
            ),
        ));
    }
    let source = Source::parse(source).ok_or_else(|| {
        (
            line,
            format!("source: {source:?} is not lower-case letters, digits, - or _ (at most 40)"),
        )
    })?;
    Ok(OrderRef {
        source,
        external_id: external_id.clone(),
    })
}

/// An order-level value and the line it was read from.
pub(super) struct Field<'r> {
    column: &'static str,
    line: u64,
    value: &'r str,
}

impl Field<'_> {
    /// Parses the value; a failure rejects its line, naming the column.
    fn parse<T, E: fmt::Display>(
        &self,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, Rejection> {
        parse(self.value).map_err(|e| (self.line, format!("{}: {e}", self.column)))
    }
}

/// An order-level column across the order's rows: rows may repeat the value or leave
/// it empty, but a different value rejects the row that gives it.
pub(super) fn merged<'r>(
    header: &Header,
    rows: &'r [Row],
    column: &'static str,
) -> Result<Option<Field<'r>>, Rejection> {
    let mut found: Option<Field<'r>> = None;
    for row in rows {
        let Some(value) = header.get(&row.record, column) else {
            continue;
        };
        match &found {
            None => {
                found = Some(Field {
                    column,
                    line: row.line,
                    value,
                })
            }
            Some(first) if first.value != value => {
                let (was, on) = (first.value, first.line);
                let reason = format!("{column}: {value:?} differs from {was:?} on line {on}");
                return Err((row.line, format!("{reason}, in the same order")));
            }
            Some(_) => {}
        }
    }
    Ok(found)
}

pub(super) fn required<'r>(
    field: Option<Field<'r>>,
    column: &str,
    line: u64,
) -> Result<Field<'r>, Rejection> {
    field.ok_or_else(|| (line, format!("{column}: required")))
}

/// RFC 3339, or a bare date taken as midnight UTC.
pub(super) fn parse_placed_at(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(midnight_utc)
        .map_err(|_| {
            format!("{text:?} is neither RFC 3339 (2024-05-01T14:30:00Z) nor a date (2024-05-01)")
        })
}

pub(super) fn parse_status(name: &str) -> Result<Status, String> {
    Status::parse(&name.to_ascii_lowercase()).ok_or_else(|| {
        let names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        format!("{name:?} is not one of {}", names.join(", "))
    })
}

/// The row's line item, if it has one: a title or a SKU makes one.
pub(super) fn line_item(
    header: &Header,
    row: &Row,
    currency: &Currency,
) -> Result<Option<LineItemInput>, Rejection> {
    let get = |column| header.get(&row.record, column);
    let reject = |column: &str, reason: String| (row.line, format!("{column}: {reason}"));
    let sku = get("sku");
    let Some(title) = get("title").or(sku) else {
        return match ["quantity", "unit_price"]
            .into_iter()
            .find(|c| get(c).is_some())
        {
            Some(given) => Err(reject("title", format!("required when {given} is given"))),
            None => Ok(None),
        };
    };
    let quantity = match get("quantity") {
        None => 1,
        Some(text) => text.parse::<i64>().ok().filter(|q| *q > 0).ok_or_else(|| {
            reject(
                "quantity",
                format!("{text:?} is not a positive whole number"),
            )
        })?,
    };
    let price = get("unit_price").ok_or_else(|| reject("unit_price", "required".into()))?;
    let unit_price_minor = amount(price, currency).map_err(|e| reject("unit_price", e))?;
    Ok(Some(LineItemInput {
        external_id: None,
        product_external_id: sku.map(String::from),
        sku: sku.map(String::from),
        title: title.to_string(),
        variant: None,
        quantity,
        unit_price_minor,
    }))
}

/// The `total` column, or the line items' sum when it is empty.
pub(super) fn order_total(
    total: Option<Field<'_>>,
    items: &[LineItemInput],
    currency: &Currency,
    line: u64,
) -> Result<i64, Rejection> {
    if let Some(total) = total {
        return total.parse(|text| amount(text, currency));
    }
    if items.is_empty() {
        return Err((
            line,
            "total: required when the order has no line items".into(),
        ));
    }
    items
        .iter()
        .try_fold(0i64, |sum, i| {
            sum.checked_add(i.quantity.checked_mul(i.unit_price_minor)?)
        })
        .ok_or_else(|| {
            (
                line,
                "total: the line items add up to more than can be stored".into(),
            )
        })
}

pub(super) fn customer(
    header: &Header,
    rows: &[Row],
    region: &str,
) -> Result<CustomerInput, Rejection> {
    let text = |column| Ok::<_, Rejection>(merged(header, rows, column)?.map(|f| f.value.into()));
    let email = merged(header, rows, "email")?
        .map(|f| f.parse(Email::parse))
        .transpose()?;
    let phone = merged(header, rows, "phone")?
        .map(|f| f.parse(|text| PhoneNumber::parse(text, region)))
        .transpose()?;
    Ok(CustomerInput {
        external_id: text("customer_id")?,
        email,
        phone,
        first_name: text("first_name")?,
        last_name: text("last_name")?,
        ..CustomerInput::default()
    })
}

/// Statuses a parcel reports, as opposed to the order's own.
pub(super) fn is_shipping(status: Status) -> bool {
    !matches!(
        status,
        Status::Placed | Status::Confirmed | Status::Cancelled | Status::Refunded
    )
}

/// One shipment per distinct tracking number, carrying the order's status when it is a
/// shipping status; otherwise the shipment only says that a label exists.
pub(super) fn shipments(
    header: &Header,
    rows: &[Row],
    status: Status,
    at: DateTime<Utc>,
) -> Vec<ShipmentInput> {
    let mut shipments: Vec<ShipmentInput> = Vec::new();
    for row in rows {
        let Some(tracking) = header.get(&row.record, "tracking_number") else {
            continue;
        };
        if shipments
            .iter()
            .any(|s| s.tracking_number.as_deref() == Some(tracking))
        {
            continue;
        }
        shipments.push(ShipmentInput {
            external_id: tracking.to_string(),
            carrier: header.get(&row.record, "carrier").map(String::from),
            tracking_number: Some(tracking.to_string()),
            tracking_url: None,
            estimated_delivery: None,
            events: is_shipping(status)
                .then(|| event(status, at))
                .into_iter()
                .collect(),
        });
    }
    shipments
}

/// The order's own events: placed, then its status unless a shipment carries it.
pub(super) fn order_events(
    status: Status,
    at: DateTime<Utc>,
    has_shipments: bool,
) -> Vec<EventInput> {
    let mut events = vec![event(Status::Placed, at)];
    let on_shipment = has_shipments && is_shipping(status);
    if status != Status::Placed && !on_shipment {
        events.push(event(status, at));
    }
    events
}
