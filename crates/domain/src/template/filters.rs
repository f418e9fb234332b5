//! The minijinja environment templates render in, and the filters Tidings adds.
//!
//! | filter | writes |
//! |---|---|
//! | `money` | `{{ order.total \| money }}` → `$59.90` (en), `59,90 €` (es) |
//! | `date(style)` | `{{ shipment.eta \| date }}` → `Thursday, November 27`; `"short"`, `"full"` |
//! | `time` | `{{ shipment.eta \| time }}` → `6:00 PM` (en), `18:00` (es) |
//! | `truncate(n)` | at most `n` characters, `…` included |
//!
//! Dates and times are written in the context's `time_zone`, and everything in its
//! `locale`, which rendering sets to the customer's.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior};

use super::format::{self, DateStyle};
use crate::money::{Currency, Money};

/// Instructions one string may run before rendering it is stopped: generous for any
/// message, and a bound on a stored template that loops without end.
const FUEL: u64 = 20_000;

/// The environment every template compiles in.
pub(super) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A misspelt name must fail when the template is saved, not print nothing.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // The output is JSON text for a phone, not HTML: nothing to escape.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env.set_fuel(Some(FUEL));
    env.set_formatter(refuse_none);
    env.add_filter("money", money);
    env.add_filter("date", date);
    env.add_filter("time", time);
    env.add_filter("truncate", truncate);
    env
}

/// Prints values as text, except `none`: an unknown value printed would reach the
/// customer as "none".
fn refuse_none(out: &mut Output, state: &State, value: &Value) -> Result<(), Error> {
    if value.is_none() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "printed a value that can be unknown; test it first with {% if ... %} or give a \
             fallback with | default(\"...\", true)",
        ));
    }
    minijinja::escape_formatter(out, state, value)
}

/// `money`: an amount with its currency, or minor units with `money("EUR")`.
fn money(state: &State, value: Value, currency: Option<String>) -> Result<String, Error> {
    let amount = match (value.as_i64(), currency) {
        (Some(minor), Some(code)) => Money {
            minor,
            currency: Currency::parse(&code).map_err(invalid)?,
        },
        (Some(_), None) => {
            return Err(invalid(
                "money: minor units need a currency: money(\"EUR\")",
            ));
        }
        (None, _) => money_from_object(&value)?,
    };
    Ok(format::money(&amount, &locale(state)))
}

/// Reads `{"minor": 5990, "currency": "EUR"}`, the shape of `order.total`.
fn money_from_object(value: &Value) -> Result<Money, Error> {
    let wrong = || {
        invalid(format!(
            "money: {value} is not an amount such as order.total"
        ))
    };
    let minor = value.get_attr("minor").ok().and_then(|m| m.as_i64());
    let code = value.get_attr("currency").ok();
    let code = code.as_ref().and_then(Value::as_str);
    match (minor, code) {
        (Some(minor), Some(code)) => Ok(Money {
            minor,
            currency: Currency::parse(code).map_err(invalid)?,
        }),
        _ => Err(wrong()),
    }
}

/// `date(style="long")`: the calendar date in the customer's time zone.
fn date(state: &State, value: Value, style: Option<String>) -> Result<String, Error> {
    let at = timestamp("date", &value)?;
    let style = match style.as_deref() {
        None => DateStyle::Long,
        Some(name) => DateStyle::parse(name)
            .ok_or_else(|| invalid(format!("date: style {name:?} is not long, short or full")))?,
    };
    Ok(format::date(at, time_zone(state), &locale(state), style))
}

/// `time`: the time of day in the customer's time zone.
fn time(state: &State, value: Value) -> Result<String, Error> {
    let at = timestamp("time", &value)?;
    Ok(format::time(at, time_zone(state), &locale(state)))
}

/// `truncate(n)`: the text cut to at most `n` characters, ending in `…` when cut.
fn truncate(value: Value, length: usize) -> Result<String, Error> {
    if value.is_none() {
        return Err(invalid(
            "truncate: the value can be unknown; test it first with {% if ... %}",
        ));
    }
    let text = match value.as_str() {
        Some(text) => text.to_string(),
        None => value.to_string(),
    };
    Ok(cut(&text, length))
}

/// At most `max` characters of `text`; a cut one ends in `…`, which counts.
pub(super) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let kept: String = text.chars().take(max - 1).collect();
    format!("{}…", kept.trim_end())
}

fn timestamp(filter: &str, value: &Value) -> Result<DateTime<Utc>, Error> {
    let text = value.as_str().ok_or_else(|| {
        let hint = "test it first with {% if ... %}";
        invalid(format!("{filter}: {value} is not a date and time; {hint}"))
    })?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            invalid(format!(
                "{filter}: {text:?} is not an RFC 3339 date and time"
            ))
        })
}

/// The locale rendering set; English if a template replaced it with something else.
fn locale(state: &State) -> String {
    let value = state.lookup("locale");
    let text = value.as_ref().and_then(Value::as_str).unwrap_or("en");
    text.to_string()
}

/// The customer's time zone, or UTC when it is unknown or not in the tz database.
fn time_zone(state: &State) -> Tz {
    // TODO(templates): fall back to the shop's time zone once the configuration has one.
    let value = state.lookup("time_zone");
    let name = value.as_ref().and_then(Value::as_str);
    name.and_then(|n| n.parse().ok()).unwrap_or(Tz::UTC)
}

fn invalid(message: impl ToString) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_text_never_exceeds_its_limit() {
        assert_eq!(cut("Ana", 5), "Ana");
        assert_eq!(cut("Anastasia", 5), "Anas…");
        assert_eq!(cut("Ana María", 5), "Ana…");
        assert_eq!(cut("ñandú ñandú", 6), "ñandú…");
        assert_eq!(cut("x", 0), "");
        assert_eq!(cut("🙂🙂🙂", 2), "🙂…");
    }
}
