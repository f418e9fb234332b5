//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: Twilio's "create a Message",
//! with its Basic auth, its form fields, its answers and its error codes
//! (<https://www.twilio.com/docs/api/errors>).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::handset::{new_sid, play};
use super::{SmsRecord, SmsStatus, API_VERSION};
use crate::phones::is_e164;
use crate::state::{Shared, World};
use crate::validate::http_uri_problem;

/// The longest body Twilio takes: 1,600 characters.
const MAX_BODY_CHARS: usize = 1600;

/// A refusal in Twilio's JSON: `{"code", "message", "more_info", "status"}`.
#[derive(Debug)]
pub struct TwilioApiError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl TwilioApiError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> TwilioApiError {
        TwilioApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// A 400 with Twilio's `code`.
    fn invalid(code: u32, message: impl Into<String>) -> TwilioApiError {
        TwilioApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for TwilioApiError {
    fn into_response(self) -> Response {
        tracing::debug!(code = self.code, "refused an SMS request");
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = header::HeaderValue::from_static("Basic realm=\"Twilio API\"");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

type TwilioResult<T> = Result<T, TwilioApiError>;

/// A send, as its form gives it.
struct Request {
    to: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    body: String,
    status_callback: Option<String>,
}

/// `POST /2010-04-01/Accounts/{account}/Messages.json`.
#[tracing::instrument(name = "twilio message", skip_all, fields(sid))]
pub async fn create(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> TwilioResult<(StatusCode, Json<Value>)> {
    let Path(account) = path.map_err(|e| TwilioApiError::invalid(20001, e.body_text()))?;
    authenticate(&shared, &headers, &account)?;
    let Form(fields) = form.map_err(|e| TwilioApiError::invalid(20001, e.body_text()))?;
    let request = request(fields.into_iter().collect())?;

    let (record, answer) = {
        let mut world = shared.world();
        if world.sms.opted_out.contains(&request.to) {
            return Err(TwilioApiError::invalid(
                21610,
                "Attempt to send to unsubscribed recipient",
            ));
        }
        let record = record(&mut world, request);
        let answer = answer(&world.sms.account.account_sid, &record);
        world.sms.messages.push(record.clone());
        world.stats.texts_accepted += 1;
        (record, answer)
    };
    tracing::Span::current().record("sid", record.sid.as_str());
    play(&shared, record.sid);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Checks HTTP Basic credentials against the account, and that the path names it.
fn authenticate(shared: &Shared, headers: &HeaderMap, account: &str) -> TwilioResult<()> {
    let refused = || {
        TwilioApiError::new(
            StatusCode::UNAUTHORIZED,
            20003,
            "Authentication Error - invalid username or password; give the account SID \
             and auth token as HTTP Basic credentials",
        )
    };
    let (user, password) = basic_credentials(headers).ok_or_else(refused)?;
    let world = shared.world();
    let expected = &world.sms.account;
    if user != expected.account_sid || password != expected.auth_token {
        return Err(refused());
    }
    if account != expected.account_sid {
        return Err(TwilioApiError::new(
            StatusCode::NOT_FOUND,
            20404,
            format!(
                "The requested resource /{API_VERSION}/Accounts/{account}/Messages.json was \
                 not found; the path must name the account the credentials belong to"
            ),
        ));
    }
    Ok(())
}

/// The user and password of an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The send a form asks for, or Twilio's error for what is missing or wrong.
fn request(mut fields: HashMap<String, String>) -> TwilioResult<Request> {
    let mut take = |name: &str| fields.remove(name).filter(|value| !value.trim().is_empty());
    let to = take("To")
        .ok_or_else(|| TwilioApiError::invalid(21604, "A 'To' phone number is required."))?;
    let from = take("From");
    let messaging_service_sid = take("MessagingServiceSid");
    let body =
        take("Body").ok_or_else(|| TwilioApiError::invalid(21602, "Message body is required."))?;
    let status_callback = take("StatusCallback");
    if from.is_none() && messaging_service_sid.is_none() {
        return Err(TwilioApiError::invalid(
            21603,
            "A 'From' phone number is required (or a MessagingServiceSid).",
        ));
    }
    // Written in E.164, and a number the numbering plan allows, as Twilio checks.
    if !is_e164(&to) || domain::PhoneNumber::parse(&to, "US").is_err() {
        return Err(TwilioApiError::invalid(
            21211,
            format!("The 'To' number {to} is not a valid phone number."),
        ));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(TwilioApiError::invalid(
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        ));
    }
    if let Some(problem) = status_callback.as_deref().and_then(http_uri_problem) {
        return Err(TwilioApiError::invalid(
            21609,
            format!("Invalid StatusCallback URL: {problem}"),
        ));
    }
    Ok(Request {
        to,
        from,
        messaging_service_sid,
        body,
        status_callback,
    })
}

/// The text a send makes: `queued`, or `accepted` when a Messaging Service picks the
/// sender (the account's number, here).
fn record(world: &mut World, request: Request) -> SmsRecord {
    let seq = world.next_seq();
    let segments = domain::sms::count_segments(&request.body);
    let status = match (&request.from, &request.messaging_service_sid) {
        (None, Some(_)) => SmsStatus::Accepted,
        _ => SmsStatus::Queued,
    };
    let from = request
        .from
        .unwrap_or_else(|| world.sms.account.number.clone());
    let now = Utc::now();
    SmsRecord {
        sid: new_sid("SM"),
        direction: "outbound-api",
        from,
        to: request.to,
        messaging_service_sid: request.messaging_service_sid,
        body: request.body,
        status,
        error_code: None,
        num_segments: segments.count,
        encoding: segments.encoding.as_str(),
        status_callback: request.status_callback,
        date_created: now,
        date_updated: now,
        seq,
    }
}

/// The Message resource as Twilio answers a create.
fn answer(account_sid: &str, record: &SmsRecord) -> Value {
    let uri = format!(
        "/{API_VERSION}/Accounts/{account_sid}/Messages/{}.json",
        record.sid
    );
    json!({
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": record.body,
        "date_created": rfc2822(record.date_created),
        "date_sent": null,
        "date_updated": rfc2822(record.date_updated),
        "direction": record.direction,
        "error_code": null,
        "error_message": null,
        "from": record.from,
        "messaging_service_sid": record.messaging_service_sid,
        "num_media": "0",
        "num_segments": record.num_segments.to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": record.sid,
        "status": record.status.as_str(),
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": record.to,
        "uri": uri,
    })
}

/// Twilio writes dates as RFC 2822.
fn rfc2822(time: DateTime<Utc>) -> String {
    time.to_rfc2822()
}
