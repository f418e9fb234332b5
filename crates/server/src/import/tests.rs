//! Imports of small files into a temporary store.

use std::path::PathBuf;

use super::*;

async fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .unwrap();
    (dir, store)
}

fn sample_orders() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/orders.csv")
}

fn shop_order(external_id: &str) -> OrderRef {
    OrderRef {
        source: Source::parse("shop").unwrap(),
        external_id: external_id.into(),
    }
}

async fn order(store: &Store, order: &OrderRef) -> store::OrderView {
    let id = store.order_id_by_ref(order).await.unwrap();
    store
        .get_order(id.expect("the order was imported"))
        .await
        .unwrap()
}

/// Orders in the store. Ids are sequential in SQLite and imports delete nothing, so
/// the first missing id ends the count.
async fn order_count(store: &Store) -> i64 {
    let mut id = 1;
    while store.get_order(id).await.is_ok() {
        id += 1;
    }
    id - 1
}

fn write_temp(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn an_orders_csv_imports_its_good_orders_and_names_its_bad_rows() {
    // Arrange
    let (_dir, store) = temp_store().await;

    // Act
    let report = import_orders_csv(&store, &sample_orders(), &Config::default())
        .await
        .unwrap();

    // Assert
    assert_eq!(
        (
            report.rows_read,
            report.rows_applied,
            report.rows_skipped_as_done
        ),
        (13, 5, 0)
    );
    let lines: Vec<u64> = report.rejected.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [6, 7, 8, 9, 10, 11, 12, 13]);
    let reasons: Vec<&str> = report.rejected.iter().map(|(_, r)| r.as_str()).collect();
    for (reason, column) in reasons.iter().zip([
        "placed_at:",
        "line 6",
        "external_id:",
        "currency:",
        "total:",
        "status:",
        "phone:",
        "email:",
    ]) {
        assert!(reason.contains(column), "{reason:?} does not name {column}");
    }

    let delivered = order(&store, &shop_order("1001")).await;
    assert_eq!(
        (delivered.total_minor, delivered.status),
        (5990, Status::Delivered)
    );
    assert_eq!(delivered.number, "#1001");
    assert_eq!(delivered.line_items.len(), 2);
    assert_eq!(delivered.shipments.len(), 1);
    assert_eq!(
        delivered.shipments[0].tracking_number.as_deref(),
        Some("1Z999AA10123456784")
    );
    let customer = store
        .get_customer(delivered.customer_id.unwrap())
        .await
        .unwrap();
    assert_eq!(customer.phone.as_deref(), Some("+16136120707"));

    let default_source = OrderRef {
        source: Source::named("csv"),
        external_id: "1002".into(),
    };
    let confirmed = order(&store, &default_source).await;
    assert_eq!(
        (confirmed.currency.as_str(), confirmed.total_minor),
        ("EUR", 1250)
    );
    assert_eq!(confirmed.status, Status::Confirmed);
    assert_eq!(
        order(&store, &shop_order("1003")).await.status,
        Status::InTransit
    );
    let cancelled = order(&store, &shop_order("1010")).await;
    assert_eq!(
        (cancelled.total_minor, cancelled.status),
        (2500, Status::Cancelled)
    );
    assert_eq!(
        store.order_id_by_ref(&shop_order("1004")).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn importing_the_same_csv_again_applies_nothing() {
    // Arrange
    let (_dir, store) = temp_store().await;
    let config = Config::default();
    import_orders_csv(&store, &sample_orders(), &config)
        .await
        .unwrap();
    let count = order_count(&store).await;
    let timeline = order(&store, &shop_order("1001")).await.timeline.len();

    // Act
    let report = import_orders_csv(&store, &sample_orders(), &config)
        .await
        .unwrap();

    // Assert
    assert_eq!((report.rows_read, report.rows_skipped_as_done), (13, 13));
    assert_eq!((report.rows_applied, report.rejected.len()), (0, 0));
    assert_eq!(order_count(&store).await, count);
    assert_eq!(
        order(&store, &shop_order("1001")).await.timeline.len(),
        timeline
    );
}

#[tokio::test]
async fn an_interrupted_csv_import_resumes_after_its_last_batch() {
    // Arrange: an earlier run recorded the first order (two rows) as done.
    let (_dir, store) = temp_store().await;
    let path = sample_orders();
    let (key, _) = file_key("orders", &path, &File::open(&path).unwrap()).unwrap();
    store
        .apply_batch(&[], &ApplyOptions::history(), Some((&key, 2)))
        .await
        .unwrap();

    // Act: batches of two orders, to cross batch boundaries.
    let report = orders_csv(&store, &path, "US", 2).await.unwrap();

    // Assert
    assert_eq!((report.rows_skipped_as_done, report.rows_applied), (2, 3));
    assert_eq!(
        store.order_id_by_ref(&shop_order("1001")).await.unwrap(),
        None
    );
    assert_eq!(
        order(&store, &shop_order("1003")).await.status,
        Status::InTransit
    );
    assert_eq!(store.import_rows_done(&key).await.unwrap(), 13);
}

#[tokio::test]
async fn split_or_contradictory_orders_are_rejected_whole() {
    // Arrange
    let (dir, store) = temp_store().await;
    let csv = "external_id,placed_at,currency,total,title,unit_price\n\
               A,2024-01-01,USD,3.00,x,1.00\n\
               B,2024-01-01,USD,1.00,y,1.00\n\
               A,2024-01-01,USD,3.00,z,2.00\n\
               C,2024-01-01,USD,1.00,,\n\
               C,2024-01-02,USD,1.00,,\n\
               D,2024-01-01,USD,1.00,,,surplus\n";
    let path = write_temp(&dir, "split.csv", csv);

    // Act
    let report = import_orders_csv(&store, &path, &Config::default())
        .await
        .unwrap();

    // Assert
    let lines: Vec<u64> = report.rejected.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [4, 5, 6, 7]);
    assert!(report.rejected[0].1.contains("must be consecutive"));
    assert!(report.rejected[1].1.contains("line 6"));
    assert!(report.rejected[2].1.starts_with("placed_at:"));
    assert!(report.rejected[3].1.contains("7 fields"));
    assert_eq!(report.rows_applied, 2);
}

#[tokio::test]
async fn a_header_with_an_unknown_column_stops_the_import() {
    let (dir, store) = temp_store().await;
    let path = write_temp(
        &dir,
        "typo.csv",
        "external_id,placed_at,currency,tracking\n",
    );

    let error = import_orders_csv(&store, &path, &Config::default())
        .await
        .unwrap_err();

    assert!(
        format!("{error:#}").contains("unknown column \"tracking\""),
        "{error:#}"
    );
}

/// The first 300 lines of CDNOW_master.txt, or a few lines in its format where the
/// shared data set is not checked out.
fn cdnow_head() -> String {
    let master =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cdnow/CDNOW_master.txt");
    match std::fs::read_to_string(master) {
        Ok(text) => text.split_inclusive('\n').take(300).collect(),
        Err(_) => [
            " customer_id  date number_of_cds  dollar_value\r\n",
            " 00001 19970101  1   11.77\r\n",
            " 00002 19970112  1   12.00\r\n",
            " 00002 19970112  5   77.00\r\n",
            " 00003 19970102  2   20.76\r\n",
            " 00003 19970330  2   20.76\r\n",
        ]
        .concat(),
    }
}

#[tokio::test]
async fn a_transaction_log_becomes_delivered_orders_once() {
    // Arrange
    let (dir, store) = temp_store().await;
    let text = cdnow_head();
    let data_rows = text.lines().count() as u64 - 1;
    let path = write_temp(&dir, "cdnow.txt", &text);

    // Act: batches of 100, to cross batch boundaries.
    let first = transactions(&store, &path, "USD", 100).await.unwrap();
    let count = order_count(&store).await;
    let again = transactions(&store, &path, "USD", 100).await.unwrap();

    // Assert
    assert_eq!(
        (first.rows_read, first.rows_applied),
        (data_rows, data_rows)
    );
    assert!(first.rejected.is_empty(), "{first}");
    assert_eq!(count, data_rows as i64);
    let cdnow = |id: &str| OrderRef {
        source: Source::named("cdnow"),
        external_id: id.into(),
    };
    let five_cds = order(&store, &cdnow("00002-19970112-4")).await;
    assert_eq!(
        (five_cds.total_minor, five_cds.status),
        (7700, Status::Delivered)
    );
    let item = &five_cds.line_items[0];
    assert_eq!((item.quantity, item.unit_price_minor), (5, 1540));
    assert_eq!(five_cds.timeline.len(), 2);
    assert!(store
        .order_id_by_ref(&cdnow("00002-19970112-3"))
        .await
        .unwrap()
        .is_some());

    assert_eq!(
        (again.rows_skipped_as_done, again.rows_applied),
        (data_rows, 0)
    );
    assert_eq!(order_count(&store).await, count);
}

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn only_line(command: Command) -> LineItemInput {
    match command {
        Command::UpsertOrder(order) => order.line_items[0].clone(),
        other => panic!("not an order: {other:?}"),
    }
}

#[test]
fn transaction_rows_in_both_layouts_become_orders() {
    let four = transaction(&["00004", "19970101", "2", "29.33"], 5, &usd()).unwrap();
    let Command::UpsertOrder(order) = &four else {
        panic!("not an order")
    };
    assert_eq!(order.order.external_id, "00004-19970101-5");
    assert_eq!(order.customer.external_id.as_deref(), Some("00004"));
    assert_eq!(
        (order.total_minor, order.line_items[0].unit_price_minor),
        (2933, 1467)
    );

    let five = transaction(&["00004", "0001", "19970118", "2", "29.73"], 2, &usd()).unwrap();
    assert_eq!(only_line(five).quantity, 2);
}

#[test]
fn transactions_without_a_count_keep_their_money_or_are_rejected() {
    let uncounted = only_line(transaction(&["7", "19970101", "0", "9.99"], 2, &usd()).unwrap());
    assert_eq!((uncounted.quantity, uncounted.unit_price_minor), (1, 999));
    let free = only_line(transaction(&["7", "19970101", "1", "0.00"], 2, &usd()).unwrap());
    assert_eq!((free.quantity, free.unit_price_minor), (1, 0));
    assert!(transaction(&["7", "19970101", "0", "0.00"], 2, &usd()).is_err());
}

#[test]
fn bad_transaction_rows_name_their_column() {
    let reason = |fields: &[&str]| transaction(fields, 2, &usd()).unwrap_err();
    assert!(reason(&["7", "19971301", "1", "1.00"]).starts_with("date:"));
    assert!(reason(&["7", "19970101", "-1", "1.00"]).starts_with("number_of_cds:"));
    assert!(reason(&["7", "19970101", "1", "-1.00"]).starts_with("dollar_value:"));
    assert!(reason(&["7", "19970101", "1"]).contains("found 3"));
}

#[test]
fn the_report_lists_the_first_rejections_and_counts_the_rest() {
    let report = ImportReport {
        rows_read: 30,
        rejected: (1..=25).map(|line| (line, "bad".to_string())).collect(),
        ..ImportReport::default()
    };

    let text = report.to_string();

    assert!(text.starts_with("30 rows read, 0 applied, 0 already imported, 25 rejected"));
    assert!(text.contains("\n  line 20: bad") && !text.contains("line 21:"));
    assert!(text.ends_with("\n  ... and 5 more"));
}
