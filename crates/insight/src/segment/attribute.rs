//! The attributes a segment filter can name, and what kind of value each takes.

use super::{Op, Value};

/// What an attribute holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A number, compared with any operator.
    Number,
    /// Text, compared with `=` and `!=`.
    Text,
    /// Yes or no, used on its own (`consent.promotional.rcs`, `not ...`).
    Flag,
}

/// One attribute of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub name: &'static str,
    pub kind: Kind,
    /// What it means, for the segment editor's help.
    pub about: &'static str,
}

const fn number(name: &'static str, about: &'static str) -> Attribute {
    Attribute {
        name,
        kind: Kind::Number,
        about,
    }
}

const fn text(name: &'static str, about: &'static str) -> Attribute {
    Attribute {
        name,
        kind: Kind::Text,
        about,
    }
}

const fn flag(name: &'static str, about: &'static str) -> Attribute {
    Attribute {
        name,
        kind: Kind::Flag,
        about,
    }
}

/// Every attribute a filter can name.
pub const CATALOGUE: &[Attribute] = &[
    number(
        "rfm.recency",
        "recency quintile, 1 to 5, 5 the most recent buyers",
    ),
    number(
        "rfm.frequency",
        "frequency quintile, 1 to 5, 5 those with the most orders",
    ),
    number(
        "rfm.monetary",
        "monetary quintile, 1 to 5, 5 those who spent the most",
    ),
    number(
        "orders.count",
        "orders placed, cancelled and refunded ones left out",
    ),
    number("orders.spent", "everything spent, in the shop's currency"),
    number(
        "orders.average",
        "average order value, in the shop's currency",
    ),
    number("orders.days_since_last", "whole days since the last order"),
    number(
        "orders.days_since_first",
        "whole days since the first order",
    ),
    number(
        "orders.mean_days_between",
        "mean days between consecutive orders",
    ),
    number(
        "predicted.p_alive",
        "probability, 0 to 1, that the customer still buys",
    ),
    number(
        "predicted.orders_90d",
        "orders expected in the next 90 days",
    ),
    number(
        "predicted.days_to_next_order",
        "days until the next order is expected",
    ),
    number(
        "predicted.value",
        "expected spend over the next year, in the shop's currency",
    ),
    text("customer.locale", "language tag, such as es-ES"),
    text(
        "customer.time_zone",
        "IANA time zone, such as Europe/Madrid",
    ),
    text(
        "customer.source",
        "where the customer came from: shopify, woocommerce, api, ...",
    ),
    flag(
        "consent.transactional.rcs",
        "agreed to order updates over RCS",
    ),
    flag(
        "consent.transactional.sms",
        "agreed to order updates by SMS",
    ),
    flag(
        "consent.transactional.email",
        "agreed to order updates by email",
    ),
    flag("consent.promotional.rcs", "agreed to marketing over RCS"),
    flag("consent.promotional.sms", "agreed to marketing by SMS"),
    flag("consent.promotional.email", "agreed to marketing by email"),
    flag("contact.phone", "has a phone number"),
    flag("contact.email", "has an email address"),
];

/// The attribute of that name.
pub fn find(name: &str) -> Option<&'static Attribute> {
    CATALOGUE.iter().find(|a| a.name == name)
}

/// Why `name` is not an attribute, with the closest names as a hint.
pub fn unknown(name: &str) -> String {
    let prefix = name.split('.').next().unwrap_or(name);
    let near: Vec<&str> = CATALOGUE
        .iter()
        .filter(|a| a.name.split('.').next() == Some(prefix))
        .map(|a| a.name)
        .collect();
    if near.is_empty() {
        let groups: std::collections::BTreeSet<&str> = CATALOGUE
            .iter()
            .filter_map(|a| a.name.split('.').next())
            .collect();
        let groups: Vec<&str> = groups.into_iter().collect();
        format!(
            "unknown attribute {name:?}; attributes start with {}",
            groups.join(", ")
        )
    } else {
        format!(
            "unknown attribute {name:?}; did you mean one of {}?",
            near.join(", ")
        )
    }
}

/// Whether `attribute op value` is a valid comparison.
pub fn check_comparison(name: &str, op: Op, value: &Value) -> Result<(), String> {
    let attribute = find(name).ok_or_else(|| unknown(name))?;
    match (attribute.kind, value) {
        (Kind::Number, Value::Number(n)) if n.is_finite() => Ok(()),
        (Kind::Number, _) => Err(format!("{name} is a number: compare it with a number")),
        (Kind::Text, Value::Text(_)) if matches!(op, Op::Eq | Op::Ne) => Ok(()),
        (Kind::Text, Value::Text(_)) => Err(format!(
            "{name} is text: compare it with = or !=, not {}",
            op.as_str()
        )),
        (Kind::Text, _) => Err(format!("{name} is text: compare it with a quoted string")),
        (Kind::Flag, _) => Err(format!(
            "{name} is yes or no: write it alone, or as not {name}, without a comparison"
        )),
    }
}

/// Whether `name` may stand alone as a condition.
pub fn check_flag(name: &str) -> Result<(), String> {
    let attribute = find(name).ok_or_else(|| unknown(name))?;
    match attribute.kind {
        Kind::Flag => Ok(()),
        _ => Err(format!(
            "{name} is not yes or no: compare it, as in {name} >= 1"
        )),
    }
}
