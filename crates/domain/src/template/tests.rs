use chrono::{TimeZone as _, Utc};
use proptest::prelude::*;
use serde_json::{json, Value as Json};

use super::*;
use crate::money::{Currency, Money};
use crate::rcs::limits::MAX_CARD_TITLE_CHARS;
use crate::status::Status;
use crate::Keyword;

fn templates() -> Templates {
    Templates::builtin(&Locale::parse("en").unwrap())
}

fn as_json(message: &AgentMessage) -> Json {
    serde_json::to_value(message).unwrap()
}

/// A Spanish customer in Madrid with a parcel on its way.
fn madrid_order() -> TemplateContext {
    let mut context = TemplateContext::sample();
    context.locale = Some("es-ES".into());
    let order = context.order.as_mut().expect("the sample has an order");
    order.number = "A-1001".into();
    order.id = 7;
    order.status_detail = None;
    context
}

#[test]
fn every_outbox_key_has_a_template_in_english_and_spanish() {
    let set = templates();
    for key in KEYS {
        for locale in LOCALES {
            let (_, origin) = set.body(key, locale).expect("a built-in template");
            assert_eq!(origin, Origin::Builtin, "{key}/{locale}");
        }
    }
    assert_eq!(set.list().len(), KEYS.len() * LOCALES.len());
}

#[test]
fn the_keys_are_the_ones_the_status_machine_writes() {
    let mut written: Vec<&str> = Status::ALL
        .iter()
        .flat_map(|after| {
            let befores = Status::ALL.iter().map(|b| Some(*b)).chain([None]);
            befores.filter_map(move |before| crate::status::template_for(before, *after))
        })
        .collect();
    written.sort_unstable();
    written.dedup();
    let mut keys = ORDER_KEYS.to_vec();
    keys.sort_unstable();
    assert_eq!(written, keys);
}

#[test]
fn every_key_is_an_order_update_or_a_reply_to_a_keyword() {
    let both: Vec<&str> = ORDER_KEYS.iter().chain(&REPLY_KEYS).copied().collect();
    assert_eq!(both, KEYS);
    for keyword in [Keyword::OptOut, Keyword::OptIn, Keyword::Help] {
        assert!(is_reply_key(keyword.reply_template()), "{keyword:?}");
    }
    assert!(!is_reply_key("shipped"));
}

#[test]
fn replies_to_keywords_render_without_an_order_in_both_languages() {
    let set = templates();
    let samples = [TemplateContext::sample(), TemplateContext::sparse_sample()];
    for key in REPLY_KEYS {
        for locale in LOCALES {
            for context in &samples {
                let context = context.clone().without_order();
                let message = set.render(key, Some(locale), &context);
                let message = message.unwrap_or_else(|e| panic!("{e}"));
                let text = as_json(&message)["contentMessage"]["text"].clone();
                assert!(
                    text.as_str().unwrap().contains("Tidings Shop"),
                    "{key}: {text}"
                );
            }
        }
    }
}

#[test]
fn an_unsubscribe_is_acknowledged_as_rbm_asks() {
    let context = TemplateContext::sample().without_order();
    for locale in LOCALES {
        let message = templates()
            .render("opt_out_ack", Some(locale), &context)
            .unwrap();
        assert_eq!(
            message.message_traffic_type,
            Some(TrafficType::Acknowledgement)
        );
        assert_eq!(as_json(&message)["messageTrafficType"], "ACKNOWLEDGEMENT");
    }
    let help = templates().render("help", Some("en"), &context).unwrap();
    assert_eq!(help.message_traffic_type, Some(TrafficType::ServiceRequest));
}

#[test]
fn help_names_the_shop_and_how_to_reach_support() {
    let context = TemplateContext::sample().without_order();
    let help = templates().render("help", Some("en"), &context).unwrap();
    let json = as_json(&help);
    let text = json["contentMessage"]["text"].as_str().unwrap();
    assert!(text.starts_with("Tidings Shop:"), "{text}");
    assert!(text.contains("+34910000000"), "{text}");
    assert!(text.contains("help@shop.example"), "{text}");
    let dial = &json["contentMessage"]["suggestions"][0]["action"]["dialAction"];
    assert_eq!(dial["phoneNumber"], "+34910000000");

    let sparse = TemplateContext::sparse_sample().without_order();
    let help = templates().render("help", Some("en"), &sparse).unwrap();
    let text = as_json(&help)["contentMessage"]["text"].clone();
    assert!(text.as_str().unwrap().contains("Reply here"), "{text}");
}

#[test]
fn a_reply_template_that_mentions_the_order_is_refused_when_saved() {
    let body = json!({"contentMessage": {"text": "Bye from order {{ order.number }}"}});
    let refused = templates()
        .with_override("opt_out_ack", "en", &body.to_string())
        .is_err();
    assert!(refused);
}

#[test]
fn every_builtin_template_renders_both_samples_in_both_languages() {
    let set = templates();
    let samples = [TemplateContext::sample(), TemplateContext::sparse_sample()];
    for key in ORDER_KEYS {
        for locale in LOCALES {
            for context in &samples {
                let message = set.render(key, Some(locale), context);
                let message = message.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(message.message_traffic_type, Some(TrafficType::Transaction));
            }
        }
    }
}

#[test]
fn a_shipped_card_in_spanish_names_the_carrier_eta_and_tracks_the_order() {
    let message = templates()
        .render("shipped", None, &madrid_order())
        .unwrap();
    let card = &as_json(&message)["contentMessage"]["richCard"]["standaloneCard"];
    let content = &card["cardContent"];
    assert_eq!(content["title"], "El pedido A-1001 ya está en camino");
    assert_eq!(
        content["description"],
        "Transportista: Correos Express\nNúmero de seguimiento: ES1234567890\n\
         Entrega prevista: viernes, 27 de noviembre."
    );
    let track = &content["suggestions"][0]["action"];
    assert_eq!(track["text"], "Seguir envío");
    assert_eq!(track["postbackData"], "track:7");
    assert_eq!(
        track["openUrlAction"]["url"],
        "https://track.example/t/2f6c1a9e0b7d4c3a"
    );
}

#[test]
fn a_confirmation_writes_the_total_in_the_customers_convention() {
    let set = templates();
    let spanish = set.render("confirmed", None, &madrid_order()).unwrap();
    let text = as_json(&spanish)["contentMessage"]["text"].clone();
    assert_eq!(
        text,
        "¡Hola, Ana! Hemos recibido tu pedido A-1001 en Tidings Shop. Total: 59,90\u{a0}€. \
         Te avisaremos por aquí cuando salga."
    );

    let mut american = TemplateContext::sample();
    american.order.as_mut().unwrap().total = Money {
        minor: 5990,
        currency: Currency::parse("USD").unwrap(),
    };
    american.customer.first_name = None;
    let english = set.render("confirmed", Some("en-US"), &american).unwrap();
    assert_eq!(
        as_json(&english)["contentMessage"]["text"],
        "We've received your order #1042 at Tidings Shop. Total: $59.90. \
         We'll message you here when it ships."
    );
}

#[test]
fn delivered_asks_how_we_did_with_scores_in_the_postback() {
    let message = templates()
        .render("delivered", Some("en"), &TemplateContext::sample())
        .unwrap();
    let suggestions = as_json(&message)["contentMessage"]["suggestions"].clone();
    let postbacks: Vec<&str> = suggestions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reply"]["postbackData"].as_str().unwrap())
        .collect();
    assert_eq!(
        postbacks,
        [
            "csat:5:1042",
            "csat:4:1042",
            "csat:3:1042",
            "csat:2:1042",
            "csat:1:1042"
        ]
    );
}

#[test]
fn contact_us_dials_the_phone_or_opens_the_help_page_or_is_left_out() {
    let set = templates();
    let chips = |context: &TemplateContext| {
        let message = set
            .render("delivery_exception", Some("en"), context)
            .unwrap();
        let suggestions = as_json(&message)["contentMessage"]["suggestions"].clone();
        let actions = suggestions.as_array().unwrap().clone();
        actions
            .into_iter()
            .map(|s| s["action"].clone())
            .collect::<Vec<_>>()
    };

    let with_phone = chips(&TemplateContext::sample());
    assert_eq!(with_phone.len(), 2);
    assert_eq!(with_phone[0]["dialAction"]["phoneNumber"], "+34910000000");

    let mut no_phone = TemplateContext::sample();
    no_phone.shop.support_phone = None;
    let with_url = chips(&no_phone);
    assert_eq!(
        with_url[0]["openUrlAction"]["url"],
        "https://shop.example/help"
    );

    let neither = chips(&TemplateContext::sparse_sample());
    assert_eq!(neither.len(), 1);
    assert_eq!(neither[0]["text"], "Track");
}

#[test]
fn a_pickup_point_gets_a_map_button_when_it_is_known() {
    let set = templates();
    let message = set
        .render("ready_for_pickup", Some("es"), &TemplateContext::sample())
        .unwrap();
    let first = &as_json(&message)["contentMessage"]["suggestions"][0]["action"];
    assert_eq!(first["text"], "Ver en el mapa");
    assert_eq!(
        first["viewLocationAction"]["query"],
        "Puerta del Sol 1, 28013 Madrid"
    );

    let unknown = set
        .render(
            "ready_for_pickup",
            Some("es"),
            &TemplateContext::sparse_sample(),
        )
        .unwrap();
    let suggestions = &as_json(&unknown)["contentMessage"]["suggestions"];
    assert_eq!(suggestions.as_array().unwrap().len(), 1);
}

#[test]
fn locales_fall_back_to_the_language_then_the_shop_default_then_english() {
    let set = Templates::builtin(&Locale::parse("es").unwrap());
    let locale_of = |requested: Option<&str>| set.resolve("shipped", requested).unwrap();

    let mexican = locale_of(Some("es-MX"));
    assert_eq!(
        (mexican.locale.as_str(), mexican.format_locale.as_str()),
        ("es", "es-MX")
    );
    let french = locale_of(Some("fr-FR"));
    assert_eq!(
        (french.locale.as_str(), french.format_locale.as_str()),
        ("es", "es")
    );
    assert_eq!(locale_of(None).locale, "es");
    assert_eq!(locale_of(Some("not a locale")).locale, "es");

    let mut english_shop = templates();
    english_shop
        .with_override("shipped", "fr", &minimal("Colis {{ order.number }}"))
        .unwrap();
    assert_eq!(
        english_shop
            .resolve("shipped", Some("fr-CA"))
            .unwrap()
            .locale,
        "fr"
    );
    assert_eq!(
        english_shop.resolve("shipped", Some("de")).unwrap().locale,
        "en"
    );
    assert!(english_shop.resolve("no_such_key", Some("en")).is_none());
}

#[test]
fn mexican_customers_read_pesos_with_a_decimal_point_from_the_spanish_template() {
    let mut context = madrid_order();
    context.locale = Some("es-MX".into());
    context.order.as_mut().unwrap().total = Money {
        minor: 123_450,
        currency: Currency::parse("MXN").unwrap(),
    };
    let message = templates().render("confirmed", None, &context).unwrap();
    let text = as_json(&message)["contentMessage"]["text"].clone();
    assert!(
        text.as_str().unwrap().contains("Total: $1,234.50."),
        "{text}"
    );
}

/// A text template with one string.
fn minimal(text: &str) -> String {
    json!({"contentMessage": {"text": text}}).to_string()
}

#[test]
fn an_override_replaces_the_builtin_template_for_its_locale_only() {
    let mut set = templates();
    set.with_override("shipped", "es", &minimal("Enviado: {{ order.number }}"))
        .unwrap();
    let spanish = set.render("shipped", Some("es"), &madrid_order()).unwrap();
    assert_eq!(
        as_json(&spanish)["contentMessage"]["text"],
        "Enviado: A-1001"
    );
    assert_eq!(
        set.resolve("shipped", Some("es")).unwrap().origin,
        Origin::Stored
    );
    let english = set.render("shipped", Some("en"), &madrid_order()).unwrap();
    assert!(as_json(&english)["contentMessage"]["richCard"].is_object());
}

#[test]
fn a_failed_override_leaves_the_previous_one_in_place() {
    let mut set = templates();
    set.with_override("shipped", "es", &minimal("Primero {{ order.number }}"))
        .unwrap();
    let broken = set.with_override("shipped", "es", &minimal("{{ order.number "));
    assert!(broken.is_err());
    let message = set.render("shipped", Some("es"), &madrid_order()).unwrap();
    assert_eq!(
        as_json(&message)["contentMessage"]["text"],
        "Primero A-1001"
    );
}

#[test]
fn overlaying_stored_templates_reports_the_ones_it_skipped() {
    let mut set = templates();
    let stored = vec![
        (
            "confirmed".into(),
            "en".into(),
            minimal("Got {{ order.number }}"),
        ),
        (
            "confirmed".into(),
            "es".into(),
            minimal("{{ order.nmber }}"),
        ),
    ];
    let skipped = set.overlay(stored);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].locale, "es");
    assert_eq!(
        set.resolve("confirmed", Some("en")).unwrap().origin,
        Origin::Stored
    );
    assert_eq!(
        set.resolve("confirmed", Some("es")).unwrap().origin,
        Origin::Builtin
    );
}

fn problem(key: &str, body: &str) -> Problem {
    *validate_template(key, "en", body).unwrap_err().problem
}

#[test]
fn a_syntax_error_names_the_path_and_line() {
    let body = json!({"contentMessage": {"text": "Hello\n{% if order.number %}open"}});
    match problem("shipped", &body.to_string()) {
        Problem::Syntax { path, line, .. } => {
            assert_eq!(path, "contentMessage.text");
            assert_eq!(line, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_misspelt_variable_names_itself_and_what_the_context_has() {
    let body = json!({"contentMessage": {"text": "Hi\nOrder {{ order.numbr }}"}});
    let error = validate_template("shipped", "es", &body.to_string()).unwrap_err();
    assert_eq!(error.locale, "es");
    match &*error.problem {
        Problem::UnknownVariable {
            path,
            line,
            name,
            known,
        } => {
            assert_eq!(
                (path.as_str(), *line, name.as_str()),
                ("contentMessage.text", 2, "order.numbr")
            );
            assert!(known.contains("order.number"), "{known}");
        }
        other => panic!("{other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.starts_with("template shipped (es): contentMessage.text, line 2"),
        "{message}"
    );
}

#[test]
fn printing_a_value_that_can_be_unknown_fails_against_the_sparse_sample() {
    let body = json!({"contentMessage": {"text": "Carrier: {{ shipment.carrier }}"}});
    let error = validate_template("shipped", "en", &body.to_string()).unwrap_err();
    assert_eq!(
        error.sample,
        Some("the sample order with no optional values")
    );
    assert!(
        matches!(*error.problem, Problem::Render { ref path, .. } if path == "contentMessage.text")
    );
}

#[test]
fn a_rendered_limit_names_the_field_and_the_limit() {
    let title = format!(
        "{} {{{{ order.number }}}}",
        "x".repeat(MAX_CARD_TITLE_CHARS)
    );
    let body = json!({"contentMessage": {"richCard": {"standaloneCard": {
        "cardOrientation": "VERTICAL",
        "cardContent": {"title": title}
    }}}});
    match problem("shipped", &body.to_string()) {
        Problem::Limits(errors) => {
            let path = "contentMessage.richCard.standaloneCard.cardContent.title";
            assert_eq!(errors[0].path, path);
            let message = errors[0].to_string();
            assert!(message.contains("RBM allows at most 200"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_misspelt_rbm_key_is_refused_with_its_path() {
    let body = json!({"contentMessage": {"text": "Hi", "suggestions": [
        {"reply": {"txt": "Yes", "postbackData": "yes"}}
    ]}});
    match problem("confirmed", &body.to_string()) {
        Problem::Shape { path, message } => {
            assert_eq!(path, "contentMessage.suggestions[0].reply.txt");
            assert!(message.contains("unknown field `txt`"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_documents_are_refused_before_anything_renders() {
    assert!(matches!(
        problem("shipped", "{\"contentMessage\": "),
        Problem::NotJson { line: 1, .. }
    ));
    assert!(matches!(problem("shipped", "[1, 2]"), Problem::NotObject));
    let body = json!({"contentMessage": {"text": "Hi", "$unless": "x"}}).to_string();
    assert!(matches!(
        problem("shipped", &body),
        Problem::Directive { .. }
    ));
    let body = json!({"contentMessage": {"text": "Hi", "suggestions": [{"$if": 3}]}});
    assert!(matches!(
        problem("shipped", &body.to_string()),
        Problem::Directive { .. }
    ));
    assert!(matches!(
        problem("nonsense", &minimal("Hi")),
        Problem::UnknownKey { .. }
    ));
    let locale = validate_template("shipped", "english", &minimal("Hi")).unwrap_err();
    assert!(matches!(*locale.problem, Problem::BadLocale(_)));
}

#[test]
fn a_template_that_loops_without_end_runs_out_of_fuel() {
    let text = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
    assert!(matches!(
        problem("shipped", &minimal(text)),
        Problem::Render { .. }
    ));
}

#[test]
fn a_template_without_a_traffic_type_is_sent_as_a_transaction_with_its_ttl() {
    let body = json!({"ttl": "3600s", "contentMessage": {"text": "Hi {{ order.number }}"}});
    let mut set = templates();
    set.with_override("refunded", "en", &body.to_string())
        .unwrap();
    let message = set
        .render("refunded", Some("en"), &TemplateContext::sample())
        .unwrap();
    let wire = as_json(&message);
    assert_eq!(wire["messageTrafficType"], "TRANSACTION");
    assert_eq!(wire["ttl"], "3600s");
}

#[test]
fn dates_are_written_in_the_customers_time_zone() {
    let text = concat!(
        "{% if shipment.eta %}{{ shipment.eta | date('short') }} ",
        "{{ shipment.eta | time }}{% else %}-{% endif %}"
    );
    let body = json!({"contentMessage": {"text": text}});
    let mut set = templates();
    set.with_override("delayed", "es", &body.to_string())
        .unwrap();
    let mut context = madrid_order();
    context.shipment.eta = Some(Utc.with_ymd_and_hms(2026, 11, 26, 23, 30, 0).unwrap());
    let message = set.render("delayed", Some("es"), &context).unwrap();
    assert_eq!(as_json(&message)["contentMessage"]["text"], "27 nov 0:30");
}

// Generators for the property test: text of any length and script, with the fields
// that are URLs or phone numbers kept to what the configuration and store allow.

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "\\PC{0,40}",
        2 => "[a-zA-Z ñéü🙂]{0,12}",
        1 => "\\PC{200,3500}",
        1 => Just("   ".to_string()),
    ]
}

fn any_url() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,20}(/[a-zA-Z0-9_~-]{0,60}){0,20}".prop_map(|p| format!("https://{p}"))
}

fn any_moment() -> impl Strategy<Value = chrono::DateTime<Utc>> {
    (0i64..4_102_444_800).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap())
}

fn any_context() -> impl Strategy<Value = TemplateContext> {
    let shop = (
        any_text(),
        proptest::option::of(any_url()),
        proptest::option::of("\\+?[0-9]{3,15}"),
        proptest::option::of(any_text()),
    );
    let order = (
        any::<i64>(),
        any_text(),
        any::<i64>(),
        "[A-Z]{3}",
        any_moment(),
        proptest::option::of(any_text()),
        any_url(),
    );
    let shipment = (
        proptest::option::of(any_text()),
        proptest::option::of(any_text()),
        proptest::option::of(any_moment()),
    );
    let people = (
        proptest::option::of(any_text()),
        proptest::option::of("[a-z]{2}(-[A-Z]{2})?"),
        proptest::option::of("(Europe/Madrid|America/Mexico_City|Pacific/Kiritimati|Mars/Base)"),
        proptest::option::of(any_text()),
        proptest::option::of(any_text()),
    );
    (shop, order, shipment, people).prop_map(|(shop, order, shipment, people)| {
        let (name, support_url, support_phone, support_email) = shop;
        let (id, number, minor, currency, placed_at, status_detail, tracking_url) = order;
        let (carrier, tracking_number, eta) = shipment;
        let (first_name, locale, time_zone, pickup_name, pickup_address) = people;
        TemplateContext {
            locale,
            time_zone,
            shop: ShopContext {
                name,
                support_url,
                support_phone,
                support_email,
            },
            customer: CustomerContext { first_name },
            order: Some(OrderContext {
                id,
                number,
                total: Money {
                    minor,
                    currency: Currency::parse(&currency).unwrap(),
                },
                placed_at,
                status: Status::InTransit,
                status_detail,
                tracking_url,
            }),
            shipment: ShipmentContext {
                carrier,
                tracking_number,
                tracking_url: None,
                eta,
            },
            pickup: PickupContext {
                name: pickup_name,
                address: pickup_address,
            },
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the order holds, every built-in template renders a message RBM
    /// accepts: long values are cut by the templates, never sent over a limit.
    #[test]
    fn every_builtin_template_renders_a_valid_message_for_any_order(
        context in any_context(),
        locale in prop_oneof![Just("en"), Just("es"), Just("es-MX")],
    ) {
        let set = templates();
        for key in KEYS {
            let message = set.render(key, Some(locale), &context);
            prop_assert!(message.is_ok(), "{key}/{locale}: {}", message.unwrap_err());
        }
    }
}
