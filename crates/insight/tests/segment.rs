//! The segment filter language: text and JSON forms, errors that point at the fault.

use insight::segment::attribute::{Kind, CATALOGUE};
use insight::segment::{from_json, parse, Comparison, Filter, Op, Value};
use proptest::prelude::*;

fn compare(attribute: &str, op: Op, value: Value) -> Filter {
    Filter::Compare(Comparison {
        attribute: attribute.into(),
        op,
        value,
    })
}

#[test]
fn the_example_reads_as_three_conditions() {
    let filter = parse("rfm.recency >= 4 and orders.count >= 3 and consent.promotional.rcs")
        .expect("parses");
    assert_eq!(
        filter,
        Filter::And(vec![
            compare("rfm.recency", Op::Ge, Value::Number(4.0)),
            compare("orders.count", Op::Ge, Value::Number(3.0)),
            Filter::Is("consent.promotional.rcs".into()),
        ])
    );
}

#[test]
fn and_binds_tighter_than_or_and_not_tighter_than_both() {
    let filter =
        parse("not contact.email or rfm.monetary = 5 and customer.locale != 'es-ES'").unwrap();
    assert_eq!(
        filter,
        Filter::Or(vec![
            Filter::Not(Box::new(Filter::Is("contact.email".into()))),
            Filter::And(vec![
                compare("rfm.monetary", Op::Eq, Value::Number(5.0)),
                compare("customer.locale", Op::Ne, Value::Text("es-ES".into())),
            ]),
        ])
    );
    let grouped = parse("(contact.email OR contact.phone) AND predicted.p_alive > 0.5").unwrap();
    assert_eq!(
        grouped.to_string(),
        "(contact.email or contact.phone) and predicted.p_alive > 0.5"
    );
}

#[test]
fn errors_name_the_column_of_the_fault() {
    let cases = [
        ("rfm.recncy >= 4", 1, "did you mean one of rfm.recency"),
        ("orders.count >= 'many'", 1, "is a number"),
        (
            "rfm.recency >= 4 and",
            21,
            "expected a condition, found the end",
        ),
        (
            "(contact.email or contact.phone",
            32,
            "to close the \"(\" at column 1",
        ),
        ("customer.locale > 'es'", 1, "compare it with = or !="),
        ("consent.promotional.rcs = 1", 1, "yes or no"),
        ("orders.count", 1, "is not yes or no"),
        (
            "orders.count >= 3 contact.email",
            19,
            "expected and, or, or the end",
        ),
        ("customer.locale = 'es", 19, "no closing '"),
        ("orders.count >= 1x", 17, "is not a number"),
        ("orders.count >= 3 ; drop", 19, "unexpected ';'"),
        ("bogus.thing", 1, "attributes start with"),
    ];
    for (text, column, needle) in cases {
        let error = parse(text).expect_err(text);
        assert_eq!(error.column, column, "{text}: {error}");
        assert!(error.message.contains(needle), "{text}: {error}");
    }
}

#[test]
fn the_json_form_reads_and_is_checked() {
    let json = r#"{"and": [
        {"compare": {"attribute": "rfm.recency", "op": ">=", "value": 4}},
        {"not": {"is": "consent.promotional.sms"}},
        {"compare": {"attribute": "customer.source", "op": "=", "value": "shopify"}}
    ]}"#;
    let filter = from_json(json).expect("valid");
    assert_eq!(
        filter.to_string(),
        "rfm.recency >= 4 and not consent.promotional.sms and customer.source = \"shopify\""
    );

    let wrong = r#"{"or": [{"is": "contact.email"}, {"compare":
        {"attribute": "orders.count", "op": ">=", "value": "3"}}]}"#;
    let error = from_json(wrong).unwrap_err();
    assert_eq!(error.path, "or[1].compare");
    assert!(error.message.contains("is a number"), "{error}");

    assert!(from_json(r#"{"and": []}"#)
        .unwrap_err()
        .message
        .contains("at least one"));
    assert!(from_json(r#"{"xor": []}"#).is_err());
}

fn attribute_of(kind: Kind) -> impl Strategy<Value = String> {
    let names: Vec<String> = CATALOGUE
        .iter()
        .filter(|a| a.kind == kind)
        .map(|a| a.name.to_string())
        .collect();
    proptest::sample::select(names)
}

fn condition() -> impl Strategy<Value = Filter> {
    let op = proptest::sample::select(vec![Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge]);
    let number = (attribute_of(Kind::Number), op, -1e12f64..1e12)
        .prop_map(|(a, op, n)| compare(&a, op, Value::Number(n)));
    let text_op = proptest::sample::select(vec![Op::Eq, Op::Ne]);
    let text = (attribute_of(Kind::Text), text_op, any::<String>())
        .prop_map(|(a, op, t)| compare(&a, op, Value::Text(t)));
    let flag = attribute_of(Kind::Flag).prop_map(Filter::Is);
    prop_oneof![number, text, flag]
}

/// Filters as the parser builds them: groups of two or more, no group directly inside
/// a group of its own kind unless parenthesised (which the text form keeps).
fn filter() -> impl Strategy<Value = Filter> {
    condition().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Filter::And),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

proptest! {
    #[test]
    fn the_text_form_reads_back_as_the_same_filter(f in filter()) {
        let text = f.to_string();
        let parsed = parse(&text);
        prop_assert!(parsed.is_ok(), "{}: {:?}", text, parsed);
        prop_assert_eq!(parsed.unwrap(), f);
    }

    #[test]
    fn the_json_form_reads_back_as_the_same_filter(f in filter()) {
        let json = serde_json::to_string(&f).unwrap();
        let read = from_json(&json);
        prop_assert!(read.is_ok(), "{}: {:?}", json, read);
        prop_assert_eq!(read.unwrap(), f);
    }

    #[test]
    fn any_text_parses_or_fails_with_a_column_inside_it(text in "\\PC{0,60}") {
        if let Err(e) = parse(&text) {
            prop_assert!(e.column >= 1 && e.column <= text.chars().count() + 1, "{}", e);
        }
    }
}
