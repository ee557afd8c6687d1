//! balgan: a GPU compute engine — wgpu plus hand-written WGSL compute shaders,
//! its own tensors and autodiff (gradients of gradients included) — for
//! training the VAEs and GANs that generate minority-class images for
//! class-imbalanced datasets.
//!
//! ```
//! use balgan::{Device, Tensor};
//! # fn main() -> balgan::Result<()> {
//! let dev = Device::new()?;
//! let x = Tensor::randn(&dev, &[4, 3], 0)?.requires_grad_();
//! let w = Tensor::randn(&dev, &[3, 2], 1)?.requires_grad_();
//! let loss = x.matmul(&w)?.tanh()?.square()?.mean_all()?;
//! loss.backward()?;
//! let dw = w.grad().unwrap();
//! assert_eq!(dw.shape(), w.shape());
//! assert!((0.0..1.0).contains(&loss.item()?)); // a mean of tanh²
//! println!("loss {} dL/dw {:?}", loss.item()?, dw.to_vec()?);
//! # Ok(()) }
//! ```
//!
//! Layers, top to bottom, each using only those above it (`docs/ARCHITECTURE.md`):
//! [`device`] (adapter, buffer pool, pipeline cache, recorder), [`kernels`]
//! (the WGSL launchers and their `Params` mirrors), [`tensor`] ([`Tensor`],
//! [`IndexTensor`], the Philox [`Generator`], the host [`HostRng`]),
//! [`autograd`] (the tape, the backward engine, grad mode), ops (the
//! differentiable functions, as methods on [`Tensor`]), [`nn`] (`Module`,
//! layers, initialisers, losses, checkpoints), [`optim`] (Adam, SGD),
//! [`data`] (datasets, imbalance recipes, a run's data protocol, batching,
//! image output), [`metrics`] (FID, SSIM, classification measures, the
//! evaluation protocol), [`models`] (the balancing models and their trainer),
//! [`cli`] (the `balgan` command's subcommands).

#![warn(missing_docs)]

pub mod atomic_file;
pub mod autograd;
#[cfg(feature = "cli")]
pub mod cli;
pub mod data;
pub mod device;
mod error;
pub mod kernels;
pub mod metrics;
pub mod models;
pub mod nn;
mod ops;
pub mod optim;
pub mod tensor;

/// The wgpu this crate is built on, whose types appear in its API
/// ([`Device::adapter_info`]'s `wgpu::AdapterInfo`): name them through
/// this re-export, so a downstream crate needs no wgpu of its own in step.
pub use wgpu;

pub use autograd::{grad, grad_with, no_grad};
pub use device::{Device, DeviceOptions, Tuning};
pub use error::{Error, Result};
pub use ops::{Conv2dOptions, ConvTranspose2dOptions};
pub use tensor::{Generator, HostRng, IndexTensor, Tensor};

/// The README's code runs as a doctest, so it cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// `docs/ADDING-A-MODEL.md`'s example model compiles and trains a step.
#[doc = include_str!("../docs/ADDING-A-MODEL.md")]
#[cfg(doctest)]
pub struct AddingAModelDoctests;
