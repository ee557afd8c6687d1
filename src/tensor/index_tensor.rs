//! `IndexTensor`: u32 indices on the GPU (labels, rows to gather), with a shape.

use std::sync::Arc;

use crate::device::{Device, PooledBuffer};
use crate::error::{Error, Result};

/// Indices for `index_select`/`index_add` (1-D) and `gather`/`scatter_add`
/// (the shape of the gathered result). The largest index is kept on the host
/// so ops reject out-of-range indices before any GPU work.
#[derive(Clone)]
pub struct IndexTensor {
    storage: Arc<PooledBuffer>,
    shape: Vec<usize>,
    max: Option<u32>,
}

impl IndexTensor {
    /// Upload a 1-D list of indices to `dev`.
    pub fn new(dev: &Device, indices: &[u32]) -> Result<IndexTensor> {
        IndexTensor::with_shape(dev, indices, &[indices.len()])
    }

    /// Upload indices with a shape (row-major), as `gather` and `scatter_add` take.
    pub fn with_shape(dev: &Device, indices: &[u32], shape: &[usize]) -> Result<IndexTensor> {
        let n: usize = shape.iter().product();
        if n != indices.len() {
            return Err(Error::invalid(
                "IndexTensor",
                format!("shape {shape:?} needs {n} indices but {} were given", indices.len()),
            ));
        }
        let storage = dev.alloc((indices.len() as u64) * 4)?;
        dev.upload(storage.buffer(), bytemuck::cast_slice(indices));
        Ok(IndexTensor {
            storage: Arc::new(storage),
            shape: shape.to_vec(),
            max: indices.iter().copied().max(),
        })
    }

    /// From `usize` indices (each must fit in u32).
    pub fn from_usize(dev: &Device, indices: &[usize]) -> Result<IndexTensor> {
        let v = indices
            .iter()
            .map(|&i| {
                u32::try_from(i).map_err(|_| Error::invalid("IndexTensor", format!("index {i} does not fit in u32")))
            })
            .collect::<Result<Vec<u32>>>()?;
        IndexTensor::new(dev, &v)
    }

    /// Number of indices.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether there are no indices.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of the indices.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.storage.buffer()
    }

    pub(crate) fn device(&self) -> &Device {
        self.storage.device()
    }

    /// Error unless every index is below `dim`.
    pub(crate) fn check_range(&self, op: &'static str, dim: usize) -> Result<()> {
        match self.max {
            Some(m) if m as usize >= dim => Err(Error::invalid(
                op,
                format!("index {m} is out of range for an axis of size {dim}"),
            )),
            _ => Ok(()),
        }
    }
}
