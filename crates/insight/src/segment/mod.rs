//! Segments: which customers a campaign or a report is about, as a filter.
//!
//! A filter has a text form people write and read,
//!
//! ```text
//! rfm.recency >= 4 and orders.count >= 3 and consent.promotional.rcs
//! ```
//!
//! and a JSON form programs exchange; both describe the same [`Filter`]. Attributes
//! come from a fixed [catalogue](attribute); a filter naming one it lacks, or
//! comparing one with a value of the wrong kind, is refused with the position of the
//! fault.

pub mod attribute;
mod parse;
mod text;

use serde::{Deserialize, Serialize};

pub use attribute::{Attribute, Kind};
pub use parse::{parse, ParseError};

/// A condition on a customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Filter {
    /// Every condition holds.
    And(Vec<Filter>),
    /// At least one condition holds.
    Or(Vec<Filter>),
    /// The condition does not hold.
    Not(Box<Filter>),
    /// The attribute compares so with the value.
    Compare(Comparison),
    /// The yes-or-no attribute is yes (`consent.promotional.rcs`).
    Is(String),
}

/// `attribute op value`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub attribute: String,
    pub op: Op,
    pub value: Value,
}

/// How an attribute compares with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    /// The operator as written in the text form and in SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// What an attribute is compared with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Number(f64),
    Text(String),
}

/// Why a filter in the JSON form is not usable.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct InvalidFilter {
    /// Where in the JSON the fault is, as `and[1].compare`.
    pub path: String,
    pub message: String,
}

impl Filter {
    /// Checks every attribute against the catalogue and every value against its
    /// attribute's kind, as the text parser does.
    ///
    /// # Errors
    /// The first fault found, with its place in the filter.
    pub fn validate(&self) -> Result<(), InvalidFilter> {
        self.validate_at("")
    }

    fn validate_at(&self, path: &str) -> Result<(), InvalidFilter> {
        let at = |suffix: String| {
            if path.is_empty() {
                suffix
            } else {
                format!("{path}.{suffix}")
            }
        };
        let invalid = |place: String, message: String| InvalidFilter {
            path: place,
            message,
        };
        match self {
            Filter::And(all) | Filter::Or(all) => {
                let name = if matches!(self, Filter::And(_)) {
                    "and"
                } else {
                    "or"
                };
                if all.is_empty() {
                    return Err(invalid(
                        at(name.into()),
                        "needs at least one condition".into(),
                    ));
                }
                for (i, f) in all.iter().enumerate() {
                    f.validate_at(&at(format!("{name}[{i}]")))?;
                }
                Ok(())
            }
            Filter::Not(inner) => inner.validate_at(&at("not".into())),
            Filter::Compare(c) => attribute::check_comparison(&c.attribute, c.op, &c.value)
                .map_err(|message| invalid(at("compare".into()), message)),
            Filter::Is(name) => {
                attribute::check_flag(name).map_err(|message| invalid(at("is".into()), message))
            }
        }
    }
}

impl std::fmt::Display for Filter {
    /// The text form, which [`parse`] reads back to the same filter.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&text::render(self))
    }
}

/// Reads a filter from its JSON form and validates it.
///
/// # Errors
/// When the JSON is not a filter, or names an unknown attribute or a value of the
/// wrong kind.
pub fn from_json(json: &str) -> Result<Filter, InvalidFilter> {
    let filter: Filter = serde_json::from_str(json).map_err(|e| InvalidFilter {
        path: format!("line {} column {}", e.line(), e.column()),
        message: e.to_string(),
    })?;
    filter.validate()?;
    Ok(filter)
}
