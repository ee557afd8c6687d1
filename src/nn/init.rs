//! Weight initialisers: tensors drawn from a [`Generator`], and the same draws
//! written into existing parameters in place.
//!
//! **Fans.** Variance-scaling initialisers need fan_in and fan_out, read from
//! the weight's shape by [`fans`]:
//!
//! | rank | layout | fan_in | fan_out |
//! |---|---|---|---|
//! | 0 | scalar | 1 | 1 |
//! | 1 | `[n]` (a bias, a scale) | n | n |
//! | 2 | [in, out] (balgan's `Linear`, stored input-major) | in | out |
//! | ≥ 3 | [a, b, k₁, k₂, …] (PyTorch's conv layout) | b·k₁·k₂… | a·k₁·k₂… |
//!
//! For `Conv2d` weights [out, in, kh, kw] this gives fan_in = in·kh·kw and
//! fan_out = out·kh·kw. For transposed-conv weights [in, out, kh, kw] it gives
//! fan_in = out·kh·kw, which is what PyTorch and Keras both compute for
//! transposed convolutions (they read the layout, not the direction of the
//! layer).
//!
//! | initialiser | distribution |
//! |---|---|
//! | `Normal { mean, std }` | N(mean, std²); DCGAN's N(0, 0.02²) |
//! | `Uniform { low, high }` | U(low, high) |
//! | `GlorotUniform` | U(±√(6/(fan_in + fan_out))) (Keras' default) |
//! | `GlorotNormal` | N(0, 2/(fan_in + fan_out)), untruncated, as PyTorch's `xavier_normal_` (Keras truncates at 2σ and rescales to the same variance) |
//! | `HeNormal` | N(0, 2/fan_in) (PyTorch's `kaiming_normal_` for ReLU) |
//! | `HeUniform` | U(±√(6/fan_in)) |
//! | `Constant(c)`, `Zeros`, `Ones` | every element c, 0 or 1 |

use super::Module;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::{Generator, Tensor};

/// How to fill a parameter. See the module documentation for the formulas
/// and for how fan_in and fan_out are read from the shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// N(mean, std²).
    Normal {
        /// Mean of the distribution.
        mean: f32,
        /// Standard deviation (not the variance); at least 0.
        std: f32,
    },
    /// U(low, high).
    Uniform {
        /// Lower bound of the interval.
        low: f32,
        /// Upper bound of the interval; at least `low`.
        high: f32,
    },
    /// U(±√(6/(fan_in + fan_out))).
    GlorotUniform,
    /// N(0, 2/(fan_in + fan_out)).
    GlorotNormal,
    /// N(0, 2/fan_in).
    HeNormal,
    /// U(±√(6/fan_in)).
    HeUniform,
    /// Every element equal to the value.
    Constant(f32),
    /// Every element 0.
    Zeros,
    /// Every element 1.
    Ones,
}

impl Init {
    /// DCGAN's initialiser, N(0, 0.02²).
    pub const DCGAN: Init = Init::Normal { mean: 0.0, std: 0.02 };

    /// A new tensor of `shape` drawn from this initialiser (a plain tensor:
    /// call `requires_grad_()` to make it a parameter). Constants draw nothing
    /// from `rng`.
    pub fn tensor(&self, dev: &Device, rng: &Generator, shape: &[usize]) -> Result<Tensor> {
        let (fan_in, fan_out) = fans(shape);
        let check_fan = |what: &str, f: usize| {
            if f == 0 {
                Err(Error::invalid(
                    "init",
                    format!("{self:?} needs {what} > 0, but shape {shape:?} gives 0"),
                ))
            } else {
                Ok(f as f32)
            }
        };
        match *self {
            Init::Normal { mean, std } => {
                check_finite(self, &[mean, std])?;
                if std < 0.0 {
                    return Err(Error::invalid("init", format!("{self:?}: std must be ≥ 0")));
                }
                rng.normal(dev, shape, mean, std)
            }
            Init::Uniform { low, high } => {
                check_finite(self, &[low, high])?;
                if low > high {
                    return Err(Error::invalid("init", format!("{self:?}: low must be ≤ high")));
                }
                rng.uniform(dev, shape, low, high)
            }
            Init::GlorotUniform => {
                let bound = (6.0 / check_fan("fan_in + fan_out", fan_in + fan_out)?).sqrt();
                rng.uniform(dev, shape, -bound, bound)
            }
            Init::GlorotNormal => {
                let std = (2.0 / check_fan("fan_in + fan_out", fan_in + fan_out)?).sqrt();
                rng.normal(dev, shape, 0.0, std)
            }
            Init::HeNormal => {
                let std = (2.0 / check_fan("fan_in", fan_in)?).sqrt();
                rng.normal(dev, shape, 0.0, std)
            }
            Init::HeUniform => {
                let bound = (6.0 / check_fan("fan_in", fan_in)?).sqrt();
                rng.uniform(dev, shape, -bound, bound)
            }
            Init::Constant(c) => {
                check_finite(self, &[c])?;
                Tensor::full(dev, shape, c)
            }
            Init::Zeros => Tensor::zeros(dev, shape),
            Init::Ones => Tensor::ones(dev, shape),
        }
    }

    /// A new parameter (a leaf that requires grad) of `shape`.
    pub fn parameter(&self, dev: &Device, rng: &Generator, shape: &[usize]) -> Result<Tensor> {
        Ok(self.tensor(dev, rng, shape)?.requires_grad_())
    }

    /// Overwrite `t` in place with a fresh draw of its shape: every handle to
    /// `t` (a layer's field, an optimizer's list) sees the new values. Not
    /// recorded on the tape.
    pub fn fill_(&self, t: &Tensor, rng: &Generator) -> Result<()> {
        let fresh = self.tensor(t.device(), rng, t.shape())?;
        t.assign_(&fresh)
    }
}

fn check_finite(init: &Init, values: &[f32]) -> Result<()> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Error::invalid("init", format!("{init:?}: parameters must be finite")))
    }
}

/// (fan_in, fan_out) of a weight of `shape`; the table in the module
/// documentation gives the convention.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (*n, *n),
        [fan_in, fan_out] => (*fan_in, *fan_out),
        [a, b, rest @ ..] => {
            let receptive: usize = rest.iter().product();
            (b * receptive, a * receptive)
        }
    }
}

/// Re-initialise, in place, every parameter of `module` for which `choose`
/// returns an initialiser (given the parameter's full name and shape), in the
/// module's parameter order. Returns the names that were re-initialised.
///
/// ```no_run
/// # use balgan::nn::{init::{self, Init}, Module};
/// # fn f(model: &dyn Module, rng: &balgan::Generator) -> balgan::Result<()> {
/// // DCGAN: every weight ~ N(0, 0.02²), every bias 0.
/// init::reinit(model, rng, |name, _shape| {
///     if name.ends_with("weight") {
///         Some(Init::DCGAN)
///     } else if name.ends_with("bias") {
///         Some(Init::Zeros)
///     } else {
///         None
///     }
/// })?;
/// # Ok(()) }
/// ```
pub fn reinit(
    module: &dyn Module,
    rng: &Generator,
    mut choose: impl FnMut(&str, &[usize]) -> Option<Init>,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for (name, t) in module.parameters() {
        if let Some(init) = choose(&name, t.shape()) {
            init.fill_(&t, rng)?;
            done.push(name);
        }
    }
    Ok(done)
}
