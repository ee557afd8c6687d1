//! 2-D convolutions, NCHW, PyTorch weight layouts, as three ops whose backward
//! rules are each other:
//!
//! y = conv2d(x, w, b), w [Cout, Cin, kh, kw]:
//!   dx = conv_transpose2d(g, w)        (same stride, padding, dilation; output
//!                                       padding chosen to give back x's size)
//!   dw = conv2d_weight_grad(x, g)      dw[o,i,ky,kx] = Σ g[n,o,oy,ox]·x[n,i,oy·s−p+ky·d,ox·s−p+kx·d]
//!   db = Σ_{n,y,x} g
//! y = conv_transpose2d(x, w, b), w [Cin, Cout, kh, kw] — the adjoint of conv2d in x:
//!   dx = conv2d(g, w)
//!   dw = conv2d_weight_grad(g, x)      (the roles of input and output swap)
//!   db = Σ_{n,y,x} g
//! dw = conv2d_weight_grad(x, g) is bilinear; with upstream G [Cout, Cin, kh, kw]:
//!   dx = conv_transpose2d(g, G),  dg = conv2d(x, G)
//!
//! So gradients of gradients through conv stacks need no further kernels (as
//! PyTorch's convolution double backward).

use crate::autograd::Backward;
use crate::error::{Error, Result};
use crate::kernels::conv2d::{launch, weight_grad, ConvGeometry, ConvKind};
use crate::tensor::Tensor;

/// Stride, padding and dilation of a convolution (height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Step of the kernel over the input, (rows, columns); at least 1.
    pub stride: (usize, usize),
    /// Zero rows/columns added on both sides of the input, (height, width).
    pub padding: (usize, usize),
    /// Spacing between kernel taps, (rows, columns); 1 is a dense kernel.
    pub dilation: (usize, usize),
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
        }
    }
}

impl Conv2dOptions {
    /// Equal stride and padding on both axes, dilation 1.
    pub fn new(stride: usize, padding: usize) -> Conv2dOptions {
        Conv2dOptions {
            stride: (stride, stride),
            padding: (padding, padding),
            dilation: (1, 1),
        }
    }

    /// The spatial size conv2d produces from `input` with kernel `k`, if positive
    /// (`None` for an empty kernel, a zero stride, or a size past `usize`).
    pub fn output_size(&self, input: (usize, usize), k: (usize, usize)) -> Option<(usize, usize)> {
        let one = |i: usize, k: usize, s: usize, p: usize, d: usize| -> Option<usize> {
            let span = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
            let padded = p.checked_mul(2)?.checked_add(i)?;
            padded.checked_sub(span)?.checked_div(s).map(|r| r + 1)
        };
        Some((
            one(input.0, k.0, self.stride.0, self.padding.0, self.dilation.0)?,
            one(input.1, k.1, self.stride.1, self.padding.1, self.dilation.1)?,
        ))
    }

    fn check(&self, op: &'static str) -> Result<()> {
        let zero = |(a, b): (usize, usize)| a == 0 || b == 0;
        if zero(self.stride) || zero(self.dilation) {
            return Err(Error::invalid(
                op,
                format!(
                    "stride {:?} and dilation {:?} must be at least 1",
                    self.stride, self.dilation
                ),
            ));
        }
        Ok(())
    }
}

/// Transposed-convolution options: conv2d's plus the extra rows/columns added
/// on one side of the output (`output_padding`, below max(stride, dilation)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConvTranspose2dOptions {
    /// The options of the conv2d this op is the adjoint of: the same stride and dilation,
    /// and a padding that trims that many rows/columns from each side of the output.
    pub conv: Conv2dOptions,
    /// Extra rows/columns added at the bottom/right of the output, (height, width), to pick
    /// among the input sizes a strided conv2d maps to the same output size.
    pub output_padding: (usize, usize),
}

impl ConvTranspose2dOptions {
    /// Equal stride, padding and output padding on both axes, dilation 1.
    pub fn new(stride: usize, padding: usize, output_padding: usize) -> ConvTranspose2dOptions {
        ConvTranspose2dOptions {
            conv: Conv2dOptions::new(stride, padding),
            output_padding: (output_padding, output_padding),
        }
    }

    /// The spatial size conv_transpose2d produces from `input` with kernel `k`, if positive
    /// (`None` for an empty kernel, a zero stride, or a size past `usize`).
    pub fn output_size(&self, input: (usize, usize), k: (usize, usize)) -> Option<(usize, usize)> {
        let c = &self.conv;
        let one = |i: usize, k: usize, s: usize, p: usize, d: usize, op: usize| -> Option<usize> {
            if s == 0 {
                return None;
            }
            i.checked_sub(1)?
                .checked_mul(s)?
                .checked_add(d.checked_mul(k.checked_sub(1)?)?)?
                .checked_add(op.checked_add(1)?)?
                .checked_sub(p.checked_mul(2)?)
                .filter(|&o| o > 0)
        };
        Some((
            one(
                input.0,
                k.0,
                c.stride.0,
                c.padding.0,
                c.dilation.0,
                self.output_padding.0,
            )?,
            one(
                input.1,
                k.1,
                c.stride.1,
                c.padding.1,
                c.dilation.1,
                self.output_padding.1,
            )?,
        ))
    }
}

fn dims4(op: &'static str, what: &str, t: &Tensor) -> Result<(usize, usize, usize, usize)> {
    match *t.shape() {
        [_, _, 0, _] | [_, _, _, 0] if what == "weight" => Err(Error::invalid(
            op,
            format!("the kernel must be at least 1×1, got weight shape {:?}", t.shape()),
        )),
        [a, b, c, d] => Ok((a, b, c, d)),
        _ => Err(Error::invalid(
            op,
            format!("{what} must be 4-D (NCHW / weight), got shape {:?}", t.shape()),
        )),
    }
}

fn check_bias(op: &'static str, bias: Option<&Tensor>, channels: usize) -> Result<()> {
    match bias {
        Some(b) if b.shape() != [channels] => Err(Error::shape(
            op,
            b.shape(),
            &[channels],
            "bias must have one value per output channel",
        )),
        _ => Ok(()),
    }
}

/// Bias gradient: sum over batch and space.
fn bias_grad(g: &Tensor) -> Result<Tensor> {
    g.sum(&[0, 2, 3], false)
}

/// conv2d's gradient with respect to its input of shape `x_shape`: the
/// transposed conv of the output gradient `g` with the weight `w`, with the
/// output padding that gives back x's size exactly (the rows and columns a
/// strided conv skipped at the end).
fn input_grad(g: &Tensor, w: &Tensor, x_shape: &[usize], opts: Conv2dOptions) -> Result<Tensor> {
    let k = (w.shape()[2], w.shape()[3]);
    let base = ConvTranspose2dOptions {
        conv: opts,
        output_padding: (0, 0),
    };
    let size = base.output_size((g.shape()[2], g.shape()[3]), k);
    let pad = size.and_then(|(bh, bw)| Some((x_shape[2].checked_sub(bh)?, x_shape[3].checked_sub(bw)?)));
    let Some(output_padding) = pad else {
        return Err(Error::shape(
            "conv2d backward",
            g.shape(),
            x_shape,
            "output gradient does not match the input size",
        ));
    };
    g.conv_transpose2d(
        w,
        None,
        ConvTranspose2dOptions {
            conv: opts,
            output_padding,
        },
    )
}

struct Conv2dBackward {
    opts: Conv2dOptions,
}

impl Backward for Conv2dBackward {
    fn name(&self) -> &'static str {
        "conv2d"
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (x, w) = (&inputs[0], &inputs[1]);
        let (kh, kw) = (w.shape()[2], w.shape()[3]);
        let dx = if needs[0] {
            Some(input_grad(g, w, x.shape(), self.opts)?)
        } else {
            None
        };
        let dw = if needs[1] {
            Some(x.conv2d_weight_grad(g, (kh, kw), self.opts)?)
        } else {
            None
        };
        let mut out = vec![dx, dw];
        if inputs.len() == 3 {
            out.push(if needs[2] { Some(bias_grad(g)?) } else { None });
        }
        Ok(out)
    }
}

struct ConvTranspose2dBackward {
    opts: ConvTranspose2dOptions,
}

impl Backward for ConvTranspose2dBackward {
    fn name(&self) -> &'static str {
        "conv_transpose2d"
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (x, w) = (&inputs[0], &inputs[1]);
        let (kh, kw) = (w.shape()[2], w.shape()[3]);
        let dx = if needs[0] {
            Some(g.conv2d(w, None, self.opts.conv)?)
        } else {
            None
        };
        let dw = if needs[1] {
            Some(g.conv2d_weight_grad(x, (kh, kw), self.opts.conv)?)
        } else {
            None
        };
        let mut out = vec![dx, dw];
        if inputs.len() == 3 {
            out.push(if needs[2] { Some(bias_grad(g)?) } else { None });
        }
        Ok(out)
    }
}

struct WeightGradBackward {
    opts: Conv2dOptions,
}

impl Backward for WeightGradBackward {
    fn name(&self) -> &'static str {
        "conv2d_weight_grad"
    }

    fn backward(&self, inputs: &[Tensor], up: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (x, gy) = (&inputs[0], &inputs[1]);
        let dx = if needs[0] {
            Some(input_grad(gy, up, x.shape(), self.opts)?)
        } else {
            None
        };
        let dgy = if needs[1] {
            Some(x.conv2d(up, None, self.opts)?)
        } else {
            None
        };
        Ok(vec![dx, dgy])
    }
}

fn record(out: Tensor, x: &Tensor, w: &Tensor, bias: Option<&Tensor>, rule: impl Backward + 'static) -> Tensor {
    match bias {
        Some(b) => Tensor::record(out, &[x, w, b], rule),
        None => Tensor::record(out, &[x, w], rule),
    }
}

impl Tensor {
    /// 2-D convolution (cross-correlation, as in every framework): x [N, Cin, H, W],
    /// w [Cout, Cin, kh, kw], optional bias `[Cout]` → [N, Cout, Ho, Wo] with
    /// Ho = ⌊(H + 2·ph − dh·(kh−1) − 1)/sh⌋ + 1.
    pub fn conv2d(&self, w: &Tensor, bias: Option<&Tensor>, opts: Conv2dOptions) -> Result<Tensor> {
        const OP: &str = "conv2d";
        opts.check(OP)?;
        let (n, cin, h, wd) = dims4(OP, "input", self)?;
        let (cout, wcin, kh, kw) = dims4(OP, "weight", w)?;
        self.same_device(OP, w)?;
        if wcin != cin {
            return Err(Error::shape(
                OP,
                self.shape(),
                w.shape(),
                &format!("input has {cin} channels, weight expects {wcin}"),
            ));
        }
        check_bias(OP, bias, cout)?;
        let (ho, wo) = opts.output_size((h, wd), (kh, kw)).ok_or_else(|| {
            Error::invalid(
                OP,
                format!(
                    "kernel {kh}×{kw} (dilation {:?}) does not fit the {h}×{wd} input with padding {:?}",
                    opts.dilation, opts.padding
                ),
            )
        })?;
        let out = Tensor::uninit(self.device(), &[n, cout, ho, wo])?;
        let g = ConvGeometry {
            n,
            cin,
            h,
            w: wd,
            cout,
            ho,
            wo,
            kh,
            kw,
            stride: opts.stride,
            padding: opts.padding,
            dilation: opts.dilation,
        };
        launch(
            self.device(),
            ConvKind::Forward,
            &g,
            self.buffer(),
            w.buffer(),
            bias.map(|b| b.buffer()),
            out.buffer(),
        )?;
        Ok(record(out, self, w, bias, Conv2dBackward { opts }))
    }

    /// Transposed 2-D convolution (the gradient of conv2d with respect to its
    /// input): x [N, Cin, H, W], w [Cin, Cout, kh, kw], optional bias `[Cout]` →
    /// [N, Cout, Ho, Wo] with Ho = (H−1)·sh − 2·ph + dh·(kh−1) + oph + 1.
    pub fn conv_transpose2d(&self, w: &Tensor, bias: Option<&Tensor>, opts: ConvTranspose2dOptions) -> Result<Tensor> {
        const OP: &str = "conv_transpose2d";
        opts.conv.check(OP)?;
        let (n, cin, h, wd) = dims4(OP, "input", self)?;
        let (wcin, cout, kh, kw) = dims4(OP, "weight", w)?;
        self.same_device(OP, w)?;
        if wcin != cin {
            return Err(Error::shape(
                OP,
                self.shape(),
                w.shape(),
                &format!("input has {cin} channels, weight expects {wcin}"),
            ));
        }
        check_bias(OP, bias, cout)?;
        let c = opts.conv;
        let limit = |s: usize, d: usize| s.max(d);
        if opts.output_padding.0 >= limit(c.stride.0, c.dilation.0)
            || opts.output_padding.1 >= limit(c.stride.1, c.dilation.1)
        {
            return Err(Error::invalid(
                OP,
                format!(
                    "output_padding {:?} must be below max(stride, dilation)",
                    opts.output_padding
                ),
            ));
        }
        let (ho, wo) = opts.output_size((h, wd), (kh, kw)).ok_or_else(|| {
            Error::invalid(
                OP,
                format!("padding {:?} leaves no output for a {h}×{wd} input", c.padding),
            )
        })?;
        let out = Tensor::uninit(self.device(), &[n, cout, ho, wo])?;
        let g = ConvGeometry {
            n,
            cin,
            h,
            w: wd,
            cout,
            ho,
            wo,
            kh,
            kw,
            stride: c.stride,
            padding: c.padding,
            dilation: c.dilation,
        };
        launch(
            self.device(),
            ConvKind::Transpose,
            &g,
            self.buffer(),
            w.buffer(),
            bias.map(|b| b.buffer()),
            out.buffer(),
        )?;
        Ok(record(out, self, w, bias, ConvTranspose2dBackward { opts }))
    }

    /// The weight gradient of conv2d: for input x [N, Cin, H, W] and output
    /// gradient gy [N, Cout, Ho, Wo] (the conv's output size under `opts`),
    /// dw[o, i, ky, kx] = Σ_{n, oy, ox} gy[n, o, oy, ox] · x[n, i, oy·sh − ph + ky·dh, ox·sw − pw + kx·dw].
    pub fn conv2d_weight_grad(&self, gy: &Tensor, kernel: (usize, usize), opts: Conv2dOptions) -> Result<Tensor> {
        const OP: &str = "conv2d_weight_grad";
        opts.check(OP)?;
        if kernel.0 == 0 || kernel.1 == 0 {
            return Err(Error::invalid(
                OP,
                format!("the kernel must be at least 1×1, got {kernel:?}"),
            ));
        }
        let (n, cin, h, wd) = dims4(OP, "input", self)?;
        let (gn, cout, ho, wo) = dims4(OP, "output gradient", gy)?;
        self.same_device(OP, gy)?;
        let expect = opts.output_size((h, wd), kernel);
        if gn != n || expect != Some((ho, wo)) {
            return Err(Error::shape(
                OP,
                self.shape(),
                gy.shape(),
                &format!("a {}×{} kernel gives outputs of {expect:?}", kernel.0, kernel.1),
            ));
        }
        let (kh, kw) = kernel;
        let out = Tensor::uninit(self.device(), &[cout, cin, kh, kw])?;
        let g = ConvGeometry {
            n,
            cin,
            h,
            w: wd,
            cout,
            ho,
            wo,
            kh,
            kw,
            stride: opts.stride,
            padding: opts.padding,
            dilation: opts.dilation,
        };
        weight_grad(self.device(), &g, self.buffer(), gy.buffer(), out.buffer())?;
        Ok(Tensor::record(out, &[self, gy], WeightGradBackward { opts }))
    }
}
