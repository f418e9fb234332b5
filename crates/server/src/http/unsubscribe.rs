//! One-click email unsubscribe (RFC 8058): `/unsubscribe/{token}`, the link every email
//! carries in `List-Unsubscribe` and its footer.
//!
//! `POST` with the body `List-Unsubscribe=One-Click` (what mailbox providers send, and
//! what the page's button sends) withdraws the customer's promotional email consent,
//! without a login and as often as it comes. `GET` only shows the page with the
//! button: mail scanners open links to check them, and must not unsubscribe anyone.
//! The token is the only key, so like a tracking token it is kept out of logs.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

use super::tracking::{brand_of, is_token_shaped, not_found_page, render, Brand};
use super::AppState;

/// The one body RFC 8058 defines for the POST.
const ONE_CLICK: (&str, &str) = ("List-Unsubscribe", "One-Click");

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    brand: Brand,
    heading: &'static str,
    line: &'static str,
    /// Show the button that confirms.
    ask: bool,
}

/// `GET /unsubscribe/{token}`: the page that asks, with its button.
pub async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match known_token(&state, &token).await {
        Ok(true) => show(&state, StatusCode::OK, ASK),
        Ok(false) => not_found_page(Some(&state)),
        Err(response) => response,
    }
}

/// `POST /unsubscribe/{token}`: withdraws promotional email consent.
pub async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    if !is_one_click(&body) {
        return show(&state, StatusCode::BAD_REQUEST, BAD_BODY);
    }
    if !is_token_shaped(&token) {
        return not_found_page(Some(&state));
    }
    match state.store.unsubscribe_email(&token).await {
        Ok(Some(_)) => show(&state, StatusCode::OK, DONE),
        Ok(None) => not_found_page(Some(&state)),
        Err(error) => failed(&state, &error),
    }
}

/// Whether the token opens a customer; `Err` is the page to answer with.
async fn known_token(state: &AppState, token: &str) -> Result<bool, Response> {
    // Tokens are 128 random bits in hex; anything else costs no query.
    if !is_token_shaped(token) {
        return Ok(false);
    }
    match state.store.customer_by_unsubscribe_token(token).await {
        Ok(found) => Ok(found.is_some()),
        Err(error) => Err(failed(state, &error)),
    }
}

/// Whether a form body holds `List-Unsubscribe=One-Click`.
fn is_one_click(body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .any(|(name, value)| (name, value) == ONE_CLICK)
}

type Wording = (&'static str, &'static str, bool);

const ASK: Wording = (
    "Unsubscribe from offers by email?",
    "You will still get emails about orders you place.",
    true,
);
const DONE: Wording = (
    "You're unsubscribed",
    "We won't email you offers any more. Emails about orders you place still come.",
    false,
);
const BAD_BODY: Wording = (
    "That request can't be handled",
    "Please open the unsubscribe link from the email again and use its button.",
    false,
);
const FAILED: Wording = (
    "Something went wrong",
    "Nothing was changed. Please try again in a few minutes.",
    false,
);

fn show(state: &AppState, status: StatusCode, (heading, line, ask): Wording) -> Response {
    let page = UnsubscribePage {
        brand: brand_of(Some(state)),
        heading,
        line,
        ask,
    };
    let mut response = render(status, &page);
    // The button posts back to this page; the tracking pages' policy allows no forms.
    let policy = "default-src 'none'; style-src 'unsafe-inline'; img-src https: http:; \
                  base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
    response
        .headers_mut()
        .insert("content-security-policy", HeaderValue::from_static(policy));
    response
}

fn failed(state: &AppState, error: &store::StoreError) -> Response {
    // The token is deliberately absent: it is the secret that opens the page.
    tracing::error!(
        error.cause_chain = ?error,
        error.message = %error,
        "unsubscribe could not reach the store"
    );
    show(state, StatusCode::SERVICE_UNAVAILABLE, FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_one_click_pair_confirms() {
        assert!(is_one_click(b"List-Unsubscribe=One-Click"));
        assert!(is_one_click(b"a=b&List-Unsubscribe=One-Click"));
        assert!(!is_one_click(b""));
        assert!(!is_one_click(b"List-Unsubscribe=Yes"));
        assert!(!is_one_click(b"list-unsubscribe"));
        assert!(!is_one_click(&[0xff, 0xfe]));
    }
}
