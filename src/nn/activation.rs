//! Elementwise activations as layers: each forwards to the op of the same
//! name on [`Tensor`] and has no parameters.
//!
//! | layer | y | dy/dx |
//! |---|---|---|
//! | [`Relu`] | max(x, 0) | [x > 0] |
//! | [`LeakyRelu`] | x for x > 0, slope·x otherwise | 1 or slope |
//! | [`Tanh`] | tanh x | 1 − y² |
//! | [`Sigmoid`] | 1/(1 + e⁻ˣ) | y(1 − y) |
//!
//! The masks of ReLU and LeakyReLU are constants to the second derivative.
//! NaN propagates as in PyTorch: every activation maps NaN to NaN; ReLU's
//! gradient at a NaN input is the upstream gradient, LeakyReLU's is
//! slope times it (see `ops::unary`).

use super::Module;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// max(x, 0).
#[derive(Debug, Clone, Copy, Default)]
pub struct Relu;

impl Module for Relu {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.relu()
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}

/// x for x > 0, `slope`·x otherwise. Keras' default slope is 0.3 (BAGAN),
/// PyTorch's 0.01; DCGAN-style models use 0.2.
#[derive(Debug, Clone, Copy)]
pub struct LeakyRelu {
    slope: f32,
}

impl LeakyRelu {
    /// A LeakyReLU with the given negative slope (finite).
    pub fn new(slope: f32) -> Result<LeakyRelu> {
        if !slope.is_finite() {
            return Err(Error::invalid(
                "LeakyRelu",
                format!("slope must be finite, got {slope}"),
            ));
        }
        Ok(LeakyRelu { slope })
    }

    /// The negative slope.
    pub fn slope(&self) -> f32 {
        self.slope
    }
}

impl Module for LeakyRelu {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.leaky_relu(self.slope)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}

/// Hyperbolic tangent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tanh;

impl Module for Tanh {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.tanh()
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}

/// The logistic function 1/(1 + e⁻ˣ).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sigmoid;

impl Module for Sigmoid {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.sigmoid()
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}
