//! EasyPost tracker webhooks: `tracker.created` and `tracker.updated`.

use domain::{mapping, Command, EventInput, EventTarget, Source};

use super::json::{parse_body, Obj};
use super::PayloadError;

pub const SOURCE: &str = Source::EASYPOST;

/// Parses an EasyPost event into a command; other events are ignored.
///
/// # Errors
/// When the body is not JSON or the tracker lacks what Tidings needs.
pub fn parse(body: &[u8]) -> Result<Command, PayloadError> {
    let value = parse_body(body)?;
    let event = Obj::root(&value)?;
    let description = event.str("description")?;
    if !matches!(description.as_str(), "tracker.created" | "tracker.updated") {
        return Ok(Command::Ignore {
            reason: format!("event {description} is not followed"),
        });
    }
    let tracker = event
        .obj("result")?
        .ok_or_else(|| PayloadError::new("result", "is required"))?;

    let mut events = Vec::new();
    for detail in tracker.items("tracking_details")? {
        let raw_status = detail.str("status")?;
        let sub = detail.opt_str("status_detail")?;
        events.push(EventInput {
            status: mapping::easypost(&raw_status),
            raw_status: match sub {
                Some(sub) => format!("{raw_status}/{sub}"),
                None => raw_status,
            },
            detail: detail.opt_str("message")?,
            location: location(&detail)?,
            happened_at: detail.time("datetime")?,
        });
    }
    // A tracker whose history is empty still reports where it stands.
    if events.is_empty() {
        let raw_status = tracker.str("status")?;
        events.push(EventInput {
            status: mapping::easypost(&raw_status),
            raw_status,
            detail: None,
            location: None,
            happened_at: tracker
                .opt_time("updated_at")?
                .map_or_else(|| event.time("created_at"), Ok)?,
        });
    }

    Ok(Command::AddEvents {
        target: EventTarget::TrackingNumber {
            tracking_number: tracker.str("tracking_code")?,
            carrier: tracker.opt_str("carrier")?,
        },
        estimated_delivery: tracker.opt_time("est_delivery_date")?,
        events,
        reported_by: Source::named(SOURCE),
    })
}

fn location(detail: &Obj) -> Result<Option<String>, PayloadError> {
    let Some(place) = detail.obj("tracking_location")? else {
        return Ok(None);
    };
    let parts: Vec<String> = [
        place.opt_str("city")?,
        place.opt_str("state")?,
        place.opt_str("country")?,
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok((!parts.is_empty()).then(|| parts.join(", ")))
}
