//! Launcher for `shaders/matmul.wgsl`: batched C = op(A)·op(B), split along K
//! when K is long (bounded loops per invocation, and more parallelism for the
//! skinny, deep products of weight gradients).

use bytemuck::{Pod, Zeroable};

use super::{check_u32, copy, matmul_subgroup, reduce, MATMUL};
use crate::device::{Device, Dispatch, ShaderSource, Tuning};
use crate::error::{Error, Result};

/// Mirrors `MatmulParams` in `shaders/matmul.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct MatmulParams {
    /// Rows of op(A) and of C.
    pub m: u32,
    /// Columns of op(B) and of C.
    pub n: u32,
    /// Reduction length: columns of op(A), rows of op(B).
    pub k: u32,
    /// Matrices in the batch: the product of `batch_shape` (1 without batch axes).
    pub batch: u32,
    /// 1: A is stored transposed, [K, M]; 0: row-major [M, K].
    pub trans_a: u32,
    /// 1: B is stored transposed, [N, K]; 0: row-major [K, N].
    pub trans_b: u32,
    /// Values of K each split covers, a multiple of 16 (all of K, rounded up, with one split).
    pub k_chunk: u32,
    /// K-splits in this dispatch; split s writes its partial product to slab s, [splits, batch,
    /// M, N] from `c_offset` (1: the product itself).
    pub splits: u32,
    /// Batch axes used in `batch_shape` and the stride tables (0 to 4).
    pub batch_rank: u32,
    /// Element offset of C in its buffer (0 in split passes, which write scratch slabs).
    pub c_offset: u32,
    /// Element offset of A in its buffer.
    pub a_offset: u32,
    /// Element offset of B in its buffer.
    pub b_offset: u32,
    /// Index of this dispatch's first split when long K runs in passes: split s covers K
    /// from (split_base + s)·k_chunk. 0 with a single pass.
    pub split_base: u32,
    /// 1: `bias[row]` is added to every `C[z, row, ·]`, by split 0 only; 0: the bias binding is
    /// not read.
    pub row_bias: u32,
    /// Blocked output: column j of C lands in block j / c_block as column j % c_block of a
    /// [M, c_block] matrix (one matrix, no split); 0: C is a plain row-major [M, N] per batch.
    pub c_block: u32,
    /// Blocked output: elements from the start of one block to the next.
    pub c_block_stride: u32,
    /// Extents of the batch axes, row-major, first `batch_rank` entries (C's batch is contiguous).
    pub batch_shape: [u32; 4],
    /// Element strides of A per batch axis, 0 on a broadcast axis.
    pub batch_strides_a: [u32; 4],
    /// Element strides of B per batch axis, 0 on a broadcast axis.
    pub batch_strides_b: [u32; 4],
}

/// Output tile edge of `matmul_tiled` and `conv_gemm_tiled` (`TILE` in
/// `gemm_tile.wgsl`).
#[doc(hidden)]
pub const TILE: usize = 64;

/// Longest K range one workgroup walks; longer K is split. At 16 per step and
/// ~24 loop iterations per step this stays far below lavapipe's 65,535.
pub(crate) const MAX_K_CHUNK: usize = 8192;

/// The problem: `batch_shape` (≤ 4 axes) with element strides of A and B per
/// batch axis, then M, N, K and the transpose flags.
#[derive(Clone, Copy)]
pub(crate) struct MatmulShape<'a> {
    pub batch_shape: &'a [usize],
    pub batch_strides_a: &'a [usize],
    pub batch_strides_b: &'a [usize],
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    /// Element offsets of A, B and C in their buffers.
    pub a_offset: usize,
    pub b_offset: usize,
    pub c_offset: usize,
}

/// How many K splits the workgroup-memory tile (GPUs) uses: enough to bound
/// loops, and more when the output has too few tiles to fill the device.
pub(crate) fn choose_splits(m: usize, n: usize, k: usize, batch: usize) -> usize {
    let mut splits = k.div_ceil(MAX_K_CHUNK).max(1);
    let tiles = m.div_ceil(TILE) * n.div_ceil(TILE) * batch;
    // Deep, small products: aim for ~64 workgroups of ≥ 1024-long K each.
    while tiles * splits < 64 && k / (splits * 2) >= 1024 {
        splits *= 2;
    }
    splits
}

/// Layout of a register-tile workgroup (CPU drivers; `TX`, `TY`, `KS` in
/// `matmul.wgsl`): `tx` invocations along N (8 columns each), `ty` along M
/// (4 rows each), `ks` K-splits side by side; `tx·ty·ks ≤ 64`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegLayout {
    pub tx: usize,
    pub ty: usize,
    pub ks: usize,
}

/// Invocations per register-tile workgroup (`@workgroup_size` in `matmul.wgsl`).
const REG_WG: usize = 64;

/// Shortest K range a split of a register-tile product is given when splits
/// are added for parallelism (below it the slab sum costs more than it saves).
const MIN_SPLIT_K: usize = 256;

/// Invocations a register-tile product should keep busy before K-splits stop
/// being added: a few workgroups' worth for each CPU core.
const BUSY_INVOCATIONS: usize = 512;

/// Products below this many multiply-adds are not split for parallelism (one
/// more dispatch costs more than they take).
const MIN_SPLIT_WORK: usize = 1 << 20;

/// The register-tile layout and K splits for an M×N×K product over `batch`:
/// the tile shrinks to the output (a 16×16 weight gradient gets 4×2
/// invocations, not 8×8 computing clamped copies), and K is split — in the
/// workgroup first — while the product keeps too few invocations busy, each
/// split keeping at least [`MIN_SPLIT_K`] of K. Splits also bound every
/// invocation's loop ([`MAX_K_CHUNK`]).
#[doc(hidden)]
pub fn choose_reg_layout(m: usize, n: usize, k: usize, batch: usize) -> (RegLayout, usize) {
    let tx = n.div_ceil(8).next_power_of_two().min(8);
    let ty = m.div_ceil(4).next_power_of_two().min(8);
    let tiles = n.div_ceil(8 * tx) * m.div_ceil(4 * ty) * batch;
    let mut splits = k.div_ceil(MAX_K_CHUNK).max(1);
    if m * n * k * batch >= MIN_SPLIT_WORK {
        while tiles * tx * ty * splits < BUSY_INVOCATIONS && k / (splits * 2) >= MIN_SPLIT_K {
            splits *= 2;
        }
    }
    let ks = (REG_WG / (tx * ty)).min(splits);
    (RegLayout { tx, ty, ks }, splits)
}

pub(crate) fn launch(
    dev: &Device,
    s: &MatmulShape<'_>,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    c: &wgpu::Buffer,
) -> Result<()> {
    launch_into(dev, s, a, b, Epilogue::default(), c)
}

/// What the product's write does besides storing C = op(A)·op(B).
#[derive(Clone, Copy, Default)]
pub(crate) struct Epilogue<'a> {
    /// Added to every C[z, row, ·]: one value per row of M (a convolution's
    /// bias over its output channels).
    pub row_bias: Option<&'a wgpu::Buffer>,
    /// `(block, stride)`: column j of C (one matrix, N a multiple of `block`)
    /// lands in block j / block, `stride` elements apart from the next, as
    /// column j % block of a [M, block] matrix — a product over (image,
    /// pixel) columns written straight into NCHW.
    pub col_blocks: Option<(usize, usize)>,
}

/// [`launch`] with an [`Epilogue`].
pub(crate) fn launch_into(
    dev: &Device,
    s: &MatmulShape<'_>,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    epi: Epilogue<'_>,
    c: &wgpu::Buffer,
) -> Result<()> {
    let row_bias = epi.row_bias;
    if s.batch_shape.len() > 4 {
        return Err(Error::invalid("matmul", "at most 4 batch axes are supported"));
    }
    let batch: usize = s.batch_shape.iter().product();
    let out_n = batch * s.m * s.n;
    if out_n == 0 {
        return Ok(());
    }
    if s.k == 0 && row_bias.is_none() && epi.col_blocks.is_none() && s.c_offset == 0 {
        return super::fill::launch(dev, out_n, 0.0, c);
    }
    let (c_block, c_block_stride) = epi.col_blocks.unwrap_or((0, 0));
    if c_block > 0 && (batch != 1 || !s.n.is_multiple_of(c_block)) {
        return Err(Error::invalid(
            "matmul",
            "a blocked output needs one matrix and N a multiple of the block",
        ));
    }
    let regtile = dev.tuning() == Tuning::Cpu;
    let kernel = match dev.subgroup_size() {
        Some(lanes) if regtile => subgroup_kernel(s, batch, lanes),
        _ => tile_kernel(s, batch, regtile),
    };
    let splits = kernel.splits;
    let k_chunk = s.k.div_ceil(splits).div_ceil(16).max(1) * 16;
    let splits = s.k.div_ceil(k_chunk).max(1);
    if c_block > 0 && splits > 1 {
        // Split-K sums slabs into a contiguous C: sum there, then place the blocks.
        let tmp = dev.alloc_f32(out_n)?;
        let plain = MatmulShape { c_offset: 0, ..*s };
        let epi = Epilogue {
            col_blocks: None,
            ..epi
        };
        launch_into(dev, &plain, a, b, epi, tmp.buffer())?;
        return copy::launch(
            dev,
            &[s.m, s.n / c_block, c_block],
            copy::View {
                buffer: tmp.buffer(),
                offset: 0,
                strides: &[s.n, c_block, 1],
            },
            copy::View {
                buffer: c,
                offset: s.c_offset,
                strides: &[c_block, c_block_stride, 1],
            },
        );
    }
    let constants = kernel.constants.as_slice();
    // Any buffer stands in for a missing bias: it is never read.
    let bias = row_bias.unwrap_or(a);
    let (tile_m, tile_n) = (kernel.tile_m, kernel.tile_n);
    let pack = |v: &[usize]| {
        let mut o = [0u32; 4];
        for (d, &x) in o.iter_mut().zip(v) {
            *d = x as u32;
        }
        o
    };
    let params = MatmulParams {
        m: check_u32("matmul M", s.m)?,
        n: check_u32("matmul N", s.n)?,
        k: check_u32("matmul K", s.k)?,
        batch: check_u32("matmul batch", batch)?,
        trans_a: s.trans_a as u32,
        trans_b: s.trans_b as u32,
        k_chunk: k_chunk as u32,
        splits: splits as u32,
        batch_rank: s.batch_shape.len() as u32,
        c_offset: check_u32("matmul output offset", s.c_offset)?,
        a_offset: check_u32("matmul A offset", s.a_offset)?,
        b_offset: check_u32("matmul B offset", s.b_offset)?,
        split_base: 0,
        row_bias: row_bias.is_some() as u32,
        c_block: check_u32("matmul output block", c_block)?,
        c_block_stride: check_u32("matmul output block stride", c_block_stride)?,
        batch_shape: pack(s.batch_shape),
        batch_strides_a: pack(s.batch_strides_a),
        batch_strides_b: pack(s.batch_strides_b),
    };
    let flops = 2.0 * (batch * s.m * s.n) as f64 * s.k as f64;
    let bytes = 4.0 * (batch * (s.m * s.k + s.k * s.n + s.m * s.n)) as f64;
    let max = dev.limits().max_compute_workgroups_per_dimension;
    let grid = |splits: usize| -> Result<[u32; 3]> {
        let workgroups = [
            s.n.div_ceil(tile_n) as u32,
            s.m.div_ceil(tile_m) as u32,
            check_u32("matmul batch × splits", batch * splits.div_ceil(kernel.ks))?,
        ];
        if workgroups.iter().any(|&w| w > max) {
            return Err(Error::LimitExceeded {
                what: format!("matmul grid {workgroups:?} (N/{tile_n}, M/{tile_m}, batch·splits)"),
                requested: *workgroups.iter().max().unwrap_or(&0) as u64,
                limit: max as u64,
            });
        }
        Ok(workgroups)
    };
    if splits == 1 {
        let span = match s.n.checked_div(c_block) {
            Some(blocks) => (blocks - 1) * c_block_stride + s.m * c_block,
            None => out_n,
        };
        check_u32("matmul output", s.c_offset + span)?;
        return dev.dispatch(&Dispatch {
            source: kernel.source,
            entry: kernel.entry,
            constants,
            params: bytemuck::bytes_of(&params),
            inputs: &[a, b, bias],
            outputs: &[c],
            workgroups: grid(1)?,
            flops,
            bytes,
        });
    }
    // Slabs start at 0 of the scratch buffer and are summed pass by pass
    // (bounded scratch whatever K is); the sum lands at c_offset.
    reduce::sum_slabs(dev, splits, out_n, c, s.c_offset, |first, count, partial| {
        check_u32("matmul partial sums", out_n * count)?;
        let params = MatmulParams {
            c_offset: 0,
            split_base: first as u32,
            splits: count as u32,
            ..params
        };
        dev.dispatch(&Dispatch {
            source: kernel.source,
            entry: kernel.entry,
            constants,
            params: bytemuck::bytes_of(&params),
            inputs: &[a, b, bias],
            outputs: &[partial],
            workgroups: grid(count)?,
            flops: flops * count as f64 / splits as f64,
            bytes: bytes * count as f64 / splits as f64,
        })
    })
}

/// The kernel a product runs: its source, entry point and pipeline
/// constants, the output tile of one workgroup, and the K-splits per
/// workgroup (`ks`) and in all.
struct Kernel {
    source: ShaderSource,
    entry: &'static str,
    constants: Vec<(&'static str, f64)>,
    tile_m: usize,
    tile_n: usize,
    ks: usize,
    splits: usize,
}

/// The workgroup-memory tile (GPUs) or the register tiles (CPU drivers
/// without subgroups).
fn tile_kernel(s: &MatmulShape<'_>, batch: usize, regtile: bool) -> Kernel {
    if !regtile {
        return Kernel {
            source: MATMUL,
            entry: "matmul_tiled",
            constants: Vec::new(),
            tile_m: TILE,
            tile_n: TILE,
            ks: 1,
            splits: choose_splits(s.m, s.n, s.k, batch),
        };
    }
    // 4-wide loads need B row-major with rows (and batch slabs) 16-byte aligned.
    let vec4 = !s.trans_b && s.n.is_multiple_of(4) && s.b_offset.is_multiple_of(4) && s.c_offset.is_multiple_of(4);
    // Dot products over 4-wide K slices need A row-major and B transposed, K and
    // both offsets multiples of 4 (so every row starts 16-byte aligned).
    let dot4 = !s.trans_a
        && s.trans_b
        && s.k.is_multiple_of(4)
        && s.a_offset.is_multiple_of(4)
        && s.b_offset.is_multiple_of(4);
    // A read 4-wide as well: stored [K, M] with M % 4 = 0, or [M, K] with
    // K % 4 = 0 (batch strides of A are multiples of M·K, so aligned too).
    let a_at = s.trans_a && s.m.is_multiple_of(4) && s.a_offset.is_multiple_of(4);
    let a_ak = !s.trans_a && s.k.is_multiple_of(4) && s.a_offset.is_multiple_of(4);
    let entry = match (vec4, dot4) {
        (true, _) if a_at => "matmul_regtile_vec4_at",
        (true, _) if a_ak => "matmul_regtile_vec4_ak",
        (true, _) => "matmul_regtile_vec4",
        (false, true) => "matmul_regtile_dot4",
        (false, false) => "matmul_regtile",
    };
    let (layout, splits) = choose_reg_layout(s.m, s.n, s.k, batch);
    Kernel {
        source: MATMUL,
        entry,
        constants: vec![
            ("TX", layout.tx as f64),
            ("TY", layout.ty as f64),
            ("KS", layout.ks as f64),
        ],
        tile_m: 4 * layout.ty,
        tile_n: 8 * layout.tx,
        ks: layout.ks,
        splits,
    }
}

/// Workgroups of the subgroup kernel to keep busy before K-splits stop being
/// added: several per CPU core, so that uneven ones even out.
const BUSY_SUBGROUPS: usize = 32;

/// The subgroup kernel (CPU drivers with `lanes`-wide subgroups): the tile of
/// [`matmul_subgroup::choose_tile`], and K split while too few workgroups are
/// busy, each split keeping at least [`MIN_SPLIT_K`] of K.
fn subgroup_kernel(s: &MatmulShape<'_>, batch: usize, lanes: u32) -> Kernel {
    let lanes = lanes as usize;
    let aligned =
        |offset: usize, strides: &[usize]| offset.is_multiple_of(4) && strides.iter().all(|x| x.is_multiple_of(4));
    let (a_ok, b_ok) = (
        aligned(s.a_offset, s.batch_strides_a),
        aligned(s.b_offset, s.batch_strides_b),
    );
    let loads = |tile| matmul_subgroup::choose_loads(tile, lanes, (s.m, s.n, s.k), s.trans_a, s.trans_b, a_ok, b_ok);
    let tile = matmul_subgroup::choose_tile(s.m, s.n, lanes, loads);
    let (a, b) = loads(tile);
    let (tile_m, tile_n) = (lanes * tile.rows, tile.cols);
    let groups = s.m.div_ceil(tile_m) * s.n.div_ceil(tile_n) * batch;
    let mut splits = s.k.div_ceil(MAX_K_CHUNK).max(1);
    if s.m * s.n * s.k * batch >= MIN_SPLIT_WORK {
        while groups * splits < BUSY_SUBGROUPS && s.k / (splits * 2) >= MIN_SPLIT_K {
            splits *= 2;
        }
    }
    let variant = matmul_subgroup::Variant {
        lanes,
        rows: tile.rows,
        cols: tile.cols,
        a,
        b,
    };
    Kernel {
        source: matmul_subgroup::source(variant),
        entry: "matmul_subgroup",
        constants: Vec::new(),
        tile_m,
        tile_n,
        ks: 1,
        splits,
    }
}
