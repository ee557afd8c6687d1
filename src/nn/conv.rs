//! Convolution layers: `Conv2d` and `ConvTranspose2d`, NCHW, PyTorch weight
//! layouts and parameter names (`weight`, `bias`). `Conv2d` pads as PyTorch
//! (`options.padding` on both sides) or, with [`Padding::Same`], as Keras'
//! and TensorFlow's `padding='same'`.

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

/// How a [`Conv2d`] pads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Padding {
    /// `options.padding` zeros on both sides of each axis (PyTorch's
    /// `padding=(ph, pw)`).
    #[default]
    Explicit,
    /// Keras/TensorFlow 'same' (PyTorch's `padding='same'` at stride 1): for
    /// input side n, stride s and kernel span k' = d·(k − 1) + 1 the output
    /// side is ⌈n/s⌉ and the total padding max((⌈n/s⌉ − 1)·s + k' − n, 0) is
    /// split ⌊total/2⌋ before and the rest after ([`same_padding`]). So 3×3
    /// stride 1 pads 1/1, but 2×2, or 3×3 stride 2 on an even side, pads 0
    /// before and 1 after (a symmetric padding of 1 would shift the sampling
    /// grid by one pixel). An odd extra row/column is appended as zeros, then
    /// the input is convolved with the symmetric part. `options.padding` must
    /// be (0, 0).
    Same,
}

/// Keras/TensorFlow 'same' padding of one axis: (before, after) for input
/// side `n`, kernel span `k` (d·(k − 1) + 1 for a dilated kernel) and stride
/// `s` ≥ 1.
pub fn same_padding(n: usize, k: usize, s: usize) -> (usize, usize) {
    let out = n.div_ceil(s);
    let total = ((out.saturating_sub(1)) * s + k).saturating_sub(n);
    (total / 2, total - total / 2)
}

/// y = conv2d(x, weight) + bias, weight [out, in, kh, kw].
pub struct Conv2d {
    /// [out, in, kh, kw] (PyTorch's layout).
    pub weight: Tensor,
    /// `[out]`, if the layer has a bias.
    pub bias: Option<Tensor>,
    /// Stride, padding and dilation.
    pub options: Conv2dOptions,
    /// How the input is padded: `options.padding` or 'same'.
    pub padding: Padding,
}

/// The checks of a layer built from given tensors: `weight` of rank 4 with
/// a kernel of at least 1×1, `bias` `[channels]` (the output channels).
fn check_given(op: &'static str, weight: &Tensor, bias: Option<&Tensor>, channels_axis: usize) -> Result<()> {
    if weight.rank() != 4 {
        return Err(Error::invalid(
            op,
            format!(
                "weight must be {}, got {:?}",
                if channels_axis == 0 {
                    "[out, in, kh, kw]"
                } else {
                    "[in, out, kh, kw]"
                },
                weight.shape()
            ),
        ));
    }
    let s = weight.shape();
    if s.contains(&0) {
        return Err(Error::invalid(
            op,
            format!("weight {s:?} has an empty axis; channels and kernel must be at least 1"),
        ));
    }
    if let Some(b) = bias {
        if b.shape() != [s[channels_axis]] {
            return Err(Error::shape(
                op,
                b.shape(),
                &[s[channels_axis]],
                "bias must be [out channels]",
            ));
        }
    }
    Ok(())
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
        Ok(Conv2d {
            weight,
            bias,
            options,
            padding: Padding::Explicit,
        })
    }

    /// A layer on existing tensors: `weight` [out, in, kh, kw] and `bias`
    /// `[out]`, with `options` (explicit padding; [`Conv2d::with_padding`]
    /// makes it 'same'). The layer uses the tensors given, so a gradient
    /// asked for through the caller's own handles is the layer's (a tensor
    /// that does not require a gradient is made a leaf on the same buffer
    /// that does; see [`Conv2d::weight`]). The output of ops is refused:
    /// pass a leaf.
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>, options: Conv2dOptions) -> Result<Conv2d> {
        check_given("Conv2d", &weight, bias.as_ref(), 0)?;
        Ok(Conv2d {
            weight: super::parameter("Conv2d", weight)?,
            bias: bias.map(|b| super::parameter("Conv2d", b)).transpose()?,
            options,
            padding: Padding::Explicit,
        })
    }

    /// A [`Padding::Same`] layer with `stride` on both axes (Keras'
    /// `Conv2D(padding='same')`), weight and bias from the given initialisers.
    pub fn same(
        dev: &Device,
        rng: &Generator,
        channels: (usize, usize),
        kernel: (usize, usize),
        stride: usize,
        weight_init: Init,
        bias: Option<Init>,
    ) -> Result<Conv2d> {
        let options = Conv2dOptions::new(stride, 0);
        Conv2d::with_init(dev, rng, channels, kernel, options, weight_init, bias)?.with_padding(Padding::Same)
    }

    /// This layer padding as `padding`. [`Padding::Same`] needs strides and
    /// dilations of at least 1 and `options.padding` = (0, 0).
    pub fn with_padding(mut self, padding: Padding) -> Result<Conv2d> {
        if padding == Padding::Same {
            self.check_same()?;
        }
        self.padding = padding;
        Ok(self)
    }

    fn check_same(&self) -> Result<()> {
        let o = &self.options;
        if o.stride.0 == 0 || o.stride.1 == 0 || o.dilation.0 == 0 || o.dilation.1 == 0 {
            return Err(Error::invalid(
                "Conv2d 'same'",
                format!("stride {:?} and dilation {:?} must be at least 1", o.stride, o.dilation),
            ));
        }
        if o.padding != (0, 0) {
            return Err(Error::invalid(
                "Conv2d 'same'",
                format!(
                    "padding {:?} is given as well as 'same'; 'same' computes the padding (set it to (0, 0))",
                    o.padding
                ),
            ));
        }
        Ok(())
    }

    /// [`Padding::Same`]: the extra zero row/column after the input when the
    /// padding is odd, then the convolution with the symmetric part.
    fn forward_same(&self, x: &Tensor) -> Result<Tensor> {
        self.check_same()?;
        let &[n, c, h, w] = x.shape() else {
            return Err(Error::invalid(
                "Conv2d 'same'",
                format!("input must be [N, C, H, W], got {:?}", x.shape()),
            ));
        };
        let o = self.options;
        let span = |k: usize, d: usize| d * (k.max(1) - 1) + 1;
        let (kh, kw) = (self.weight.shape()[2], self.weight.shape()[3]);
        let (bh, ah) = same_padding(h, span(kh, o.dilation.0), o.stride.0);
        let (bw, aw) = same_padding(w, span(kw, o.dilation.1), o.stride.1);
        let mut x = x.clone();
        if ah > bh {
            x = x.embed(&[n, c, h + ah - bh, w], 2, 0)?;
        }
        if aw > bw {
            let h2 = x.shape()[2];
            x = x.embed(&[n, c, h2, w + aw - bw], 3, 0)?;
        }
        let opts = Conv2dOptions { padding: (bh, bw), ..o };
        x.conv2d(&self.weight, self.bias.as_ref(), opts)
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self.padding {
            Padding::Explicit => x.conv2d(&self.weight, self.bias.as_ref(), self.options),
            Padding::Same => self.forward_same(x),
        }
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![("weight".to_string(), self.weight.clone())];
        p.extend(self.bias.iter().map(|b| ("bias".to_string(), b.clone())));
        p
    }
}

/// y = conv_transpose2d(x, weight) + bias, weight [in, out, kh, kw].
pub struct ConvTranspose2d {
    /// [in, out, kh, kw] (PyTorch's layout).
    pub weight: Tensor,
    /// `[out]`, if the layer has a bias.
    pub bias: Option<Tensor>,
    /// Stride, padding, output padding and dilation.
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

    /// A layer on existing tensors: `weight` [in, out, kh, kw] and `bias`
    /// `[out]`. The layer uses the tensors given, as [`Conv2d::from_tensors`].
    pub fn from_tensors(
        weight: Tensor,
        bias: Option<Tensor>,
        options: ConvTranspose2dOptions,
    ) -> Result<ConvTranspose2d> {
        check_given("ConvTranspose2d", &weight, bias.as_ref(), 1)?;
        Ok(ConvTranspose2d {
            weight: super::parameter("ConvTranspose2d", weight)?,
            bias: bias.map(|b| super::parameter("ConvTranspose2d", b)).transpose()?,
            options,
        })
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
