//! Money as integer minor units with an ISO 4217 currency code.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// An amount in the currency's minor unit (cents for USD, yen for JPY).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

/// A three-letter, upper-case ISO 4217 code.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("currency must be a three-letter ISO 4217 code such as USD, got {0:?}")]
    Currency(String),
    #[error("amount {0:?} is not a decimal number such as 12.50")]
    Amount(String),
    #[error("amount {amount:?} has more decimals than {currency} allows ({allowed})")]
    Precision {
        amount: String,
        currency: String,
        allowed: u32,
    },
    #[error("amount {0:?} is too large")]
    Overflow(String),
}

impl Currency {
    /// Parses a code, accepting lower case.
    ///
    /// # Errors
    /// When the code is not three ASCII letters.
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let code = code.trim();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Currency(code.to_ascii_uppercase()))
        } else {
            Err(MoneyError::Currency(code.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point in this currency's minor unit (ISO 4217).
    pub fn exponent(&self) -> u32 {
        match self.0.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            "CLF" | "UYW" => 4,
            _ => 2,
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        Currency::parse(&code)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.0
    }
}

impl Money {
    /// Parses a decimal string such as `"409.94"` into minor units of `currency`.
    ///
    /// Trailing zeros beyond the currency's precision are accepted (`"12.500"` USD);
    /// significant extra digits are an error rather than silently rounded.
    ///
    /// # Errors
    /// When the text is not a decimal number, too precise, or too large.
    pub fn parse_decimal(amount: &str, currency: Currency) -> Result<Money, MoneyError> {
        let text = amount.trim();
        let bad = || MoneyError::Amount(amount.to_string());
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && frac.is_empty() || !is_digits(whole) || !is_digits(frac) {
            return Err(bad());
        }

        let exponent = currency.exponent();
        let frac = frac.trim_end_matches('0');
        if frac.len() > exponent as usize {
            return Err(MoneyError::Precision {
                amount: amount.to_string(),
                currency: currency.0,
                allowed: exponent,
            });
        }
        let padded = format!("{whole}{frac:0<width$}", width = exponent as usize);
        let padded = if padded.is_empty() {
            "0"
        } else {
            padded.as_str()
        };
        let minor: i64 = padded
            .parse()
            .map_err(|_| MoneyError::Overflow(amount.to_string()))?;
        Ok(Money {
            minor: if negative { -minor } else { minor },
            currency,
        })
    }

    /// The amount as a decimal string, e.g. `"409.94"`.
    pub fn to_decimal(&self) -> String {
        let exponent = self.currency.exponent();
        if exponent == 0 {
            return self.minor.to_string();
        }
        let scale = 10i64.pow(exponent);
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let (whole, frac) = (abs / scale as u64, abs % scale as u64);
        format!("{sign}{whole}.{frac:0width$}", width = exponent as usize)
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.to_decimal(), self.currency.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("usd").unwrap()
    }

    #[test]
    fn decimal_strings_become_minor_units() {
        assert_eq!(Money::parse_decimal("409.94", usd()).unwrap().minor, 40994);
        assert_eq!(Money::parse_decimal("3", usd()).unwrap().minor, 300);
        assert_eq!(Money::parse_decimal("0.5", usd()).unwrap().minor, 50);
        assert_eq!(Money::parse_decimal("12.500", usd()).unwrap().minor, 1250);
        let yen = Currency::parse("JPY").unwrap();
        assert_eq!(Money::parse_decimal("1200", yen).unwrap().minor, 1200);
        let dinar = Currency::parse("KWD").unwrap();
        assert_eq!(Money::parse_decimal("1.234", dinar).unwrap().minor, 1234);
    }

    #[test]
    fn bad_amounts_are_rejected_not_rounded() {
        assert!(matches!(
            Money::parse_decimal("1.999", usd()),
            Err(MoneyError::Precision { .. })
        ));
        assert!(matches!(
            Money::parse_decimal("abc", usd()),
            Err(MoneyError::Amount(_))
        ));
        assert!(matches!(
            Money::parse_decimal("", usd()),
            Err(MoneyError::Amount(_))
        ));
        assert!(matches!(
            Money::parse_decimal(".", usd()),
            Err(MoneyError::Amount(_))
        ));
        assert!(Currency::parse("US").is_err());
    }

    proptest! {
        #[test]
        fn formatting_then_parsing_gives_the_same_amount(minor in -10i64.pow(15)..10i64.pow(15)) {
            let money = Money { minor, currency: usd() };
            prop_assert_eq!(Money::parse_decimal(&money.to_decimal(), usd()).unwrap(), money);
        }
    }
}
