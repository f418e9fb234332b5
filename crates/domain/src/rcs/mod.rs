//! RCS messages as Google's RBM API v1 takes them: the content model, its limits, and
//! the check that a message keeps to them.
//!
//! - [`model`]: `AgentMessage` and everything inside it, serialising to RBM's JSON
//!   names and refusing JSON that sets none or several of a "one of" group;
//! - constructors on those types for the shapes templates build most
//!   ([`AgentContentMessage::text`], [`Suggestion::reply`], [`RichCard::carousel`], ...);
//! - [`limits`]: every size and count RBM enforces, as constants;
//! - [`AgentMessage::validate_at`]: checks a message against all of them and names the
//!   JSON path of each field that breaks one.
//!
//! Pure data and rules: sending is the RCS client's job.

#![warn(missing_docs)]

mod build;
pub mod limits;
pub mod model;
mod uri;
mod validate;

#[cfg(any(test, feature = "proptest"))]
pub mod strategies;

#[cfg(test)]
mod properties;

pub use model::{
    Action, AgentContentMessage, AgentMessage, CardContent, CardOrientation, CardWidth,
    CarouselCard, Content, ContentInfo, CreateCalendarEventAction, DialAction, Expiry, LatLng,
    Media, MediaFile, MediaHeight, OpenUrlAction, OpenUrlApplication, RichCard,
    ShareLocationAction, StandaloneCard, SuggestedAction, SuggestedReply, Suggestion,
    ThumbnailAlignment, TrafficType, UploadedRbmFile, ViewLocationAction, WebviewViewMode,
};
pub use uri::UrlProblem;
pub use validate::{InvalidMessage, LimitError, Violation};
