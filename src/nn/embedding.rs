//! A lookup table of learnable vectors, indexed by class label.

use super::init::Init;
use super::Module;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::{Generator, IndexTensor, Tensor};

/// `weight` [num, dim]; `embed(labels)` picks rows: `y[i] = weight[labels[i]]`,
/// shape [B, dim] for B labels. The forward is `index_select` along axis 0;
/// its backward adds each upstream row into the row it came from
/// (`index_add`), so repeated labels accumulate.
///
/// Indices are not tensors of floats, so an embedding is used through
/// [`Embedding::embed`]; it implements [`Module`] for its parameters (naming,
/// saving, transfer, optimizers), and its [`Module::forward`] returns an
/// error that points to `embed`.
pub struct Embedding {
    /// [num_embeddings, dim]
    pub weight: Tensor,
}

impl Embedding {
    /// Rows ~ N(0, 1) (PyTorch's default).
    pub fn new(dev: &Device, rng: &Generator, num: usize, dim: usize) -> Result<Embedding> {
        Embedding::with_init(dev, rng, num, dim, Init::Normal { mean: 0.0, std: 1.0 })
    }

    /// Rows drawn from `init` (Keras' default is U(−0.05, 0.05)).
    pub fn with_init(dev: &Device, rng: &Generator, num: usize, dim: usize, init: Init) -> Result<Embedding> {
        if num == 0 || dim == 0 {
            return Err(Error::invalid(
                "Embedding",
                format!("needs at least one row and one column, got [{num}, {dim}]"),
            ));
        }
        Ok(Embedding {
            weight: init.parameter(dev, rng, &[num, dim])?,
        })
    }

    /// A table on an existing [num, dim] tensor. The table uses the tensor
    /// given, so a gradient asked for through the caller's handle is the
    /// table's (a tensor that does not require a gradient is made a leaf on
    /// the same buffer that does; see [`Embedding::weight`]). The output of
    /// ops is refused: pass a leaf.
    pub fn from_tensor(weight: Tensor) -> Result<Embedding> {
        if weight.rank() != 2 {
            return Err(Error::invalid(
                "Embedding",
                format!("weight must be [num, dim], got {:?}", weight.shape()),
            ));
        }
        if weight.shape().contains(&0) {
            return Err(Error::invalid(
                "Embedding",
                format!("needs at least one row and one column, got {:?}", weight.shape()),
            ));
        }
        Ok(Embedding {
            weight: super::parameter("Embedding", weight)?,
        })
    }

    /// Number of rows (classes).
    pub fn num_embeddings(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Length of each vector.
    pub fn dim(&self) -> usize {
        self.weight.shape()[1]
    }

    /// The rows for `labels` (1-D, each < `num_embeddings`): [B, dim].
    pub fn embed(&self, labels: &IndexTensor) -> Result<Tensor> {
        if labels.shape().len() != 1 {
            return Err(Error::invalid(
                "Embedding",
                format!("labels must be 1-D [B], got shape {:?}", labels.shape()),
            ));
        }
        self.weight.index_select(0, labels)
    }
}

impl Module for Embedding {
    /// Always an error: an embedding takes indices, see [`Embedding::embed`].
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Err(Error::invalid(
            "Embedding",
            format!(
                "forward got a float tensor of shape {:?}; an embedding takes labels: call embed(&IndexTensor)",
                x.shape()
            ),
        ))
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".to_string(), self.weight.clone())]
    }
}
