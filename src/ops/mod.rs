//! The differentiable functions users call, as methods on [`Tensor`](crate::Tensor).
//! Each op = a forward that calls a kernel + a backward rule made of ops.

mod batchnorm;
pub(crate) use batchnorm::check_eps_momentum;
mod binary;
mod conv;
pub use conv::{Conv2dOptions, ConvTranspose2dOptions};
mod glu;
mod index;
mod matmul;
mod reduce;
mod shape;
mod softmax;
mod unary;
