//! The RBM content model from outside the crate: its JSON shape, its field names
//! against Google's published list, and one refused message for every limit.

mod field_names;
mod json_shape;
mod limits;
