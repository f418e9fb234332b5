//! The phone pages a person uses, and the inspection API tests use: what they show, and
//! what the page's forms send to the agent.

use emulator::PhoneConfig;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{config, reading_phone, TestEmulator, Webhook};

const ADDED_PHONE: &str = "+16136120711";

const PHONE: &str = "+16136120707";
const CARD_TITLE: &str = "Your walking boots are on their way";

/// A phone whose user reads nothing unless they tap, so the tests decide.
fn phone() -> PhoneConfig {
    PhoneConfig {
        read_after_ms: None,
        ..reading_phone(PHONE)
    }
}

/// A standalone card with a reply chip `Track` and a dial action `Call us`.
fn card() -> Value {
    json!({
        "contentMessage": {"richCard": {"standaloneCard": {
            "cardOrientation": "VERTICAL",
            "cardContent": {
                "title": CARD_TITLE,
                "description": "Order #1042, 2 items",
                "suggestions": [
                    {"reply": {"text": "Track", "postbackData": "track:1042"}},
                    {"action": {
                        "text": "Call us",
                        "postbackData": "call",
                        "dialAction": {"phoneNumber": "+16136120700"},
                    }},
                ],
            },
        }}},
        "messageTrafficType": "TRANSACTION",
    })
}

/// An emulator with [`phone`] and a delivered [`card`]; returns the card's id.
async fn delivered_card() -> (TestEmulator, Webhook, String) {
    let (emulator, webhook) = TestEmulator::with_webhook(config(vec![phone()])).await;
    let id = emulator.send_ok(PHONE, &card()).await;
    webhook.wait_for_event("DELIVERED", &id).await;
    (emulator, webhook, id)
}

fn page_path() -> String {
    format!("/phones/{PHONE}")
}

/// The phone's page as HTML.
async fn page(emulator: &TestEmulator) -> String {
    let response = emulator.http.get(emulator.url(&page_path())).send().await;
    let response = response.expect("the page answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ASCII");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    response.text().await.expect("HTML")
}

/// Posts the page's form `fields`, as a browser would, and checks the page answers
/// with a redirect back to itself.
async fn submit(emulator: &TestEmulator, fields: &[(&str, &str)]) {
    let request = emulator.http.post(emulator.url(&page_path())).form(fields);
    let response = request.send().await.expect("the page answers");
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    assert_eq!(response.headers()["location"], page_path().as_str());
}

/// The hidden fields of the tap form whose button shows `label`.
fn tap_form(html: &str, label: &str) -> Vec<(String, String)> {
    let form = html
        .split("<form method=\"post\" class=\"tap\">")
        .skip(1)
        .map(|rest| rest.split("</form>").next().unwrap_or_default())
        .find(|form| form.contains(&format!("{label}</button>")))
        .unwrap_or_else(|| panic!("no tap form for {label} in {html}"));
    form.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|input| (attribute(input, "name"), attribute(input, "value")))
        .collect()
}

fn attribute(tag: &str, name: &str) -> String {
    let start = format!("{name}=\"");
    let value = tag.split(&start).nth(1).expect("the attribute");
    value.split('"').next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_phone_page_shows_a_delivered_rich_card() {
    // Arrange
    let (emulator, _webhook, id) = delivered_card().await;

    // Act
    let html = page(&emulator).await;

    // Assert
    assert!(html.contains(&format!("<h2>{CARD_TITLE}</h2>")), "{html}");
    assert!(html.contains("<p>Order #1042, 2 items</p>"), "{html}");
    assert!(html.contains(&format!("id=\"m-{id}\"")), "{html}");
    assert!(html.contains(">Track</button>"), "{html}");
    assert!(html.contains("Call us</button>"), "{html}");
    assert!(
        html.contains("<div class=\"meta\">delivered</div>"),
        "{html}"
    );
}

#[tokio::test]
async fn a_reply_typed_on_the_page_reaches_the_webhook() {
    // Arrange
    let (emulator, webhook, _) = delivered_card().await;
    let reply = "Can I change the address?";

    // Act
    submit(&emulator, &[("action", "reply"), ("text", reply)]).await;
    let (data, _) = webhook
        .wait_for("the typed reply", |data| data["text"] == reply)
        .await;

    // Assert
    assert_eq!(data["senderPhoneNumber"], PHONE);
    let html = page(&emulator).await;
    assert!(
        html.contains(&format!("<div class=\"bubble\">{reply}</div>")),
        "{html}"
    );
}

#[tokio::test]
async fn a_chip_tapped_on_the_page_reaches_the_webhook_with_its_postback() {
    // Arrange
    let (emulator, webhook, id) = delivered_card().await;
    let html = page(&emulator).await;
    let form = tap_form(&html, "Track");

    // Act
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    submit(&emulator, &fields).await;
    let is_tap = |data: &Value| data.get("suggestionResponse").is_some();
    let (data, _) = webhook.wait_for("the tap", is_tap).await;

    // Assert
    assert!(fields.contains(&("message_id", id.as_str())), "{fields:?}");
    let response = json!({"postbackData": "track:1042", "text": "Track", "type": "REPLY"});
    assert_eq!(data["suggestionResponse"], response);
    assert_eq!(data["senderPhoneNumber"], PHONE);
    webhook.wait_for_event("READ", &id).await;
}

#[tokio::test]
async fn the_inspection_api_shows_what_a_phone_received_and_sent() {
    // Arrange
    let (emulator, webhook, id) = delivered_card().await;
    let text = json!({"text": "Thanks!"});
    let path = format!("/emulator/phones/{PHONE}/text");
    emulator.control(Method::POST, &path, &text).await.ok();
    webhook
        .wait_for("the text", |data| data["text"] == "Thanks!")
        .await;

    // Act
    let phone = emulator.phone(PHONE).await;
    let phones = emulator.inspect("/emulator/phones").await;
    let deliveries = emulator.inspect("/emulator/webhook/deliveries").await;

    // Assert
    assert_eq!(phone["config"]["number"], PHONE);
    assert_eq!(phone["online"], true);
    let messages = phone["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["messageId"], id.as_str());
    assert_eq!(messages[0]["body"], card());
    assert_eq!(messages[0]["state"], "DELIVERED");
    assert_eq!(phone["userMessages"][0]["content"], text);
    assert_eq!(phones.as_array().map(Vec::len), Some(1));
    let kinds: Vec<&Value> = deliveries
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|delivery| &delivery["kind"])
        .collect();
    assert_eq!(kinds, [&json!("DELIVERED"), &json!("TEXT")]);
    assert_eq!(deliveries[1]["data"]["text"], "Thanks!");
    assert_eq!(deliveries[1]["phoneNumber"], PHONE);
}

#[tokio::test]
async fn what_the_agent_writes_is_escaped_on_the_page() {
    // Arrange
    let (emulator, webhook) = TestEmulator::with_webhook(config(vec![phone()])).await;
    let mut body = card();
    let title = "<b>Boots</b> & <script>alert(1)</script>";
    body["contentMessage"]["richCard"]["standaloneCard"]["cardContent"]["title"] = json!(title);
    let id = emulator.send_ok(PHONE, &body).await;
    webhook.wait_for_event("DELIVERED", &id).await;

    // Act
    let html = page(&emulator).await;

    // Assert
    let heading = html
        .split("<h2>")
        .nth(1)
        .and_then(|rest| rest.split("</h2>").next())
        .expect("the card's heading");
    assert!(
        !heading.contains('<') && !heading.contains('>'),
        "{heading}"
    );
    assert_eq!(unescape(heading), title);
}

/// HTML text with its character references replaced by the characters.
fn unescape(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('&') {
        text.push_str(&rest[..start]);
        let end = rest[start..].find(';').expect("a terminated reference") + start;
        let reference = &rest[start + 1..end];
        let code = match reference {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => reference
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .unwrap_or_else(|| reference.trim_start_matches('#').parse())
                .ok()
                .and_then(char::from_u32)
                .unwrap_or_else(|| panic!("an unknown reference &{reference};")),
        };
        text.push(code);
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    text
}

#[tokio::test]
async fn a_phone_added_through_the_control_api_can_be_messaged() {
    // Arrange
    let emulator = TestEmulator::start(config(Vec::new())).await;
    let added = json!({"number": ADDED_PHONE, "name": "Ana", "readAfterMs": null});

    // Act
    let created = emulator
        .control(Method::POST, "/emulator/phones", &added)
        .await;
    let twice = emulator
        .control(Method::POST, "/emulator/phones", &added)
        .await;
    let bad = json!({"number": "613-612-0711"});
    let malformed = emulator
        .control(Method::POST, "/emulator/phones", &bad)
        .await;
    let message = json!({"contentMessage": {"text": "Welcome!"}});
    let id = emulator.send_ok(ADDED_PHONE, &message).await;

    // Assert
    assert_eq!(created.status, 201);
    twice.error(409, "FAILED_PRECONDITION");
    let problem = malformed.error(400, "INVALID_ARGUMENT");
    assert!(problem.contains("E.164"), "{problem}");
    let phone = emulator.phone(ADDED_PHONE).await;
    assert_eq!(phone["config"]["name"], "Ana");
    assert_eq!(phone["messages"][0]["messageId"], id.as_str());
    let index = emulator
        .http
        .get(emulator.url("/"))
        .send()
        .await
        .expect("the index");
    let index = index.text().await.expect("HTML");
    assert!(
        index.contains(&format!("href=\"phones/{ADDED_PHONE}\">Ana</a>")),
        "{index}"
    );
}
