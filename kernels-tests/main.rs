//! Kernel, op and layer tests: every WGSL kernel against a plain f64 CPU
//! reference, every differentiable op against finite differences (first and
//! second order), the `nn` layers, losses, optimizers and checkpoint format,
//! the metrics' numerics (FID's matrix square root, SSIM windowed and global, KID), the WGSL
//! sources through naga, and the error paths. The models, the `balgan`
//! command, the datasets and whole runs are tested in `tests/`.
//!
//! One test binary with one module per kernel family, so the shared device
//! is created once. `common` is `tests/common/`, shared with `tests/`.

#[path = "../tests/common/mod.rs"]
mod common;

mod adding_an_op;
mod attention;
mod autograd;
mod batchnorm;
mod binary;
mod conv2d;
mod copy;
mod critic;
mod errors;
mod fid;
mod from_tensors;
mod glu;
mod hyperparams;
mod index;
mod kid;
mod loss;
mod matmul;
mod memory;
mod nan;
mod nn;
mod optim;
mod reduce;
mod rng;
mod serialize;
mod softmax;
mod ssim;
mod unary;
mod wgsl;
