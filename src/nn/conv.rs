//! Convolution layers: `Conv2d` and `ConvTranspose2d`, NCHW, PyTorch weight
//! layouts and parameter names (`weight`, `bias`).

use super::init::Init;
use super::Module;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::ops::{Conv2dOptions, ConvTranspose2dOptions};
use crate::tensor::{Generator, Tensor};

/// PyTorch's default for both layers: U(±1/√fan_in) for weight and bias, with
/// fan_in = weight.shape[1]·kh·kw (as `torch.nn.init._calculate_fan_in_and_fan_out`).
fn default_bound(fan_in: usize) -> f32 {
    1.0 / (fan_in.max(1) as f32).sqrt()
}

fn kernel_of(k: (usize, usize)) -> Result<(usize, usize)> {
    if k.0 == 0 || k.1 == 0 {
        return Err(Error::invalid(
            "conv layer",
            format!("kernel size {k:?} must be at least 1×1"),
        ));
    }
    Ok(k)
}

/// y = conv2d(x, weight) + bias, weight [out, in, kh, kw].
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub options: Conv2dOptions,
}

impl Conv2d {
    /// PyTorch-initialised layer (see `default_bound`).
    pub fn new(
        dev: &Device,
        rng: &Generator,
        (cin, cout): (usize, usize),
        kernel: (usize, usize),
        options: Conv2dOptions,
        bias: bool,
    ) -> Result<Conv2d> {
        let (kh, kw) = kernel_of(kernel)?;
        let b = default_bound(cin * kh * kw);
        let init = Init::Uniform { low: -b, high: b };
        Conv2d::with_init(dev, rng, (cin, cout), (kh, kw), options, init, bias.then_some(init))
    }

    /// Weight and bias from the given initialisers, e.g. `Init::DCGAN` and
    /// `Init::Zeros` as the GAN papers' code, or `Init::GlorotUniform` as Keras.
    pub fn with_init(
        dev: &Device,
        rng: &Generator,
        (cin, cout): (usize, usize),
        kernel: (usize, usize),
        options: Conv2dOptions,
        weight_init: Init,
        bias: Option<Init>,
    ) -> Result<Conv2d> {
        let (kh, kw) = kernel_of(kernel)?;
        let weight = weight_init.parameter(dev, rng, &[cout, cin, kh, kw])?;
        let bias = bias.map(|b| b.parameter(dev, rng, &[cout])).transpose()?;
        Ok(Conv2d { weight, bias, options })
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.conv2d(&self.weight, self.bias.as_ref(), self.options)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![("weight".to_string(), self.weight.clone())];
        p.extend(self.bias.iter().map(|b| ("bias".to_string(), b.clone())));
        p
    }
}

/// y = conv_transpose2d(x, weight) + bias, weight [in, out, kh, kw].
pub struct ConvTranspose2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub options: ConvTranspose2dOptions,
}

impl ConvTranspose2d {
    /// PyTorch-initialised layer: fan_in = out·kh·kw (`weight.shape[1]`·kh·kw).
    pub fn new(
        dev: &Device,
        rng: &Generator,
        (cin, cout): (usize, usize),
        kernel: (usize, usize),
        options: ConvTranspose2dOptions,
        bias: bool,
    ) -> Result<ConvTranspose2d> {
        let (kh, kw) = kernel_of(kernel)?;
        let b = default_bound(cout * kh * kw);
        let init = Init::Uniform { low: -b, high: b };
        ConvTranspose2d::with_init(dev, rng, (cin, cout), (kh, kw), options, init, bias.then_some(init))
    }

    /// Weight and bias from the given initialisers.
    pub fn with_init(
        dev: &Device,
        rng: &Generator,
        (cin, cout): (usize, usize),
        kernel: (usize, usize),
        options: ConvTranspose2dOptions,
        weight_init: Init,
        bias: Option<Init>,
    ) -> Result<ConvTranspose2d> {
        let (kh, kw) = kernel_of(kernel)?;
        let weight = weight_init.parameter(dev, rng, &[cin, cout, kh, kw])?;
        let bias = bias.map(|b| b.parameter(dev, rng, &[cout])).transpose()?;
        Ok(ConvTranspose2d { weight, bias, options })
    }
}

impl Module for ConvTranspose2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.conv_transpose2d(&self.weight, self.bias.as_ref(), self.options)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![("weight".to_string(), self.weight.clone())];
        p.extend(self.bias.iter().map(|b| ("bias".to_string(), b.clone())));
        p
    }
}
