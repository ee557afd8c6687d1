//! Optimizers: each update is one kernel per parameter tensor, recorded like
//! any op (no host round trip).

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};
