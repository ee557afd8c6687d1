//! Optimizers: each update is one kernel per parameter tensor, recorded like
//! any op (no host round trip). `state` lets checkpoints save and restore
//! their state (`nn::serialize::OptimizerState`).

mod adam;
mod sgd;
mod state;

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};
