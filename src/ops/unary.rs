//! Elementwise unary ops and their backward rules.
//!
//! Derivatives (y = f(x), upstream gradient g):
//! neg: -g · exp: g·eˣ · log: g/x · sqrt: g/(2√x) · rsqrt: -g·x^(-3/2)/2 ·
//! abs: g·sign(x) · relu: g·[x>0] · leaky_relu: g·(x>0 ? 1 : s) ·
//! sigmoid: g·σ(1-σ) · tanh: g·(1-tanh²) · powf(e): g·e·x^(e-1) ·
//! affine(a, b): g·a · recip: -g/x².
//!
//! NaN and infinities follow PyTorch: relu(NaN) = NaN, leaky_relu(NaN) = NaN,
//! sigmoid and tanh of NaN are NaN and of ±∞ their limits. relu's gradient
//! is PyTorch's `threshold_backward(g, relu(x), 0)`: exactly 0 where
//! relu(x) <= 0 (an infinite or NaN g included), g where x > 0 *and where x
//! is NaN*. leaky_relu's is g·(x > 0 ? 1 : s), so g·s at NaN.
//! Masks (sign, [x>0], leaky slope) are constants of the second derivative:
//! they are built without recording, as the derivative of a piecewise-linear
//! function is piecewise constant.

use crate::autograd::Backward;
use crate::error::Result;
use crate::kernels::unary::{launch, UnaryOp};
use crate::tensor::Tensor;

/// Run a unary kernel with no graph.
pub(crate) fn map(x: &Tensor, op: UnaryOp) -> Result<Tensor> {
    let out = Tensor::uninit(x.device(), x.shape())?;
    launch(x.device(), op, x.numel(), x.buffer(), out.buffer())?;
    Ok(out)
}

struct UnaryBackward(UnaryOp);

impl Backward for UnaryBackward {
    fn name(&self) -> &'static str {
        match self.0 {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Rsqrt => "rsqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Relu => "relu",
            UnaryOp::LeakyRelu(_) => "leaky_relu",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Powf(_) => "powf",
            UnaryOp::Affine(..) => "affine",
            UnaryOp::Sign => "sign",
            UnaryOp::Step(_) => "step",
            UnaryOp::LeakyMask(_) => "leaky_mask",
            UnaryOp::Recip => "recip",
            UnaryOp::ReluMask => "relu_mask",
        }
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let gx = match self.0 {
            UnaryOp::Neg => g.neg()?,
            UnaryOp::Exp => g.mul(&x.exp()?)?,
            UnaryOp::Log => g.div(x)?,
            UnaryOp::Sqrt => g.mul(&x.rsqrt()?)?.mul_scalar(0.5)?,
            UnaryOp::Rsqrt => g.mul(&x.powf(-1.5)?)?.mul_scalar(-0.5)?,
            UnaryOp::Abs => g.mul(&map(x, UnaryOp::Sign)?)?,
            // PyTorch's rule, threshold_backward(g, relu(x), 0): 0 where
            // relu(x) <= 0 (even for an infinite or NaN g), g elsewhere, and
            // so g at x = NaN (relu(NaN) = NaN is not <= 0).
            UnaryOp::Relu => Tensor::where_(&map(x, UnaryOp::ReluMask)?, g, &Tensor::scalar(g.device(), 0.0)?)?,
            UnaryOp::LeakyRelu(s) => g.mul(&map(x, UnaryOp::LeakyMask(s))?)?,
            UnaryOp::Sigmoid => {
                let s = x.sigmoid()?;
                g.mul(&s.mul(&s.affine(-1.0, 1.0)?)?)?
            }
            UnaryOp::Tanh => {
                let t = x.tanh()?;
                g.mul(&t.mul(&t)?.affine(-1.0, 1.0)?)?
            }
            UnaryOp::Powf(e) => {
                if e == 0.0 {
                    g.mul_scalar(0.0)?
                } else {
                    g.mul(&x.powf(e - 1.0)?)?.mul_scalar(e)?
                }
            }
            UnaryOp::Affine(a, _) => g.mul_scalar(a)?,
            UnaryOp::Recip => g.mul(&x.powf(-2.0)?)?.neg()?,
            UnaryOp::Sign | UnaryOp::Step(_) | UnaryOp::LeakyMask(_) | UnaryOp::ReluMask => return Ok(vec![None]),
        };
        Ok(vec![Some(gx)])
    }
}

fn unary(x: &Tensor, op: UnaryOp) -> Result<Tensor> {
    let out = map(x, op)?;
    Ok(Tensor::record(out, &[x], UnaryBackward(op)))
}

impl Tensor {
    /// -x
    pub fn neg(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Neg)
    }
    /// eˣ
    pub fn exp(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Exp)
    }
    /// Natural logarithm.
    pub fn log(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Log)
    }
    /// √x
    pub fn sqrt(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Sqrt)
    }
    /// 1/√x
    pub fn rsqrt(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Rsqrt)
    }
    /// |x|
    pub fn abs(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Abs)
    }
    /// max(x, 0); NaN stays NaN.
    pub fn relu(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Relu)
    }
    /// x for x > 0, slope·x otherwise.
    pub fn leaky_relu(&self, slope: f32) -> Result<Tensor> {
        unary(self, UnaryOp::LeakyRelu(slope))
    }
    /// 1 / (1 + e⁻ˣ), computed without overflow.
    pub fn sigmoid(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Sigmoid)
    }
    /// Hyperbolic tangent, computed without overflow.
    pub fn tanh(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Tanh)
    }
    /// xᵉ for a scalar exponent (negative x allowed for integer e).
    pub fn powf(&self, e: f32) -> Result<Tensor> {
        unary(self, UnaryOp::Powf(e))
    }
    /// 1/x
    pub fn recip(&self) -> Result<Tensor> {
        unary(self, UnaryOp::Recip)
    }
    /// a·x + b in one kernel.
    pub fn affine(&self, a: f32, b: f32) -> Result<Tensor> {
        unary(self, UnaryOp::Affine(a, b))
    }
    /// x·s
    pub fn mul_scalar(&self, s: f32) -> Result<Tensor> {
        self.affine(s, 0.0)
    }
    /// x + s
    pub fn add_scalar(&self, s: f32) -> Result<Tensor> {
        self.affine(1.0, s)
    }
    /// x²
    pub fn square(&self) -> Result<Tensor> {
        self.powf(2.0)
    }
    /// sign(x) ∈ {-1, 0, 1}; a constant (no gradient).
    pub fn sign(&self) -> Result<Tensor> {
        map(self, UnaryOp::Sign)
    }
    /// 1 where x > threshold, else 0; a constant (no gradient).
    pub fn gt_scalar(&self, threshold: f32) -> Result<Tensor> {
        map(self, UnaryOp::Step(threshold))
    }
}
