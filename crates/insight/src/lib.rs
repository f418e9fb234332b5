//! Customer insight: what a shop's order history says about each customer.
//!
//! - [`history`] turns orders into the summary the models read: repeat purchases,
//!   the time of the last one, and how long the customer has been observed.
//! - [`rfm`] scores recency, frequency and monetary value in quintiles.
//! - [`bgnbd`] is the BG/NBD model (Fader, Hardie & Lee, 2005): from a shop's history
//!   it learns how often customers buy and how likely they are to stop, then gives each
//!   customer a probability of being alive and the purchases to expect in the next days.
//! - [`gamma_gamma`] is the Gamma-Gamma model of spend per order, which with BG/NBD
//!   gives a predicted customer value.
//!
//! The models are fitted by maximum likelihood ([`fit`]) on the shop's own history.

pub mod bgnbd;
pub mod fit;
pub mod gamma_gamma;
pub mod history;
pub mod rfm;
mod special;

pub use bgnbd::BgNbd;
pub use fit::FitError;
pub use gamma_gamma::GammaGamma;
pub use history::{Purchase, Summary};
