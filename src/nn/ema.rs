//! An exponential moving average of a module's parameters (Polyak
//! averaging), the generator average of progressive GANs, BigGAN and
//! StyleGAN: after every optimizer step the shadow copy moves toward the
//! live weights, s ← β·s + (1 − β)·θ, and sampling uses the shadow. A GAN's
//! live generator oscillates with its critic from step to step; the average
//! over the last ~1/(1 − β) steps keeps what they agree on.
//!
//! Only parameters are averaged; buffers (batch norm's running statistics)
//! are the live module's.

use crate::autograd::no_grad;
use crate::error::{Error, Result};
use crate::nn::{Checkpoint, CheckpointWriter, Module};
use crate::tensor::Tensor;

/// The shadow parameters of one module.
pub struct Ema {
    decay: f32,
    /// (name in the module, live parameter, shadow).
    slots: Vec<(String, Tensor, Tensor)>,
}

impl Ema {
    /// A shadow of `module`'s parameters, starting equal to them. `decay` (β)
    /// must be in [0, 1): 0 keeps the live weights, 0.999 averages over about
    /// the last thousand updates.
    pub fn new(module: &dyn Module, decay: f32) -> Result<Ema> {
        if !(0.0..1.0).contains(&decay) {
            return Err(Error::invalid(
                "ema",
                format!("the decay must be in [0, 1), got {decay} (0.999 averages over about 1000 steps)"),
            ));
        }
        let slots = no_grad(|| {
            module
                .parameters()
                .into_iter()
                .map(|(name, p)| {
                    let shadow = p.detach().add_scalar(0.0)?;
                    Ok((name, p, shadow))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        Ok(Ema { decay, slots })
    }

    /// β.
    pub fn decay(&self) -> f32 {
        self.decay
    }

    /// After an optimizer step: s ← θ + β·(s − θ) for every parameter.
    pub fn update(&self) -> Result<()> {
        no_grad(|| {
            for (_, live, shadow) in &self.slots {
                let live = live.detach();
                shadow.assign_(&live.add(&shadow.sub(&live)?.mul_scalar(self.decay)?)?)?;
            }
            Ok(())
        })
    }

    /// Run `f` with the module's parameters set to the shadow, then put the
    /// live values back (also when `f` fails).
    pub fn with_shadow<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let live = no_grad(|| {
            self.slots
                .iter()
                .map(|(_, p, shadow)| {
                    let keep = p.detach().add_scalar(0.0)?;
                    p.assign_(shadow)?;
                    Ok(keep)
                })
                .collect::<Result<Vec<_>>>()
        })?;
        let out = f();
        no_grad(|| {
            for ((_, p, _), keep) in self.slots.iter().zip(&live) {
                p.assign_(keep)?;
            }
            Ok(())
        })?;
        out
    }

    /// The shadow tensors under `prefix` + the parameters' names.
    pub fn save(&self, prefix: &str, w: &mut CheckpointWriter) {
        for (name, _, shadow) in &self.slots {
            w.add_tensor(&format!("{prefix}.{name}"), shadow);
        }
    }

    /// Restore what [`Ema::save`] wrote; every shadow must be in `c`.
    pub fn load(&self, prefix: &str, c: &Checkpoint) -> Result<()> {
        for (name, _, shadow) in &self.slots {
            let key = format!("{prefix}.{name}");
            if !c.contains(&key) {
                return Err(Error::invalid(
                    "checkpoint",
                    format!("'{key}' (the moving average of the generator's {name}) is missing; the checkpoint was written without the average, so resume with the run's own config"),
                ));
            }
            let (shape, values) = c.values(&key)?;
            if shape != shadow.shape() {
                return Err(Error::shape(
                    "checkpoint",
                    shadow.shape(),
                    &shape,
                    "a moving-average tensor has another shape than its parameter",
                ));
            }
            shadow.assign_slice_(&values)?;
        }
        Ok(())
    }
}
