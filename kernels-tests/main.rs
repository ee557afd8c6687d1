//! Kernel-level tests: every WGSL kernel against a plain f64 CPU reference,
//! every differentiable op against finite differences (first and second
//! order), the WGSL sources through naga, and the error paths.
//!
//! One test binary with one module per kernel family, so the shared device
//! is created once.

mod common;

mod adding_an_op;
mod attention;
mod autograd;
mod batchnorm;
mod binary;
mod classification;
mod classifier;
mod cli;
mod cli_eval;
mod cli_generate;
mod cli_train;
mod conv2d;
mod copy;
mod critic;
mod data;
mod data_config;
mod errors;
mod evaluate;
mod export;
mod fid;
mod fuzz_readers;
mod glu;
mod hyperparams;
mod imbalance;
mod index;
mod loss;
mod matmul;
mod memory;
mod model_bagan;
mod model_dcgan;
mod models;
mod nan;
mod nn;
mod optim;
mod plot;
mod reduce;
mod rng;
mod run_safety;
mod serialize;
mod softmax;
mod ssim;
mod unary;
mod wgsl;
