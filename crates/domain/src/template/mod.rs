//! Message templates: RBM messages written once per key and locale, rendered per order.
//!
//! A template is a JSON document shaped like an RBM `AgentMessage` whose strings are
//! minijinja templates (`"title": "Order {{ order.number }} is on its way"`). Rendering
//! walks the document, renders each string against a [`TemplateContext`], reads the
//! result as an [`AgentMessage`] and checks it with [`AgentMessage::validate_at`], so a
//! rendered message always keeps RBM's limits. `"$if": "expression"` keeps the object
//! it sits in only while the expression is true; `"$comment"` is ignored. Filters are
//! listed in [`filters`](self#filters).
//!
//! [`Templates`] holds the built-in templates (English and Spanish for every key the
//! outbox writes) with the shop's stored overrides on top, and picks one by locale:
//! the exact tag (`es-MX`), its language (`es`), the shop's default locale, then `en`.
//!
//! # Filters
//!
//! `money` (`{{ order.total | money }}`), `date` (`{{ shipment.eta | date("short") }}`),
//! `time` and `truncate(n)`; see the `filters` module. Printing a value that can be
//! unknown (`none`) is an error: test it with `{% if %}` first.

mod builtin;
mod compile;
mod context;
mod error;
mod filters;
mod format;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use minijinja::value::Value;
use minijinja::Environment;
use serde::Serialize;

use crate::customer::Locale;
use crate::rcs::{AgentMessage, TrafficType};

pub use builtin::{KEYS, LOCALES, ORDER_KEYS, REPLY_KEYS};
pub use context::{
    CustomerContext, OrderContext, PickupContext, ShipmentContext, ShopContext, TemplateContext,
};
pub use error::{Problem, TemplateError};

use compile::{Compiler, Node};

/// Where a template in a set came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Shipped with Tidings.
    Builtin,
    /// Saved by the shop, replacing the built-in one for its key and locale.
    Stored,
}

/// One template of a set, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listing {
    pub key: String,
    pub locale: String,
    pub origin: Origin,
}

/// The template a render would use for a key and requested locale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resolved {
    pub key: String,
    /// The locale of the template chosen (`es` for a request in `es-MX`).
    pub locale: String,
    pub origin: Origin,
    /// The locale amounts and dates are written in: the requested one when the
    /// template is in its language, otherwise the template's.
    pub format_locale: String,
}

/// A compiled template and the text it was compiled from.
struct Entry {
    origin: Origin,
    body: String,
    root: Node,
    /// The names it put in the environment, so a replacement can take them out.
    names: Vec<String>,
}

/// A set of templates: built-in ones, overlaid by stored overrides.
pub struct Templates {
    env: Environment<'static>,
    default_locale: Locale,
    entries: BTreeMap<(String, String), Entry>,
    /// Counts overrides compiled, so each version gets names of its own.
    generation: u64,
}

impl Templates {
    /// The built-in templates; `default_locale` is used for customers whose locale has
    /// no template.
    pub fn builtin(default_locale: &Locale) -> Templates {
        let mut templates = Templates {
            env: filters::environment(),
            default_locale: default_locale.clone(),
            entries: BTreeMap::new(),
            generation: 0,
        };
        for (key, locale, body) in builtin::TEMPLATES {
            let prefix = format!("builtin:{key}/{locale}");
            // The built-in templates are compiled and rendered by this crate's tests;
            // one that fails here is a bug in a file shipped with Tidings.
            let entry = compile_entry(&mut templates.env, prefix, key, locale, body)
                .unwrap_or_else(|e| panic!("a built-in template does not compile: {e}"));
            let entry = Entry {
                origin: Origin::Builtin,
                ..entry
            };
            templates.insert(key, locale, entry);
        }
        templates
    }

    /// Replaces the template for `key` in `locale` with `body`, after checking that it
    /// compiles and renders both sample orders into valid messages.
    ///
    /// # Errors
    /// [`TemplateError`] naming what is wrong; the set is unchanged then.
    pub fn with_override(
        &mut self,
        key: &str,
        locale: &str,
        body: &str,
    ) -> Result<&mut Templates, TemplateError> {
        let locale = known_key_and_locale(key, locale)?;
        self.generation += 1;
        let prefix = format!("stored{}:{key}/{locale}", self.generation);
        let entry = compile_entry(&mut self.env, prefix, key, &locale, body)?;
        if let Err(error) = check_entry(&self.env, &entry, key, &locale) {
            remove_names(&mut self.env, &entry.names);
            return Err(error);
        }
        self.insert(key, &locale, entry);
        Ok(self)
    }

    /// Applies stored overrides (key, locale, body), keeping the built-in template for
    /// each one that no longer compiles or validates; those errors are returned, so the
    /// caller can report them.
    pub fn overlay<I>(&mut self, stored: I) -> Vec<TemplateError>
    where
        I: IntoIterator<Item = (String, String, String)>,
    {
        let results = stored
            .into_iter()
            .map(|(key, locale, body)| self.with_override(&key, &locale, &body).map(|_| ()));
        results.filter_map(Result::err).collect()
    }

    /// Renders the template for `key` into a message, checked against RBM's limits.
    ///
    /// `locale` picks the template (falling back as the module describes); without one
    /// the context's locale is used.
    ///
    /// # Errors
    /// [`TemplateError`] when no template has the key, or the message it renders for
    /// this context breaks a rule.
    pub fn render(
        &self,
        key: &str,
        locale: Option<&str>,
        context: &TemplateContext,
    ) -> Result<AgentMessage, TemplateError> {
        self.render_at(key, locale, context, Utc::now())
    }

    /// [`Templates::render`], validating `expireTime` against `now`.
    ///
    /// # Errors
    /// As [`Templates::render`].
    pub fn render_at(
        &self,
        key: &str,
        locale: Option<&str>,
        context: &TemplateContext,
        now: DateTime<Utc>,
    ) -> Result<AgentMessage, TemplateError> {
        let requested = locale.or(context.locale.as_deref());
        let resolved = self
            .resolve(key, requested)
            .ok_or_else(|| unknown_key(key))?;
        let entry = &self.entries[&(resolved.key.clone(), resolved.locale.clone())];
        let fail = |problem| TemplateError {
            key: key.to_string(),
            locale: resolved.locale.clone(),
            sample: None,
            problem: Box::new(problem),
        };
        render_entry(&self.env, entry, context, &resolved.format_locale, now).map_err(fail)
    }

    /// The template a render for `key` in `locale` would use; `None` for a key no
    /// template has.
    pub fn resolve(&self, key: &str, locale: Option<&str>) -> Option<Resolved> {
        let requested = locale.and_then(|l| Locale::parse(l).ok());
        let chosen = self
            .candidates(requested.as_ref())
            .into_iter()
            .find(|l| self.entries.contains_key(&(key.to_string(), l.clone())))?;
        let entry = &self.entries[&(key.to_string(), chosen.clone())];
        let format_locale = match requested {
            Some(r) if language(r.as_str()) == language(&chosen) => r.as_str().to_string(),
            _ => chosen.clone(),
        };
        Some(Resolved {
            key: key.to_string(),
            locale: chosen,
            origin: entry.origin,
            format_locale,
        })
    }

    /// The body of the template for exactly `key` and `locale`, and where it came from.
    pub fn body(&self, key: &str, locale: &str) -> Option<(&str, Origin)> {
        let locale = Locale::parse(locale).ok()?;
        let entry = self
            .entries
            .get(&(key.to_string(), locale.as_str().to_string()))?;
        Some((entry.body.as_str(), entry.origin))
    }

    /// Every template in the set, by key and locale.
    pub fn list(&self) -> Vec<Listing> {
        let listing = |((key, locale), entry): (&(String, String), &Entry)| Listing {
            key: key.clone(),
            locale: locale.clone(),
            origin: entry.origin,
        };
        self.entries.iter().map(listing).collect()
    }

    /// Locales to try, best first: the exact tag, its language, the shop's default
    /// (exact, then language), then `en`.
    fn candidates(&self, requested: Option<&Locale>) -> Vec<String> {
        let mut tags = Vec::new();
        for locale in requested.into_iter().chain([&self.default_locale]) {
            tags.push(locale.as_str().to_string());
            tags.push(language(locale.as_str()).to_string());
        }
        tags.push("en".to_string());
        let mut seen = Vec::with_capacity(tags.len());
        for tag in tags {
            if !seen.contains(&tag) {
                seen.push(tag);
            }
        }
        seen
    }

    fn insert(&mut self, key: &str, locale: &str, entry: Entry) {
        let slot = (key.to_string(), locale.to_string());
        if let Some(old) = self.entries.insert(slot, entry) {
            remove_names(&mut self.env, &old.names);
        }
    }
}

/// Checks a template before it is saved: it must be for a known key, parse, compile,
/// and render both sample orders (every optional value set, and none set) into
/// messages RBM accepts.
///
/// # Errors
/// [`TemplateError`] naming the path, line and problem.
pub fn validate_template(key: &str, locale: &str, body: &str) -> Result<(), TemplateError> {
    let locale = known_key_and_locale(key, locale)?;
    let mut env = filters::environment();
    let entry = compile_entry(
        &mut env,
        format!("check:{key}/{locale}"),
        key,
        &locale,
        body,
    )?;
    check_entry(&env, &entry, key, &locale)
}

/// The locale in its normal form, once the key is known to have templates.
fn known_key_and_locale(key: &str, locale: &str) -> Result<String, TemplateError> {
    if !KEYS.contains(&key) {
        return Err(unknown_key(key));
    }
    Locale::parse(locale)
        .map(|l| l.as_str().to_string())
        .map_err(|_| TemplateError {
            key: key.to_string(),
            locale: locale.to_string(),
            sample: None,
            problem: Box::new(Problem::BadLocale(locale.to_string())),
        })
}

fn unknown_key(key: &str) -> TemplateError {
    TemplateError {
        key: key.to_string(),
        locale: "any locale".to_string(),
        sample: None,
        problem: Box::new(Problem::UnknownKey {
            known: KEYS.iter().map(|k| k.to_string()).collect(),
        }),
    }
}

/// Parses and compiles a body; the entry is marked stored until the caller says not.
fn compile_entry(
    env: &mut Environment<'static>,
    prefix: String,
    key: &str,
    locale: &str,
    body: &str,
) -> Result<Entry, TemplateError> {
    let fail = |problem| TemplateError {
        key: key.to_string(),
        locale: locale.to_string(),
        sample: None,
        problem: Box::new(problem),
    };
    let document: serde_json::Value = serde_json::from_str(body).map_err(|e| {
        fail(Problem::NotJson {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        })
    })?;
    let mut compiler = Compiler {
        env,
        prefix,
        added: Vec::new(),
    };
    match compiler.document(&document) {
        Ok(root) => Ok(Entry {
            origin: Origin::Stored,
            body: body.to_string(),
            root,
            names: compiler.added,
        }),
        Err(problem) => {
            compiler.undo();
            Err(fail(problem))
        }
    }
}

/// Whether messages with this key concern no order (replies to keywords).
pub fn is_reply_key(key: &str) -> bool {
    REPLY_KEYS.contains(&key)
}

/// Renders an entry for both samples and checks each message. Replies to keywords are
/// rendered without the samples' order, as they are sent, so that a reply template
/// mentioning the order fails when saved rather than when a customer texts STOP.
fn check_entry(
    env: &Environment<'static>,
    entry: &Entry,
    key: &str,
    locale: &str,
) -> Result<(), TemplateError> {
    let samples = [
        ("the sample order", TemplateContext::sample()),
        (
            "the sample order with no optional values",
            TemplateContext::sparse_sample(),
        ),
    ];
    for (name, mut context) in samples {
        if is_reply_key(key) {
            context = context.without_order();
        }
        render_entry(env, entry, &context, locale, Utc::now()).map_err(|problem| {
            TemplateError {
                key: key.to_string(),
                locale: locale.to_string(),
                sample: Some(name),
                problem: Box::new(problem),
            }
        })?;
    }
    Ok(())
}

/// Renders one entry in `format_locale`, reads it as a message and validates it.
fn render_entry(
    env: &Environment<'static>,
    entry: &Entry,
    context: &TemplateContext,
    format_locale: &str,
    now: DateTime<Utc>,
) -> Result<AgentMessage, Problem> {
    let values = template_values(context, format_locale);
    let rendered = compile::render(env, &entry.root, &values)?.unwrap_or_default();
    let mut message: AgentMessage =
        serde_path_to_error::deserialize(rendered).map_err(|e| Problem::Shape {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
    // Order updates are about an order the customer placed; the built-in replies to
    // keywords set their own type.
    // TODO(templates): promotional templates will need to set their own type.
    message
        .message_traffic_type
        .get_or_insert(TrafficType::Transaction);
    message
        .validate_at(now)
        .map_err(|invalid| Problem::Limits(invalid.into_errors()))?;
    Ok(message)
}

/// The context as templates read it, with `locale` set to the one to write in.
fn template_values(context: &TemplateContext, format_locale: &str) -> Value {
    let mut seen = context.normalised();
    seen.locale = Some(format_locale.to_string());
    Value::from_serialize(&seen)
}

fn remove_names(env: &mut Environment<'static>, names: &[String]) {
    for name in names {
        env.remove_template(name);
    }
}

/// The language of a tag: `es` for `es-MX`.
fn language(tag: &str) -> &str {
    tag.split('-').next().unwrap_or(tag)
}
