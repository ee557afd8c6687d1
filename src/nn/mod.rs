//! Layers with named parameters, built from ops.
//!
//! A layer is a struct holding its parameters as [`Tensor`] leaves (made with
//! `requires_grad_()`), implementing [`Module`]. Names follow PyTorch's
//! conventions (`weight`, `bias`, `running_mean`, …); containers prefix their
//! children's names with the child's name and a dot (`0.weight`,
//! `encoder.conv1.bias`), and those names are the keys in safetensors files.
//! Parameters are updated in place by optimizers and by loading, so handles
//! taken once (e.g. by an optimizer) stay valid.

mod activation;
mod attention;
mod batchnorm;
mod concat;
mod conv;
mod dropout;
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
pub use attention::SelfAttention;
pub use batchnorm::{BatchNorm, BatchNorm1d, BatchNorm2d};
pub use concat::Concat;
pub use conv::{same_padding, Conv2d, ConvTranspose2d, Padding};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use glu::Glu;
pub use gradient_penalty::{gradient_penalty, gradient_penalty_with_alpha};
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
pub trait Module: Send + Sync {
    /// Run the layer. Training-mode behaviour (dropout, batch statistics)
    /// follows [`Module::set_training`].
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// Trainable parameters with their names, in a fixed order.
    fn parameters(&self) -> Vec<(String, Tensor)>;

    /// Non-trainable state saved with the parameters (e.g. batch norm's
    /// running statistics), with names.
    fn buffers(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Switch between training (true) and evaluation (false) mode.
    fn set_training(&mut self, _training: bool) {}

    /// Just the parameter tensors, for an optimizer.
    fn parameter_tensors(&self) -> Vec<Tensor> {
        self.parameters().into_iter().map(|(_, t)| t).collect()
    }
}

/// Prefix every name with `prefix.`.
pub(crate) fn prefixed(prefix: &str, named: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    named.into_iter().map(|(n, t)| (format!("{prefix}.{n}"), t)).collect()
}
