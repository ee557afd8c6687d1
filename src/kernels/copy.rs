//! Launcher for `shaders/copy.wgsl`: strided copy between two buffers.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, pack8, COPY, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `CopyParams` in `shaders/copy.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct CopyParams {
    pub n: u32,
    pub rank: u32,
    pub src_offset: u32,
    pub dst_offset: u32,
    pub shape: [u32; 8],
    pub src_strides: [u32; 8],
    pub dst_strides: [u32; 8],
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

/// For every index over `shape`: dst[view] = src[view].
pub(crate) fn launch(dev: &Device, shape: &[usize], src: View<'_>, dst: View<'_>) -> Result<()> {
    let n: usize = shape.iter().product();
    let (shape, src_strides, dst_strides) = collapse(shape, src.strides, dst.strides);
    let params = CopyParams {
        n: check_u32("copy elements", n)?,
        rank: shape.len() as u32,
        src_offset: check_u32("copy offset", src.offset)?,
        dst_offset: check_u32("copy offset", dst.offset)?,
        shape: pack8(&shape),
        src_strides: pack8(&src_strides),
        dst_strides: pack8(&dst_strides),
    };
    dev.dispatch(&Dispatch {
        source: COPY,
        entry: "strided_copy",
        constants: &[],
        params: bytemuck::bytes_of(&params),
        inputs: &[src.buffer],
        outputs: &[dst.buffer],
        workgroups: grid(
            (n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: 0.0,
    })
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
}
