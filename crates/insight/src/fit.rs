//! Maximum-likelihood fitting: Nelder-Mead over the logarithms of the parameters, so
//! that every parameter the search tries is positive.

use argmin::core::{CostFunction, Executor, State};
use argmin::solver::neldermead::NelderMead;

/// Why a model could not be fitted.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// Too little history: fewer customers than the model needs, or none who came back.
    #[error(
        "cannot fit on {customers} customers, {repeaters} of them with a repeat purchase: {what}"
    )]
    TooLittleHistory {
        customers: usize,
        repeaters: usize,
        what: &'static str,
    },
    /// The search ended on no finite likelihood: the history has values the model
    /// cannot describe.
    #[error("the likelihood has no finite maximum on this history ({0})")]
    NoMaximum(String),
}

/// Iterations of the search at most; the models here converge in a few hundred.
const MAX_ITERS: u64 = 5_000;

/// Finds the positive parameters that maximise `log_likelihood`, starting from
/// `start`.
pub fn maximise<F>(start: &[f64], log_likelihood: F) -> Result<Vec<f64>, FitError>
where
    F: Fn(&[f64]) -> f64,
{
    let problem = Negative(log_likelihood);
    let logs: Vec<f64> = start.iter().map(|p| p.ln()).collect();
    let solver = NelderMead::new(simplex(&logs))
        .with_sd_tolerance(1e-12)
        .map_err(|e| FitError::NoMaximum(e.to_string()))?;
    let result = Executor::new(problem, solver)
        .configure(|state| state.max_iters(MAX_ITERS))
        .run()
        .map_err(|e| FitError::NoMaximum(e.to_string()))?;
    let state = result.state();
    let best = state
        .get_best_param()
        .ok_or_else(|| FitError::NoMaximum("the search kept no point".into()))?;
    if !state.get_best_cost().is_finite() {
        return Err(FitError::NoMaximum(
            "every point tried was impossible".into(),
        ));
    }
    Ok(best.iter().map(|l| l.exp()).collect())
}

/// The starting simplex: the start and one step along each axis.
fn simplex(start: &[f64]) -> Vec<Vec<f64>> {
    let mut points = vec![start.to_vec()];
    for i in 0..start.len() {
        let mut point = start.to_vec();
        point[i] += 0.5;
        points.push(point);
    }
    points
}

/// The cost the search minimises: the negative log-likelihood at exp(θ).
struct Negative<F>(F);

impl<F: Fn(&[f64]) -> f64> CostFunction for Negative<F> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, logs: &Self::Param) -> Result<f64, argmin::core::Error> {
        let params: Vec<f64> = logs.iter().map(|l| l.exp()).collect();
        let ll = (self.0)(&params);
        // An impossible point is an infinitely bad one, never a failed search.
        Ok(if ll.is_finite() { -ll } else { f64::INFINITY })
    }
}
