//! `IndexTensor`: a 1-D list of u32 indices on the GPU (labels, gather rows).

use std::sync::Arc;

use crate::device::{Device, PooledBuffer};
use crate::error::{Error, Result};

/// Indices for `index_select` / `scatter_add`. The largest index is kept on
/// the host so ops can reject out-of-range indices before any GPU work.
#[derive(Clone)]
pub struct IndexTensor {
    storage: Arc<PooledBuffer>,
    len: usize,
    max: Option<u32>,
}

impl IndexTensor {
    /// Upload `indices` to `dev`.
    pub fn new(dev: &Device, indices: &[u32]) -> Result<IndexTensor> {
        let storage = dev.alloc((indices.len() as u64) * 4)?;
        dev.upload(storage.buffer(), bytemuck::cast_slice(indices));
        Ok(IndexTensor {
            storage: Arc::new(storage),
            len: indices.len(),
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
        self.len
    }

    /// Whether there are no indices.
    pub fn is_empty(&self) -> bool {
        self.len == 0
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
