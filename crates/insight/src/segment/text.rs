//! The text form of a filter, as [`super::parse`] reads it.

use super::{Filter, Value};

/// The filter's text; `and` and `or` groups inside others are parenthesised.
pub fn render(filter: &Filter) -> String {
    match filter {
        Filter::And(all) => join(all, " and "),
        Filter::Or(all) => join(all, " or "),
        Filter::Not(inner) => format!("not {}", grouped(inner)),
        Filter::Compare(c) => {
            format!("{} {} {}", c.attribute, c.op.as_str(), value(&c.value))
        }
        Filter::Is(name) => name.clone(),
    }
}

fn join(all: &[Filter], separator: &str) -> String {
    all.iter().map(grouped).collect::<Vec<_>>().join(separator)
}

/// A group in parentheses, a single condition as it is.
fn grouped(filter: &Filter) -> String {
    match filter {
        Filter::And(_) | Filter::Or(_) => format!("({})", render(filter)),
        _ => render(filter),
    }
}

fn value(value: &Value) -> String {
    match value {
        // Rust writes the shortest text that reads back as the same number.
        Value::Number(n) => format!("{n}"),
        Value::Text(t) => format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}
