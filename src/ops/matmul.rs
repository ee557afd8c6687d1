//! Batched matrix multiply with broadcasting batch axes.
//!
//! With L_A = op(A), L_B = op(B) (op = transpose when the flag is set) and
//! C = L_A·L_B: dL_A = g·L_Bᵀ and dL_B = L_Aᵀ·g, expressed again as
//! `matmul_t` calls whose transpose flags absorb every transpose, so backward
//! (and backward of backward) never copies an operand. Gradients of broadcast
//! batch axes are summed back to each operand's shape.

use crate::autograd::Backward;
use crate::error::{Error, Result};
use crate::kernels::matmul::{launch, MatmulShape};
use crate::tensor::shape::{broadcast_shape, broadcast_strides};
use crate::tensor::Tensor;

struct MatmulBackward {
    ta: bool,
    tb: bool,
}

impl Backward for MatmulBackward {
    fn name(&self) -> &'static str {
        "matmul"
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let (ta, tb) = (self.ta, self.tb);
        let ga = if needs[0] {
            let d = if !ta {
                g.matmul_t(b, false, !tb)?
            } else {
                b.matmul_t(g, tb, true)?
            };
            Some(d.sum_to_shape(a.shape())?)
        } else {
            None
        };
        let gb = if needs[1] {
            let d = if !tb {
                a.matmul_t(g, !ta, false)?
            } else {
                g.matmul_t(a, true, ta)?
            };
            Some(d.sum_to_shape(b.shape())?)
        } else {
            None
        };
        Ok(vec![ga, gb])
    }
}

impl Tensor {
    /// Matrix product over the last two axes, batch axes broadcast:
    /// [.., M, K] × [.., K, N] → [.., M, N].
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        self.matmul_t(other, false, false)
    }

    /// op(self) × op(other), where op transposes the last two axes when its
    /// flag is set. The transposes cost nothing: the kernel reads the operand
    /// in the other order.
    pub fn matmul_t(&self, other: &Tensor, trans_a: bool, trans_b: bool) -> Result<Tensor> {
        self.same_device("matmul", other)?;
        if self.rank() < 2 || other.rank() < 2 {
            return Err(Error::shape(
                "matmul",
                self.shape(),
                other.shape(),
                "both operands need at least 2 axes",
            ));
        }
        let (ra, rb) = (self.rank(), other.rank());
        let (am, ak) = if trans_a {
            (self.shape()[ra - 1], self.shape()[ra - 2])
        } else {
            (self.shape()[ra - 2], self.shape()[ra - 1])
        };
        let (bk, bn) = if trans_b {
            (other.shape()[rb - 1], other.shape()[rb - 2])
        } else {
            (other.shape()[rb - 2], other.shape()[rb - 1])
        };
        if ak != bk {
            return Err(Error::shape(
                "matmul",
                self.shape(),
                other.shape(),
                &format!("inner sizes differ: {ak} vs {bk}"),
            ));
        }
        let batch_a = &self.shape()[..ra - 2];
        let batch_b = &other.shape()[..rb - 2];
        let batch = broadcast_shape("matmul", batch_a, batch_b)?;
        if batch.len() > 4 {
            return Err(Error::invalid("matmul", "at most 4 batch axes are supported"));
        }
        let mat_a = am * ak;
        let mat_b = bk * bn;
        let strides_a: Vec<usize> = broadcast_strides(batch_a, &batch).iter().map(|s| s * mat_a).collect();
        let strides_b: Vec<usize> = broadcast_strides(batch_b, &batch).iter().map(|s| s * mat_b).collect();
        let mut shape = batch.clone();
        shape.extend_from_slice(&[am, bn]);
        let out = Tensor::uninit(self.device(), &shape)?;
        launch(
            self.device(),
            &MatmulShape {
                batch_shape: &batch,
                batch_strides_a: &strides_a,
                batch_strides_b: &strides_b,
                m: am,
                n: bn,
                k: ak,
                trans_a,
                trans_b,
                a_offset: 0,
                b_offset: 0,
                c_offset: 0,
            },
            self.buffer(),
            other.buffer(),
            out.buffer(),
        )?;
        Ok(Tensor::record(
            out,
            &[self, other],
            MatmulBackward {
                ta: trans_a,
                tb: trans_b,
            },
        ))
    }
}
