//! Customers: contact points, locale, time zone and consent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::phone::PhoneNumber;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CustomerError {
    #[error("{0:?} is not an email address")]
    Email(String),
    #[error("{0:?} is not an IANA time zone such as Europe/Madrid")]
    TimeZone(String),
    #[error("{0:?} is not a language tag such as en or es-MX")]
    Locale(String),
    #[error("{0:?} is not a consent purpose (transactional, promotional)")]
    Purpose(String),
    #[error("{0:?} is not a channel (rcs, sms, email)")]
    Channel(String),
}

/// An email address, trimmed and with its domain in lower case.
///
/// Only the shape is checked (one `@`, a dotted domain, no spaces): deliverability is
/// the mail server's business.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// # Errors
    /// When the text is not shaped like an address.
    pub fn parse(text: &str) -> Result<Email, CustomerError> {
        let text = text.trim();
        let bad = || CustomerError::Email(text.to_string());
        let (local, domain) = text.split_once('@').ok_or_else(bad)?;
        let shaped = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !text.chars().any(char::is_whitespace)
            && text.len() <= 254;
        if !shaped {
            return Err(bad());
        }
        Ok(Email(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone name, checked against the tz database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TimeZone(String);

impl TimeZone {
    /// # Errors
    /// When the name is not in the tz database.
    pub fn parse(name: &str) -> Result<TimeZone, CustomerError> {
        let tz: chrono_tz::Tz = name
            .trim()
            .parse()
            .map_err(|_| CustomerError::TimeZone(name.to_string()))?;
        Ok(TimeZone(tz.name().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A BCP 47 language tag in its common short form (`en`, `es-MX`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Locale(String);

impl Locale {
    /// Accepts `en`, `es_MX` or `es-mx` and normalises to `es-MX`.
    ///
    /// # Errors
    /// When the text is not a two- or three-letter language, optionally with a region.
    pub fn parse(text: &str) -> Result<Locale, CustomerError> {
        let bad = || CustomerError::Locale(text.to_string());
        let normalised = text.trim().replace('_', "-");
        let mut parts = normalised.split('-');
        let language = parts
            .next()
            .filter(|l| (2..=3).contains(&l.len()))
            .ok_or_else(bad)?;
        if !language.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(bad());
        }
        let mut tag = language.to_ascii_lowercase();
        if let Some(region) = parts.next() {
            let ok = region.len() == 2 && region.bytes().all(|b| b.is_ascii_alphabetic())
                || region.len() == 3 && region.bytes().all(|b| b.is_ascii_digit());
            if !ok || parts.next().is_some() {
                return Err(bad());
            }
            tag = format!("{tag}-{}", region.to_ascii_uppercase());
        }
        Ok(Locale(tag))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a message is sent, which decides the consent it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// About an order the customer placed.
    Transactional,
    /// Marketing: campaigns, journeys, offers.
    Promotional,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Transactional => "transactional",
            Purpose::Promotional => "promotional",
        }
    }

    /// # Errors
    /// When the name is not a purpose.
    pub fn parse(name: &str) -> Result<Purpose, CustomerError> {
        match name {
            "transactional" => Ok(Purpose::Transactional),
            "promotional" => Ok(Purpose::Promotional),
            _ => Err(CustomerError::Purpose(name.to_string())),
        }
    }
}

/// A way to reach a customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Rcs,
    Sms,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Rcs => "rcs",
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    /// # Errors
    /// When the name is not a channel.
    pub fn parse(name: &str) -> Result<Channel, CustomerError> {
        match name {
            "rcs" => Ok(Channel::Rcs),
            "sms" => Ok(Channel::Sms),
            "email" => Ok(Channel::Email),
            _ => Err(CustomerError::Channel(name.to_string())),
        }
    }
}

/// One consent decision: granted or withdrawn, for a purpose on a channel, with where
/// it came from. Records are appended, never edited; the newest one per purpose and
/// channel is in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub purpose: Purpose,
    pub channel: Channel,
    pub granted: bool,
    /// Where the decision was captured (`shopify:accepts_marketing`, `api`, `sms:STOP`).
    pub source: String,
    pub recorded_at: DateTime<Utc>,
}

/// A customer as a source describes it; fields a source does not know are `None` and
/// leave what Tidings already holds untouched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerInput {
    /// The source's own customer id, when it has one (guests have none).
    pub external_id: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<PhoneNumber>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<Locale>,
    pub time_zone: Option<TimeZone>,
    pub consents: Vec<ConsentRecord>,
}

impl CustomerInput {
    /// Whether there is anything to identify the customer by.
    pub fn is_identifiable(&self) -> bool {
        self.external_id.is_some() || self.email.is_some() || self.phone.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Bob@HostMail.com ").unwrap().as_str(),
            "Bob@hostmail.com"
        );
        for bad in [
            "bob",
            "bob@",
            "@x.com",
            "bob@localhost",
            "a b@x.com",
            "a@x.com.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn time_zones_come_from_the_tz_database() {
        assert_eq!(
            TimeZone::parse("Europe/Madrid").unwrap().as_str(),
            "Europe/Madrid"
        );
        assert!(TimeZone::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn locales_are_normalised() {
        assert_eq!(Locale::parse("es_mx").unwrap().as_str(), "es-MX");
        assert_eq!(Locale::parse("EN").unwrap().as_str(), "en");
        assert_eq!(Locale::parse("es-419").unwrap().as_str(), "es-419");
        assert!(Locale::parse("english").is_err());
        assert!(Locale::parse("en-US-x").is_err());
    }
}
