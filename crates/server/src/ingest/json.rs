//! Reading platform JSON with errors that name the field at fault.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::PayloadError;

/// A JSON object and the path it was reached by (`line_items[2]`), for error messages.
#[derive(Clone)]
pub struct Obj<'a> {
    pub value: &'a Value,
    pub path: String,
}

impl<'a> Obj<'a> {
    /// The document root; fails unless it is an object.
    pub fn root(value: &'a Value) -> Result<Obj<'a>, PayloadError> {
        if value.is_object() {
            Ok(Obj {
                value,
                path: String::new(),
            })
        } else {
            Err(PayloadError::new("body", "must be a JSON object"))
        }
    }

    pub fn field_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.value.get(key).filter(|v| !v.is_null())
    }

    /// A nested object, or `None` when absent or null.
    pub fn obj(&self, key: &str) -> Result<Option<Obj<'a>>, PayloadError> {
        let path = self.field_path(key);
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.is_object() => Ok(Some(Obj { value: v, path })),
            Some(_) => Err(PayloadError::new(path, "must be an object")),
        }
    }

    /// The objects of an array field (empty when absent).
    pub fn items(&self, key: &str) -> Result<Vec<Obj<'a>>, PayloadError> {
        let items = match self.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(PayloadError::new(self.field_path(key), "must be an array")),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let path = format!("{}[{i}]", self.field_path(key));
                if value.is_object() {
                    Ok(Obj { value, path })
                } else {
                    Err(PayloadError::new(path, "must be an object"))
                }
            })
            .collect()
    }

    /// The strings of an array field (empty when absent).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, PayloadError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| PayloadError::new(self.field_path(key), "must be strings")),
            Some(_) => Err(PayloadError::new(self.field_path(key), "must be an array")),
        }
    }

    /// A string, accepting numbers too (platforms are loose about ids and amounts).
    pub fn opt_str(&self, key: &str) -> Result<Option<String>, PayloadError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            // PostgreSQL text cannot hold NUL; it is never meaningful in these fields.
            Some(Value::String(s)) => Ok(Some(s.trim().replace('\0', ""))),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(PayloadError::new(self.field_path(key), "must be a string")),
        }
    }

    pub fn str(&self, key: &str) -> Result<String, PayloadError> {
        self.opt_str(key)?
            .ok_or_else(|| PayloadError::new(self.field_path(key), "is required"))
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, PayloadError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(PayloadError::new(
                self.field_path(key),
                "must be true or false",
            )),
        }
    }

    /// An integer, from a JSON number or a string of digits.
    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>, PayloadError> {
        let bad = || PayloadError::new(self.field_path(key), "must be an integer");
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    /// A 64-bit id as a decimal string, from a number (never through a float) or string.
    pub fn opt_id(&self, key: &str) -> Result<Option<String>, PayloadError> {
        let bad = || PayloadError::new(self.field_path(key), "must be an integer id");
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(|n| Some(n.to_string())).ok_or_else(bad),
            Some(Value::String(s)) if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() => {
                Ok(Some(s.clone()))
            }
            Some(_) => Err(bad()),
        }
    }

    /// A timestamp: RFC 3339 with an offset, or a naive date-time read as UTC.
    pub fn opt_time(&self, key: &str) -> Result<Option<DateTime<Utc>>, PayloadError> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(text) => parse_time(&text).map(Some).ok_or_else(|| {
                PayloadError::new(self.field_path(key), format!("{text:?} is not a date-time"))
            }),
        }
    }

    pub fn time(&self, key: &str) -> Result<DateTime<Utc>, PayloadError> {
        self.opt_time(key)?
            .ok_or_else(|| PayloadError::new(self.field_path(key), "is required"))
    }
}

/// RFC 3339, a naive `YYYY-MM-DDTHH:MM:SS` (taken as UTC), or a bare date (midnight UTC).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// Parses a body as JSON, with the parser's position in the error.
pub fn parse_body(body: &[u8]) -> Result<Value, PayloadError> {
    serde_json::from_slice(body)
        .map_err(|e| PayloadError::new("body", format!("is not valid JSON: {e}")))
}
