//! Amounts and dates written the way a customer's language writes them.
//!
//! English and Spanish are written out in full, following CLDR: `$59.90` and
//! `Thursday, November 27` for English; `59,90 €` and `jueves, 27 de noviembre` for
//! Spanish, with Mexico, the United States and Latin America (`es-419`) writing amounts
//! with a decimal point (`$59.90`). Every other language is written as English.
//! TODO(templates): more languages need CLDR data; until then they read as English.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;

use crate::money::Money;

/// A no-break space: keeps an amount and its currency on one line of a chat bubble.
const NBSP: char = '\u{a0}';

/// The two conventions Tidings writes amounts and dates in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Language {
    English,
    Spanish,
}

/// A locale tag split into what formatting needs: `es-MX` → Spanish, `MX`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tag {
    language: Language,
    region: Option<String>,
}

impl Tag {
    /// Reads `en`, `es-MX`, `es_mx`; anything unreadable is English without a region.
    fn parse(locale: &str) -> Tag {
        let normalised = locale.trim().replace('_', "-");
        let mut parts = normalised.split('-');
        let language = match parts.next().map(str::to_ascii_lowercase).as_deref() {
            Some("es") => Language::Spanish,
            _ => Language::English,
        };
        let region = parts.next().map(str::to_ascii_uppercase);
        Tag { language, region }
    }

    fn region_is(&self, regions: &[&str]) -> bool {
        self.region.as_deref().is_some_and(|r| regions.contains(&r))
    }

    /// Spanish as written in the Americas north of Panama and in `es-419`: decimal
    /// point, comma groups, symbol in front.
    fn spanish_with_point(&self) -> bool {
        self.language == Language::Spanish && self.region_is(&["MX", "US", "419"])
    }
}

/// `money` in the customer's convention: `$59.90` (en), `59,90 €` (es), `$1,234.50`
/// (es-MX for pesos).
pub fn money(amount: &Money, locale: &str) -> String {
    let tag = Tag::parse(locale);
    let currency = amount.currency.as_str();
    let number = number(amount, &tag);
    let sign = if amount.minor < 0 { "-" } else { "" };
    let symbol = symbol(currency, &tag);
    if tag.language == Language::Spanish && !tag.spanish_with_point() {
        return format!("{sign}{number}{NBSP}{symbol}");
    }
    // CLDR puts a space between a letter symbol and the digits: `CHF 59.90`.
    let gap = if symbol.ends_with(|c: char| c.is_ascii_alphabetic()) {
        NBSP.to_string()
    } else {
        String::new()
    };
    format!("{sign}{symbol}{gap}{number}")
}

/// The absolute amount with the locale's separators: `1,234.50` or `1234,50`.
fn number(amount: &Money, tag: &Tag) -> String {
    let exponent = amount.currency.exponent();
    let abs = amount.minor.unsigned_abs();
    let scale = 10u64.pow(exponent);
    let (whole, fraction) = (abs / scale, abs % scale);
    let comma_decimal = tag.language == Language::Spanish && !tag.spanish_with_point();
    let (group, decimal) = if comma_decimal {
        ('.', ',')
    } else {
        (',', '.')
    };
    // Spanish leaves four-digit numbers ungrouped (1234,50 €); groups start at 10 000.
    let min_digits = if comma_decimal { 5 } else { 4 };
    let whole = grouped(whole, group, min_digits);
    if exponent == 0 {
        whole
    } else {
        format!(
            "{whole}{decimal}{fraction:0width$}",
            width = exponent as usize
        )
    }
}

/// `n` with `separator` every three digits, once it has at least `min_digits`.
fn grouped(n: u64, separator: char, min_digits: usize) -> String {
    let digits = n.to_string();
    if digits.len() < min_digits {
        return digits;
    }
    let digits: Vec<char> = digits.chars().collect();
    let groups: Vec<String> = digits.rchunks(3).rev().map(String::from_iter).collect();
    groups.join(&separator.to_string())
}

/// The currency's symbol in the locale, or its ISO code where the locale has none
/// that cannot be mistaken for another currency.
fn symbol(currency: &str, tag: &Tag) -> String {
    let own_dollar = match (tag.language, tag.region.as_deref()) {
        (Language::English, None | Some("US")) | (Language::Spanish, Some("US")) => "USD",
        (Language::English, Some("CA")) => "CAD",
        (Language::English, Some("AU")) => "AUD",
        (Language::Spanish, Some("MX")) => "MXN",
        _ => "",
    };
    if currency == own_dollar {
        return "$".into();
    }
    let found = match tag.language {
        Language::English => english_symbol(currency),
        // Spanish in the Americas writes other currencies by their code (`USD 59.90`).
        Language::Spanish if tag.spanish_with_point() => None,
        Language::Spanish => spanish_symbol(currency),
    };
    found.unwrap_or(currency).to_string()
}

fn english_symbol(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "USD" => "US$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "INR" => "₹",
        "CAD" => "CA$",
        "AUD" => "A$",
        "MXN" => "MX$",
        "BRL" => "R$",
        _ => return None,
    })
}

fn spanish_symbol(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "USD" => "US$",
        "EUR" => "€",
        _ => return None,
    })
}

/// How much of a date to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateStyle {
    /// Weekday, day and month: `Thursday, November 27`, `jueves, 27 de noviembre`.
    Long,
    /// Day and abbreviated month: `Nov 27`, `27 nov`.
    Short,
    /// Long, with the year: `Thursday, November 27, 2026`.
    Full,
}

impl DateStyle {
    /// `long`, `short` or `full`.
    pub fn parse(name: &str) -> Option<DateStyle> {
        match name {
            "long" => Some(DateStyle::Long),
            "short" => Some(DateStyle::Short),
            "full" => Some(DateStyle::Full),
            _ => None,
        }
    }
}

/// The calendar date of `at` in `time_zone`, written in the locale's words.
pub fn date(at: DateTime<Utc>, time_zone: Tz, locale: &str, style: DateStyle) -> String {
    let local = at.with_timezone(&time_zone);
    let (day, year) = (local.day(), local.year());
    let month = local.month0() as usize;
    let weekday = local.weekday().num_days_from_monday() as usize;
    match Tag::parse(locale).language {
        Language::English => match style {
            DateStyle::Long => format!("{}, {} {day}", EN_DAYS[weekday], EN_MONTHS[month]),
            DateStyle::Short => format!("{} {day}", &EN_MONTHS[month][..3]),
            DateStyle::Full => {
                format!("{}, {} {day}, {year}", EN_DAYS[weekday], EN_MONTHS[month])
            }
        },
        Language::Spanish => match style {
            DateStyle::Long => format!("{}, {day} de {}", ES_DAYS[weekday], ES_MONTHS[month]),
            DateStyle::Short => format!("{day} {}", ES_SHORT_MONTHS[month]),
            DateStyle::Full => {
                let (weekday, month) = (ES_DAYS[weekday], ES_MONTHS[month]);
                format!("{weekday}, {day} de {month} de {year}")
            }
        },
    }
}

/// The time of day of `at` in `time_zone`: `3:05 PM` (en), `15:05` (es).
pub fn time(at: DateTime<Utc>, time_zone: Tz, locale: &str) -> String {
    let local = at.with_timezone(&time_zone);
    let minute = local.minute();
    match Tag::parse(locale).language {
        Language::English => {
            let (pm, hour) = local.hour12();
            let half = if pm { "PM" } else { "AM" };
            format!("{hour}:{minute:02}{NBSP}{half}")
        }
        Language::Spanish => format!("{}:{minute:02}", local.hour()),
    }
}

const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const ES_DAYS: [&str; 7] = [
    "lunes",
    "martes",
    "miércoles",
    "jueves",
    "viernes",
    "sábado",
    "domingo",
];

const ES_MONTHS: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

const ES_SHORT_MONTHS: [&str; 12] = [
    "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic",
];

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::money::Currency;

    fn amount(minor: i64, currency: &str) -> Money {
        Money {
            minor,
            currency: Currency::parse(currency).unwrap(),
        }
    }

    /// Tests read better with plain spaces; the output uses no-break ones.
    fn plain(text: String) -> String {
        text.replace(NBSP, " ")
    }

    #[test]
    fn english_amounts_put_the_symbol_in_front() {
        assert_eq!(money(&amount(5990, "USD"), "en"), "$59.90");
        assert_eq!(money(&amount(5990, "EUR"), "en-US"), "€59.90");
        assert_eq!(money(&amount(123_456_789, "GBP"), "en-GB"), "£1,234,567.89");
        assert_eq!(money(&amount(5990, "USD"), "en-CA"), "US$59.90");
        assert_eq!(money(&amount(1200, "JPY"), "en"), "¥1,200");
        assert_eq!(money(&amount(-250, "USD"), "en"), "-$2.50");
        assert_eq!(plain(money(&amount(5990, "CHF"), "en")), "CHF 59.90");
    }

    #[test]
    fn spanish_amounts_use_a_decimal_comma_and_a_trailing_symbol() {
        assert_eq!(plain(money(&amount(5990, "EUR"), "es")), "59,90 €");
        assert_eq!(plain(money(&amount(123_450, "EUR"), "es-ES")), "1234,50 €");
        assert_eq!(plain(money(&amount(1_234_550, "EUR"), "es")), "12.345,50 €");
        assert_eq!(plain(money(&amount(5990, "USD"), "es")), "59,90 US$");
        assert_eq!(plain(money(&amount(-5990, "EUR"), "es")), "-59,90 €");
        assert_eq!(plain(money(&amount(1234, "KWD"), "es")), "1,234 KWD");
    }

    #[test]
    fn mexican_spanish_writes_pesos_with_a_decimal_point() {
        assert_eq!(money(&amount(123_450, "MXN"), "es-MX"), "$1,234.50");
        assert_eq!(plain(money(&amount(5990, "USD"), "es-MX")), "USD 59.90");
        assert_eq!(money(&amount(5990, "USD"), "es-US"), "$59.90");
    }

    #[test]
    fn dates_are_written_in_the_customers_time_zone_and_words() {
        // 23:30 UTC on Thursday 26 November is already Friday in Madrid.
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 23, 30, 0).unwrap();
        let madrid: Tz = "Europe/Madrid".parse().unwrap();
        let new_york: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            date(at, madrid, "es", DateStyle::Long),
            "viernes, 27 de noviembre"
        );
        assert_eq!(
            date(at, new_york, "en", DateStyle::Long),
            "Thursday, November 26"
        );
        assert_eq!(date(at, madrid, "es", DateStyle::Short), "27 nov");
        assert_eq!(date(at, new_york, "en", DateStyle::Short), "Nov 26");
        assert_eq!(
            date(at, madrid, "es-MX", DateStyle::Full),
            "viernes, 27 de noviembre de 2026"
        );
        assert_eq!(
            date(at, new_york, "en", DateStyle::Full),
            "Thursday, November 26, 2026"
        );
    }

    #[test]
    fn times_follow_the_locales_clock() {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 14, 5, 0).unwrap();
        let madrid: Tz = "Europe/Madrid".parse().unwrap();
        assert_eq!(time(at, madrid, "es"), "15:05");
        assert_eq!(plain(time(at, chrono_tz::UTC, "en")), "2:05 PM");
        let midnight = Utc.with_ymd_and_hms(2026, 11, 26, 0, 7, 0).unwrap();
        assert_eq!(plain(time(midnight, chrono_tz::UTC, "en")), "12:07 AM");
    }
}
