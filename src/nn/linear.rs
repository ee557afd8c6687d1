//! Fully connected layer: y = x·W + b.

use super::Module;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::{Generator, Tensor};

/// y = x·W + b with W of shape [in, out] (stored input-major, so the forward
/// product needs no transpose) and b of shape [out]. Accepts any number of
/// leading batch axes.
pub struct Linear {
    /// [in_features, out_features]
    pub weight: Tensor,
    /// [out_features], if the layer has a bias.
    pub bias: Option<Tensor>,
}

impl Linear {
    /// Weights ~ U(−1/√in, 1/√in) and bias likewise (PyTorch's default).
    pub fn new(dev: &Device, rng: &Generator, in_features: usize, out_features: usize, bias: bool) -> Result<Linear> {
        let bound = 1.0 / (in_features.max(1) as f32).sqrt();
        let weight = rng
            .uniform(dev, &[in_features, out_features], -bound, bound)?
            .requires_grad_();
        let bias = if bias {
            Some(rng.uniform(dev, &[out_features], -bound, bound)?.requires_grad_())
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    /// A layer from existing tensors (they become leaves that require grad).
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>) -> Result<Linear> {
        if weight.rank() != 2 {
            return Err(Error::invalid(
                "Linear",
                format!("weight must be [in, out], got {:?}", weight.shape()),
            ));
        }
        if let Some(b) = &bias {
            if b.shape() != [weight.shape()[1]] {
                return Err(Error::shape("Linear", weight.shape(), b.shape(), "bias must be [out]"));
            }
        }
        Ok(Linear {
            weight: weight.detach().requires_grad_(),
            bias: bias.map(|b| b.detach().requires_grad_()),
        })
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.weight)?;
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            p.push(("bias".to_string(), b.clone()));
        }
        p
    }
}
