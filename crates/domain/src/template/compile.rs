//! Turning a template document into compiled strings, and rendering it back to JSON.
//!
//! A document is JSON in the shape of an RBM `AgentMessage`. Every string holding
//! template syntax is compiled once, under a name that ends in its JSON path; other
//! values are kept as they are. Two `$` keys are Tidings' own and never reach RBM:
//! `"$if": "expression"` keeps the object it sits in only while the expression is true
//! (a button that needs a phone number), and `"$comment"` is a note for authors.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use minijinja::value::Value;
use minijinja::Environment;
use serde_json::{Map, Value as Json};

use super::context::TemplateContext;
use super::error::Problem;

/// A document, compiled: what `render` walks.
#[derive(Clone, Debug)]
pub(super) enum Node {
    /// A value with no template syntax, copied as it is.
    Literal(Json),
    /// A string compiled into the environment as `name`.
    Text {
        name: String,
        path: String,
    },
    Array(Vec<Node>),
    Object {
        /// The compiled `$if`, rendering `1` when the object is kept.
        condition: Option<String>,
        fields: Vec<(String, Node)>,
    },
}

/// Compiles documents into one environment, remembering every name it added so a
/// document that fails can be taken out again.
pub(super) struct Compiler<'a> {
    pub env: &'a mut Environment<'static>,
    /// Names start with this, so two versions of a template never share a name.
    pub prefix: String,
    pub added: Vec<String>,
}

impl Compiler<'_> {
    /// Compiles a parsed document; the top level must be an object.
    pub fn document(&mut self, document: &Json) -> Result<Node, Problem> {
        let Json::Object(map) = document else {
            return Err(Problem::NotObject);
        };
        if map.contains_key("$if") {
            return Err(directive("$if", "the whole message cannot be conditional"));
        }
        self.object(map, "")
    }

    /// Takes every name this compiler added back out of the environment.
    pub fn undo(self) {
        for name in self.added {
            self.env.remove_template(&name);
        }
    }

    fn value(&mut self, value: &Json, path: &str) -> Result<Node, Problem> {
        match value {
            Json::String(text) if has_syntax(text) => self.text(text, path),
            Json::Array(items) => {
                let nodes = items.iter().enumerate();
                let nodes = nodes.map(|(i, item)| self.value(item, &format!("{path}[{i}]")));
                Ok(Node::Array(nodes.collect::<Result<_, _>>()?))
            }
            Json::Object(map) => self.object(map, path),
            other => Ok(Node::Literal(other.clone())),
        }
    }

    fn object(&mut self, map: &Map<String, Json>, path: &str) -> Result<Node, Problem> {
        let mut condition = None;
        let mut fields = Vec::with_capacity(map.len());
        for (key, value) in map {
            let field_path = join_path(path, key);
            match key.as_str() {
                "$comment" => {}
                "$if" => condition = Some(self.condition(value, &field_path)?),
                other if other.starts_with('$') => {
                    let message = "Tidings knows only $if and $comment";
                    return Err(directive(&field_path, message));
                }
                _ => fields.push((key.clone(), self.value(value, &field_path)?)),
            }
        }
        Ok(Node::Object { condition, fields })
    }

    fn condition(&mut self, value: &Json, path: &str) -> Result<String, Problem> {
        let Json::String(expression) = value else {
            let message = "must be a string holding an expression, such as \"shop.support_phone\"";
            return Err(directive(path, message));
        };
        self.compile(&format!("{{% if {expression} %}}1{{% endif %}}"), path)
    }

    fn text(&mut self, text: &str, path: &str) -> Result<Node, Problem> {
        let name = self.compile(text, path)?;
        Ok(Node::Text {
            name,
            path: path.to_string(),
        })
    }

    /// Compiles `source` and checks every name it reads exists in the context.
    fn compile(&mut self, source: &str, path: &str) -> Result<String, Problem> {
        let name = format!("{}#{path}", self.prefix);
        self.env
            .add_template_owned(name.clone(), source.to_string())
            .map_err(|e| Problem::Syntax {
                path: path.to_string(),
                line: e.line().unwrap_or(1),
                message: describe(&e),
            })?;
        self.added.push(name.clone());
        let template = self
            .env
            .get_template(&name)
            .map_err(|e| render_problem(path, &e))?;
        for variable in template.undeclared_variables(true) {
            check_known(&variable, source, path)?;
        }
        Ok(name)
    }
}

/// Renders a compiled node against `context`; `None` when an `$if` drops it.
pub(super) fn render(
    env: &Environment<'static>,
    node: &Node,
    context: &Value,
) -> Result<Option<Json>, Problem> {
    match node {
        Node::Literal(value) => Ok(Some(value.clone())),
        Node::Text { name, path } => Ok(Some(Json::String(render_text(env, name, path, context)?))),
        Node::Array(items) => {
            let mut rendered = Vec::with_capacity(items.len());
            for item in items {
                rendered.extend(render(env, item, context)?);
            }
            Ok(Some(Json::Array(rendered)))
        }
        Node::Object { condition, fields } => {
            if let Some(name) = condition {
                if render_text(env, name, &condition_path(name), context)? != "1" {
                    return Ok(None);
                }
            }
            let mut map = Map::with_capacity(fields.len());
            for (key, field) in fields {
                if let Some(value) = render(env, field, context)? {
                    map.insert(key.clone(), value);
                }
            }
            Ok(Some(Json::Object(map)))
        }
    }
}

fn render_text(
    env: &Environment<'static>,
    name: &str,
    path: &str,
    context: &Value,
) -> Result<String, Problem> {
    let template = env
        .get_template(name)
        .map_err(|e| render_problem(path, &e))?;
    template
        .render(context)
        .map_err(|e| render_problem(path, &e))
}

/// The JSON path inside a compiled name (`stored1:shipped/es#contentMessage.text`).
fn condition_path(name: &str) -> String {
    name.split_once('#')
        .map_or(name, |(_, path)| path)
        .to_string()
}

fn render_problem(path: &str, error: &minijinja::Error) -> Problem {
    Problem::Render {
        path: path.to_string(),
        line: error.line().unwrap_or(1),
        message: describe(error),
    }
}

/// minijinja's kind and detail, without the template name it would repeat.
fn describe(error: &minijinja::Error) -> String {
    let kind = error.kind().to_string();
    let detail = error.detail().map(str::to_string);
    match (error.kind(), detail) {
        (minijinja::ErrorKind::UndefinedError, None) => {
            format!("{kind}: an attribute or item the value does not have")
        }
        (_, Some(detail)) => format!("{kind}: {detail}"),
        (_, None) => kind,
    }
}

fn has_syntax(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn directive(path: &str, message: &str) -> Problem {
    Problem::Directive {
        path: path.to_string(),
        message: message.to_string(),
    }
}

/// Functions minijinja provides, which it reports as names read.
const GLOBALS: [&str; 3] = ["range", "dict", "namespace"];

/// Checks that a dotted name read by a template is one the context has.
fn check_known(variable: &str, source: &str, path: &str) -> Result<(), Problem> {
    let names = context_names();
    let root = variable.split('.').next().unwrap_or(variable);
    if names.contains(variable) || GLOBALS.contains(&root) {
        return Ok(());
    }
    let parent = known_parent(variable, names);
    let children: Vec<&str> = names
        .iter()
        .filter(|n| parent_of(n) == parent)
        .map(String::as_str)
        .collect();
    Err(Problem::UnknownVariable {
        path: path.to_string(),
        line: line_of(source, variable),
        name: variable.to_string(),
        known: children.join(", "),
    })
}

/// The longest prefix of `variable` the context has; empty for the top level.
fn known_parent<'a>(variable: &'a str, names: &BTreeSet<String>) -> &'a str {
    let mut parent = "";
    for (i, _) in variable.match_indices('.') {
        if names.contains(&variable[..i]) {
            parent = &variable[..i];
        }
    }
    parent
}

fn parent_of(name: &str) -> &str {
    name.rsplit_once('.').map_or("", |(parent, _)| parent)
}

/// The line, from 1, where `variable` first appears in `source`.
fn line_of(source: &str, variable: &str) -> usize {
    let at = source.find(variable).unwrap_or(0);
    source[..at].matches('\n').count() + 1
}

/// Every dotted name in the context (`order`, `order.total`, `order.total.minor`, ...)
/// and `locale`, read once from the sample's shape.
fn context_names() -> &'static BTreeSet<String> {
    static NAMES: OnceLock<BTreeSet<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names = BTreeSet::new();
        // Serialising plain structs to JSON cannot fail.
        let sample = serde_json::to_value(TemplateContext::sample()).unwrap_or_default();
        collect_names(&sample, "", &mut names);
        names
    })
}

fn collect_names(value: &Json, prefix: &str, names: &mut BTreeSet<String>) {
    let Json::Object(map) = value else { return };
    for (key, child) in map {
        let name = join_path(prefix, key);
        collect_names(child, &name, names);
        names.insert(name);
    }
}
