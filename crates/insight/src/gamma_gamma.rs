//! The Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee, "RFM and CLV:
//! Using Iso-Value Curves for Customer Base Analysis", Journal of Marketing Research
//! 42(4), 2005; Fader & Hardie, "The Gamma-Gamma Model of Monetary Value", 2013).
//!
//! Each purchase's amount is Gamma(p, ν) for a customer-level ν, and ν is Gamma(q, γ)
//! across customers. From a customer's mean repeat spend and number of repeats the model
//! gives their expected spend per purchase: a weighted mean of their own figure and the
//! shop's, the weight growing with the purchases seen.

use crate::fit::{maximise, FitError};
use crate::history::Summary;
use crate::special::ln_gamma;

/// A fitted Gamma-Gamma model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

/// Repeat customers below which a fit says too little to be used.
const MIN_REPEATERS: usize = 20;

impl GammaGamma {
    /// Fits the model by maximum likelihood on the customers with a repeat purchase and
    /// a positive mean repeat spend; the others say nothing about spend per purchase.
    ///
    /// # Errors
    /// When fewer than 20 customers qualify, or the likelihood has no finite maximum.
    pub fn fit(history: &[Summary]) -> Result<GammaGamma, FitError> {
        let repeaters: Vec<&Summary> = history
            .iter()
            .filter(|s| s.repeats > 0 && s.repeat_mean > 0.0)
            .collect();
        if repeaters.len() < MIN_REPEATERS {
            return Err(FitError::TooLittleHistory {
                customers: history.len(),
                repeaters: repeaters.len(),
                what: "Gamma-Gamma needs at least 20 customers who bought again",
            });
        }
        let best = maximise(&[1.0, 1.0, 1.0], |v| {
            let model = GammaGamma {
                p: v[0],
                q: v[1],
                gamma: v[2],
            };
            repeaters.iter().map(|s| model.log_likelihood(s)).sum()
        })?;
        Ok(GammaGamma {
            p: best[0],
            q: best[1],
            gamma: best[2],
        })
    }

    /// The log-likelihood of one customer's mean repeat spend.
    pub fn log_likelihood(&self, s: &Summary) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        let x = f64::from(s.repeats);
        let m = s.repeat_mean;
        ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
            + q * gamma.ln()
            + (p * x - 1.0) * m.ln()
            + p * x * x.ln()
            - (p * x + q) * (gamma + m * x).ln()
    }

    /// The customer's expected spend per purchase; the shop's mean for a customer with
    /// no repeat purchase. `None` when the fitted q is at most 1 (the mean is infinite).
    pub fn expected_spend(&self, s: &Summary) -> Option<f64> {
        let GammaGamma { p, q, gamma } = *self;
        if q <= 1.0 {
            return None;
        }
        let x = f64::from(s.repeats);
        Some(p * (gamma + x * s.repeat_mean) / (p * x + q - 1.0))
    }
}
