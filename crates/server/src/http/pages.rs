//! The workspace's shared page parts: the header with the navigation a role may open,
//! error pages, and the home page.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::access::{access_for, Access};
use super::auth::Principal;
use super::error::ApiError;

/// One link of the navigation.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    /// The page being shown, marked `aria-current`.
    pub current: bool,
}

/// What every logged-in page shows around its content.
pub struct Chrome {
    pub nav: Vec<NavItem>,
    pub email: String,
    pub role: String,
    /// The session's CSRF token, for the page's forms.
    pub csrf: String,
}

/// One page of the workspace, as the navigation and the home page list it.
struct PageEntry {
    href: &'static str,
    label: &'static str,
    /// What the page is for, on the home page.
    about: &'static str,
}

/// The workspace's pages in navigation order; each is shown only to those who may
/// open it, by the same table that guards it.
const PAGES: &[PageEntry] = &[
    PageEntry {
        href: "/app",
        label: "Home",
        about: "What your role may open.",
    },
    PageEntry {
        href: "/app/keys",
        label: "API keys",
        about: "Create keys for integrations, each with a scope, and revoke them.",
    },
    PageEntry {
        href: "/app/users",
        label: "Users",
        about: "Add people, change their roles, disable them.",
    },
    PageEntry {
        href: "/app/audit",
        label: "Audit log",
        about: "Every change: who made it, when, and what it was before and after.",
    },
    PageEntry {
        href: "/app/password",
        label: "Password",
        about: "Change your password; your other sessions end.",
    },
];

/// A page `principal` may open, for the home page's list.
pub struct Openable {
    pub href: &'static str,
    pub label: &'static str,
    pub about: &'static str,
}

/// The pages (besides home) the access table lets `principal` open.
fn openable(principal: &Principal) -> Vec<Openable> {
    PAGES
        .iter()
        .filter(|p| p.href != "/app" && may_open(principal, p.href))
        .map(|p| Openable {
            href: p.href,
            label: p.label,
            about: p.about,
        })
        .collect()
}

impl Chrome {
    /// The header for `principal` (a session) on the page at `current`.
    pub fn for_page(principal: &Principal, current: &str) -> Option<Chrome> {
        let session = principal.session()?;
        let nav = PAGES
            .iter()
            .filter(|page| may_open(principal, page.href))
            .map(|page| NavItem {
                href: page.href,
                label: page.label,
                current: page.href == current,
            })
            .collect();
        Some(Chrome {
            nav,
            email: session.user.email.clone(),
            role: session.user.role.clone(),
            csrf: session.csrf_token.clone(),
        })
    }
}

/// Whether the access table lets `principal` open the page at `href`.
fn may_open(principal: &Principal, href: &str) -> bool {
    match access_for(&axum::http::Method::GET, href) {
        Some(Access::Public) => true,
        Some(Access::Requires(permission)) => principal.permits(permission),
        None => false,
    }
}

/// Renders a page, or a plain 500 when the template fails (it never should).
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(error.message = %error, "a workspace page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "app/error.html")]
struct ErrorPage<'a> {
    chrome: Option<Chrome>,
    title: &'a str,
    message: &'a str,
}

/// An error as a page, with the API's status for it; internal causes go to the log.
pub fn error_page(error: ApiError) -> Response {
    let message = match &error {
        ApiError::Internal(_) => "Something went wrong on our side; it has been logged.".into(),
        other => other.to_string(),
    };
    let status = error.into_response().status();
    error_page_with(status, &message)
}

/// A page saying `message`, with `status`.
pub fn error_page_with(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let page = ErrorPage {
        chrome: None,
        title,
        message,
    };
    render(status, &page)
}

#[derive(Template)]
#[template(path = "app/home.html")]
struct HomePage {
    chrome: Option<Chrome>,
    email: String,
    role: String,
    summary: String,
    pages: Vec<Openable>,
    /// What the session may change through the API, in words; empty for none.
    writes: String,
}

/// What a session may do through the API beyond reading, in words.
fn api_writes(principal: &Principal) -> String {
    use super::access::Permission::*;
    let phrases = [
        (WriteOrders, "write orders, shipments and events"),
        (EditTemplates, "save templates"),
        (RedriveMessages, "send dead letters again"),
        (EditConsent, "record customers' consent decisions"),
        (ReadAudit, "read the audit log"),
    ];
    let allowed: Vec<&str> = phrases
        .iter()
        .filter(|(permission, _)| principal.permits(*permission))
        .map(|(_, phrase)| *phrase)
        .collect();
    allowed.join(", ")
}

/// `GET /app`: who is logged in and what their role covers.
pub async fn home(principal: Principal) -> Response {
    let Some(session) = principal.session() else {
        return error_page(ApiError::Unauthorized(String::new()));
    };
    let summary = match session.user.role.as_str() {
        "owner" => "You may do everything, including adding users and changing roles.",
        "marketing" => "You own the message templates; everything else you may read.",
        "it" => "You own integrations, API keys and delivery health, and read the audit log.",
        "support" => {
            "You own customers' conversations and consent; everything else you may \
                      read."
        }
        _ => "You may read orders, messages and templates; you change nothing.",
    };
    let page = HomePage {
        chrome: Chrome::for_page(&principal, "/app"),
        email: session.user.email.clone(),
        role: session.user.role.clone(),
        summary: summary.into(),
        pages: openable(&principal),
        writes: api_writes(&principal),
    };
    render(StatusCode::OK, &page)
}
