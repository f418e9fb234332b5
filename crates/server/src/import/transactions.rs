//! Transaction logs.

use super::*;

pub(super) async fn transactions(
    store: &Store,
    path: &Path,
    currency: &str,
    batch_size: usize,
) -> anyhow::Result<ImportReport> {
    let currency = Currency::parse(currency).context("checking the currency of the amounts")?;
    let (mut run, file) = Run::start(store, "transactions", path, batch_size).await?;
    let mut reader = BufReader::new(file);
    let (mut buffer, mut line, mut bytes, mut first) = (Vec::new(), 0u64, 0u64, true);
    // Read synchronously, like the CSV import, and for the same reason.
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        line += 1;
        bytes += read as u64;
        run.bar.set_position(bytes);
        // Lossy: a stray byte then fails the column it is in, which names the row.
        let text = String::from_utf8_lossy(&buffer);
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.is_empty() || std::mem::take(&mut first) && is_header(&fields) {
            continue;
        }
        if run.take_row() {
            let outcome = transaction(&fields, line, &currency).map_err(|r| vec![(line, r)]);
            run.push(Unit {
                lines: vec![line],
                outcome,
            })
            .await?;
        }
    }
    run.finish().await
}

pub(super) fn is_header(fields: &[&str]) -> bool {
    !fields[0].bytes().all(|b| b.is_ascii_digit())
}

/// One log line as a delivered order.
pub(super) fn transaction(
    fields: &[&str],
    line: u64,
    currency: &Currency,
) -> Result<Command, String> {
    let (customer, date_text, cds, dollars) = match *fields {
        [customer, date, cds, dollars] | [customer, _, date, cds, dollars] => {
            (customer, date, cds, dollars)
        }
        _ => {
            return Err(format!(
                "expected 4 columns (customer_id date number_of_cds dollar_value) or 5 \
                 (master_id sample_id date number_of_cds dollar_value), found {}",
                fields.len()
            ))
        }
    };
    let date = NaiveDate::parse_from_str(date_text, "%Y%m%d")
        .map_err(|_| format!("date: {date_text:?} is not a date in YYYYMMDD form"))?;
    let cds: i64 = cds
        .parse()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("number_of_cds: {cds:?} is not a whole number of 0 or more"))?;
    let total_minor = amount(dollars, currency).map_err(|e| format!("dollar_value: {e}"))?;
    let placed_at = midnight_utc(date);
    let external_id = format!("{customer}-{date_text}-{line}");

    Ok(Command::UpsertOrder(Box::new(OrderInput {
        order: OrderRef {
            source: Source::named(CDNOW_SOURCE),
            external_id: external_id.clone(),
        },
        number: external_id,
        customer: CustomerInput {
            external_id: Some(customer.into()),
            ..Default::default()
        },
        currency: currency.clone(),
        total_minor,
        line_items: vec![cds_line(cds, total_minor)?],
        shipping_address: None,
        placed_at,
        fully_shipped: None,
        events: vec![
            event(Status::Placed, placed_at),
            event(Status::Delivered, placed_at),
        ],
        shipments: Vec::new(),
    })))
}

/// The order's one line. The unit price is rounded half up to the minor unit (2 CDs
/// for 29.33 cost 14.67 each); the order's total stays exact.
pub(super) fn cds_line(cds: i64, total_minor: i64) -> Result<LineItemInput, String> {
    let (quantity, title) = match (cds, total_minor) {
        (0, 0) => {
            return Err("number_of_cds and dollar_value are both 0: no purchase to import".into())
        }
        // Money changed hands but the count was lost: keep the purchase as one line.
        (0, _) => (1, "CDs (count not recorded)"),
        (n, _) => (n, "CDs"),
    };
    // Rounding cannot overflow short of amounts no shop has; then it truncates.
    let unit_price_minor = total_minor.checked_add(quantity / 2).unwrap_or(total_minor) / quantity;
    Ok(LineItemInput {
        external_id: None,
        product_external_id: None,
        sku: None,
        title: title.into(),
        variant: None,
        quantity,
        unit_price_minor,
    })
}
