//! Scoring: every customer's RFM quintiles and purchase predictions, recomputed on a
//! schedule from the metrics the store keeps current.
//!
//! The models read each customer's orders as BG/NBD's three figures: repeat orders
//! (orders after the first), the time of the last one and the time since the first,
//! in weeks. They are fitted on the shop's own customers (at most `fit_sample`,
//! taken evenly), then applied to all. With too little history to fit (fewer than 20
//! customers, or no one who came back) the predictions stay empty and RFM is still
//! scored.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use insight::rfm::{self, RfmInput};
use insight::{BgNbd, GammaGamma, Summary};
use store::{CustomerScores, Rfm, ScoringInput, Store};
use tokio::sync::watch;

/// The horizon of `expected_orders_90d`, in weeks.
const NEXT_90_DAYS: f64 = 90.0 / 7.0;
/// The horizon of the next order date and of the expected value, in weeks.
const NEXT_YEAR: f64 = 52.0;

/// What a scoring run did.
#[derive(Clone, Debug)]
pub struct Report {
    pub customers: usize,
    /// The fitted models; `None` when the history was too short to fit them.
    pub models: Option<(BgNbd, Option<GammaGamma>)>,
    /// Reading the metrics, computing the scores, storing them.
    pub reading: Duration,
    pub scoring: Duration,
    pub storing: Duration,
}

impl Report {
    /// The whole run.
    pub fn took(&self) -> Duration {
        self.reading + self.scoring + self.storing
    }
}

/// Scores every customer with an order and stores the scores.
///
/// # Errors
/// When the store cannot be read or written.
pub async fn rescore(
    store: &Store,
    now: DateTime<Utc>,
    fit_sample: usize,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let inputs = store
        .scoring_inputs()
        .await
        .context("reading customer metrics")?;
    let reading = started.elapsed();

    let customers = inputs.len();
    let (scores, models) =
        tokio::task::spawn_blocking(move || score_all(&inputs, now, fit_sample)).await?;
    let scoring = started.elapsed() - reading;

    store
        .save_scores(&scores)
        .await
        .context("storing customer scores")?;
    Ok(Report {
        customers,
        models,
        reading,
        scoring,
        storing: started.elapsed() - reading - scoring,
    })
}

/// Runs [`rescore`] every `every`, until `stop` turns true.
// TODO(scoring): every node sharing a PostgreSQL database runs its own scoring; one run
// per database (an advisory lock) would spare the others the work.
pub fn spawn(
    store: Store,
    every: Duration,
    fit_sample: usize,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // The first run waits a minute, so that starting up is not slowed by it.
        let mut next = tokio::time::Instant::now() + every.min(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = stop.changed() => return,
            }
            match rescore(&store, Utc::now(), fit_sample).await {
                Ok(report) => log(&report),
                Err(error) => {
                    tracing::warn!(error.message = %format!("{error:#}"), "scoring failed")
                }
            }
            next = tokio::time::Instant::now() + every;
        }
    })
}

fn log(report: &Report) {
    let took_ms = report.took().as_millis() as u64;
    match &report.models {
        Some((bgnbd, _)) => tracing::info!(
            customers = report.customers,
            took_ms,
            r = bgnbd.r,
            alpha = bgnbd.alpha,
            a = bgnbd.a,
            b = bgnbd.b,
            "customers scored"
        ),
        None => tracing::info!(
            customers = report.customers,
            took_ms,
            "customers scored on RFM alone: too little history to fit the purchase models"
        ),
    }
}

/// Every customer's scores, and the models fitted.
fn score_all(
    inputs: &[ScoringInput],
    now: DateTime<Utc>,
    fit_sample: usize,
) -> (Vec<CustomerScores>, Option<(BgNbd, Option<GammaGamma>)>) {
    let rfm = rfm::score(&inputs.iter().map(|i| rfm_input(i, now)).collect::<Vec<_>>());
    let summaries: Vec<Summary> = inputs.iter().map(|i| summary(i, now)).collect();

    let sample = even_sample(&summaries, fit_sample);
    let bgnbd = BgNbd::fit(&sample).ok();
    let spend = bgnbd.and(GammaGamma::fit(&sample).ok());

    let scores = inputs
        .iter()
        .zip(&summaries)
        .zip(&rfm)
        .map(|((input, s), r)| CustomerScores {
            customer_id: input.customer_id,
            rfm: Rfm {
                recency: i64::from(r.recency),
                frequency: i64::from(r.frequency),
                monetary: i64::from(r.monetary),
            },
            p_alive: bgnbd.map(|m| m.p_alive(s)),
            expected_orders_90d: bgnbd.map(|m| m.expected_purchases(s, NEXT_90_DAYS)),
            next_order_at: bgnbd
                .and_then(|m| m.weeks_to_next_purchase(s, NEXT_YEAR))
                .map(|weeks| now + chrono::Duration::seconds((weeks * 7.0 * 86_400.0) as i64)),
            expected_value_minor: bgnbd.zip(spend).and_then(|(m, g)| {
                let per_order = g.expected_spend(s)?;
                Some((per_order * m.expected_purchases(s, NEXT_YEAR)).round() as i64)
            }),
        })
        .collect();
    (scores, bgnbd.map(|m| (m, spend)))
}

fn rfm_input(input: &ScoringInput, now: DateTime<Utc>) -> RfmInput {
    RfmInput {
        customer: input.customer_id as u64,
        days_since_last: input
            .last_order_at
            .map(|last| (now - last).num_days().max(0))
            .unwrap_or(i64::MAX),
        orders: u32::try_from(input.orders).unwrap_or(u32::MAX),
        spent: input.spent_minor as f64,
    }
}

/// The customer's history as the models read it, in weeks.
fn summary(input: &ScoringInput, now: DateTime<Utc>) -> Summary {
    let weeks = |from: DateTime<Utc>, to: DateTime<Utc>| {
        ((to - from).num_seconds() as f64 / (7.0 * 86_400.0)).max(0.0)
    };
    let first = input.first_order_at.unwrap_or(now);
    let last = input.last_order_at.unwrap_or(first);
    let repeats = u32::try_from(input.orders.saturating_sub(1)).unwrap_or(u32::MAX);
    let last_week = weeks(first, last);
    Summary {
        customer: input.customer_id as u64,
        repeats,
        last: last_week,
        // An order dated ahead of the clock must not put the last order after the end.
        age: weeks(first, now).max(last_week),
        repeat_mean: if repeats == 0 {
            0.0
        } else {
            (input.spent_minor - input.first_order_minor) as f64 / f64::from(repeats)
        },
        total: input.spent_minor as f64,
    }
}

/// At most `most` of `all`, taken at even steps so that the sample spans the base.
fn even_sample(all: &[Summary], most: usize) -> Vec<Summary> {
    if all.len() <= most || most == 0 {
        return all.to_vec();
    }
    let step = all.len() as f64 / most as f64;
    (0..most)
        .map(|i| all[(i as f64 * step) as usize].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_even_sample_spans_the_base() {
        let all: Vec<Summary> = (0..100)
            .map(|i| Summary {
                customer: i,
                repeats: 0,
                last: 0.0,
                age: 1.0,
                repeat_mean: 0.0,
                total: 1.0,
            })
            .collect();
        let sample = even_sample(&all, 10);
        let ids: Vec<u64> = sample.iter().map(|s| s.customer).collect();
        assert_eq!(ids, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
        assert_eq!(even_sample(&all, 1000).len(), 100);
    }
}
