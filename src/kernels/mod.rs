//! Kernel launchers: one Rust file per WGSL file, same name (`where.wgsl`'s is
//! `where_select.rs`, `where` being a keyword). A launcher packs
//! its `Params` (mirroring the WGSL struct field by field), picks workgroup
//! counts from the limits and records the dispatch. No autodiff here.
//!
//! Every source is `shaders/common.wgsl` followed by the kernel's own file
//! (`optim.wgsl` is then followed by generated bindings, see [`optim`]);
//! the two tiled GEMMs (`matmul.wgsl`, `conv2d.wgsl`) have the shared tile
//! `shaders/gemm_tile.wgsl` in between.
//! The `*Params` structs are public so that tests can check them against
//! naga's layout of the WGSL structs; the launchers are internal.
//!
//! # Example
//!
//! A `Params` struct has the size and field order of its WGSL struct, and an
//! op on a tensor is one dispatch of its kernel, which the device's profile
//! names `file::entry` followed by the constants that pick the variant.
//!
//! ```
//! use balgan::kernels::{all_sources, unary::UnaryParams};
//! use balgan::{Device, Tensor};
//! # fn main() -> balgan::Result<()> {
//! // `struct UnaryParams { n: u32, op: u32, alpha: f32, beta: f32 }` in unary.wgsl.
//! assert_eq!(std::mem::size_of::<UnaryParams>(), 16);
//! let unary = all_sources().into_iter().find(|s| s.file == "unary.wgsl").unwrap();
//! assert!(unary.wgsl.contains("struct UnaryParams"));
//!
//! let dev = Device::new()?;
//! let x = Tensor::from_slice(&dev, &[-1.0, 0.0, 1.0], &[3])?;
//! dev.start_profile()?;
//! let y = x.tanh()?;
//! let profile = dev.take_profile();
//! assert_eq!(profile.len(), 1);
//! assert_eq!(profile[0].kernel, "unary::unary_map OP=9"); // OP_TANH
//! assert_eq!(profile[0].dispatches, 1);
//! assert_eq!(y.to_vec()?[1], 0.0);
//! # Ok(()) }
//! ```

pub mod batchnorm;
pub mod binary;
pub mod conv2d;
pub mod copy;
pub mod fill;
pub mod glu;
pub mod index;
pub mod loss;
pub mod matmul;
pub mod matmul_subgroup;
pub mod optim;
pub mod reduce;
pub mod rng;
pub mod softmax;
pub mod unary;
pub mod where_select;

use crate::device::ShaderSource;
use crate::error::{Error, Result};

macro_rules! shader {
    ($file:literal $(, $fragment:literal)*) => {
        ShaderSource {
            file: $file,
            wgsl: concat!(
                include_str!("../../shaders/common.wgsl"),
                "\n",
                $(include_str!(concat!("../../shaders/", $fragment)), "\n",)*
                include_str!(concat!("../../shaders/", $file))
            ),
        }
    };
}

pub(crate) const UNARY: ShaderSource = shader!("unary.wgsl");
pub(crate) const BINARY: ShaderSource = shader!("binary.wgsl");
pub(crate) const WHERE: ShaderSource = shader!("where.wgsl");
pub(crate) const COPY: ShaderSource = shader!("copy.wgsl");
pub(crate) const CONV2D: ShaderSource = shader!("conv2d.wgsl", "gemm_tile.wgsl");
pub(crate) const FILL: ShaderSource = shader!("fill.wgsl");
pub(crate) const REDUCE: ShaderSource = shader!("reduce.wgsl");
pub(crate) const MATMUL: ShaderSource = shader!("matmul.wgsl", "gemm_tile.wgsl");
pub(crate) const INDEX: ShaderSource = shader!("index.wgsl");
pub(crate) const RNG: ShaderSource = shader!("rng.wgsl");
pub(crate) const SOFTMAX: ShaderSource = shader!("softmax.wgsl");
pub(crate) const GLU: ShaderSource = shader!("glu.wgsl");
pub(crate) const BATCHNORM: ShaderSource = shader!("batchnorm.wgsl");
pub(crate) const LOSS: ShaderSource = shader!("loss.wgsl");

/// Every shader source the engine compiles, for validation tests.
pub fn all_sources() -> Vec<ShaderSource> {
    vec![
        UNARY, BINARY, WHERE, COPY, CONV2D, FILL, REDUCE, MATMUL, INDEX, RNG, SOFTMAX, GLU, BATCHNORM, LOSS,
    ]
}

/// Sources whose entry points are generated, for validation tests:
/// `optim.wgsl` plus the bindings for a number of tensors (see [`optim`]),
/// the smallest and the largest variant, and the subgroup product of
/// lavapipe's usual shape (see [`matmul_subgroup`]; every variant is in
/// [`matmul_subgroup::validation_variants`]).
pub fn generated_sources() -> Vec<ShaderSource> {
    vec![
        optim::source(1),
        optim::source(optim::MAX_SLOTS),
        matmul_subgroup::source(matmul_subgroup::Variant {
            lanes: 8,
            rows: 4,
            cols: 32,
            a: matmul_subgroup::Loads::AlongK,
            b: matmul_subgroup::Loads::AlongMn,
        }),
    ]
}

/// Invocations per workgroup of the 1-D kernels (`WG` in `common.wgsl`).
#[doc(hidden)]
pub const WG: u32 = 256;

/// Workgroup grid for `groups` 1-D workgroups, folded into x and y so that
/// neither exceeds `max_per_dim`. Kernels rebuild the index with `group_id`.
pub(crate) fn grid(groups: u64, max_per_dim: u32) -> Result<[u32; 3]> {
    if groups == 0 {
        return Ok([0, 0, 0]);
    }
    let max = max_per_dim as u64;
    if groups <= max {
        return Ok([groups as u32, 1, 1]);
    }
    let y = groups.div_ceil(max);
    if y > max {
        return Err(Error::LimitExceeded {
            what: "workgroups for one dispatch".into(),
            requested: groups,
            limit: max * max,
        });
    }
    // x·y may exceed `groups`: kernels bound-check their index.
    let x = groups.div_ceil(y);
    Ok([x as u32, y as u32, 1])
}

/// Pack up to 8 values into the `array<vec4<u32>, 2>` layout of the shaders.
pub(crate) fn pack8(values: &[usize]) -> [u32; 8] {
    let mut out = [0u32; 8];
    for (o, &v) in out.iter_mut().zip(values) {
        *o = v as u32;
    }
    out
}

/// Check that an element count fits the u32 index arithmetic of the kernels.
pub(crate) fn check_u32(what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::LimitExceeded {
        what: what.to_string(),
        requested: n as u64,
        limit: u32::MAX as u64,
    })
}
