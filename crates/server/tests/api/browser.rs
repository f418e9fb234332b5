//! The tracking page in a real browser: headless Chromium renders it on a phone-sized
//! window and we read the DOM it built. The page carries no script at all.

use std::process::Command;

use serde_json::json;

use crate::helpers::{json, Backend, TestApp};

/// Chromium's binary, or `None` (with a notice) where it is not installed. CI installs
/// it and sets `TIDINGS_REQUIRE_BROWSER`, so there a missing browser fails the test.
fn chromium() -> Option<String> {
    let candidates = ["chromium", "chromium-browser", "google-chrome"];
    let found = candidates.iter().find(|name| {
        Command::new("which")
            .arg(name)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    });
    if found.is_none() {
        assert!(
            std::env::var("TIDINGS_REQUIRE_BROWSER").is_err(),
            "TIDINGS_REQUIRE_BROWSER is set but no Chromium is installed"
        );
        eprintln!("Chromium is not installed: browser test skipped");
    }
    found.map(|name| name.to_string())
}

fn render(
    browser: &str,
    url: &str,
    profile: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=390,844",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("Chromium runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tracking_page_renders_in_a_headless_browser() {
    let Some(browser) = chromium() else { return };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let order = json!({"external_id": "B-1", "number": "#B1", "currency": "USD", "total": "12.00",
        "placed_at": "2026-11-20T10:00:00Z", "status": "confirmed",
        "line_items": [{"title": "Linen apron", "quantity": 1, "unit_price": "12.00"}]});
    let created = json(app.api_post("/api/v1/orders", &order).await).await;
    let id = created["id"].as_i64().unwrap();
    let shipment = json!({"carrier": "UPS", "tracking_number": "1ZB1",
        "tracking_url": "https://www.ups.com/track?tracknum=1ZB1",
        "events": [{"status": "out_for_delivery", "happened_at": "2026-11-22T08:00:00Z",
                    "location": "Louisville, KY"}]});
    app.api_post(&format!("/api/v1/orders/{id}/shipments"), &shipment)
        .await;
    let url = app.url(&format!(
        "/t/{}",
        created["tracking_token"].as_str().unwrap()
    ));
    let profile = tempfile::tempdir().unwrap();
    let shot = profile.path().join("page.png");

    let (dom, screenshot) = tokio::task::spawn_blocking(move || {
        let dom = render(&browser, &url, &profile.path().join("a"), &["--dump-dom"]);
        let arg = format!("--screenshot={}", shot.display());
        let screenshot = render(&browser, &url, &profile.path().join("b"), &[&arg]);
        (dom, (screenshot, std::fs::read(&shot).ok(), profile))
    })
    .await
    .unwrap();

    let served = app.client.get(app.url(&format!(
        "/t/{}",
        created["tracking_token"].as_str().unwrap()
    )));
    let served = served.send().await.unwrap().text().await.unwrap();
    assert!(
        !served.contains("<script"),
        "the page works without JavaScript"
    );
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    for expected in [
        "#B1",
        "Out for delivery",
        "Linen apron",
        "1ZB1",
        "Louisville, KY",
    ] {
        assert!(
            html.contains(expected),
            "{expected} is not on the rendered page"
        );
    }
    assert!(html.contains(r#"href="https://www.ups.com/track?tracknum=1ZB1""#));
    let png = screenshot.1.expect("a screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "screenshot of {} bytes",
        png.len()
    );
}
