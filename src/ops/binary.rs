//! Elementwise binary ops with broadcasting, comparisons and `where`.
//!
//! Derivatives (z = f(a, b), upstream g; each reduced back to its input's
//! shape over the broadcast axes): add: (g, g) · sub: (g, -g) ·
//! mul: (g·b, g·a) · div: (g/b, -g·a/b²) · pow: (g·b·a^(b-1), g·aᵇ·ln a) ·
//! maximum: (g·[a≥b], g·[a<b]) · minimum: (g·[a≤b], g·[a>b]) ·
//! where(c, a, b): (g·c, g·(1-c)). Comparison masks are constants.

use crate::autograd::Backward;
use crate::error::Result;
use crate::kernels::binary::{launch, BinaryOp};
use crate::kernels::where_select;
use crate::tensor::shape::{broadcast_shape, broadcast_strides};
use crate::tensor::Tensor;

fn op_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "sub",
        BinaryOp::Mul => "mul",
        BinaryOp::Div => "div",
        BinaryOp::Pow => "pow",
        BinaryOp::Max => "maximum",
        BinaryOp::Min => "minimum",
        BinaryOp::Eq => "eq",
        BinaryOp::Ne => "ne",
        BinaryOp::Lt => "lt",
        BinaryOp::Le => "le",
        BinaryOp::Gt => "gt",
        BinaryOp::Ge => "ge",
    }
}

/// Run a binary kernel with broadcasting, with no graph.
pub(crate) fn map(a: &Tensor, b: &Tensor, op: BinaryOp) -> Result<Tensor> {
    let name = op_name(op);
    a.same_device(name, b)?;
    let shape = broadcast_shape(name, a.shape(), b.shape())?;
    let out = Tensor::uninit(a.device(), &shape)?;
    launch(
        a.device(),
        op,
        &shape,
        &broadcast_strides(a.shape(), &shape),
        &broadcast_strides(b.shape(), &shape),
        a.buffer(),
        b.buffer(),
        out.buffer(),
    )?;
    Ok(out)
}

struct BinaryBackward(BinaryOp);

impl Backward for BinaryBackward {
    fn name(&self) -> &'static str {
        op_name(self.0)
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let (ga, gb) = match self.0 {
            BinaryOp::Add => (Some(g.clone()), Some(g.clone())),
            BinaryOp::Sub => (Some(g.clone()), Some(g.neg()?)),
            BinaryOp::Mul => (
                needs[0].then(|| g.mul(b)).transpose()?,
                needs[1].then(|| g.mul(a)).transpose()?,
            ),
            BinaryOp::Div => (
                needs[0].then(|| g.div(b)).transpose()?,
                needs[1].then(|| g.mul(a)?.div(&b.square()?)?.neg()).transpose()?,
            ),
            BinaryOp::Pow => (
                needs[0]
                    .then(|| g.mul(b)?.mul(&a.pow(&b.add_scalar(-1.0)?)?))
                    .transpose()?,
                needs[1].then(|| g.mul(&a.pow(b)?)?.mul(&a.log()?)).transpose()?,
            ),
            BinaryOp::Max | BinaryOp::Min => {
                let (first, second) = if self.0 == BinaryOp::Max {
                    (BinaryOp::Ge, BinaryOp::Lt)
                } else {
                    (BinaryOp::Le, BinaryOp::Gt)
                };
                (
                    needs[0].then(|| g.mul(&map(a, b, first)?)).transpose()?,
                    needs[1].then(|| g.mul(&map(a, b, second)?)).transpose()?,
                )
            }
            _ => (None, None),
        };
        let ga = match ga {
            Some(t) if needs[0] => Some(t.sum_to_shape(a.shape())?),
            _ => None,
        };
        let gb = match gb {
            Some(t) if needs[1] => Some(t.sum_to_shape(b.shape())?),
            _ => None,
        };
        Ok(vec![ga, gb])
    }
}

fn binary(a: &Tensor, b: &Tensor, op: BinaryOp) -> Result<Tensor> {
    let out = map(a, b, op)?;
    Ok(Tensor::record(out, &[a, b], BinaryBackward(op)))
}

struct WhereBackward;

impl Backward for WhereBackward {
    fn name(&self) -> &'static str {
        "where"
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (cond, a, b) = (&inputs[0], &inputs[1], &inputs[2]);
        let zero = Tensor::scalar(g.device(), 0.0)?;
        let ga = if needs[1] {
            Some(Tensor::where_(cond, g, &zero)?.sum_to_shape(a.shape())?)
        } else {
            None
        };
        let gb = if needs[2] {
            Some(Tensor::where_(cond, &zero, g)?.sum_to_shape(b.shape())?)
        } else {
            None
        };
        Ok(vec![None, ga, gb])
    }
}

impl Tensor {
    /// a + b (broadcasting).
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, BinaryOp::Add)
    }
    /// a - b (broadcasting).
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, BinaryOp::Sub)
    }
    /// a · b elementwise (broadcasting).
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, BinaryOp::Mul)
    }
    /// a / b (broadcasting).
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, BinaryOp::Div)
    }
    /// aᵇ elementwise (broadcasting).
    pub fn pow(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, BinaryOp::Pow)
    }
    /// Elementwise maximum; ties send the gradient to `self`.
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, BinaryOp::Max)
    }
    /// Elementwise minimum; ties send the gradient to `self`.
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        binary(self, other, BinaryOp::Min)
    }
    /// 1 where a == b, else 0 (a constant mask).
    pub fn eq(&self, other: &Tensor) -> Result<Tensor> {
        map(self, other, BinaryOp::Eq)
    }
    /// 1 where a != b, else 0.
    pub fn ne(&self, other: &Tensor) -> Result<Tensor> {
        map(self, other, BinaryOp::Ne)
    }
    /// 1 where a < b, else 0.
    pub fn lt(&self, other: &Tensor) -> Result<Tensor> {
        map(self, other, BinaryOp::Lt)
    }
    /// 1 where a <= b, else 0.
    pub fn le(&self, other: &Tensor) -> Result<Tensor> {
        map(self, other, BinaryOp::Le)
    }
    /// 1 where a > b, else 0.
    pub fn gt(&self, other: &Tensor) -> Result<Tensor> {
        map(self, other, BinaryOp::Gt)
    }
    /// 1 where a >= b, else 0.
    pub fn ge(&self, other: &Tensor) -> Result<Tensor> {
        map(self, other, BinaryOp::Ge)
    }

    /// cond != 0 ? a : b, all three broadcast together. `cond` takes no gradient.
    pub fn where_(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        cond.same_device("where", a)?;
        a.same_device("where", b)?;
        let ab = broadcast_shape("where", a.shape(), b.shape())?;
        let shape = broadcast_shape("where", cond.shape(), &ab)?;
        let out = Tensor::uninit(a.device(), &shape)?;
        where_select::launch(
            a.device(),
            &shape,
            [
                &broadcast_strides(cond.shape(), &shape),
                &broadcast_strides(a.shape(), &shape),
                &broadcast_strides(b.shape(), &shape),
            ],
            cond.buffer(),
            a.buffer(),
            b.buffer(),
            out.buffer(),
        )?;
        Ok(Tensor::record(out, &[&cond.detach(), a, b], WhereBackward))
    }
}
