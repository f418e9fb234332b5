use domain::rcs::strategies;
use domain::template::{TemplateContext, Templates, KEYS, LOCALES};
use domain::Locale;
use proptest::prelude::*;
use serde_json::json;

use super::*;

fn brand() -> Brand {
    Brand {
        shop_name: "Linen & Co".into(),
        color: "#0b6e4f".into(),
        logo_url: None,
    }
}

fn message(json: serde_json::Value) -> AgentMessage {
    serde_json::from_value(json).expect("an AgentMessage")
}

fn render_plain(subject: &str, message: &AgentMessage) -> RenderedEmail {
    render(&EmailContent {
        subject,
        message,
        brand: &brand(),
        unsubscribe: None,
    })
}

fn shipped_card() -> AgentMessage {
    message(json!({
        "messageTrafficType": "TRANSACTION",
        "contentMessage": {"richCard": {"standaloneCard": {
            "cardOrientation": "VERTICAL",
            "cardContent": {
                "title": "Order #1001 is on its way",
                "description": "Carrier: UPS\nTracking number: 1Z<999>",
                "media": {"height": "MEDIUM", "contentInfo": {
                    "fileUrl": "https://cdn.example/parcel.png"}},
                "suggestions": [
                    {"action": {"text": "Track", "postbackData": "track:1",
                        "openUrlAction": {"url": "https://t.example/1Z?a=1&b=2"}}},
                    {"reply": {"text": "Thanks!", "postbackData": "thanks"}}
                ]}}}}
    }))
}

#[test]
fn a_card_becomes_text_lines_and_an_html_card() {
    let email = render_plain("Your order shipped", &shipped_card());

    assert_eq!(
        email.text,
        "Order #1001 is on its way\nCarrier: UPS\nTracking number: 1Z<999>\n\
         Track: https://t.example/1Z?a=1&b=2\n\n-- \nLinen & Co\n"
    );
    let html = &email.html;
    assert!(html.contains("<title>Your order shipped</title>"), "{html}");
    assert!(
        html.contains("src=\"https://cdn.example/parcel.png\""),
        "{html}"
    );
    assert!(html.contains("alt=\"Order #1001 is on its way\""), "{html}");
    assert!(
        html.contains("Carrier: UPS<br>\nTracking number: 1Z&lt;999&gt;"),
        "{html}"
    );
    assert!(
        html.contains("href=\"https://t.example/1Z?a=1&amp;b=2\""),
        "{html}"
    );
    assert!(html.contains(">Track</a>"), "{html}");
    assert!(html.contains("background-color:#0b6e4f"), "{html}");
    assert!(html.contains("Linen &amp; Co"), "{html}");
    // The reply chip only makes sense in a chat.
    assert!(!html.contains("Thanks!") && !email.text.contains("Thanks!"));
}

#[test]
fn a_carousel_becomes_a_row_of_cards_that_wraps() {
    let card = |n: u32| {
        json!({"title": format!("Apron {n}"), "description": "Linen",
            "suggestions": [{"action": {"text": "Buy", "postbackData": "buy",
                "openUrlAction": {"url": format!("https://shop.example/p/{n}")}}}]})
    };
    let carousel = message(json!({"contentMessage": {"richCard": {"carouselCard": {
        "cardWidth": "MEDIUM", "cardContents": [card(1), card(2), card(3)]}}}}));

    let email = render_plain("New in", &carousel);

    assert_eq!(
        email
            .html
            .matches("display:inline-block;vertical-align:top")
            .count(),
        3
    );
    assert!(email.text.contains(
        "Apron 1\nLinen\nBuy: https://shop.example/p/1\n\n\
         Apron 2\nLinen\nBuy: https://shop.example/p/2"
    ));
}

#[test]
fn dial_and_location_actions_become_links_in_both_parts() {
    let text = message(json!({"contentMessage": {
    "text": "Your order is ready for pickup.",
    "suggestions": [
        {"action": {"text": "Call the store", "postbackData": "call",
            "dialAction": {"phoneNumber": "+1 613 555 0100"}}},
        {"action": {"text": "Directions", "postbackData": "map",
            "viewLocationAction": {"query": "1 Main St, Ottawa"}}}
    ]}}));

    let email = render_plain("Ready", &text);

    assert!(email.text.starts_with(
        "Your order is ready for pickup.\n\nCall the store: tel:+16135550100\n\
         Directions: https://www.google.com/maps/search/?api=1&query=1+Main+St%2C+Ottawa\n"
    ));
    assert!(email.html.contains("href=\"tel:+16135550100\""));
    assert!(email.html.contains("query=1+Main+St%2C+Ottawa\""));
}

#[test]
fn values_cannot_break_out_of_the_markup() {
    let hostile = message(json!({"contentMessage": {"richCard": {"standaloneCard": {
    "cardOrientation": "VERTICAL",
    "cardContent": {
        "title": "<script>alert(1)</script>",
        "description": "\"><img src=x onerror=alert(1)>",
        "suggestions": [
            {"action": {"text": "<b>Go</b>", "postbackData": "x",
                "openUrlAction": {"url": "javascript:alert(1)"}}},
            {"action": {"text": "Quote", "postbackData": "x",
                "openUrlAction": {"url": "https://a.example/\"onclick=\"x"}}}
        ]}}}}}));
    let brand = Brand {
        shop_name: "</title><script>x</script>".into(),
        color: "red;background:url(https://evil.example/)".into(),
        logo_url: Some("javascript:alert(1)".into()),
    };

    let email = render(&EmailContent {
        subject: "<b>Hi</b>",
        message: &hostile,
        brand: &brand,
        unsubscribe: None,
    });

    let html = &email.html;
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    assert!(!html.contains("evil.example"), "{html}");
    assert!(!html.contains("onclick"), "{html}");
    assert!(
        html.contains("<title>&lt;b&gt;Hi&lt;/b&gt;</title>"),
        "{html}"
    );
    assert!(
        html.contains("color:#1a73e8;"),
        "the default brand colour: {html}"
    );
}

#[test]
fn the_footer_carries_the_unsubscribe_link_with_the_callers_label() {
    let unsubscribe = Unsubscribe::new("https://shop.example/u/abc?x=1&y=2", "u@shop.example")
        .expect("valid")
        .with_label("Darse de baja");
    let email = render(&EmailContent {
        subject: "Oferta",
        message: &message(json!({"contentMessage": {"text": "Hola"}})),
        brand: &brand(),
        unsubscribe: Some(&unsubscribe),
    });

    assert!(email
        .text
        .ends_with("-- \nLinen & Co\nDarse de baja: https://shop.example/u/abc?x=1&y=2\n"));
    assert!(email
        .html
        .contains("href=\"https://shop.example/u/abc?x=1&amp;y=2\""));
    assert!(email.html.contains(">Darse de baja</a>"));
}

#[test]
fn subjects_are_one_line_and_never_empty() {
    let text = message(json!({"contentMessage": {"text": "Hi"}}));
    assert_eq!(
        render_plain(" Your\r\norder\t shipped ", &text).subject,
        "Your order shipped"
    );
    assert_eq!(render_plain(" \n ", &text).subject, "Linen & Co");
}

#[test]
fn unsubscribe_links_must_fit_in_a_header() {
    let ok = Unsubscribe::new(
        " https://shop.example/u/1 ",
        "mailto:u@shop.example?subject=x",
    )
    .expect("valid");
    assert_eq!(ok.url(), "https://shop.example/u/1");
    assert_eq!(ok.mailto(), "mailto:u@shop.example?subject=x");
    assert_eq!(ok.label(), "Unsubscribe");
    assert_eq!(
        Unsubscribe::new("https://a.example/u", "u@a.example")
            .unwrap()
            .mailto(),
        "mailto:u@a.example"
    );

    let cases = [
        ("http://shop.example/u/1", "u@shop.example", "url"),
        ("https://", "u@shop.example", "url"),
        ("https://shop.example/u 1", "u@shop.example", "url"),
        ("https://shop.example/u>1", "u@shop.example", "url"),
        ("https://shop.example/u/1", "unsubscribe", "mailto"),
        ("https://shop.example/u/1", "u@shop.example>", "mailto"),
        ("https://shop.example/ü", "u@shop.example", "url"),
    ];
    for (url, mailto, field) in cases {
        let error = Unsubscribe::new(url, mailto).expect_err(url);
        assert_eq!(error.field, field, "{url} {mailto}");
    }
}

#[test]
fn every_builtin_template_renders_as_an_email() {
    let templates = Templates::builtin(&Locale::parse("en").expect("a locale"));
    for context in [TemplateContext::sample(), TemplateContext::sparse_sample()] {
        for key in KEYS {
            for locale in LOCALES {
                let message = templates
                    .render(key, Some(locale), &context)
                    .unwrap_or_else(|e| panic!("{key}/{locale}: {e}"));
                let email = render_plain(key, &message);
                let body = email.text.split("\n-- \n").next().unwrap_or_default();
                assert!(
                    !body.trim().is_empty(),
                    "{key}/{locale} has an empty text part"
                );
                assert!(email.html.contains("</html>"), "{key}/{locale}");
            }
        }
    }
}

proptest! {
    #[test]
    fn any_message_renders_without_markup_from_its_values(
        content_message in strategies::content_message()
    ) {
        let message = AgentMessage {
            content_message,
            message_traffic_type: None,
            expiry: None,
        };
        let email = render_plain("Subject", &message);
        let html = &email.html;
        // Every tag in the output is one the renderer writes.
        for tag in html.split('<').skip(1) {
            let name: String = tag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '/' || *c == '!')
                .collect();
            let known = [
                "!DOCTYPE", "html", "/html", "head", "/head", "meta", "title", "/title",
                "body", "/body", "table", "/table", "tr", "/tr", "td", "/td", "div", "/div",
                "p", "/p", "a", "/a", "img", "span", "/span", "br",
            ];
            prop_assert!(known.contains(&name.as_str()), "unexpected <{}", name);
        }
        // Every link is one a mail client can open, and nothing else.
        for href in html.split("href=\"").skip(1) {
            let ok = ["https://", "http://", "tel:", "mailto:"]
                .iter()
                .any(|scheme| href.to_ascii_lowercase().starts_with(scheme));
            prop_assert!(ok, "href {}", &href[..href.len().min(40)]);
        }
    }
}
