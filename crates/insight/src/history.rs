//! From orders to the per-customer summary the models read.
//!
//! Purchases on the same day count as one, as the models count purchase occasions;
//! their amounts add up. Time is measured in weeks from each customer's first purchase.

use std::collections::BTreeMap;

use chrono::NaiveDate;

/// One order, as the models see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Purchase {
    pub customer: u64,
    pub day: NaiveDate,
    /// What the order was worth, in the shop's currency (major units).
    pub amount: f64,
}

/// A customer's history up to the end of an observation period.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub customer: u64,
    /// Repeat purchases: days with a purchase after the first.
    pub repeats: u32,
    /// Weeks from the first purchase to the last.
    pub last: f64,
    /// Weeks from the first purchase to the end of the period.
    pub age: f64,
    /// Mean amount of the repeat purchases; zero without any.
    pub repeat_mean: f64,
    /// Every purchase's amount, the first included.
    pub total: f64,
}

/// Summarises every customer whose first purchase falls on or before `end`; purchases
/// after `end` are left out.
pub fn summarise(purchases: &[Purchase], end: NaiveDate) -> Vec<Summary> {
    let mut days: BTreeMap<u64, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    for p in purchases.iter().filter(|p| p.day <= end) {
        *days
            .entry(p.customer)
            .or_default()
            .entry(p.day)
            .or_default() += p.amount;
    }
    days.into_iter()
        .map(|(customer, days)| summary(customer, &days, end))
        .collect()
}

/// One customer's summary from their purchase days, in order.
fn summary(customer: u64, days: &BTreeMap<NaiveDate, f64>, end: NaiveDate) -> Summary {
    let (first, _) = days.first_key_value().expect("a customer has a purchase");
    let (last, _) = days.last_key_value().expect("a customer has a purchase");
    let repeat_amounts: Vec<f64> = days.values().skip(1).copied().collect();
    let repeats = repeat_amounts.len() as u32;
    Summary {
        customer,
        repeats,
        last: weeks(*first, *last),
        age: weeks(*first, end),
        repeat_mean: if repeats == 0 {
            0.0
        } else {
            repeat_amounts.iter().sum::<f64>() / f64::from(repeats)
        },
        total: days.values().sum(),
    }
}

fn weeks(from: NaiveDate, to: NaiveDate) -> f64 {
    (to - from).num_days() as f64 / 7.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn buy(customer: u64, on: &str, amount: f64) -> Purchase {
        Purchase {
            customer,
            day: day(on),
            amount,
        }
    }

    #[test]
    fn same_day_purchases_are_one_occasion_and_later_ones_are_left_out() {
        let purchases = [
            buy(4, "1997-01-01", 29.33),
            buy(4, "1997-01-18", 20.00),
            buy(4, "1997-01-18", 9.73),
            buy(4, "1997-08-02", 14.96),
            buy(4, "1997-12-12", 26.48),
        ];
        let summaries = summarise(&purchases, day("1997-09-30"));
        assert_eq!(summaries.len(), 1);
        let s = &summaries[0];
        assert_eq!(s.repeats, 2);
        assert!((s.last - 30.43).abs() < 0.01, "{}", s.last);
        assert!((s.age - 38.86).abs() < 0.01, "{}", s.age);
        assert!((s.repeat_mean - (29.73 + 14.96) / 2.0).abs() < 1e-9);
        assert!((s.total - 74.02).abs() < 1e-9);
    }

    #[test]
    fn a_customer_who_first_bought_after_the_end_is_not_summarised() {
        let purchases = [buy(1, "1997-10-02", 10.0)];
        assert!(summarise(&purchases, day("1997-09-30")).is_empty());
    }
}
