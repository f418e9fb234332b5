//! Why a template cannot be saved or a message cannot be rendered from it.

use std::fmt;

use thiserror::Error;

use crate::rcs::LimitError;

/// A template that failed, named by key and locale, with what went wrong and where.
#[derive(Clone, Debug, PartialEq, Error)]
pub struct TemplateError {
    /// The template key (`shipped`).
    pub key: String,
    /// The locale of the template that failed (`es`).
    pub locale: String,
    /// Which sample order it failed for, when it was checked against one.
    pub sample: Option<&'static str>,
    /// What went wrong, with its JSON path; boxed to keep results small.
    pub problem: Box<Problem>,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template {} ({})", self.key, self.locale)?;
        if let Some(sample) = self.sample {
            write!(f, ", rendered for {sample}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// What is wrong with a template or its rendered message.
///
/// `path` is the JSON path of the string in the template (`contentMessage.text`,
/// `contentMessage.suggestions[0].action.text`); `line` counts from 1 within that
/// string.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum Problem {
    /// No template has this key, in any locale.
    #[error("there is no such template; the keys are {}", .known.join(", "))]
    UnknownKey {
        /// Every key there is a template for.
        known: Vec<String>,
    },
    /// The locale is not a language tag.
    #[error("{0:?} is not a locale such as en or es-MX")]
    BadLocale(String),
    /// The body does not parse as JSON.
    #[error("the body is not JSON: {message} at line {line}, column {column}")]
    NotJson {
        /// serde_json's description.
        message: String,
        /// Line of the body, from 1.
        line: usize,
        /// Column of that line, from 1.
        column: usize,
    },
    /// The body is JSON, but not an object.
    #[error("the body must be a JSON object with a contentMessage, like an RBM AgentMessage")]
    NotObject,
    /// A `$` key Tidings does not know, or one holding the wrong kind of value.
    #[error("{path}: {message}")]
    Directive {
        /// Where the key is.
        path: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// A string is not a valid template.
    #[error("{path}, line {line}: {message}")]
    Syntax {
        /// The string's JSON path.
        path: String,
        /// The line within the string.
        line: usize,
        /// minijinja's description.
        message: String,
    },
    /// A string names something the context does not have.
    #[error("{path}, line {line}: {name} is not in the context; it has {known}")]
    UnknownVariable {
        /// The string's JSON path.
        path: String,
        /// The line within the string where the name first appears.
        line: usize,
        /// The dotted name, as written (`order.numbr`).
        name: String,
        /// The names the context has at that level, comma separated.
        known: String,
    },
    /// Rendering a string failed (a filter refused its value, an empty value was
    /// printed, ...).
    #[error("{path}, line {line}: {message}")]
    Render {
        /// The string's JSON path.
        path: String,
        /// The line within the string.
        line: usize,
        /// What failed.
        message: String,
    },
    /// The rendered JSON is not an RBM message (a misspelt key, a missing field, ...).
    #[error("{path}: {message}")]
    Shape {
        /// The JSON path of the offending value in the rendered message.
        path: String,
        /// What RBM's message model expected.
        message: String,
    },
    /// The rendered message breaks RBM's limits.
    #[error("RBM would refuse the message: {}", join(.0))]
    Limits(Vec<LimitError>),
}

fn join(errors: &[LimitError]) -> String {
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    all.join("; ")
}
