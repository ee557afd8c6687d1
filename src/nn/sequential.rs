//! A chain of modules applied in order.

use super::{prefixed, Module};
use crate::error::Result;
use crate::tensor::Tensor;

/// Modules applied one after another. Child `i` (or a named child) prefixes
/// its parameter names with `i.` (or `name.`).
#[derive(Default)]
pub struct Sequential {
    layers: Vec<(String, Box<dyn Module>)>,
}

impl Sequential {
    /// An empty chain.
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Append a layer named by its position.
    pub fn push(mut self, layer: impl Module + 'static) -> Sequential {
        let name = self.layers.len().to_string();
        self.layers.push((name, Box::new(layer)));
        self
    }

    /// Append a layer under a name.
    pub fn push_named(mut self, name: &str, layer: impl Module + 'static) -> Sequential {
        self.layers.push((name.to_string(), Box::new(layer)));
        self
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        for (_, l) in &self.layers {
            y = l.forward(&y)?;
        }
        Ok(y)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .flat_map(|(n, l)| prefixed(n, l.parameters()))
            .collect()
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        self.layers.iter().flat_map(|(n, l)| prefixed(n, l.buffers())).collect()
    }

    fn set_training(&mut self, training: bool) {
        for (_, l) in &mut self.layers {
            l.set_training(training);
        }
    }
}
