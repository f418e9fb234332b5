//! The web pages: an index of phones, and one page per phone that shows its
//! conversation the way a phone shows RCS (bubbles, rich cards, carousels, chips) and
//! lets a person tap a suggestion or type a reply. Texts (SMS) sit in the same thread,
//! drawn apart from RCS, and a person can text back. A small inline script reloads the
//! page when the conversation changes.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{phone_param, PhonePath};
use crate::config::UserAction;
use crate::delivery::{self, chip_list, Choice};
use crate::error::{ApiError, ApiResult};
use crate::files::StoredFile;
use crate::phones::{MessageState, Phone};
use crate::state::{Shared, World};

/// The page routes.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(index))
        .route("/phones/{phone}", get(phone_page).post(phone_action))
        .route("/phones/{phone}/revision", get(revision))
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    agent_id: String,
    phones: Vec<PhoneSummary>,
}

struct PhoneSummary {
    number: String,
    name: String,
    status: &'static str,
    messages: usize,
}

#[derive(Template)]
#[template(path = "phone.html")]
struct PhonePage {
    agent_id: String,
    number: String,
    name: String,
    status: &'static str,
    online: bool,
    /// Whether the phone has RCS; without it only the SMS reply box shows.
    rcs: bool,
    revision: u64,
    items: Vec<Item>,
}

/// One entry in the conversation.
enum Item {
    Agent(AgentBubble),
    User(UserBubble),
    Sms(SmsBubble),
}

/// A text, to the phone or from it.
struct SmsBubble {
    /// Sent by the business (shown on the left), rather than by the phone's user.
    to_phone: bool,
    text: String,
    /// `SMS · 2 segments · delivered`.
    detail: String,
}

struct AgentBubble {
    message_id: String,
    state: &'static str,
    text: Option<String>,
    file: Option<MediaView>,
    cards: Vec<CardView>,
    carousel: bool,
    /// `small` or `medium`, for carousels.
    width: &'static str,
    /// The message's own chips, numbered after the cards'.
    chips: Vec<ChipView>,
    tappable: bool,
}

struct CardView {
    title: String,
    description: String,
    media: Option<MediaView>,
    horizontal: bool,
    chips: Vec<ChipView>,
}

struct MediaView {
    url: Option<String>,
    label: String,
    kind: &'static str,
    /// `short`, `medium` or `tall`.
    height: &'static str,
}

struct ChipView {
    index: usize,
    text: String,
    icon: &'static str,
}

struct UserBubble {
    text: String,
    detail: String,
}

async fn index(State(shared): State<Arc<Shared>>) -> Response {
    let page = {
        let world = shared.world();
        IndexPage {
            agent_id: shared.settings.agent_id.clone(),
            phones: world.phones.values().map(summary).collect(),
        }
    };
    render(&page)
}

fn summary(phone: &Phone) -> PhoneSummary {
    PhoneSummary {
        number: phone.config.number.clone(),
        name: display_name(phone),
        status: status(phone),
        messages: phone.messages.len() + phone.user_messages.len(),
    }
}

fn display_name(phone: &Phone) -> String {
    phone
        .config
        .name
        .clone()
        .unwrap_or_else(|| phone.config.number.clone())
}

fn status(phone: &Phone) -> &'static str {
    match (phone.config.rcs, phone.online) {
        (false, _) => "no RCS",
        (true, true) => "online",
        (true, false) => "offline",
    }
}

async fn phone_page(State(shared): State<Arc<Shared>>, path: PhonePath) -> Response {
    let page = phone_param(path).and_then(|number| build_page(&shared, &number));
    match page {
        Ok(page) => render(&page),
        Err(error) => (
            error.code,
            Html(format!("<p>{}</p>", escape(&error.message))),
        )
            .into_response(),
    }
}

fn build_page(shared: &Shared, number: &str) -> ApiResult<PhonePage> {
    let world = shared.world();
    let phone = world.phones.get(number).ok_or_else(|| {
        ApiError::not_found("no phone with this number; add it through POST /emulator/phones")
    })?;
    Ok(PhonePage {
        agent_id: shared.settings.agent_id.clone(),
        number: number.to_string(),
        name: display_name(phone),
        status: status(phone),
        online: phone.online,
        rcs: phone.config.rcs,
        revision: phone.revision,
        items: conversation(&world, phone),
    })
}

/// Agent and user messages merged in the order they happened.
fn conversation(world: &World, phone: &Phone) -> Vec<Item> {
    let mut items: Vec<(u64, Item)> = phone
        .messages
        .iter()
        .map(|m| {
            let tappable =
                phone.online && matches!(m.state, MessageState::Delivered | MessageState::Read);
            let bubble = agent_bubble(world, &m.message_id, m.state, &m.body, tappable);
            (m.seq, Item::Agent(bubble))
        })
        .collect();
    items.extend(
        phone
            .user_messages
            .iter()
            .map(|m| (m.seq, Item::User(user_bubble(&m.content)))),
    );
    let number = phone.config.number.as_str();
    items.extend(
        world
            .sms
            .of_phone(number)
            .map(|m| (m.seq, Item::Sms(sms_bubble(m, number)))),
    );
    items.sort_by_key(|(seq, _)| *seq);
    items.into_iter().map(|(_, item)| item).collect()
}

fn agent_bubble(
    world: &World,
    id: &str,
    state: MessageState,
    body: &Value,
    tappable: bool,
) -> AgentBubble {
    let content = &body["contentMessage"];
    let card = &content["richCard"];
    let standalone = &card["standaloneCard"];
    let carousel = &card["carouselCard"];
    let mut next = 0;
    let cards: Vec<CardView> = if standalone.is_object() {
        let horizontal = standalone["cardOrientation"] == "HORIZONTAL";
        vec![card_view(
            world,
            &standalone["cardContent"],
            horizontal,
            &mut next,
        )]
    } else {
        let list = carousel["cardContents"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        list.iter()
            .map(|c| card_view(world, c, false, &mut next))
            .collect()
    };
    let file = file_view(world, content, "medium");
    AgentBubble {
        message_id: id.to_string(),
        state: state_label(state),
        text: content["text"].as_str().map(str::to_string),
        file,
        cards,
        carousel: carousel.is_object(),
        width: if carousel["cardWidth"] == "SMALL" {
            "small"
        } else {
            "medium"
        },
        chips: chip_views(&content["suggestions"], &mut next),
        tappable,
    }
}

fn state_label(state: MessageState) -> &'static str {
    match state {
        MessageState::Pending => "waiting for the phone",
        MessageState::Delivered => "delivered",
        MessageState::Read => "read",
        MessageState::Revoked => "revoked before delivery",
        MessageState::Expired => "expired before delivery",
    }
}

fn card_view(world: &World, card: &Value, horizontal: bool, next: &mut usize) -> CardView {
    let media = &card["media"];
    let height = match media["height"].as_str() {
        Some("SHORT") => "short",
        Some("TALL") => "tall",
        _ => "medium",
    };
    CardView {
        title: card["title"].as_str().unwrap_or_default().to_string(),
        description: card["description"].as_str().unwrap_or_default().to_string(),
        media: file_view(world, media, height),
        horizontal,
        chips: chip_views(&card["suggestions"], next),
    }
}

/// The file in `holder`'s `contentInfo` or `uploadedRbmFile`, if it has one.
fn file_view(world: &World, holder: &Value, height: &'static str) -> Option<MediaView> {
    let (url, label) = if let Some(url) = holder["contentInfo"]["fileUrl"].as_str() {
        (Some(url.to_string()), url.to_string())
    } else {
        let name = holder["uploadedRbmFile"]["fileName"].as_str()?;
        (uploaded_url(world, name), name.to_string())
    };
    let kind = media_kind(world, holder, url.as_deref());
    Some(MediaView {
        url,
        label,
        kind,
        height,
    })
}

fn uploaded_url(world: &World, name: &str) -> Option<String> {
    match world.files.get(name)? {
        StoredFile::Url { file_url, .. } => Some(file_url.clone()),
        StoredFile::Bytes { .. } => {
            let id = name.strip_prefix("files/")?;
            Some(format!("/emulator/files/{id}"))
        }
    }
}

/// `image`, `video` or `file`, from the uploaded type or the URL's extension.
fn media_kind(world: &World, holder: &Value, url: Option<&str>) -> &'static str {
    let uploaded = holder["uploadedRbmFile"]["fileName"].as_str();
    if let Some(StoredFile::Bytes { mime_type, .. }) = uploaded.and_then(|n| world.files.get(n)) {
        return match mime_type.split('/').next() {
            Some("image") => "image",
            Some("video") => "video",
            _ => "file",
        };
    }
    let path = url
        .unwrap_or_default()
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    let extension = path
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match extension.as_str() {
        "png" | "jpg" | "jpeg" | "gif" | "webp" => "image",
        "mp4" | "webm" | "m4v" => "video",
        _ => "file",
    }
}

fn chip_views(list: &Value, next: &mut usize) -> Vec<ChipView> {
    let raw = list.as_array().cloned().unwrap_or_default();
    chip_list(list)
        .into_iter()
        .zip(raw.iter())
        .map(|(chip, suggestion)| {
            let view = ChipView {
                index: *next,
                text: chip.text,
                icon: icon(&suggestion["action"]),
            };
            *next += 1;
            view
        })
        .collect()
}

/// A mark for what an action chip does, as phones draw one beside the label.
fn icon(action: &Value) -> &'static str {
    let has = |key: &str| action[key].is_object();
    if has("dialAction") {
        "☎"
    } else if has("openUrlAction") {
        "↗"
    } else if has("viewLocationAction") || has("shareLocationAction") {
        "⌖"
    } else if has("createCalendarEventAction") {
        "▦"
    } else {
        ""
    }
}

fn user_bubble(content: &Value) -> UserBubble {
    let (text, detail) = if let Some(text) = content["text"].as_str() {
        (text.to_string(), String::new())
    } else if let Some(response) = content.get("suggestionResponse") {
        let text = response["text"].as_str().unwrap_or_default().to_string();
        let postback = response["postbackData"].as_str().unwrap_or_default();
        (text, format!("tapped · postback {postback}"))
    } else if let Some(at) = content.get("location") {
        let text = format!("📍 {}, {}", at["latitude"], at["longitude"]);
        (text, "shared a location".to_string())
    } else {
        let name = content["userFile"]["payload"]["fileName"]
            .as_str()
            .unwrap_or("a file");
        (format!("📎 {name}"), "sent a file".to_string())
    };
    UserBubble { text, detail }
}

fn sms_bubble(text: &crate::sms::SmsRecord, number: &str) -> SmsBubble {
    let parts = match text.num_segments {
        1 => "1 segment".to_string(),
        n => format!("{n} segments"),
    };
    let mut detail = format!("SMS · {parts} · {}", text.status.as_str());
    if let Some(code) = text.error_code {
        detail.push_str(&format!(" (error {code})"));
    }
    SmsBubble {
        to_phone: text.to == number,
        text: text.body.clone(),
        detail,
    }
}

/// What the page's forms post: a typed reply, a text, a tap, or the network switch.
#[derive(Deserialize)]
struct PageAction {
    action: String,
    text: Option<String>,
    message_id: Option<String>,
    index: Option<usize>,
}

async fn phone_action(
    State(shared): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    path: PhonePath,
    form: Result<Form<PageAction>, FormRejection>,
) -> Response {
    let outcome = phone_param(path).and_then(|number| {
        let Form(form) = form.map_err(|e| ApiError::invalid(e.body_text()))?;
        perform(&shared, &number, form)
    });
    match outcome {
        // Back to the page, which now shows the change (post/redirect/get).
        Ok(()) => Redirect::to(uri.path()).into_response(),
        Err(error) => (
            error.code,
            Html(format!("<p>{}</p>", escape(&error.message))),
        )
            .into_response(),
    }
}

fn perform(shared: &Arc<Shared>, number: &str, form: PageAction) -> ApiResult<()> {
    match form.action.as_str() {
        "reply" => {
            let text = form.text.unwrap_or_default();
            delivery::act(shared, number, None, &UserAction::Text(text)).map(drop)
        }
        "tap" => {
            let index = form
                .index
                .ok_or_else(|| ApiError::invalid("index: missing"))?;
            let choice = Choice::Index(index);
            delivery::tap(shared, number, form.message_id.as_deref(), &choice).map(drop)
        }
        "sms" => {
            let text = form.text.unwrap_or_default();
            crate::sms::reply(shared, number, &text).map(drop)
        }
        "online" => delivery::set_online(shared, number, true),
        "offline" => delivery::set_online(shared, number, false),
        other => Err(ApiError::invalid(format!("unknown page action {other:?}"))),
    }
}

async fn revision(State(shared): State<Arc<Shared>>, path: PhonePath) -> ApiResult<Json<Value>> {
    let number = phone_param(path)?;
    let world = shared.world();
    let phone = world
        .phones
        .get(&number)
        .ok_or_else(|| ApiError::not_found("no such phone"))?;
    Ok(Json(json!({ "revision": phone.revision })))
}

fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(error.message = %error, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

/// Escapes text for the plain error pages, which are not templates.
fn escape(text: &str) -> String {
    let map: HashMap<char, &str> = [
        ('<', "&lt;"),
        ('>', "&gt;"),
        ('&', "&amp;"),
        ('"', "&quot;"),
    ]
    .into();
    text.chars()
        .map(|c| map.get(&c).map_or_else(|| c.to_string(), |s| s.to_string()))
        .collect()
}
