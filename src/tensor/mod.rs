//! `Tensor`: an f32 array of rank 0–6 in a GPU buffer, plus its place on the
//! autodiff tape. Tensors are always contiguous (row-major); views such as
//! permute or narrow materialise through the strided-copy kernel, while
//! reshape and detach share the buffer.
//!
//! # Example
//!
//! ```
//! use balgan::{Device, Tensor};
//! # fn main() -> balgan::Result<()> {
//! let dev = Device::new()?;
//! let a = Tensor::from_slice(&dev, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
//! let b = Tensor::ones(&dev, &[3])?;
//! let c = a.add(&b)?.mul_scalar(2.0)?; // b broadcasts over the rows
//! assert_eq!(c.shape(), [2, 3]);
//! assert_eq!(c.to_vec()?, [4.0, 6.0, 8.0, 10.0, 12.0, 14.0]);
//!
//! let t = a.transpose(0, 1)?; // a copy, through the strided-copy kernel
//! assert_eq!(t.shape(), [3, 2]);
//! assert_eq!(t.to_vec()?, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
//! let r = a.reshape(&[3, 2])?; // the same buffer
//! assert!(r.shares_storage(&a));
//!
//! assert_eq!(a.matmul(&t)?.to_vec()?, [14.0, 32.0, 32.0, 77.0]);
//! assert_eq!(a.sum(&[1], false)?.to_vec()?, [6.0, 15.0]);
//! assert_eq!(a.mean_all()?.item()?, 3.5);
//! # Ok(()) }
//! ```

mod create;
mod host_rng;
mod index_tensor;
pub(crate) mod shape;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use create::Generator;
pub use host_rng::{splitmix64_mix, HostRng, GOLDEN_GAMMA};
pub use index_tensor::IndexTensor;

use crate::autograd::{is_grad_enabled, Backward, Node};
use crate::device::{Device, PooledBuffer};
use crate::error::{Error, Result};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A handle to a GPU tensor. Cloning is cheap and shares everything.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorInner>);

pub(crate) struct TensorInner {
    id: u64,
    storage: Arc<PooledBuffer>,
    shape: Vec<usize>,
    requires_grad: bool,
    /// The backward rule that produced this tensor; `None` for leaves.
    node: Option<Arc<Node>>,
    /// Accumulated gradient, for leaves that require it.
    grad: Mutex<Option<Tensor>>,
}

impl Tensor {
    fn build(storage: Arc<PooledBuffer>, shape: Vec<usize>, requires_grad: bool, node: Option<Arc<Node>>) -> Tensor {
        Tensor(Arc::new(TensorInner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            storage,
            shape,
            requires_grad,
            node,
            grad: Mutex::new(None),
        }))
    }

    /// A tensor with uninitialised contents (every element is written by the caller's kernel).
    pub(crate) fn uninit(dev: &Device, shape: &[usize]) -> Result<Tensor> {
        shape::check_rank("tensor", shape)?;
        let n: usize = shape.iter().product();
        let storage = dev.alloc_f32(n)?;
        if dev.poison_outputs() {
            crate::kernels::fill::launch(dev, n, f32::NAN, storage.buffer())?;
        }
        Ok(Tensor::build(Arc::new(storage), shape.to_vec(), false, None))
    }

    /// Attach the result of an op to the tape: if grad mode is on and any
    /// input requires a gradient, `out` gets `rule` as its backward.
    pub(crate) fn record(out: Tensor, inputs: &[&Tensor], rule: impl Backward + 'static) -> Tensor {
        if !is_grad_enabled() || !inputs.iter().any(|t| t.requires_grad()) {
            return out;
        }
        let node = Node {
            inputs: inputs.iter().map(|&t| t.clone()).collect(),
            rule: Box::new(rule),
        };
        Tensor::build(out.0.storage.clone(), out.0.shape.clone(), true, Some(Arc::new(node)))
    }

    /// The same data under another shape, sharing the buffer (no graph).
    pub(crate) fn with_shape(&self, shape: &[usize]) -> Tensor {
        Tensor::build(self.0.storage.clone(), shape.to_vec(), false, None)
    }

    pub(crate) fn id(&self) -> u64 {
        self.0.id
    }

    pub(crate) fn node(&self) -> Option<&Arc<Node>> {
        self.0.node.as_ref()
    }

    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.0.storage.buffer()
    }

    /// The device holding this tensor.
    pub fn device(&self) -> &Device {
        self.0.storage.device()
    }

    /// The shape (sizes of the axes).
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    /// Number of axes.
    pub fn rank(&self) -> usize {
        self.0.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.shape.iter().product()
    }

    /// Whether gradients flow to this tensor.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }

    /// Whether this tensor is a leaf (not the output of a recorded op).
    pub fn is_leaf(&self) -> bool {
        self.0.node.is_none()
    }

    /// A leaf that shares this tensor's buffer and requires a gradient: how
    /// parameters are made. Its gradient accumulates in [`Tensor::grad`].
    pub fn requires_grad_(&self) -> Tensor {
        Tensor::build(self.0.storage.clone(), self.0.shape.clone(), true, None)
    }

    /// The same data, cut from the tape: no gradient flows through it.
    pub fn detach(&self) -> Tensor {
        Tensor::build(self.0.storage.clone(), self.0.shape.clone(), false, None)
    }

    /// The gradient accumulated by [`Tensor::backward`], if any.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replace the accumulated gradient.
    pub fn set_grad(&self, grad: Option<Tensor>) {
        *self.0.grad.lock().unwrap_or_else(|e| e.into_inner()) = grad;
    }

    /// Forget the accumulated gradient.
    pub fn zero_grad(&self) {
        self.set_grad(None);
    }

    /// True when both handles share one GPU buffer.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0.storage, &other.0.storage)
    }

    pub(crate) fn same_device(&self, op: &'static str, other: &Tensor) -> Result<()> {
        if self.device().same(other.device()) {
            Ok(())
        } else {
            Err(Error::DeviceMismatch { op })
        }
    }

    /// Overwrite this tensor's values with `src`'s, in place (same shape). Every
    /// handle sharing the buffer sees the new values: this is how parameters
    /// are loaded and how running statistics are updated. Not recorded on the
    /// tape.
    pub fn assign_(&self, src: &Tensor) -> Result<()> {
        self.same_device("assign_", src)?;
        if self.shape() != src.shape() {
            return Err(Error::shape(
                "assign_",
                self.shape(),
                src.shape(),
                "assign needs equal shapes",
            ));
        }
        if self.shares_storage(src) {
            return Ok(());
        }
        let strides = shape::contiguous_strides(self.shape());
        let strides = &strides;
        let (from, to) = (src.buffer(), self.buffer());
        use crate::kernels::copy::{launch, View};
        launch(
            self.device(),
            self.shape(),
            View {
                buffer: from,
                offset: 0,
                strides,
            },
            View {
                buffer: to,
                offset: 0,
                strides,
            },
        )
    }

    /// Overwrite this tensor's values from the host, in place.
    pub fn assign_slice_(&self, data: &[f32]) -> Result<()> {
        if data.len() != self.numel() {
            return Err(Error::invalid(
                "assign_slice_",
                format!(
                    "tensor of shape {:?} needs {} values but {} were given",
                    self.shape(),
                    self.numel(),
                    data.len()
                ),
            ));
        }
        self.device().upload(self.buffer(), bytemuck::cast_slice(data));
        Ok(())
    }

    /// Copy the values to the host (submits pending work and waits).
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        let bytes = self.device().read(self.buffer(), (self.numel() * 4) as u64)?;
        // The host copy of the bytes need not be 4-aligned: copy, do not cast in place.
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f32> {
        if self.numel() != 1 {
            return Err(Error::invalid(
                "item",
                format!(
                    "tensor of shape {:?} has {} elements, not 1",
                    self.shape(),
                    self.numel()
                ),
            ));
        }
        Ok(self.to_vec()?[0])
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor(shape={:?}, requires_grad={}",
            self.shape(),
            self.requires_grad()
        )?;
        if let Some(n) = self.node() {
            write!(f, ", grad_fn={}", n.rule.name())?;
        }
        write!(f, ")")
    }
}
