//! Properties over generated messages: what is valid passes and survives JSON, and
//! each broken limit is reported, alone, at the right path.

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

use super::strategies::{invalid_message, valid_message};
use super::{AgentMessage, InvalidMessage};

/// A fixed clock, so a failing case replays exactly.
fn now() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000) + TimeDelta::milliseconds(123)
}

fn round_trip(message: &AgentMessage) -> Result<AgentMessage, TestCaseError> {
    let json = serde_json::to_string(message)
        .map_err(|e| TestCaseError::fail(format!("serialising: {e}")))?;
    serde_json::from_str(&json).map_err(|e| TestCaseError::fail(format!("parsing {json}: {e}")))
}

proptest! {
    #[test]
    fn valid_messages_pass_validation(message in valid_message(now())) {
        prop_assert_eq!(message.validate_at(now()), Ok(()));
    }

    #[test]
    fn valid_messages_survive_a_json_round_trip(message in valid_message(now())) {
        prop_assert_eq!(round_trip(&message)?, message);
    }

    #[test]
    fn a_broken_limit_is_the_only_error_reported((message, expected) in invalid_message(now())) {
        let errors = message.validate_at(now()).err().map(InvalidMessage::into_errors);
        prop_assert_eq!(errors, Some(vec![expected]));
    }

    // The emulator parses before it validates, so a message that breaks a limit must
    // still parse: refusing it is validation's job, which names the field.
    #[test]
    fn broken_messages_still_parse((message, _) in invalid_message(now())) {
        prop_assert_eq!(round_trip(&message)?, message);
    }
}
