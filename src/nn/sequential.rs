//! A chain of modules applied in order.

use super::Module;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Modules applied one after another: y = fₙ(… f₂(f₁(x))). Child `i` (or a
/// named child) prefixes its parameter and buffer names with `i.` (or
/// `name.`), and [`Module::set_training`] reaches every child (dropout and
/// batch norm inside follow the chain's mode). Names must be unique: saving a
/// module with duplicate tensor names fails with an error naming them.
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

    /// Append a boxed layer under a name (for layers chosen at run time).
    pub fn push_boxed(mut self, name: &str, layer: Box<dyn Module>) -> Sequential {
        self.layers.push((name.to_string(), layer));
        self
    }

    /// The layer at position `i`.
    pub fn get(&self, i: usize) -> Option<&dyn Module> {
        self.layers.get(i).map(|(_, l)| l.as_ref())
    }

    /// The layer at position `i`, mutably.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut (dyn Module + 'static)> {
        self.layers.get_mut(i).map(|(_, l)| l.as_mut())
    }

    /// The layer named `name`.
    pub fn by_name(&self, name: &str) -> Option<&dyn Module> {
        self.layers.iter().find(|(n, _)| n == name).map(|(_, l)| l.as_ref())
    }

    /// The children's names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.layers.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Run only layers `range` (e.g. the encoder's first layers as a
    /// discriminator body).
    pub fn forward_range(&self, x: &Tensor, range: std::ops::Range<usize>) -> Result<Tensor> {
        let Some(layers) = self.layers.get(range.clone()) else {
            return Err(Error::invalid(
                "Sequential",
                format!("layers {range:?} are out of range for a chain of {}", self.layers.len()),
            ));
        };
        let mut y = x.clone();
        for (_, l) in layers {
            y = l.forward(&y)?;
        }
        Ok(y)
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
        self.forward_range(x, 0..self.layers.len())
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.layers.iter().map(|(n, l)| (n.clone(), l.as_ref())).collect()
    }
}
