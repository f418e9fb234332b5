//! The checks RBM makes on an `agentMessages.create` body, run on the raw JSON as a
//! client sent it.
//!
//! Validation walks the whole body and reports every problem, each under the JSON path
//! of its field (`contentMessage.suggestions[3].reply.text`) with the limit it breaks,
//! so a client author can fix them all at once. Unknown fields, wrong JSON types,
//! enum values outside Google's lists and "one of" groups with none or several members
//! set are all refused. A JSON `null` counts as an absent field, as in protobuf JSON.

mod uri;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

pub use uri::http_uri_problem;

/// Largest body, in bytes; Google says 250 KB, read as the smaller 250,000.
pub const MAX_MESSAGE_BYTES: usize = 250_000;
/// Longest `contentMessage.text`, in characters.
pub const MAX_TEXT_CHARS: usize = 3072;
/// Most suggestion chips on a message.
pub const MAX_MESSAGE_SUGGESTIONS: usize = 11;
/// Most suggestions on one card.
pub const MAX_CARD_SUGGESTIONS: usize = 4;
/// Longest suggestion label.
pub const MAX_SUGGESTION_TEXT_CHARS: usize = 25;
/// Longest `postbackData`.
pub const MAX_POSTBACK_CHARS: usize = 2048;
/// Longest URL.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest card title.
pub const MAX_CARD_TITLE_CHARS: usize = 200;
/// Longest card description.
pub const MAX_CARD_DESCRIPTION_CHARS: usize = 2000;
/// Longest calendar event title.
pub const MAX_CALENDAR_TITLE_CHARS: usize = 100;
/// Longest calendar event description.
pub const MAX_CALENDAR_DESCRIPTION_CHARS: usize = 500;
/// Fewest and most cards in a carousel.
pub const CAROUSEL_CARDS: (usize, usize) = (2, 10);
/// Longest `ttl`, or `expireTime` minus now: 15 days.
pub const MAX_EXPIRY_SECONDS: i64 = 15 * 24 * 3600;

/// One field that breaks a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The field's JSON path; empty for the body as a whole.
    pub path: String,
    /// The rule it breaks, with the numbers involved.
    pub message: String,
}

/// Every problem found in a refused body; never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The problems in the order they appear in the JSON.
    pub problems: Vec<Problem>,
}

impl Rejection {
    /// One line naming every problem (up to a dozen), for the 400's message.
    pub fn message(&self) -> String {
        const SHOWN: usize = 12;
        let mut parts: Vec<String> = self.problems.iter().take(SHOWN).map(describe).collect();
        if self.problems.len() > SHOWN {
            parts.push(format!("and {} more", self.problems.len() - SHOWN));
        }
        format!("Invalid AgentMessage: {}", parts.join("; "))
    }
}

fn describe(problem: &Problem) -> String {
    if problem.path.is_empty() {
        format!("the whole message: {}", problem.message)
    } else {
        format!("{}: {}", problem.path, problem.message)
    }
}

/// Parses and checks an AgentMessage body at `now` (which `expireTime` is measured
/// from), returning the parsed JSON when it passes.
///
/// # Errors
/// A [`Rejection`] naming every field that breaks a rule.
pub fn agent_message(body: &[u8], now: DateTime<Utc>) -> Result<Value, Rejection> {
    let mut check = Check::new(now);
    if body.len() > MAX_MESSAGE_BYTES {
        let message = format!(
            "{} bytes of JSON; at most {MAX_MESSAGE_BYTES} allowed",
            body.len()
        );
        check.fail("", message);
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => {
            check.fail("", format!("not valid JSON ({error})"));
            return Err(check.into_rejection());
        }
    };
    check.agent_message(&value);
    match check.problems.is_empty() {
        true => Ok(value),
        false => Err(check.into_rejection()),
    }
}

/// The rules of one object type: its JSON path and the fields it holds.
struct Fields<'v> {
    path: String,
    map: &'v Map<String, Value>,
}

impl<'v> Fields<'v> {
    /// A field's value; `null` counts as absent.
    fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

fn join(path: &str, key: &str) -> String {
    match path.is_empty() {
        true => key.to_string(),
        false => format!("{path}.{key}"),
    }
}

/// One walk over a body: the clock and the problems found so far.
struct Check {
    now: DateTime<Utc>,
    problems: Vec<Problem>,
}

impl Check {
    fn new(now: DateTime<Utc>) -> Check {
        Check {
            now,
            problems: Vec::new(),
        }
    }

    fn into_rejection(self) -> Rejection {
        Rejection {
            problems: self.problems,
        }
    }

    fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_string(),
            message: message.into(),
        });
    }

    // --- The AgentMessage tree ---

    fn agent_message(&mut self, value: &Value) {
        // Output-only fields are accepted and ignored, as Google's JSON parser does.
        let known = [
            "contentMessage",
            "messageTrafficType",
            "expireTime",
            "ttl",
            "name",
            "sendTime",
        ];
        let Some(message) = self.object("", value, &known) else {
            return;
        };
        match message.get("contentMessage") {
            Some(content) => self.content_message("contentMessage", content),
            None => self.fail("contentMessage", "missing; every message needs one"),
        }
        let traffic = [
            "MESSAGE_TRAFFIC_TYPE_UNSPECIFIED",
            "AUTHENTICATION",
            "TRANSACTION",
            "PROMOTION",
            "SERVICEREQUEST",
            "ACKNOWLEDGEMENT",
        ];
        self.optional_enum(&message, "messageTrafficType", &traffic);
        match self.one_of(&message, "an AgentMessage", &["expireTime", "ttl"], false) {
            Some("ttl") => self.ttl("ttl", message.get("ttl")),
            Some(_) => self.expire_time("expireTime", message.get("expireTime")),
            None => {}
        }
    }

    fn content_message(&mut self, path: &str, value: &Value) {
        let group = [
            "text",
            "fileName",
            "uploadedRbmFile",
            "richCard",
            "contentInfo",
        ];
        let mut known = group.to_vec();
        known.push("suggestions");
        let Some(content) = self.object(path, value, &known) else {
            return;
        };
        let chosen = self.one_of(&content, "a contentMessage", &group, true);
        let at = |key: &str| (content.path(key), content.get(key));
        match chosen {
            Some("text") => {
                let (path, value) = at("text");
                self.text(&path, value, MAX_TEXT_CHARS);
            }
            Some("fileName") => {
                let (path, value) = at("fileName");
                self.text(&path, value, usize::MAX);
            }
            Some("uploadedRbmFile") => {
                let (path, value) = at("uploadedRbmFile");
                self.uploaded_file(&path, value);
            }
            Some("richCard") => self.rich_card(&content.path("richCard"), content.get("richCard")),
            Some(_) => self.content_info(&content.path("contentInfo"), content.get("contentInfo")),
            None => {}
        }
        let path = content.path("suggestions");
        self.suggestions(&path, content.get("suggestions"), MAX_MESSAGE_SUGGESTIONS);
    }

    fn uploaded_file(&mut self, path: &str, value: Option<&Value>) {
        let Some(value) = value else { return };
        let Some(file) = self.object(path, value, &["fileName", "thumbnailName"]) else {
            return;
        };
        self.text(&file.path("fileName"), file.get("fileName"), usize::MAX);
        if let Some(thumbnail) = file.get("thumbnailName") {
            self.text(&file.path("thumbnailName"), Some(thumbnail), usize::MAX);
        }
    }

    fn content_info(&mut self, path: &str, value: Option<&Value>) {
        let Some(value) = value else { return };
        let known = ["fileUrl", "thumbnailUrl", "forceRefresh"];
        let Some(info) = self.object(path, value, &known) else {
            return;
        };
        match info.get("fileUrl") {
            Some(url) => self.url(&info.path("fileUrl"), url),
            None => self.fail(
                &info.path("fileUrl"),
                "missing; give the file's http(s) URL",
            ),
        }
        if let Some(url) = info.get("thumbnailUrl") {
            self.url(&info.path("thumbnailUrl"), url);
        }
        if let Some(flag) = info.get("forceRefresh") {
            self.boolean(&info.path("forceRefresh"), flag);
        }
    }

    fn rich_card(&mut self, path: &str, value: Option<&Value>) {
        let Some(value) = value else { return };
        let group = ["standaloneCard", "carouselCard"];
        let Some(card) = self.object(path, value, &group) else {
            return;
        };
        match self.one_of(&card, "a richCard", &group, true) {
            Some("standaloneCard") => {
                self.standalone(&card.path("standaloneCard"), card.get("standaloneCard"));
            }
            Some(_) => self.carousel(&card.path("carouselCard"), card.get("carouselCard")),
            None => {}
        }
    }

    fn standalone(&mut self, path: &str, value: Option<&Value>) {
        let Some(value) = value else { return };
        let known = ["cardOrientation", "thumbnailImageAlignment", "cardContent"];
        let Some(card) = self.object(path, value, &known) else {
            return;
        };
        let orientation = self.required_enum(&card, "cardOrientation", &["VERTICAL", "HORIZONTAL"]);
        let alignment = self.optional_enum(&card, "thumbnailImageAlignment", &["LEFT", "RIGHT"]);
        let alignment_path = card.path("thumbnailImageAlignment");
        match (orientation, alignment) {
            (Some("HORIZONTAL"), None) => self.fail(
                &alignment_path,
                "missing; a HORIZONTAL card needs LEFT or RIGHT",
            ),
            (Some("VERTICAL"), Some(_)) => self.fail(
                &alignment_path,
                "only HORIZONTAL cards take it; leave it out of a VERTICAL card",
            ),
            _ => {}
        }
        match card.get("cardContent") {
            Some(content) => {
                self.card_content(&card.path("cardContent"), content, true);
            }
            None => self.fail(&card.path("cardContent"), "missing; a card needs content"),
        }
    }

    fn carousel(&mut self, path: &str, value: Option<&Value>) {
        let Some(value) = value else { return };
        let Some(carousel) = self.object(path, value, &["cardWidth", "cardContents"]) else {
            return;
        };
        let width = self.required_enum(&carousel, "cardWidth", &["SMALL", "MEDIUM"]);
        let path = carousel.path("cardContents");
        let Some(cards) = self.array(&path, carousel.get("cardContents")) else {
            self.fail(&path, "missing; a carousel takes 2 to 10 cards");
            return;
        };
        let (min, max) = CAROUSEL_CARDS;
        if cards.len() < min || cards.len() > max {
            let message = format!("{} cards; a carousel takes {min} to {max}", cards.len());
            self.fail(&path, message);
        }
        let allow_tall = width != Some("SMALL");
        for (i, card) in cards.iter().enumerate() {
            self.card_content(&format!("{path}[{i}]"), card, allow_tall);
        }
    }

    fn card_content(&mut self, path: &str, value: &Value, allow_tall: bool) {
        let known = ["title", "description", "media", "suggestions"];
        let Some(card) = self.object(path, value, &known) else {
            return;
        };
        let title = self.optional_text(&card, "title", MAX_CARD_TITLE_CHARS);
        let description = self.optional_text(&card, "description", MAX_CARD_DESCRIPTION_CHARS);
        let media = card.get("media");
        // An empty title or description shows nothing.
        let shows = |text: Option<&str>| text.is_some_and(|t| !t.is_empty());
        if !shows(title) && !shows(description) && media.is_none() {
            self.fail(
                path,
                "no title, description or media; a card needs one of them",
            );
        }
        if let Some(media) = media {
            self.media(&card.path("media"), media, allow_tall);
        }
        let path = card.path("suggestions");
        self.suggestions(&path, card.get("suggestions"), MAX_CARD_SUGGESTIONS);
    }

    fn media(&mut self, path: &str, value: &Value, allow_tall: bool) {
        let group = ["fileName", "uploadedRbmFile", "contentInfo"];
        let mut known = group.to_vec();
        known.push("height");
        let Some(media) = self.object(path, value, &known) else {
            return;
        };
        let height = self.required_enum(&media, "height", &["SHORT", "MEDIUM", "TALL"]);
        if height == Some("TALL") && !allow_tall {
            let message = "TALL media does not fit a SMALL carousel card; use SHORT or MEDIUM";
            self.fail(&media.path("height"), message);
        }
        match self.one_of(&media, "media", &group, true) {
            Some("fileName") => {
                self.text(&media.path("fileName"), media.get("fileName"), usize::MAX);
            }
            Some("uploadedRbmFile") => {
                let path = media.path("uploadedRbmFile");
                self.uploaded_file(&path, media.get("uploadedRbmFile"));
            }
            Some(_) => self.content_info(&media.path("contentInfo"), media.get("contentInfo")),
            None => {}
        }
    }

    fn suggestions(&mut self, path: &str, value: Option<&Value>, max: usize) {
        let Some(list) = self.array(path, value) else {
            return;
        };
        if list.len() > max {
            self.fail(
                path,
                format!("{} suggestions; at most {max} allowed", list.len()),
            );
        }
        for (i, suggestion) in list.iter().enumerate() {
            self.suggestion(&format!("{path}[{i}]"), suggestion);
        }
    }

    fn suggestion(&mut self, path: &str, value: &Value) {
        let group = ["reply", "action"];
        let Some(suggestion) = self.object(path, value, &group) else {
            return;
        };
        match self.one_of(&suggestion, "a suggestion", &group, true) {
            Some("reply") => self.reply(&suggestion.path("reply"), suggestion.get("reply")),
            Some(_) => self.action(&suggestion.path("action"), suggestion.get("action")),
            None => {}
        }
    }

    fn reply(&mut self, path: &str, value: Option<&Value>) {
        let Some(value) = value else { return };
        if let Some(reply) = self.object(path, value, &["text", "postbackData"]) {
            self.label_and_postback(&reply);
        }
    }

    fn label_and_postback(&mut self, fields: &Fields<'_>) {
        let text = fields.get("text");
        self.text(&fields.path("text"), text, MAX_SUGGESTION_TEXT_CHARS);
        self.optional_text(fields, "postbackData", MAX_POSTBACK_CHARS);
    }

    fn action(&mut self, path: &str, value: Option<&Value>) {
        let Some(value) = value else { return };
        let group = [
            "dialAction",
            "viewLocationAction",
            "createCalendarEventAction",
            "openUrlAction",
            "shareLocationAction",
        ];
        let mut known = group.to_vec();
        known.extend(["text", "postbackData", "fallbackUrl"]);
        let Some(action) = self.object(path, value, &known) else {
            return;
        };
        self.label_and_postback(&action);
        if let Some(url) = action.get("fallbackUrl") {
            self.url(&action.path("fallbackUrl"), url);
        }
        let Some(kind) = self.one_of(&action, "a suggested action", &group, true) else {
            return;
        };
        let (path, value) = (action.path(kind), action.get(kind));
        match kind {
            "dialAction" => self.dial(&path, value),
            "viewLocationAction" => self.view_location(&path, value),
            "createCalendarEventAction" => self.calendar_event(&path, value),
            "openUrlAction" => self.open_url(&path, value),
            _ => {
                if let Some(value) = value {
                    self.object(&path, value, &[]);
                }
            }
        }
    }

    fn dial(&mut self, path: &str, value: Option<&Value>) {
        let Some(value) = value else { return };
        let Some(dial) = self.object(path, value, &["phoneNumber"]) else {
            return;
        };
        let path = dial.path("phoneNumber");
        let Some(number) = self.text(&path, dial.get("phoneNumber"), usize::MAX) else {
            return;
        };
        if !number
            .chars()
            .all(|c| c.is_ascii_digit() || "+*#".contains(c))
        {
            self.fail(&path, "may hold only digits and + * #");
        }
    }

    fn view_location(&mut self, path: &str, value: Option<&Value>) {
        let Some(value) = value else { return };
        let Some(view) = self.object(path, value, &["latLong", "label", "query"]) else {
            return;
        };
        self.optional_text(&view, "label", usize::MAX);
        let query = self.optional_text(&view, "query", usize::MAX);
        match view.get("latLong") {
            Some(at) => self.lat_long(&view.path("latLong"), at),
            None if query.is_none_or(str::is_empty) => {
                self.fail(path, "neither latLong nor query; set one of them");
            }
            None => {}
        }
    }

    fn lat_long(&mut self, path: &str, value: &Value) {
        let Some(at) = self.object(path, value, &["latitude", "longitude"]) else {
            return;
        };
        for (key, bound) in [("latitude", 90.0), ("longitude", 180.0)] {
            let path = at.path(key);
            let Some(value) = at.get(key) else {
                self.fail(&path, "missing; give degrees as a number");
                continue;
            };
            if let Some(degrees) = self.number(&path, value) {
                if !(-bound..=bound).contains(&degrees) {
                    self.fail(&path, format!("{degrees} is outside -{bound} to {bound}"));
                }
            }
        }
    }

    fn calendar_event(&mut self, path: &str, value: Option<&Value>) {
        let Some(value) = value else { return };
        let known = ["startTime", "endTime", "title", "description"];
        let Some(event) = self.object(path, value, &known) else {
            return;
        };
        let start = self.timestamp(&event.path("startTime"), event.get("startTime"));
        let end = self.timestamp(&event.path("endTime"), event.get("endTime"));
        if let (Some(start), Some(end)) = (start, end) {
            if end <= start {
                self.fail(
                    &event.path("endTime"),
                    "not after startTime; an event must end after it starts",
                );
            }
        }
        self.optional_text(&event, "title", MAX_CALENDAR_TITLE_CHARS);
        self.optional_text(&event, "description", MAX_CALENDAR_DESCRIPTION_CHARS);
    }

    fn open_url(&mut self, path: &str, value: Option<&Value>) {
        let Some(value) = value else { return };
        let known = ["url", "application", "webviewViewMode", "description"];
        let Some(open) = self.object(path, value, &known) else {
            return;
        };
        match open.get("url") {
            Some(url) => self.url(&open.path("url"), url),
            None => self.fail(&open.path("url"), "missing; give the page's http(s) URL"),
        }
        let applications = ["OPEN_URL_APPLICATION_UNSPECIFIED", "BROWSER", "WEBVIEW"];
        self.optional_enum(&open, "application", &applications);
        let modes = ["WEBVIEW_VIEW_MODE_UNSPECIFIED", "FULL", "HALF", "TALL"];
        self.optional_enum(&open, "webviewViewMode", &modes);
        self.optional_text(&open, "description", usize::MAX);
    }

    fn ttl(&mut self, path: &str, value: Option<&Value>) {
        let Some(text) = value.and_then(|v| self.string(path, v)) else {
            return;
        };
        match parse_duration(text) {
            None => self.fail(
                path,
                "not a duration in seconds such as \"86400s\" or \"0.5s\"",
            ),
            Some(seconds) if seconds <= 0.0 => {
                self.fail(path, "not ahead; a message needs some time to be delivered");
            }
            Some(seconds) if seconds > MAX_EXPIRY_SECONDS as f64 => self.fail(
                path,
                format!("more than 15 days; at most {MAX_EXPIRY_SECONDS}s allowed"),
            ),
            Some(_) => {}
        }
    }

    fn expire_time(&mut self, path: &str, value: Option<&Value>) {
        let Some(time) = self.timestamp(path, value) else {
            return;
        };
        if time <= self.now {
            self.fail(
                path,
                "not in the future; a message needs time to be delivered",
            );
        } else if time - self.now > TimeDelta::seconds(MAX_EXPIRY_SECONDS) {
            let message = format!("more than 15 days ahead; at most {MAX_EXPIRY_SECONDS}s allowed");
            self.fail(path, message);
        }
    }

    // --- Value checks shared by every object type ---

    /// The object at `path`, after refusing every key not in `known`.
    fn object<'v>(&mut self, path: &str, value: &'v Value, known: &[&str]) -> Option<Fields<'v>> {
        let Value::Object(map) = value else {
            self.fail(path, format!("expected an object, found {}", kind(value)));
            return None;
        };
        for key in map.keys().filter(|key| !known.contains(&key.as_str())) {
            let message = match known.is_empty() {
                true => "unknown field; this object takes no fields".to_string(),
                false => format!("unknown field; the fields here are {}", known.join(", ")),
            };
            self.fail(&join(path, key), message);
        }
        Some(Fields {
            path: path.to_string(),
            map,
        })
    }

    /// The one key of `group` that `fields` sets; a problem when several are set, or
    /// none while `required`.
    fn one_of(
        &mut self,
        fields: &Fields<'_>,
        object: &str,
        group: &[&'static str],
        required: bool,
    ) -> Option<&'static str> {
        let set: Vec<&'static str> = group
            .iter()
            .copied()
            .filter(|key| fields.get(key).is_some())
            .collect();
        match set.as_slice() {
            [one] => Some(one),
            [] if !required => None,
            _ => {
                let rule = if required { "exactly" } else { "at most" };
                let found = if set.is_empty() {
                    "none".to_string()
                } else {
                    set.join(" and ")
                };
                let message = format!(
                    "{object} must set {rule} one of {}; found {found}",
                    group.join(", ")
                );
                self.fail(&fields.path, message);
                None
            }
        }
    }

    fn string<'v>(&mut self, path: &str, value: &'v Value) -> Option<&'v str> {
        match value {
            Value::String(text) => Some(text),
            other => {
                self.fail(path, format!("expected a string, found {}", kind(other)));
                None
            }
        }
    }

    /// Text of one to `max` characters; a problem when missing.
    fn text<'v>(&mut self, path: &str, value: Option<&'v Value>, max: usize) -> Option<&'v str> {
        let Some(value) = value else {
            self.fail(path, "missing; give at least one character");
            return None;
        };
        let text = self.string(path, value)?;
        if text.is_empty() {
            self.fail(path, "empty; give at least one character");
        }
        self.max_chars(path, text, max);
        Some(text)
    }

    /// Optional text of at most `max` characters; may be empty.
    fn optional_text<'v>(&mut self, fields: &Fields<'v>, key: &str, max: usize) -> Option<&'v str> {
        let path = fields.path(key);
        let text = self.string(&path, fields.get(key)?)?;
        self.max_chars(&path, text, max);
        Some(text)
    }

    fn max_chars(&mut self, path: &str, text: &str, max: usize) {
        // The byte length bounds the character count, so most text is never counted.
        if text.len() <= max {
            return;
        }
        let chars = text.chars().count();
        if chars > max {
            self.fail(path, format!("{chars} characters; at most {max} allowed"));
        }
    }

    fn url(&mut self, path: &str, value: &Value) {
        let Some(url) = self.string(path, value) else {
            return;
        };
        self.max_chars(path, url, MAX_URL_CHARS);
        if let Some(problem) = http_uri_problem(url) {
            self.fail(path, format!("not an RFC 3986 http(s) URL: {problem}"));
        }
    }

    fn required_enum(
        &mut self,
        fields: &Fields<'_>,
        key: &str,
        allowed: &[&'static str],
    ) -> Option<&'static str> {
        if fields.get(key).is_none() {
            let message = format!("missing; set it to one of {}", allowed.join(", "));
            self.fail(&fields.path(key), message);
            return None;
        }
        self.optional_enum(fields, key, allowed)
    }

    fn optional_enum(
        &mut self,
        fields: &Fields<'_>,
        key: &str,
        allowed: &[&'static str],
    ) -> Option<&'static str> {
        let path = fields.path(key);
        let value = self.string(&path, fields.get(key)?)?;
        let found = allowed.iter().copied().find(|name| *name == value);
        if found.is_none() {
            let message = format!("{value:?} is not one of {}", allowed.join(", "));
            self.fail(&path, message);
        }
        found
    }

    fn boolean(&mut self, path: &str, value: &Value) {
        if !value.is_boolean() {
            self.fail(
                path,
                format!("expected true or false, found {}", kind(value)),
            );
        }
    }

    fn number(&mut self, path: &str, value: &Value) -> Option<f64> {
        let number = value.as_f64();
        if number.is_none() {
            self.fail(path, format!("expected a number, found {}", kind(value)));
        }
        number
    }

    fn array<'v>(&mut self, path: &str, value: Option<&'v Value>) -> Option<&'v Vec<Value>> {
        match value? {
            Value::Array(list) => Some(list),
            other => {
                self.fail(path, format!("expected a list, found {}", kind(other)));
                None
            }
        }
    }

    fn timestamp(&mut self, path: &str, value: Option<&Value>) -> Option<DateTime<Utc>> {
        let Some(value) = value else {
            self.fail(
                path,
                "missing; give an RFC 3339 time such as 2025-01-01T09:00:00Z",
            );
            return None;
        };
        let text = self.string(path, value)?;
        match DateTime::parse_from_rfc3339(text) {
            Ok(time) => Some(time.with_timezone(&Utc)),
            Err(_) => {
                self.fail(path, "not an RFC 3339 time such as 2025-01-01T09:00:00Z");
                None
            }
        }
    }
}

/// Reads a protobuf JSON duration (`"86400s"`, `"0.5s"`, up to nine decimals) as
/// seconds; `None` for anything else.
pub fn parse_duration(text: &str) -> Option<f64> {
    let number = text.strip_suffix('s')?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let fraction_ok = !number.contains('.') || (!fraction.is_empty() && fraction.len() <= 9);
    if whole.is_empty() || !digits(whole) || !digits(fraction) || !fraction_ok {
        return None;
    }
    number.parse().ok()
}

/// A JSON value's type, as error messages name it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(body: Value) -> Vec<Problem> {
        let bytes = serde_json::to_vec(&body).expect("JSON");
        match agent_message(&bytes, Utc::now()) {
            Ok(_) => Vec::new(),
            Err(rejection) => rejection.problems,
        }
    }

    fn paths(body: Value) -> Vec<String> {
        problems(body).into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn a_text_message_passes() {
        let body =
            json!({"contentMessage": {"text": "Shipped"}, "messageTrafficType": "TRANSACTION"});
        assert_eq!(problems(body), Vec::new());
    }

    #[test]
    fn durations_follow_protobuf_json() {
        assert_eq!(parse_duration("86400s"), Some(86400.0));
        assert_eq!(parse_duration("0.5s"), Some(0.5));
        for bad in [
            "",
            "s",
            "5",
            "-5s",
            "+5s",
            "1e3s",
            ".5s",
            "5.s",
            " 5s",
            "1.1234567890s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_problem_is_reported_under_its_path() {
        let body = json!({
            "contentMessage": {
                "text": "",
                "suggestions": [{"reply": {"text": "x", "postbackData": 7}}, {"bogus": {}}],
            },
            "ttl": "forever",
        });
        assert_eq!(
            paths(body),
            vec![
                "contentMessage.text",
                "contentMessage.suggestions[0].reply.postbackData",
                "contentMessage.suggestions[1].bogus",
                "contentMessage.suggestions[1]",
                "ttl",
            ]
        );
    }

    #[test]
    fn a_one_of_group_with_two_members_names_both() {
        let body =
            json!({"contentMessage": {"text": "a", "contentInfo": {"fileUrl": "https://x"}}});
        let found = problems(body);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "contentMessage");
        assert!(
            found[0].message.contains("text and contentInfo"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        assert_eq!(paths(json!([1, 2])), vec![""]);
        let error = agent_message(b"{not json", Utc::now()).expect_err("not JSON");
        assert!(
            error.message().contains("not valid JSON"),
            "{}",
            error.message()
        );
    }
}
