//! RFM: recency, frequency and monetary value, each scored 1 to 5 by quintile among
//! the shop's customers, 5 being the best (the most recent, the most orders, the most
//! spent). Customers with equal values get equal scores, so a quintile can hold more or
//! fewer than a fifth of them.

/// What RFM scores a customer on.
#[derive(Clone, Debug, PartialEq)]
pub struct RfmInput {
    pub customer: u64,
    /// Days since the customer's last order.
    pub days_since_last: i64,
    pub orders: u32,
    /// Everything the customer spent, in the shop's currency.
    pub spent: f64,
}

/// A customer's scores, each 1 to 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RfmScore {
    pub customer: u64,
    pub recency: u8,
    pub frequency: u8,
    pub monetary: u8,
}

/// Scores every customer against the others.
pub fn score(customers: &[RfmInput]) -> Vec<RfmScore> {
    // A lower day count is the better recency, so it is ranked negated.
    let recency = quintiles(customers.iter().map(|c| -(c.days_since_last as f64)));
    let frequency = quintiles(customers.iter().map(|c| f64::from(c.orders)));
    let monetary = quintiles(customers.iter().map(|c| c.spent));
    customers
        .iter()
        .enumerate()
        .map(|(i, c)| RfmScore {
            customer: c.customer,
            recency: recency[i],
            frequency: frequency[i],
            monetary: monetary[i],
        })
        .collect()
}

/// Each value's quintile, 1 for the lowest fifth to 5 for the highest; equal values
/// take the quintile where the first of them falls.
fn quintiles(values: impl Iterator<Item = f64>) -> Vec<u8> {
    let values: Vec<f64> = values.collect();
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut scores = vec![0u8; n];
    let mut start = 0;
    while start < n {
        let value = values[order[start]];
        let score = (1 + 5 * start / n).min(5) as u8;
        let mut end = start;
        while end < n && values[order[end]] == value {
            scores[order[end]] = score;
            end += 1;
        }
        start = end;
    }
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(customer: u64, days: i64, orders: u32, spent: f64) -> RfmInput {
        RfmInput {
            customer,
            days_since_last: days,
            orders,
            spent,
        }
    }

    #[test]
    fn ten_distinct_customers_fill_each_quintile_with_two() {
        let customers: Vec<RfmInput> = (0..10)
            .map(|i| input(i, 100 - i as i64, i as u32 + 1, i as f64 * 10.0))
            .collect();
        let scores = score(&customers);
        let monetary: Vec<u8> = scores.iter().map(|s| s.monetary).collect();
        assert_eq!(monetary, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        // The fewest days since the last order is the best recency.
        assert_eq!(scores[9].recency, 5);
        assert_eq!(scores[0].recency, 1);
        assert_eq!(scores[9].frequency, 5);
    }

    #[test]
    fn equal_values_share_a_score() {
        let customers: Vec<RfmInput> = (0..10)
            .map(|i| input(i, 30, if i < 6 { 1 } else { 2 + i as u32 }, 5.0))
            .collect();
        let scores = score(&customers);
        assert!(scores.iter().all(|s| s.recency == 1 && s.monetary == 1));
        let frequency: Vec<u8> = scores.iter().map(|s| s.frequency).collect();
        assert_eq!(frequency, [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]);
    }

    #[test]
    fn no_customers_no_scores() {
        assert!(score(&[]).is_empty());
    }
}
