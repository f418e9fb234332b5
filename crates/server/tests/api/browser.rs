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

/// The emulator's phone page in a real browser: the messages Tidings sent, as a phone
/// shows them (a bubble, a rich card, their suggestion chips).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_phone_page_shows_what_tidings_sent() {
    use crate::messaging::{Rig, RCS_PHONE};

    let Some(browser) = chromium() else { return };
    let rig = Rig::start(Backend::Sqlite).await;
    let order_id = rig.order_for(RCS_PHONE, "P-1").await;
    let event = json!({"status": "in_transit", "raw_status": "in_transit",
        "happened_at": "2026-11-21T08:00:00Z"});
    rig.app
        .api_post(&format!("/api/v1/orders/{order_id}/events"), &event)
        .await;
    rig.messages_until(order_id, |m| {
        m.len() == 2 && m.iter().all(|m| m.state == "read")
    })
    .await;

    let url = format!("{}/phones/{RCS_PHONE}", rig.emulator.base_url());
    let profile = tempfile::tempdir().unwrap();
    let dom = tokio::task::spawn_blocking(move || {
        render(&browser, &url, &profile.path().join("a"), &["--dump-dom"])
    })
    .await
    .unwrap();

    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let html = String::from_utf8_lossy(&dom.stdout);
    for expected in [
        "received your order #P-1",
        "Order #P-1 is on its way",
        "View order</button>",
        "Track</button>",
        "class=\"card",
    ] {
        assert!(
            html.contains(expected),
            "{expected} is not on the phone page"
        );
    }
}

/// A person on the emulator's phone page, in Chromium driven over WebDriver: tapping a
/// suggestion and typing a reply reach Tidings through the RBM webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taps_and_replies_on_the_phone_page_reach_tidings() {
    use crate::messaging::{Rig, RCS_PHONE};
    use fantoccini::Locator;

    let Some(browser) = chromium() else { return };
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    let rig = Rig::start(Backend::Sqlite).await;
    let order_id = rig.order_for(RCS_PHONE, "W-1").await;
    let event = json!({"status": "delivered", "raw_status": "delivered",
        "happened_at": "2026-11-22T08:00:00Z"});
    rig.app
        .api_post(&format!("/api/v1/orders/{order_id}/events"), &event)
        .await;
    rig.messages_until(order_id, |m| {
        m.len() == 2 && m.iter().all(|m| m.state == "read")
    })
    .await;

    let client = driver.session(&browser).await;
    let page = format!("{}/phones/{RCS_PHONE}", rig.emulator.base_url());
    client.goto(&page).await.unwrap();
    let great = Locator::XPath("//button[contains(., 'Great')]");
    client.find(great).await.unwrap().click().await.unwrap();
    // The form posts and the page comes back with the tap in the thread; typing before
    // that would race the navigation.
    let shown = |text: &str| format!("//div[@class='user']/div[contains(., '{text}')]");
    let wait = || client.wait().at_most(std::time::Duration::from_secs(10));
    wait()
        .for_element(Locator::XPath(&shown("Great")))
        .await
        .unwrap();
    let input = client
        .find(Locator::Css(".compose input[name=text]"))
        .await
        .unwrap();
    input.send_keys("thanks, all good").await.unwrap();
    client
        .find(Locator::Css(".compose button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let reply = shown("thanks, all good");
    wait().for_element(Locator::XPath(&reply)).await.unwrap();
    client.close().await.unwrap();

    let customer_id = rig
        .app
        .store
        .get_order(order_id)
        .await
        .unwrap()
        .customer_id
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..200 {
        let inbound = rig.app.store.list_inbound(customer_id).await.unwrap();
        seen = inbound
            .iter()
            .map(|m| (m.kind.clone(), m.body.clone()))
            .collect();
        if seen.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen,
        [
            ("suggestion".to_string(), "😍 Great".to_string()),
            ("text".to_string(), "thanks, all good".to_string())
        ]
    );
}

/// A chromedriver process on a free port, stopped on drop.
struct ChromeDriver {
    process: std::process::Child,
    port: u16,
}

impl ChromeDriver {
    /// Starts chromedriver, or returns `None` (with a notice) where it is not installed;
    /// under `TIDINGS_REQUIRE_BROWSER` a missing driver fails the test.
    fn start() -> Option<ChromeDriver> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        match process {
            Ok(process) => Some(ChromeDriver { process, port }),
            Err(error) => {
                assert!(
                    std::env::var("TIDINGS_REQUIRE_BROWSER").is_err(),
                    "TIDINGS_REQUIRE_BROWSER is set but chromedriver cannot start: {error}"
                );
                eprintln!("chromedriver is not installed: browser test skipped");
                None
            }
        }
    }

    /// A headless Chromium session, once the driver answers.
    async fn session(&self, browser: &str) -> fantoccini::Client {
        let url = format!("http://127.0.0.1:{}", self.port);
        let binary = Command::new("which").arg(browser).output().unwrap().stdout;
        let binary = String::from_utf8_lossy(&binary).trim().to_string();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": binary, "args": ["--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--window-size=390,844"]}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        for _ in 0..100 {
            let mut builder = fantoccini::ClientBuilder::new(connector.clone());
            builder.capabilities(capabilities.clone());
            if let Ok(client) = builder.connect(&url).await {
                return client;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer on {url}");
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The workspace in Chromium: each role logs in through the form and sees only the
/// pages its role may open; IT creates an API key, reads its secret once and revokes it.
/// Screenshots land in the target directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_sees_its_own_workspace_and_it_manages_keys_in_a_browser() {
    use fantoccini::Locator;
    use tidings::http::access::Role;

    let Some(browser) = chromium() else { return };
    let Some(driver) = ChromeDriver::start() else {
        return;
    };
    // Plain http, as on a laptop: the session cookie is then not marked Secure.
    let options = crate::helpers::Options { processor: false };
    let app = TestApp::spawn_configured(Backend::Sqlite, options, |c| {
        c.public_url = "http://127.0.0.1".into();
    })
    .await;
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("workspace-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let client = driver.session(&browser).await;
    let wait = || client.wait().at_most(std::time::Duration::from_secs(10));

    for role in Role::ALL {
        let email = crate::workspace::add_user(&app, role).await;
        client.goto(&app.url("/app/login")).await.unwrap();
        let field = |css: &'static str| client.find(Locator::Css(css));
        field("#email")
            .await
            .unwrap()
            .send_keys(&email)
            .await
            .unwrap();
        let password = crate::workspace::PASSWORD;
        field("#password")
            .await
            .unwrap()
            .send_keys(password)
            .await
            .unwrap();
        field("form button[type=submit]")
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait().for_element(Locator::Css("nav a")).await.unwrap();

        let mut nav = Vec::new();
        for link in client.find_all(Locator::Css("nav a")).await.unwrap() {
            nav.push(link.text().await.unwrap());
        }
        let expected: &[&str] = match role {
            Role::Owner => &["Home", "API keys", "Users", "Audit log", "Password"],
            Role::It => &["Home", "API keys", "Audit log", "Password"],
            _ => &["Home", "Password"],
        };
        assert_eq!(nav, expected, "{role:?}");
        let png = client.screenshot().await.unwrap();
        std::fs::write(shots.join(format!("home-{}.png", role.as_str())), &png).unwrap();
        assert!(png.starts_with(b"\x89PNG"));

        // A page the role may not open says so, and shows nothing of it.
        if role != Role::Owner {
            client.goto(&app.url("/app/users")).await.unwrap();
            let body = client
                .find(Locator::Css("main"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                body.contains("Forbidden"),
                "{role:?} opened /app/users: {body}"
            );
            assert!(!body.contains(&email), "{role:?} saw the users list");
        }
        if role == Role::It {
            manage_a_key(&client, &app, &shots).await;
        }
        client.goto(&app.url("/app")).await.unwrap();
        let logout = Locator::Css("form[action='/app/logout'] button");
        client.find(logout).await.unwrap().click().await.unwrap();
        wait().for_element(Locator::Css("#email")).await.unwrap();
    }
    client.close().await.unwrap();
}

/// Creates a key on the keys page, reads its secret, and revokes it.
async fn manage_a_key(client: &fantoccini::Client, app: &TestApp, shots: &std::path::Path) {
    use fantoccini::Locator;

    client.goto(&app.url("/app/keys")).await.unwrap();
    let name = client.find(Locator::Css("#name")).await.unwrap();
    name.send_keys("browser bridge").await.unwrap();
    let scope = client.find(Locator::Css("#scope")).await.unwrap();
    scope.select_by_value("read").await.unwrap();
    let create = Locator::XPath("//button[normalize-space()='Create key']");
    client.find(create).await.unwrap().click().await.unwrap();
    let shown = client
        .wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(Locator::Css("#new-secret"))
        .await
        .unwrap();
    let secret = shown.text().await.unwrap();
    assert!(secret.starts_with("tdk_") && secret.len() == 52, "{secret}");
    let png = client.screenshot().await.unwrap();
    std::fs::write(shots.join("key-created.png"), &png).unwrap();
    let key = app
        .store
        .find_api_key(&secret)
        .await
        .unwrap()
        .expect("a live key");
    assert_eq!(key.scope, "read");
    assert_eq!(
        queue_with(app, &secret).await,
        200,
        "the new key is refused"
    );

    let revoke = Locator::Css("button[aria-label='Revoke browser bridge']");
    client.find(revoke).await.unwrap().click().await.unwrap();
    let done = Locator::XPath("//p[contains(., 'was revoked')]");
    client
        .wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(done)
        .await
        .unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(shots.join("key-revoked.png"), &png).unwrap();
    assert_eq!(
        queue_with(app, &secret).await,
        401,
        "the revoked key still opens the API"
    );
}

/// The status of `GET /api/v1/queue` with `secret` as the Bearer key.
async fn queue_with(app: &TestApp, secret: &str) -> u16 {
    let response = app
        .client
        .get(app.url("/api/v1/queue"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}
