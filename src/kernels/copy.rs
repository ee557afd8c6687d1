//! Launcher for `shaders/copy.wgsl`: strided copy between two buffers.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, fill, grid, pack8, COPY, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `CopyParams` in `shaders/copy.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct CopyParams {
    /// Elements copied: the product of `shape` (`strided_copy` runs one invocation each).
    pub n: u32,
    /// Axes of `shape` and of the stride tables: 3 for `copy_grid` (padded in front with size-1
    /// axes), up to 8 for `strided_copy`.
    pub rank: u32,
    /// Element offset of the source view in `src`.
    pub src_offset: u32,
    /// Element offset of the destination view in `dst`.
    pub dst_offset: u32,
    /// Extents of the copied index space, row-major, first `rank` entries (the rest 0); for
    /// `copy_grid`, (first, middle, last) in the first vec4.
    pub shape: [u32; 8],
    /// Element strides of the source view per axis of `shape` (0 broadcasts).
    pub src_strides: [u32; 8],
    /// Element strides of the destination view per axis of `shape`.
    pub dst_strides: [u32; 8],
    /// With the `PAD` constant (`copy_grid`): first position along the last axis that takes a
    /// source value, read at `x - lo`; 0 otherwise.
    pub lo: u32,
    /// With `PAD`: end (exclusive) of that range; positions outside `lo..hi` along the last axis
    /// are written 0. 0 otherwise.
    pub hi: u32,
    /// Factor applied to every copied value when the `SCALED` constant is set (the launcher sets
    /// it when `scale != 1`).
    pub scale: f32,
    /// Pads the struct to a multiple of 16 bytes; 0.
    pub _pad1: u32,
}

/// A strided view of a buffer: element offset and per-axis strides.
pub(crate) struct View<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: usize,
    pub strides: &'a [usize],
}

/// Drop axes of size 1 and merge neighbours that are contiguous in both views
/// (axis i and i+1 merge when stride[i] = stride[i+1]·shape[i+1] in each).
/// The copy is the same; the kernel does fewer divisions.
pub(crate) fn collapse(shape: &[usize], a: &[usize], b: &[usize]) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let mut s: Vec<usize> = Vec::new();
    let mut sa: Vec<usize> = Vec::new();
    let mut sb: Vec<usize> = Vec::new();
    for ((&d, &x), &y) in shape.iter().zip(a).zip(b) {
        if d == 1 {
            continue;
        }
        match (s.last_mut(), sa.last_mut(), sb.last_mut()) {
            (Some(ld), Some(lx), Some(ly)) if *lx == x * d && *ly == y * d => {
                *ld *= d;
                *lx = x;
                *ly = y;
            }
            _ => {
                s.push(d);
                sa.push(x);
                sb.push(y);
            }
        }
    }
    (s, sa, sb)
}

/// Narrowest `copy_grid` workgroup along x: CPU drivers run a workgroup's
/// invocations in SIMD chunks of 8 along x (lavapipe on AVX2), so a
/// narrower x leaves lanes idle in every chunk (measured: 4×64 ran the
/// [64, 64, 49] permute about 1.5× slower than 8×32 or 64×4, 1×256 20×
/// slower); GPUs want contiguous runs along x too.
const MIN_WX: usize = 8;

/// `copy_grid`'s workgroup (WX, WY), WX·WY = 256, for middle and last
/// extents `mid` and `last`: the power of two WX ≥ [`MIN_WX`] that launches
/// the fewest invocations (idle ones included), the wider one on a tie
/// (longer runs along the contiguous axis).
fn workgroup_shape(mid: usize, last: usize) -> (usize, usize) {
    let wg = WG as usize;
    (MIN_WX.trailing_zeros()..=wg.trailing_zeros())
        .rev()
        .map(|k| (1usize << k, wg >> k))
        .min_by_key(|&(wx, wy)| last.div_ceil(wx) * wx * mid.div_ceil(wy) * wy)
        .unwrap_or((wg, 1))
}

/// `copy_grid`'s workgroups and workgroup shape for a shape of rank ≤ 3, if
/// every extent fits the per-dimension limit.
fn grid3(dev: &Device, shape: &[usize; 3]) -> Option<([u32; 3], (usize, usize))> {
    let max = dev.limits().max_compute_workgroups_per_dimension as usize;
    let (wx, wy) = workgroup_shape(shape[1], shape[2]);
    let g = [shape[2].div_ceil(wx), shape[1].div_ceil(wy), shape[0]];
    g.iter().all(|&v| v <= max).then(|| (g.map(|v| v as u32), (wx, wy)))
}

/// Pad a rank ≤ 3 shape and its strides in front to rank 3.
fn pad3(shape: &[usize], strides: &[usize]) -> ([usize; 3], [usize; 3]) {
    let mut s = [1; 3];
    let mut t = [0; 3];
    let k = 3 - shape.len();
    s[k..].copy_from_slice(shape);
    t[k..].copy_from_slice(strides);
    (s, t)
}

/// Record `copy_grid` over a rank-3 shape; `pad` = Some((lo, hi)) writes
/// zeros outside lo ≤ x < hi along the last axis.
fn dispatch_grid(
    dev: &Device,
    shape: [usize; 3],
    (src, src_offset, src_strides): (&wgpu::Buffer, usize, [usize; 3]),
    (dst, dst_offset, dst_strides): (&wgpu::Buffer, usize, [usize; 3]),
    pad: Option<(usize, usize)>,
    scale: f32,
    (workgroups, (wx, wy)): ([u32; 3], (usize, usize)),
) -> Result<()> {
    let n: usize = shape.iter().product();
    let (lo, hi) = pad.unwrap_or((0, 0));
    let params = CopyParams {
        n: check_u32("copy elements", n)?,
        rank: 3,
        src_offset: check_u32("copy offset", src_offset)?,
        dst_offset: check_u32("copy offset", dst_offset)?,
        shape: pack8(&shape),
        src_strides: pack8(&src_strides),
        dst_strides: pack8(&dst_strides),
        lo: lo as u32,
        hi: hi as u32,
        scale,
        _pad1: 0,
    };
    let read = if pad.is_some() {
        shape[0] * shape[1] * (hi - lo)
    } else {
        n
    };
    dev.dispatch(&Dispatch {
        source: COPY,
        entry: "copy_grid",
        constants: &[
            ("PAD", pad.is_some() as u32 as f64),
            ("SCALED", (scale != 1.0) as u32 as f64),
            ("WX", wx as f64),
            ("WY", wy as f64),
        ],
        params: bytemuck::bytes_of(&params),
        inputs: &[src],
        outputs: &[dst],
        workgroups,
        flops: 0.0,
        bytes: 4.0 * (n + read) as f64,
    })
}

/// For every index over `shape`: dst[view] = src[view].
///
/// After merging axes, a copy of rank ≤ 3 runs on `copy_grid` (the grid is
/// the index, no divisions); higher ranks, a last extent under 4, and
/// extents past the grid's limits, on `strided_copy`.
pub(crate) fn launch(dev: &Device, shape: &[usize], src: View<'_>, dst: View<'_>) -> Result<()> {
    launch_scaled(dev, shape, src, dst, 1.0)
}

/// [`launch`] with every copied value multiplied by `scale`.
pub(crate) fn launch_scaled(dev: &Device, shape: &[usize], src: View<'_>, dst: View<'_>, scale: f32) -> Result<()> {
    let n: usize = shape.iter().product();
    let (shape, src_strides, dst_strides) = collapse(shape, src.strides, dst.strides);
    // A last extent under half of MIN_WX would leave most lanes idle: the
    // decoding kernel keeps its lanes busy instead.
    let short = shape.last().is_some_and(|&d| 2 * d < MIN_WX);
    if n > 0 && shape.len() <= 3 && !short {
        let (s3, ss) = pad3(&shape, &src_strides);
        let (_, ds) = pad3(&shape, &dst_strides);
        if let Some(workgroups) = grid3(dev, &s3) {
            check_u32("copy elements", n)?;
            return dispatch_grid(
                dev,
                s3,
                (src.buffer, src.offset, ss),
                (dst.buffer, dst.offset, ds),
                None,
                scale,
                workgroups,
            );
        }
    }
    let params = CopyParams {
        n: check_u32("copy elements", n)?,
        rank: shape.len() as u32,
        src_offset: check_u32("copy offset", src.offset)?,
        dst_offset: check_u32("copy offset", dst.offset)?,
        shape: pack8(&shape),
        src_strides: pack8(&src_strides),
        dst_strides: pack8(&dst_strides),
        lo: 0,
        hi: 0,
        scale,
        _pad1: 0,
    };
    dev.dispatch(&Dispatch {
        source: COPY,
        entry: "strided_copy",
        constants: &[("SCALED", (scale != 1.0) as u32 as f64)],
        params: bytemuck::bytes_of(&params),
        inputs: &[src.buffer],
        outputs: &[dst.buffer],
        workgroups: grid(
            (n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: 8.0 * n as f64,
    })
}

/// dst, viewed as `rows` contiguous rows of `len`, gets src (rows of
/// `hi − lo`, contiguous) at columns lo..hi and zeros elsewhere: embedding a
/// block into zeros along one axis, in one dispatch where the grid allows
/// (else a fill and a copy).
pub(crate) fn launch_embed(
    dev: &Device,
    rows: usize,
    len: usize,
    (lo, hi): (usize, usize),
    src: &wgpu::Buffer,
    dst: &wgpu::Buffer,
) -> Result<()> {
    let n = rows * len;
    if n == 0 {
        return Ok(());
    }
    check_u32("copy elements", n)?;
    let width = hi - lo;
    let shape = [1, rows, len];
    if let Some(workgroups) = grid3(dev, &shape) {
        return dispatch_grid(
            dev,
            shape,
            (src, 0, [0, width, 1]),
            (dst, 0, [0, len, 1]),
            Some((lo, hi)),
            1.0,
            workgroups,
        );
    }
    fill::launch(dev, n, 0.0, dst)?;
    launch(
        dev,
        &[rows, width],
        View {
            buffer: src,
            offset: 0,
            strides: &[width, 1],
        },
        View {
            buffer: dst,
            offset: lo,
            strides: &[len, 1],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::collapse;

    #[test]
    fn collapse_merges_contiguous_axes_and_drops_ones() {
        // A plain contiguous copy of [2, 3, 4] is one axis of 24.
        assert_eq!(
            collapse(&[2, 3, 4], &[12, 4, 1], &[12, 4, 1]),
            (vec![24], vec![1], vec![1])
        );
        // A transpose of [2, 3] cannot merge.
        assert_eq!(
            collapse(&[3, 2], &[1, 3], &[2, 1]),
            (vec![3, 2], vec![1, 3], vec![2, 1])
        );
        // Broadcasting a row over a batch: the stride-0 axis stays, size-1 axes go.
        assert_eq!(
            collapse(&[5, 1, 4], &[0, 4, 1], &[4, 4, 1]),
            (vec![5, 4], vec![0, 1], vec![4, 1])
        );
        // Everything of size 1: rank 0, one element.
        assert_eq!(collapse(&[1, 1], &[1, 1], &[1, 1]), (vec![], vec![], vec![]));
    }

    #[test]
    fn workgroup_shape_fits_the_last_two_axes() {
        use super::workgroup_shape;
        // Long rows: one row of 256 per group.
        assert_eq!(workgroup_shape(1, 100_000), (256, 1));
        // 7×7 maps under 64 channels: 8×32 (49 of 56 busy along x, all 64
        // along y), not 64×4 (49 of 64).
        assert_eq!(workgroup_shape(64, 49), (8, 32));
        // 16 channels last under 196 positions: 16×16, every lane busy.
        assert_eq!(workgroup_shape(196, 16), (16, 16));
        // A column: still 8 along x (one busy), never narrower.
        assert_eq!(workgroup_shape(1000, 1), (8, 32));
    }
}
