//! End-to-end tests: the models, the `balgan` binary and its commands, the
//! datasets and file readers, and the evaluation protocol — whole runs and
//! the layers above the engine, where `kernels-tests/` checks the kernels,
//! ops and layers themselves.
//!
//! One test binary with one module per subject, so the shared device is
//! created once. `common/` is shared with `kernels-tests/`.

mod common;

mod classification;
mod classifier;
mod cli;
mod cli_eval;
mod cli_fid;
mod cli_generate;
mod cli_train;
mod data;
mod data_config;
mod evaluate;
mod experiment;
mod export;
mod fuzz_readers;
mod imbalance;
mod model_acgan;
mod model_bagan;
mod model_dcgan;
mod model_evolution;
mod model_vae;
mod models;
mod plot;
mod run_safety;
mod schedule;
