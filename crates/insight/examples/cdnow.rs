//! Fits BG/NBD and Gamma-Gamma on the CDNOW sample and prints the parameters, the
//! holdout check and a few customers' predictions.
//!
//! `cargo run --release -p tidings-insight --example cdnow`

use chrono::NaiveDate;
use insight::history::{summarise, Purchase};
use insight::{BgNbd, GammaGamma};

fn main() {
    let purchases: Vec<Purchase> = include_str!("../tests/data/CDNOW_sample.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Purchase {
                customer: f[1].parse().expect("sample id"),
                day: NaiveDate::parse_from_str(f[2], "%Y%m%d").expect("date"),
                amount: f[4].parse().expect("dollars"),
            }
        })
        .collect();
    let end = NaiveDate::from_ymd_opt(1997, 9, 30).expect("a date");
    let history = summarise(&purchases, end);

    let started = std::time::Instant::now();
    let bgnbd = BgNbd::fit(&history).expect("BG/NBD fits the sample");
    let spend = GammaGamma::fit(&history).expect("Gamma-Gamma fits the sample");
    let took = started.elapsed();

    println!("customers: {}, repeaters: {}", history.len(), {
        history.iter().filter(|s| s.repeats > 0).count()
    });
    println!(
        "BG/NBD: r = {:.4}, alpha = {:.4}, a = {:.4}, b = {:.4}",
        bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b
    );
    println!(
        "Gamma-Gamma: p = {:.4}, q = {:.4}, gamma = {:.4}",
        spend.p, spend.q, spend.gamma
    );
    println!("both fits: {:.0} ms", took.as_secs_f64() * 1000.0);
    let expected: f64 = history
        .iter()
        .map(|s| bgnbd.expected_purchases(s, 39.0))
        .sum();
    println!("expected purchases in the 39 weeks after calibration: {expected:.0}");
    for s in history.iter().take(5) {
        println!(
            "customer {:>4}: x = {:>2}, t_x = {:>5.2}, T = {:>5.2}, P(alive) = {:.3}, \
             next 52 weeks = {:.3}, spend/order = {:.2}",
            s.customer,
            s.repeats,
            s.last,
            s.age,
            bgnbd.p_alive(s),
            bgnbd.expected_purchases(s, 52.0),
            spend.expected_spend(s).unwrap_or(f64::NAN),
        );
    }
}
