//! Creating tensors: from host data, constants, and the GPU random generator.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Tensor;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::{fill, rng};

impl Tensor {
    /// A tensor holding `data` with the given shape.
    pub fn from_slice(dev: &Device, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::invalid(
                "from_slice",
                format!("shape {shape:?} needs {n} values but {} were given", data.len()),
            ));
        }
        let t = Tensor::uninit(dev, shape)?;
        dev.upload(t.buffer(), bytemuck::cast_slice(data));
        Ok(t)
    }

    /// A rank-0 tensor.
    pub fn scalar(dev: &Device, value: f32) -> Result<Tensor> {
        Tensor::full(dev, &[], value)
    }

    /// A tensor filled with `value`.
    pub fn full(dev: &Device, shape: &[usize], value: f32) -> Result<Tensor> {
        let t = Tensor::uninit(dev, shape)?;
        fill::launch(dev, t.numel(), value, t.buffer())?;
        Ok(t)
    }

    /// A tensor of zeros.
    pub fn zeros(dev: &Device, shape: &[usize]) -> Result<Tensor> {
        Tensor::full(dev, shape, 0.0)
    }

    /// A tensor of ones.
    pub fn ones(dev: &Device, shape: &[usize]) -> Result<Tensor> {
        Tensor::full(dev, shape, 1.0)
    }

    /// Zeros with this tensor's shape, on its device.
    pub fn zeros_like(&self) -> Result<Tensor> {
        Tensor::zeros(self.device(), self.shape())
    }

    /// Ones with this tensor's shape, on its device.
    pub fn ones_like(&self) -> Result<Tensor> {
        Tensor::ones(self.device(), self.shape())
    }

    /// Uniform values on [0, 1) from Philox stream `seed` (counter offset 0).
    /// The same seed gives the same bits on every backend.
    pub fn rand(dev: &Device, shape: &[usize], seed: u64) -> Result<Tensor> {
        Generator::new(seed).uniform(dev, shape, 0.0, 1.0)
    }

    /// Standard normal values from Philox stream `seed` (counter offset 0).
    pub fn randn(dev: &Device, shape: &[usize], seed: u64) -> Result<Tensor> {
        Generator::new(seed).normal(dev, shape, 0.0, 1.0)
    }
}

/// A stream of random tensors: a Philox key (the seed) and a counter that
/// advances with every tensor drawn, so successive draws never overlap and a
/// run replays exactly from its seed.
#[derive(Debug)]
pub struct Generator {
    seed: u64,
    offset: AtomicU64,
}

impl Generator {
    /// A generator starting at counter 0 of stream `seed`.
    pub fn new(seed: u64) -> Generator {
        Generator {
            seed,
            offset: AtomicU64::new(0),
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The counter of the next draw (save it to resume a run).
    pub fn offset(&self) -> u64 {
        self.offset.load(Ordering::Relaxed)
    }

    /// Continue from a saved counter.
    pub fn set_offset(&self, offset: u64) {
        self.offset.store(offset, Ordering::Relaxed);
    }

    fn take(&self, n: usize) -> u64 {
        // Each Philox call yields 4 values; every counter value is used once.
        self.offset.fetch_add((n as u64).div_ceil(4), Ordering::Relaxed)
    }

    fn draw(&self, dev: &Device, shape: &[usize], dist: rng::Distribution) -> Result<Tensor> {
        let t = Tensor::uninit(dev, shape)?;
        let offset = self.take(t.numel());
        rng::launch(dev, dist, self.seed, offset, t.numel(), t.buffer())?;
        Ok(t)
    }

    /// Uniform values on [low, high).
    pub fn uniform(&self, dev: &Device, shape: &[usize], low: f32, high: f32) -> Result<Tensor> {
        self.draw(dev, shape, rng::Distribution::Uniform { low, high })
    }

    /// Normal values with the given mean and standard deviation.
    pub fn normal(&self, dev: &Device, shape: &[usize], mean: f32, std: f32) -> Result<Tensor> {
        self.draw(dev, shape, rng::Distribution::Normal { mean, std })
    }
}
