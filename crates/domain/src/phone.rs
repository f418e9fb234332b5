//! Phone numbers in E.164, parsed at the edge.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A valid phone number, held in E.164 form (`+16136120707`).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PhoneError {
    #[error("{0:?} is not a phone number")]
    Unparsable(String),
    #[error("{0:?} is not a valid number in its region")]
    Invalid(String),
    #[error("{0:?} is not a known ISO 3166 region code")]
    Region(String),
}

impl PhoneNumber {
    /// Parses a number as a person would type it; `default_region` (ISO 3166 alpha-2,
    /// such as `US`) applies to numbers written without a `+` country code.
    ///
    /// # Errors
    /// When the text is not a number, or not a valid one for its region.
    pub fn parse(text: &str, default_region: &str) -> Result<PhoneNumber, PhoneError> {
        let region: phonenumber::country::Id =
            default_region
                .trim()
                .to_ascii_uppercase()
                .parse()
                .map_err(|_| PhoneError::Region(default_region.to_string()))?;
        let parsed = phonenumber::parse(Some(region), text)
            .map_err(|_| PhoneError::Unparsable(text.to_string()))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid(text.to_string()));
        }
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        Ok(PhoneNumber(e164))
    }

    /// The ISO 3166 region the number belongs to (`US`, `ES`), where the numbering plan
    /// tells one country from another (`+1` is shared by several).
    pub fn region(&self) -> Option<String> {
        let parsed = phonenumber::parse(None, &self.0).ok()?;
        let id = parsed.country().id()?;
        Some(format!("{id:?}"))
    }

    /// Whether `code` is an ISO 3166 region the numbering plan knows (`US`, `es`).
    pub fn is_region(code: &str) -> bool {
        code.trim()
            .to_ascii_uppercase()
            .parse::<phonenumber::country::Id>()
            .is_ok()
    }

    /// Rebuilds a number already stored in E.164 form.
    pub fn from_e164_unchecked(e164: String) -> PhoneNumber {
        PhoneNumber(e164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last digits only, for logs and pages where the number is personal data.
    pub fn masked(&self) -> String {
        let tail: String = self
            .0
            .chars()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("+…{tail}")
    }
}

impl std::fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A phone number is personal data: debug output must not leak it into logs.
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_knows_its_region() {
        let region = |text: &str| PhoneNumber::parse(text, "US").unwrap().region();
        assert_eq!(region("+34 612 34 56 78").as_deref(), Some("ES"));
        assert_eq!(region("(613) 612-0707").as_deref(), Some("CA"));
        assert_eq!(region("+1 212 555 0123").as_deref(), Some("US"));
    }
    use proptest::prelude::*;

    #[test]
    fn national_numbers_take_the_default_region() {
        let phone = PhoneNumber::parse("(613) 612-0707", "US").unwrap();
        assert_eq!(phone.as_str(), "+16136120707");
        let phone = PhoneNumber::parse("612 34 56 78", "es").unwrap();
        assert_eq!(phone.as_str(), "+34612345678");
    }

    #[test]
    fn international_numbers_ignore_the_default_region() {
        let phone = PhoneNumber::parse("+44 20 7946 0958", "US").unwrap();
        assert_eq!(phone.as_str(), "+442079460958");
    }

    #[test]
    fn invalid_numbers_are_rejected() {
        // 555 numbers are fictional in North America.
        assert!(PhoneNumber::parse("555-625-1199", "US").is_err());
        assert!(PhoneNumber::parse("not a phone", "US").is_err());
        assert!(matches!(
            PhoneNumber::parse("+16136120707", "XX"),
            Err(PhoneError::Region(_))
        ));
    }

    #[test]
    fn debug_output_masks_the_number() {
        let phone = PhoneNumber::parse("+16136120707", "US").unwrap();
        assert_eq!(format!("{phone:?}"), "PhoneNumber(+…07)");
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,24}") {
            let _ = PhoneNumber::parse(&text, "US");
        }

        #[test]
        fn e164_output_parses_back_to_itself(n in 2_012_000_000u64..9_899_999_999) {
            if let Ok(phone) = PhoneNumber::parse(&n.to_string(), "US") {
                let again = PhoneNumber::parse(phone.as_str(), "FR").unwrap();
                prop_assert_eq!(again, phone);
            }
        }
    }
}
