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
