//! Layers with named parameters, built from ops.
//!
//! A layer is a struct holding its parameters as [`Tensor`] leaves (made with
//! `requires_grad_()`), implementing [`Module`]. Names follow PyTorch's
//! conventions (`weight`, `bias`, `running_mean`, …); containers prefix their
//! children's names with the child's name and a dot (`0.weight`,
//! `encoder.conv1.bias`), and those names are the keys in safetensors files.
//! Parameters are updated in place by optimizers and by loading, so handles
//! taken once (e.g. by an optimizer) stay valid.
//!
//! # Example
//!
//! ```
//! use balgan::nn::{self, Linear, Module, Relu, Sequential};
//! use balgan::{Device, Generator, Tensor};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dev = Device::new()?;
//! let mlp = |seed: u64| -> balgan::Result<Sequential> {
//!     let rng = Generator::new(seed);
//!     Ok(Sequential::new()
//!         .push(Linear::new(&dev, &rng, 4, 8, true)?)
//!         .push(Relu)
//!         .push(Linear::new(&dev, &rng, 8, 2, true)?))
//! };
//! let net = mlp(0)?;
//! let names: Vec<String> = net.parameters().into_iter().map(|(name, _)| name).collect();
//! assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
//! let x = Tensor::randn(&dev, &[3, 4], 1)?;
//! let y = net.forward(&x)?;
//! assert_eq!(y.shape(), [3, 2]);
//!
//! // Save to safetensors, load into a network drawn from another seed.
//! let path = std::env::temp_dir().join(format!("balgan-nn-{}.safetensors", std::process::id()));
//! nn::save(&path, &net)?;
//! let copy = mlp(1)?;
//! assert_eq!(nn::load(&path, &copy, true)?.loaded.len(), 4);
//! assert_eq!(copy.forward(&x)?.to_vec()?, y.to_vec()?);
//! std::fs::remove_file(&path)?;
//! # Ok(()) }
//! ```

mod activation;
mod attention;
mod batchnorm;
mod concat;
mod conv;
mod dropout;
mod ema;
mod embedding;
mod glu;
pub mod gradient_penalty;
pub mod init;
mod linear;
pub mod loss;
mod pool;
mod reshape;
mod sequential;
pub mod serialize;
mod transfer;
mod upsample;

pub use activation::{LeakyRelu, Relu, Sigmoid, Tanh};
pub use attention::{SelfAttention, SelfAttentionTensors};
pub use batchnorm::{BatchNorm, BatchNorm1d, BatchNorm2d};
pub use concat::Concat;
pub use conv::{same_padding, Conv2d, ConvTranspose2d, Padding};
pub use dropout::Dropout;
pub use ema::Ema;
pub use embedding::Embedding;
pub use glu::Glu;
pub use gradient_penalty::{
    gradient_penalty, gradient_penalty_and_norms, gradient_penalty_and_norms_with_alpha, gradient_penalty_with_alpha,
    GradientPenalty,
};
pub use init::Init;
pub use linear::Linear;
pub use pool::{AvgPool2d, MaxPool2d};
pub use reshape::{Flatten, Reshape};
pub use sequential::Sequential;
pub use serialize::{load, load_with_optimizer, save, save_with_optimizer, Checkpoint, CheckpointWriter};
pub use transfer::transfer;
pub use upsample::UpsampleNearest2d;

use crate::error::Result;
use crate::tensor::Tensor;

/// A layer or a composition of layers.
///
/// A composite lists its sub-modules in [`Module::children`] and gets
/// `parameters`, `buffers` and `set_training` from them, each child's names
/// prefixed with the child's name and a dot. A leaf layer (a convolution,
/// batch norm, …) has no children and overrides what it holds.
pub trait Module: Send + Sync {
    /// Run the layer. Training-mode behaviour (dropout, batch statistics)
    /// follows [`Module::set_training`]. A module whose input is more than one
    /// tensor (a conditional generator, say) names its own methods instead and
    /// keeps this default, which is an error.
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(crate::error::Error::invalid(
            std::any::type_name::<Self>().rsplit("::").next().unwrap_or("module"),
            "takes more than one input: call its own methods (e.g. generate(z, labels), score(x, labels))",
        ))
    }

    /// Named sub-modules, in a fixed order: the order of [`Module::parameters`].
    fn children(&self) -> Vec<(String, &dyn Module)> {
        Vec::new()
    }

    /// Trainable parameters with their names, in a fixed order (by default
    /// the children's, prefixed with their names).
    fn parameters(&self) -> Vec<(String, Tensor)> {
        self.children()
            .into_iter()
            .flat_map(|(n, c)| prefixed(&n, c.parameters()))
            .collect()
    }

    /// Non-trainable state saved with the parameters (e.g. batch norm's
    /// running statistics), with names (by default the children's).
    fn buffers(&self) -> Vec<(String, Tensor)> {
        self.children()
            .into_iter()
            .flat_map(|(n, c)| prefixed(&n, c.buffers()))
            .collect()
    }

    /// Switch between training (true) and evaluation (false) mode (by
    /// default every child). The mode is interior state, as parameters are,
    /// so a module shared by reference can be switched.
    fn set_training(&self, training: bool) {
        for (_, c) in self.children() {
            c.set_training(training);
        }
    }

    /// Just the parameter tensors, for an optimizer.
    fn parameter_tensors(&self) -> Vec<Tensor> {
        self.parameters().into_iter().map(|(_, t)| t).collect()
    }
}

/// Run `f` with `module` in evaluation mode and without a graph, then put the
/// module back in training mode (also when `f` fails). Sampling and
/// measuring go through this, so a forgotten mode switch cannot leak.
pub fn evaluating<M: Module + ?Sized, T>(module: &M, f: impl FnOnce() -> Result<T>) -> Result<T> {
    evaluation_mode(module, || crate::autograd::no_grad(f))
}

/// Run `f` with `module` in evaluation mode (dropout off, batch norm on its
/// running statistics) and the graph recorded, then back in training mode
/// (also when `f` fails): for gradients of an evaluation-mode network (E-GAN's
/// fitness differentiates its critic so).
pub fn evaluation_mode<M: Module + ?Sized, T>(module: &M, f: impl FnOnce() -> Result<T>) -> Result<T> {
    struct Restore<'a, M: Module + ?Sized>(&'a M);
    impl<M: Module + ?Sized> Drop for Restore<'_, M> {
        fn drop(&mut self) {
            self.0.set_training(true);
        }
    }
    module.set_training(false);
    let _restore = Restore(module);
    f()
}

/// A layer's training flag: interior, so [`Module::set_training`] takes `&self`.
#[derive(Debug)]
pub struct TrainingFlag(std::sync::atomic::AtomicBool);

impl TrainingFlag {
    /// Layers start in training mode.
    pub fn new() -> TrainingFlag {
        TrainingFlag(std::sync::atomic::AtomicBool::new(true))
    }

    /// True in training mode.
    pub fn get(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Switch to training (true) or evaluation (false) mode.
    pub fn set(&self, training: bool) {
        self.0.store(training, std::sync::atomic::Ordering::Relaxed)
    }
}

impl Default for TrainingFlag {
    fn default() -> TrainingFlag {
        TrainingFlag::new()
    }
}

/// A caller's tensor as a layer parameter, for the layers' `from_tensors`
/// (`op` names the layer in errors): the tensor itself when it is a leaf
/// that requires a gradient, so that `grad(&[loss], &[&tensor])` through the
/// caller's handle sees the layer's use of it. A tensor that does not
/// require a gradient becomes a new leaf on the same buffer that does; the
/// caller's handle still does not, so asking for its gradient is an error,
/// not a silent zero (read the layer's field for the handle the gradient
/// reaches). The output of ops that require a gradient is refused: the layer
/// would read its values as computed once, and go on with them after the
/// ops' inputs are updated.
pub(crate) fn parameter(op: &'static str, t: Tensor) -> Result<Tensor> {
    if !t.is_leaf() {
        return Err(crate::error::Error::invalid(
            op,
            format!(
                "a parameter of shape {:?} is the output of ops: pass a leaf (a tensor made with requires_grad_(), \
                 or .detach() to take its current values), since the layer would keep reading the values computed \
                 now after the ops' inputs change",
                t.shape()
            ),
        ));
    }
    Ok(if t.requires_grad() { t } else { t.requires_grad_() })
}

/// Prefix every name with `prefix.`.
pub(crate) fn prefixed(prefix: &str, named: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    named.into_iter().map(|(n, t)| (format!("{prefix}.{n}"), t)).collect()
}
