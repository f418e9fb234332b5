//! History imports: orders from CSV files and CDNOW-style transaction logs.
//!
//! Both imports apply history, so no customer is messaged about orders delivered long
//! ago ([`ApplyOptions::history`]). Commands reach the store in batches of
//! [`BATCH_SIZE`], one transaction each, and every batch records in the same commit how
//! many data rows of the file are done. The progress is kept under the key
//! `<kind>:<canonical path>:<file size>`: a second run of the same file skips the rows
//! done, so an interrupted import resumes after its last committed batch and a finished
//! one applies nothing again. Rejected rows count as done too; to import them once
//! fixed, put them in a file of their own.
//!
//! # Orders CSV
//!
//! A header row names the columns, in any order; an unknown column is an error, so a
//! misspelt name cannot drop data silently. Consecutive rows with the same `source` and
//! `external_id` are one order, one row per line item. Order columns may be repeated on
//! every row of the order or given once; two different values reject the order.
//!
//! | Column            | Level | Required  | Meaning                                          |
//! |-------------------|-------|-----------|--------------------------------------------------|
//! | `source`          | order | no        | Where the order came from; `csv` when empty      |
//! | `external_id`     | order | yes       | The source's order id                            |
//! | `number`          | order | no        | Number the customer knows; else `external_id`    |
//! | `placed_at`       | order | yes       | RFC 3339, or `YYYY-MM-DD` for midnight UTC       |
//! | `currency`        | order | yes       | ISO 4217 code such as `USD`                      |
//! | `total`           | order | no        | Decimal (`59.90`); the items' sum when empty     |
//! | `status`          | order | no        | A canonical status (below); `placed` when empty  |
//! | `email`           | order | no        | The customer's email address                     |
//! | `phone`           | order | no        | Without `+`, read in `default_region`            |
//! | `first_name`      | order | no        | The customer's first name                        |
//! | `last_name`       | order | no        | The customer's last name                         |
//! | `customer_id`     | order | no        | The source's customer id                         |
//! | `sku`             | row   | no        | The item's SKU, also used as its product id      |
//! | `title`           | row   | no        | The item's name; the SKU when empty              |
//! | `quantity`        | row   | no        | A positive whole number; 1 when empty            |
//! | `unit_price`      | row   | for items | Decimal price of one unit                        |
//! | `carrier`         | row   | no        | The parcel's carrier (with a tracking number)    |
//! | `tracking_number` | row   | no        | A parcel of the order                            |
//!
//! Statuses are the canonical ones: `placed`, `confirmed`, `fulfilled`, `in_transit`,
//! `out_for_delivery`, `ready_for_pickup`, `delivered`, `delayed`, `delivery_exception`,
//! `cancelled`, `returned` and `refunded`.
//!
//! A row has a line item when it has a `title` or a `sku`. Each distinct tracking number
//! becomes a shipment. A shipping status (`fulfilled` and beyond, `delayed`,
//! `delivery_exception`, `returned`) is that shipment's event; without a tracking number,
//! and for `confirmed`, `cancelled` and `refunded`, the status is an event of the order.
//! The file holds no other times, so every event is dated `placed_at`.
//!
//! A row that does not parse rejects its whole order, since importing the other lines
//! would store an order whose items and total disagree; the report names the row, its
//! line and the column at fault.
//!
//! # Transaction logs
//!
//! CDNOW's format: whitespace-separated `customer_id date number_of_cds dollar_value`
//! (`00001 19970101  1   11.77`), or the sample's five columns `master_id sample_id
//! date number_of_cds dollar_value`, told apart by their count. A first line that is
//! not numeric is a header and is skipped.
//!
//! Each row becomes a delivered order from source `cdnow`: external id
//! `<customer_id>-<date>-<line number>` (two purchases on one day stay distinct), placed
//! at midnight UTC of the date, with the exact amount as total and one line "CDs" whose
//! unit price is the amount divided by the count, rounded to the minor unit. A row with
//! a count of 0 but an amount is kept as one line of quantity 1 at the full amount
//! ("CDs (count not recorded)"): the money is the fact that matters for retention. A row
//! with neither records no purchase and is rejected.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use csv::{ByteRecord, StringRecord};
use domain::{
    Command, Currency, CustomerInput, Email, EventInput, LineItemInput, Money, OrderInput,
    OrderRef, PhoneNumber, ShipmentInput, Source, Status,
};
use indicatif::{ProgressBar, ProgressStyle};
use store::{ApplyOptions, Store};

use crate::config::Config;

mod orders;
mod transactions;

use orders::*;
use transactions::*;

/// Commands applied per transaction: enough to spread the cost of a commit thin, few
/// enough that the writer is not held for long and an interrupted import repeats little.
const BATCH_SIZE: usize = 500;

/// Rejections the report lists; the rest are only counted.
const REJECTIONS_SHOWN: usize = 20;

/// The columns of an orders CSV, as documented at the top of this module.
const COLUMNS: [&str; 18] = [
    "source",
    "external_id",
    "number",
    "placed_at",
    "currency",
    "total",
    "status",
    "email",
    "phone",
    "first_name",
    "last_name",
    "customer_id",
    "sku",
    "title",
    "quantity",
    "unit_price",
    "carrier",
    "tracking_number",
];

/// Columns without which no row of an orders CSV could import.
const REQUIRED_COLUMNS: [&str; 3] = ["external_id", "placed_at", "currency"];

const CSV_SOURCE: &str = "csv";
const CDNOW_SOURCE: &str = "cdnow";

/// What an import did. Every data row of the file is counted once, so `rows_read` is
/// `rows_applied + rows_skipped_as_done + rejected.len()`.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Data rows in the file (not the header or blank lines), skipped ones included.
    pub rows_read: u64,
    /// Rows whose order this run applied.
    pub rows_applied: u64,
    /// Rows an earlier run of the same file applied or rejected.
    pub rows_skipped_as_done: u64,
    /// Line number and reason for each row not imported, in file order.
    pub rejected: Vec<(u64, String)>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rows read, {} applied, {} already imported, {} rejected",
            self.rows_read,
            self.rows_applied,
            self.rows_skipped_as_done,
            self.rejected.len()
        )?;
        for (line, reason) in self.rejected.iter().take(REJECTIONS_SHOWN) {
            write!(f, "\n  line {line}: {reason}")?;
        }
        let hidden = self.rejected.len().saturating_sub(REJECTIONS_SHOWN);
        if hidden > 0 {
            write!(f, "\n  ... and {hidden} more")?;
        }
        Ok(())
    }
}

/// Imports orders from a CSV file in the format described at the top of this module,
/// resuming after the rows an earlier run of the same file finished.
///
/// # Errors
/// When the file cannot be read, its header names an unknown column or lacks a
/// required one, or the database fails. Bad rows are not errors: the report lists them.
pub async fn import_orders_csv(
    store: &Store,
    file: &Path,
    config: &Config,
) -> anyhow::Result<ImportReport> {
    orders_csv(store, file, &config.default_region, BATCH_SIZE).await
}

/// Imports a CDNOW-style transaction log (described at the top of this module) as
/// delivered orders with amounts in `currency`, resuming like [`import_orders_csv`].
///
/// # Errors
/// When the currency is not an ISO 4217 code, the file cannot be read, or the database
/// fails. Bad rows are not errors: the report lists them.
pub async fn import_transactions(
    store: &Store,
    file: &Path,
    currency: &str,
) -> anyhow::Result<ImportReport> {
    transactions(store, file, currency, BATCH_SIZE).await
}

// ---------------------------------------------------------------------------------------
// Batches, progress and resumption, shared by both formats

/// A row's line number and why it was not imported; the reason names the column.
pub(super) type Rejection = (u64, String);

/// One order's worth of input: the data rows it came from and what they became.
pub(super) struct Unit {
    pub(super) lines: Vec<u64>,
    /// The command, or a rejection for every one of `lines`.
    pub(super) outcome: Result<Command, Vec<Rejection>>,
}

/// One import in progress: the batch being filled and the rows done.
pub(super) struct Run<'a> {
    pub(super) store: &'a Store,
    /// The name progress is recorded under: `<kind>:<canonical path>:<size>`.
    pub(super) file_key: String,
    pub(super) batch_size: usize,
    /// Data rows an earlier run finished; this run skips as many.
    pub(super) done_before: u64,
    /// Data rows done, counting those in the batch being filled.
    pub(super) rows_done: u64,
    /// Whether `rows_done` moved since it was last recorded.
    pub(super) unrecorded: bool,
    pub(super) commands: Vec<Command>,
    /// The data rows behind each of `commands`, to count them or reject them.
    pub(super) command_lines: Vec<Vec<u64>>,
    pub(super) bar: ProgressBar,
    pub(super) report: ImportReport,
}

impl<'a> Run<'a> {
    /// Opens the file and reads how far an earlier run of it got.
    pub(super) async fn start(
        store: &'a Store,
        kind: &str,
        path: &Path,
        batch_size: usize,
    ) -> anyhow::Result<(Run<'a>, File)> {
        let file = File::open(path).with_context(|| {
            format!(
                "opening {}: check the path and that it is readable",
                path.display()
            )
        })?;
        let (file_key, size) = file_key(kind, path, &file)?;
        let done = store
            .import_rows_done(&file_key)
            .await
            .context("reading how far an earlier import of this file got")?;
        let run = Run {
            store,
            file_key,
            batch_size,
            done_before: u64::try_from(done).unwrap_or(0),
            rows_done: u64::try_from(done).unwrap_or(0),
            unrecorded: false,
            commands: Vec::with_capacity(batch_size),
            command_lines: Vec::with_capacity(batch_size),
            bar: progress_bar(size),
            report: ImportReport::default(),
        };
        Ok((run, file))
    }

    /// Counts a data row; false when an earlier run already did it and this one skips it.
    pub(super) fn take_row(&mut self) -> bool {
        self.report.rows_read += 1;
        if self.report.rows_read <= self.done_before {
            self.report.rows_skipped_as_done += 1;
            return false;
        }
        true
    }

    /// Adds an order to the batch, or its rejections to the report; applies a full batch.
    pub(super) async fn push(&mut self, unit: Unit) -> anyhow::Result<()> {
        self.rows_done += unit.lines.len() as u64;
        self.unrecorded = true;
        match unit.outcome {
            Ok(command) => {
                self.commands.push(command);
                self.command_lines.push(unit.lines);
            }
            Err(rejections) => self.report.rejected.extend(rejections),
        }
        if self.commands.len() >= self.batch_size {
            self.flush().await?;
        }
        Ok(())
    }

    /// Applies the batch and records the rows done in the same commit. Batches end only
    /// between orders, so the count recorded always falls on an order boundary.
    pub(super) async fn flush(&mut self) -> anyhow::Result<()> {
        if !self.unrecorded {
            return Ok(());
        }
        let rows_done = i64::try_from(self.rows_done).context("counting the rows done")?;
        let progress = Some((self.file_key.as_str(), rows_done));
        let results = self
            .store
            .apply_batch(&self.commands, &ApplyOptions::history(), progress)
            .await
            .with_context(|| {
                format!(
                    "applying a batch of {} orders; run the import again to resume after \
                     the last batch that was applied",
                    self.commands.len()
                )
            })?;
        for (result, lines) in results.into_iter().zip(self.command_lines.drain(..)) {
            match result {
                Ok(_) => self.report.rows_applied += lines.len() as u64,
                Err(error) => {
                    let reason = format!("the store refused the order: {error}");
                    self.report
                        .rejected
                        .extend(lines.into_iter().map(|l| (l, reason.clone())));
                }
            }
        }
        self.commands.clear();
        self.unrecorded = false;
        self.bar
            .set_message(format!("{} rows done", self.rows_done));
        Ok(())
    }

    /// Applies what is left and hands back the report.
    pub(super) async fn finish(mut self) -> anyhow::Result<ImportReport> {
        self.flush().await?;
        self.bar.finish_and_clear();
        // The store's refusals arrive after the parse rejections of later rows.
        self.report.rejected.sort_by_key(|(line, _)| *line);
        Ok(self.report)
    }
}

/// The key an import's progress is recorded under, and the file's size. The size is in
/// the key so that a file that grew or was replaced starts over rather than skipping
/// rows it never imported.
// TODO(import): a fix that keeps the size (a mistyped digit) is taken as done; key on a
// hash of the contents if that proves a trap in practice.
pub(super) fn file_key(kind: &str, path: &Path, file: &File) -> anyhow::Result<(String, u64)> {
    let canonical = path
        .canonicalize()
        .with_context(|| format!("resolving the full path of {}", path.display()))?;
    let size = file
        .metadata()
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    Ok((format!("{kind}:{}:{size}", canonical.display()), size))
}

/// A bar over the file's bytes. indicatif draws it on stderr and hides it when stderr
/// is not a terminal, so a piped or logged run prints only the report.
pub(super) fn progress_bar(size: u64) -> ProgressBar {
    let bar = ProgressBar::new(size);
    let style = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta} left)")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Parses a decimal amount that may not be negative.
pub(super) fn amount(text: &str, currency: &Currency) -> Result<i64, String> {
    let minor = Money::parse_decimal(text, currency.clone())
        .map_err(|e| e.to_string())?
        .minor;
    if minor < 0 {
        return Err(format!("{text:?} is negative"));
    }
    Ok(minor)
}

pub(super) fn midnight_utc(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN).and_utc()
}

pub(super) fn event(status: Status, at: DateTime<Utc>) -> EventInput {
    EventInput {
        status: Some(status),
        raw_status: status.as_str().to_string(),
        detail: None,
        location: None,
        happened_at: at,
    }
}

#[cfg(test)]
mod tests;
