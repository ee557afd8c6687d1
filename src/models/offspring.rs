//! A copy of a generator with its optimizer: what E-GAN's and AGGAN's
//! offspring are. Every tensor of the module (parameters and buffers) and
//! the Adam state are copied buffer to buffer on the device, so cloning a
//! parent, training the clone and putting either back costs copy dispatches
//! and no host round trip. The buffers are allocated once and reused for
//! every generation.

use crate::autograd::no_grad;
use crate::error::{Error, Result};
use crate::nn::Module;
use crate::optim::{Adam, AdamSnapshot};
use crate::tensor::Tensor;

/// A generator's tensors and its Adam state, copied.
pub struct PlayerState {
    tensors: Vec<Tensor>,
    adam: AdamSnapshot,
}

/// The module's parameters, then its buffers, in their fixed order.
fn tensors_of(module: &dyn Module) -> Vec<Tensor> {
    module
        .parameters()
        .into_iter()
        .chain(module.buffers())
        .map(|(_, t)| t)
        .collect()
}

impl PlayerState {
    /// A copy of `module` and `opt` (its optimizer) in new buffers.
    pub fn of(module: &dyn Module, opt: &Adam) -> Result<PlayerState> {
        let tensors = no_grad(|| {
            tensors_of(module)
                .iter()
                .map(|t| {
                    let c = Tensor::zeros(t.device(), t.shape())?;
                    c.assign_(&t.detach())?;
                    Ok(c)
                })
                .collect::<Result<Vec<_>>>()
        })?;
        Ok(PlayerState {
            tensors,
            adam: opt.snapshot()?,
        })
    }

    /// Overwrite this copy with `module` and `opt` now (the module this copy
    /// was made of).
    pub fn copy_from(&mut self, module: &dyn Module, opt: &Adam) -> Result<()> {
        let live = self.check(module)?;
        no_grad(|| {
            for (copy, t) in self.tensors.iter().zip(&live) {
                copy.assign_(&t.detach())?;
            }
            Ok(())
        })?;
        opt.snapshot_into(&mut self.adam)
    }

    /// Put this copy back into `module` and `opt`.
    pub fn restore_to(&self, module: &dyn Module, opt: &mut Adam) -> Result<()> {
        let live = self.check(module)?;
        no_grad(|| {
            for (copy, t) in self.tensors.iter().zip(&live) {
                t.assign_(copy)?;
            }
            Ok(())
        })?;
        opt.restore(&self.adam)
    }

    /// The copied tensors (parameters, then buffers) and Adam state.
    pub fn parts(&self) -> (&[Tensor], &AdamSnapshot) {
        (&self.tensors, &self.adam)
    }

    fn check(&self, module: &dyn Module) -> Result<Vec<Tensor>> {
        let live = tensors_of(module);
        let same =
            live.len() == self.tensors.len() && live.iter().zip(&self.tensors).all(|(a, b)| a.shape() == b.shape());
        if !same {
            return Err(Error::invalid(
                "offspring",
                "the copy was made of another module: copy and restore the module it was made of",
            ));
        }
        Ok(live)
    }
}
