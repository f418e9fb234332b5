//! The BG/NBD model of repeat buying (Fader, Hardie & Lee, "Counting Your Customers the
//! Easy Way", Marketing Science 24(2), 2005).
//!
//! While a customer is alive they buy at a rate λ, Poisson; after each purchase they
//! stop for good with probability p. Across customers λ is Gamma(r, α) and p is
//! Beta(a, b). Fitted on a shop's history, the four parameters give, for each customer,
//! the probability of being alive and the purchases to expect over the next weeks, from
//! three figures only: repeat purchases, the time of the last one, and the time observed.

use crate::fit::{maximise, FitError};
use crate::history::Summary;
use crate::special::{hyp2f1, ln_add_exp, ln_gamma};

/// A fitted BG/NBD model; time in weeks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BgNbd {
    /// Shape of the purchase rates' Gamma distribution.
    pub r: f64,
    /// Scale of the purchase rates' Gamma distribution (weeks).
    pub alpha: f64,
    /// The dropout probabilities' Beta distribution.
    pub a: f64,
    pub b: f64,
}

/// Customers below which a fit says too little to be used.
const MIN_CUSTOMERS: usize = 20;

impl BgNbd {
    /// Fits the model to `history` by maximum likelihood.
    ///
    /// # Errors
    /// When there are fewer than 20 customers or none with a repeat purchase, or the
    /// likelihood has no finite maximum.
    pub fn fit(history: &[Summary]) -> Result<BgNbd, FitError> {
        let repeaters = history.iter().filter(|s| s.repeats > 0).count();
        if history.len() < MIN_CUSTOMERS || repeaters == 0 {
            return Err(FitError::TooLittleHistory {
                customers: history.len(),
                repeaters,
                what: "BG/NBD needs at least 20 customers and one who bought again",
            });
        }
        let best = maximise(&[1.0, 1.0, 1.0, 1.0], |p| {
            let model = BgNbd {
                r: p[0],
                alpha: p[1],
                a: p[2],
                b: p[3],
            };
            history.iter().map(|s| model.log_likelihood(s)).sum()
        })?;
        Ok(BgNbd {
            r: best[0],
            alpha: best[1],
            a: best[2],
            b: best[3],
        })
    }

    /// The log-likelihood of one customer's history (the paper's equation 6).
    pub fn log_likelihood(&self, s: &Summary) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let x = f64::from(s.repeats);
        let ln_a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let ln_a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
        let ln_a3 = -(r + x) * (alpha + s.age).ln();
        let ln_a4 = if s.repeats > 0 {
            a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + s.last).ln()
        } else {
            f64::NEG_INFINITY
        };
        ln_a1 + ln_a2 + ln_add_exp(ln_a3, ln_a4)
    }

    /// The probability that the customer has not stopped buying.
    pub fn p_alive(&self, s: &Summary) -> f64 {
        1.0 / (1.0 + self.dropout_odds(s))
    }

    /// The purchases to expect from the customer in the next `weeks` (the paper's
    /// equation 10).
    pub fn expected_purchases(&self, s: &Summary, weeks: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let x = f64::from(s.repeats);
        let horizon = alpha + s.age + weeks;
        let decay = ((alpha + s.age) / horizon).powf(r + x);
        let f = hyp2f1(r + x, b + x, a + b + x - 1.0, weeks / horizon);
        (a + b + x - 1.0) / (a - 1.0) * (1.0 - decay * f) / (1.0 + self.dropout_odds(s))
    }

    /// The purchases a new customer makes in their first `weeks` (equation 7).
    pub fn expected_purchases_new(&self, weeks: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let z = weeks / (alpha + weeks);
        (a + b - 1.0) / (a - 1.0)
            * (1.0 - (alpha / (alpha + weeks)).powf(r) * hyp2f1(r, b, a + b - 1.0, z))
    }

    /// The weeks from the end of the customer's history until one more purchase is
    /// expected, if one is expected within `limit` weeks.
    pub fn weeks_to_next_purchase(&self, s: &Summary, limit: f64) -> Option<f64> {
        if self.expected_purchases(s, limit) < 1.0 {
            return None;
        }
        let (mut low, mut high) = (0.0, limit);
        // Expected purchases grow with the horizon: bisect for where they reach one.
        for _ in 0..50 {
            let mid = (low + high) / 2.0;
            if self.expected_purchases(s, mid) < 1.0 {
                low = mid;
            } else {
                high = mid;
            }
        }
        Some(high)
    }

    /// The odds that a customer who bought again has stopped since their last purchase;
    /// zero for one who never bought again (they cannot have stopped after a repeat).
    fn dropout_odds(&self, s: &Summary) -> f64 {
        if s.repeats == 0 {
            return 0.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        let x = f64::from(s.repeats);
        a / (b + x - 1.0) * ((alpha + s.age) / (alpha + s.last)).powf(r + x)
    }
}
