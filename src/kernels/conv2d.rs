//! Launcher for `shaders/conv2d.wgsl`: direct conv2d, transposed conv2d and
//! the weight-gradient correlation, NCHW with PyTorch weight layouts.

use bytemuck::{Pod, Zeroable};

use super::matmul::{self, MatmulShape};
use super::{check_u32, copy, grid, reduce, CONV2D, WG};
use crate::device::{Device, Dispatch, Tuning};
use crate::error::Result;

/// Mirrors `ConvParams` in `shaders/conv2d.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default)]
pub struct ConvParams {
    /// Batch size N (images).
    pub n: u32,
    /// Channels of the input x; for conv_transpose2d, of its own input (`w` is [cin, cout, kh, kw]).
    pub cin: u32,
    /// Height of x [n, cin, h, w]: the forward conv's input; for conv_transpose2d its own input,
    /// the small side.
    pub h: u32,
    /// Width of x, as `h`.
    pub w: u32,
    /// Channels of the output y (of the output gradient gy for the weight gradient).
    pub cout: u32,
    /// Height of y [n, cout, ho, wo] (of gy for the weight gradient).
    pub ho: u32,
    /// Width of y, as `ho`.
    pub wo: u32,
    /// Kernel height, in taps.
    pub kh: u32,
    /// Kernel width, in taps.
    pub kw: u32,
    /// Stride along the height.
    pub sh: u32,
    /// Stride along the width.
    pub sw: u32,
    /// Zero padding along the height, on both sides (PyTorch's `padding`).
    pub ph: u32,
    /// Zero padding along the width, on both sides.
    pub pw: u32,
    /// Dilation along the height: spacing between kernel taps, 1 for a dense kernel.
    pub dh: u32,
    /// Dilation along the width.
    pub dw: u32,
    /// 1: `bias[co]` is added to every output of channel co (not in `accumulate` passes); 0: the
    /// bias binding is not read.
    pub has_bias: u32,
    /// Direct kernels: first input channel this dispatch sums over; the launcher splits Cin into
    /// ranges of at most `MAX_TAPS` channel × tap iterations.
    pub ci_begin: u32,
    /// Direct kernels: end (exclusive) of that channel range.
    pub ci_end: u32,
    /// `conv2d_weight_grad_direct`: first flattened output position m = (n, oy, ox) this
    /// dispatch's slab sums over.
    pub m_begin: u32,
    /// `conv2d_weight_grad_direct`: end (exclusive) of that position range.
    pub m_end: u32,
    /// Direct kernels: 1 adds to y instead of overwriting it, without the bias (channel
    /// ranges after the first); 0 otherwise.
    pub accumulate: u32,
    /// `conv2d_weight_grad_direct`: the slab of the partial-sum buffer ([slabs, cout, cin, kh, kw])
    /// this dispatch writes. `conv_gemm_tiled`: the first split of this dispatch, whose slabs land
    /// at the local split index; 0 outside split passes.
    pub slab: u32,
    /// `conv_gemm_tiled`: GEMM K per split: all of Cin·kh·kw in modes 0 and 1, output positions
    /// per weight-gradient slab (`WGRAD_CHUNK`) in mode 2.
    pub k_chunk: u32,
    /// `im2col`/`col2im` (CPU drivers): first image of the chunk this dispatch handles.
    pub batch_begin: u32,
    /// `im2col`/`col2im`: end (exclusive) of the chunk's images.
    pub batch_end: u32,
    /// `im2col`/`col2im` column buffer layout, with nb = batch_end − batch_begin and K the
    /// taps of all channels: 0 = [nb, K, positions], 1 = [K, nb, positions] (images folded
    /// into the matmul's columns: small maps and the weight gradient).
    pub cols_layout: u32,
    /// Pads the struct to a multiple of 16 bytes; 0.
    pub _pad3: u32,
}

/// Most (input channel × kernel tap) iterations one invocation runs per dispatch.
pub(crate) const MAX_TAPS: usize = 8192;
/// Most output positions one weight-gradient slab sums.
pub(crate) const WGRAD_CHUNK: usize = 4096;
/// Longest reduction (Cin·kh·kw) the implicit GEMM takes for conv2d and
/// conv_transpose2d; longer ones run the direct kernel in channel passes.
pub(crate) const GEMM_MAX_K: usize = 8192;

/// Whether a product of these sizes is worth the implicit GEMM: both output
/// sides must fill a good part of a 64-wide tile and the reduction must be
/// more than a few taps. Small channel counts (an RGB input, a 1-channel
/// output) run the direct kernel.
fn gemm_worth_it(rows: usize, cols: usize, depth: usize) -> bool {
    rows >= 16 && cols >= 16 && depth >= 32
}

/// Images per im2col chunk when one image's columns take `per_image` floats
/// (within [`Device::set_im2col_budget`]).
fn chunk_images(dev: &Device, per_image: usize, n: usize) -> Result<usize> {
    dev.check_binding_size("the im2col columns of one image", (per_image as u64) * 4)?;
    Ok((dev.im2col_budget() / per_image.max(1)).clamp(1, n.max(1)))
}

fn dispatch_1d(
    dev: &Device,
    entry: &'static str,
    p: &ConvParams,
    threads: usize,
    inputs: [&wgpu::Buffer; 3],
    out: &wgpu::Buffer,
) -> Result<()> {
    check_u32("conv threads", threads)?;
    dev.dispatch(&Dispatch {
        source: CONV2D,
        entry,
        constants: &[],
        params: bytemuck::bytes_of(p),
        inputs: &inputs,
        outputs: &[out],
        workgroups: grid(
            (threads as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: 0.0,
    })
}

/// Output positions one `im2col`/`col2im` invocation walks (`RUN` in WGSL):
/// the index divisions are paid once per run instead of once per element.
#[doc(hidden)]
pub const CONV_RUN: usize = 64;

/// Below this many output pixels per image, one image cannot fill a 64-wide
/// matmul tile: the CPU route then folds the batch into the columns.
const SMALL_MAP: usize = 64;

/// CPU drivers: conv2d as im2col + matmul per chunk of images. Large maps:
/// W [cout, K] times cols [nb, K, ho·wo], landing directly in y's NCHW slab.
/// Small maps: cols [K, nb·ho·wo] and one product [cout, nb·ho·wo] whose
/// (image, pixel) columns the matmul writes straight into y's NCHW layout.
/// The bias is added in the product's write (one value per row: an output
/// channel).
fn cpu_forward(
    dev: &Device,
    g: &ConvGeometry,
    p: &ConvParams,
    x: &wgpu::Buffer,
    w: &wgpu::Buffer,
    bias: Option<&wgpu::Buffer>,
    y: &wgpu::Buffer,
) -> Result<()> {
    let (depth, hw) = (g.cin * g.kh * g.kw, g.ho * g.wo);
    let folded = hw < SMALL_MAP;
    let nb = chunk_images(dev, depth * hw, g.n)?;
    let cols = dev.alloc_f32(nb * depth * hw)?;
    for n0 in (0..g.n).step_by(nb) {
        let cnt = nb.min(g.n - n0);
        let p = ConvParams {
            batch_begin: n0 as u32,
            batch_end: (n0 + cnt) as u32,
            cols_layout: folded as u32,
            ..*p
        };
        dispatch_1d(
            dev,
            "im2col",
            &p,
            cnt * depth * hw.div_ceil(CONV_RUN),
            [x, w, w],
            cols.buffer(),
        )?;
        let (batch, n, col_blocks): (&[usize], usize, _) = if folded {
            // prod[co, (b, pos)] → y[n0 + b, co, pos]
            (&[], cnt * hw, Some((hw, g.cout * hw)))
        } else {
            (&[cnt], hw, None)
        };
        let shape = MatmulShape {
            batch_shape: batch,
            batch_strides_a: if folded { &[] } else { &[0] },
            batch_strides_b: if folded { &[] } else { &[depth * hw] },
            m: g.cout,
            n,
            k: depth,
            trans_a: false,
            trans_b: false,
            a_offset: 0,
            b_offset: 0,
            c_offset: n0 * g.cout * hw,
        };
        let epi = matmul::Epilogue {
            row_bias: bias,
            col_blocks,
        };
        matmul::launch_into(dev, &shape, w, cols.buffer(), epi, y)?;
    }
    Ok(())
}

/// CPU drivers: conv_transpose2d as matmul + col2im per chunk of images:
/// cols = Wᵀ [cout·kh·kw, cin] · x, then each output pixel gathers its taps (and
/// the bias). Large maps: one product per image, x [nb, cin, h·w] → cols
/// [nb, cout·kh·kw, h·w]. Small maps: x permuted to [cin, nb·h·w] and one
/// product → cols [cout·kh·kw, nb·h·w], so the matmul's tiles stay full.
fn cpu_transpose(
    dev: &Device,
    g: &ConvGeometry,
    p: &ConvParams,
    x: &wgpu::Buffer,
    w: &wgpu::Buffer,
    bias: &wgpu::Buffer,
    y: &wgpu::Buffer,
) -> Result<()> {
    let (rows, hw_in) = (g.cout * g.kh * g.kw, g.h * g.w);
    let folded = hw_in < SMALL_MAP;
    let per_image = rows * hw_in + if folded { g.cin * hw_in } else { 0 };
    let nb = chunk_images(dev, per_image, g.n)?;
    let cols = dev.alloc_f32(nb * rows * hw_in)?;
    let xp = if folded {
        Some(dev.alloc_f32(nb * g.cin * hw_in)?)
    } else {
        None
    };
    for n0 in (0..g.n).step_by(nb) {
        let cnt = nb.min(g.n - n0);
        let shape = match &xp {
            Some(xp) => {
                // x[n0 + b, ci, pos] → xp[ci, b, pos]
                copy::launch(
                    dev,
                    &[g.cin, cnt, hw_in],
                    copy::View {
                        buffer: x,
                        offset: n0 * g.cin * hw_in,
                        strides: &[hw_in, g.cin * hw_in, 1],
                    },
                    copy::View {
                        buffer: xp.buffer(),
                        offset: 0,
                        strides: &[cnt * hw_in, hw_in, 1],
                    },
                )?;
                MatmulShape {
                    batch_shape: &[],
                    batch_strides_a: &[],
                    batch_strides_b: &[],
                    m: rows,
                    n: cnt * hw_in,
                    k: g.cin,
                    trans_a: true,
                    trans_b: false,
                    a_offset: 0,
                    b_offset: 0,
                    c_offset: 0,
                }
            }
            None => MatmulShape {
                batch_shape: &[cnt],
                batch_strides_a: &[0],
                batch_strides_b: &[g.cin * hw_in],
                m: rows,
                n: hw_in,
                k: g.cin,
                trans_a: true,
                trans_b: false,
                a_offset: 0,
                b_offset: n0 * g.cin * hw_in,
                c_offset: 0,
            },
        };
        let b_buf = xp.as_ref().map(|b| b.buffer()).unwrap_or(x);
        matmul::launch(dev, &shape, w, b_buf, cols.buffer())?;
        let p = ConvParams {
            batch_begin: n0 as u32,
            batch_end: (n0 + cnt) as u32,
            cols_layout: folded as u32,
            ..*p
        };
        dispatch_1d(
            dev,
            "col2im",
            &p,
            cnt * g.cout * (g.ho * g.wo).div_ceil(CONV_RUN),
            [cols.buffer(), w, bias],
            y,
        )?;
    }
    Ok(())
}

/// CPU drivers: the weight gradient as gy [cout, nb·ho·wo] · colsᵀ per chunk
/// of images (gy permuted to channel-major, cols in [K, nb, ho·wo] order),
/// one slab per chunk, slabs summed as they are made.
fn cpu_weight_grad(
    dev: &Device,
    g: &ConvGeometry,
    p: &ConvParams,
    x: &wgpu::Buffer,
    gy: &wgpu::Buffer,
    dw: &wgpu::Buffer,
) -> Result<()> {
    let (depth, hw) = (g.cin * g.kh * g.kw, g.ho * g.wo);
    let nb = chunk_images(dev, (depth + g.cout) * hw, g.n)?;
    let chunks = g.n.div_ceil(nb);
    let per_slab = g.cout * depth;
    let cols = dev.alloc_f32(nb * depth * hw)?;
    let gyp = dev.alloc_f32(nb * g.cout * hw)?;
    // One slab per chunk of images, summed as they are made.
    reduce::sum_slabs(dev, chunks, per_slab, dw, 0, |first, count, out| {
        for local in 0..count {
            let n0 = (first + local) * nb;
            let cnt = nb.min(g.n - n0);
            let p = ConvParams {
                batch_begin: n0 as u32,
                batch_end: (n0 + cnt) as u32,
                cols_layout: 1,
                ..*p
            };
            dispatch_1d(
                dev,
                "im2col",
                &p,
                cnt * depth * hw.div_ceil(CONV_RUN),
                [x, x, x],
                cols.buffer(),
            )?;
            // gy[n0.., co, pos] → gyp[co, b, pos]
            let src_strides = [hw, g.cout * hw, 1];
            let dst_strides = [cnt * hw, hw, 1];
            copy::launch(
                dev,
                &[g.cout, cnt, hw],
                copy::View {
                    buffer: gy,
                    offset: n0 * g.cout * hw,
                    strides: &src_strides,
                },
                copy::View {
                    buffer: gyp.buffer(),
                    offset: 0,
                    strides: &dst_strides,
                },
            )?;
            let shape = MatmulShape {
                batch_shape: &[],
                batch_strides_a: &[],
                batch_strides_b: &[],
                m: g.cout,
                n: depth,
                k: cnt * hw,
                trans_a: false,
                trans_b: true,
                a_offset: 0,
                b_offset: 0,
                c_offset: local * per_slab,
            };
            matmul::launch(dev, &shape, gyp.buffer(), cols.buffer(), out)?;
        }
        Ok(())
    })
}

/// Record one implicit-GEMM dispatch of `MODE` over an `m × n` output in `splits` slabs.
fn gemm(
    dev: &Device,
    mode: u32,
    p: &ConvParams,
    (m, n, splits): (usize, usize, usize),
    inputs: [&wgpu::Buffer; 3],
    out: &wgpu::Buffer,
) -> Result<()> {
    let entry = "conv_gemm_tiled";
    let workgroups = [
        n.div_ceil(matmul::TILE) as u32,
        m.div_ceil(matmul::TILE) as u32,
        check_u32("conv splits", splits)?,
    ];
    let max = dev.limits().max_compute_workgroups_per_dimension;
    if let Some(&w) = workgroups.iter().find(|&&w| w > max) {
        return Err(crate::error::Error::LimitExceeded {
            what: format!("convolution grid {workgroups:?}"),
            requested: w as u64,
            limit: max as u64,
        });
    }
    dev.dispatch(&Dispatch {
        source: CONV2D,
        entry,
        constants: &[("MODE", mode as f64)],
        params: bytemuck::bytes_of(p),
        inputs: &inputs,
        outputs: &[out],
        workgroups,
        flops: 0.0,
        bytes: 0.0,
    })
}

/// Geometry of one convolution, in conv2d's terms: `h, w` are the input of
/// the forward conv and `ho, wo` its output (for a transposed conv, its input
/// and output are swapped relative to these).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvGeometry {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub ho: usize,
    pub wo: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    pub padding: (usize, usize),
    pub dilation: (usize, usize),
}

impl ConvGeometry {
    fn params(&self) -> Result<ConvParams> {
        let c = |what: &str, v: usize| check_u32(what, v);
        check_u32("conv input elements", self.n * self.cin * self.h * self.w)?;
        check_u32("conv output elements", self.n * self.cout * self.ho * self.wo)?;
        Ok(ConvParams {
            n: c("batch", self.n)?,
            cin: c("channels", self.cin)?,
            h: c("height", self.h)?,
            w: c("width", self.w)?,
            cout: c("channels", self.cout)?,
            ho: c("height", self.ho)?,
            wo: c("width", self.wo)?,
            kh: c("kernel", self.kh)?,
            kw: c("kernel", self.kw)?,
            sh: c("stride", self.stride.0)?,
            sw: c("stride", self.stride.1)?,
            ph: c("padding", self.padding.0)?,
            pw: c("padding", self.padding.1)?,
            dh: c("dilation", self.dilation.0)?,
            dw: c("dilation", self.dilation.1)?,
            ..Default::default()
        })
    }
}

/// Which direct kernel: forward conv or its input adjoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConvKind {
    /// y = conv2d(x, w): x [n, cin, h, w] → y [n, cout, ho, wo], w [cout, cin, kh, kw].
    Forward,
    /// y = conv_transpose2d(x, w): x [n, cin, h, w] → y [n, cout, ho, wo],
    /// w [cin, cout, kh, kw]; here (h, w) is the *small* side.
    Transpose,
}

/// Run conv2d or conv_transpose2d. For `Transpose`, `g` describes the
/// transposed conv itself: input `cin × h × w`, output `cout × ho × wo`.
pub(crate) fn launch(
    dev: &Device,
    kind: ConvKind,
    g: &ConvGeometry,
    x: &wgpu::Buffer,
    w: &wgpu::Buffer,
    bias: Option<&wgpu::Buffer>,
    y: &wgpu::Buffer,
) -> Result<()> {
    let out_n = g.n * g.cout * g.ho * g.wo;
    if out_n == 0 {
        return Ok(());
    }
    let entry = match kind {
        ConvKind::Forward => "conv2d_direct",
        ConvKind::Transpose => "conv_transpose2d_direct",
    };
    let mut p = g.params()?;
    p.has_bias = bias.is_some() as u32;
    // Any buffer can stand in for a missing bias: it is never read.
    let bias = bias.unwrap_or(w);
    let depth = g.cin * g.kh * g.kw;
    // CPU drivers take the im2col route for every shape: its matmul is far
    // faster there than any per-pixel loop, thin layers included.
    if dev.tuning() == Tuning::Cpu {
        return match kind {
            ConvKind::Forward => cpu_forward(dev, g, &p, x, w, (p.has_bias == 1).then_some(bias), y),
            ConvKind::Transpose => cpu_transpose(dev, g, &p, x, w, bias, y),
        };
    }
    if depth <= GEMM_MAX_K && gemm_worth_it(g.n * g.ho * g.wo, g.cout, depth) {
        p.k_chunk = check_u32("conv reduction", depth)?;
        let mode = if kind == ConvKind::Forward { 0 } else { 1 };
        return gemm(dev, mode, &p, (g.n * g.ho * g.wo, g.cout, 1), [x, w, bias], y);
    }
    let workgroups = grid(
        (out_n as u64).div_ceil(WG as u64),
        dev.limits().max_compute_workgroups_per_dimension,
    )?;
    let per_channel = (g.kh * g.kw).max(1);
    let ci_step = (MAX_TAPS / per_channel).max(1);
    let mut ci = 0;
    loop {
        let end = (ci + ci_step).min(g.cin);
        p.ci_begin = ci as u32;
        p.ci_end = end as u32;
        p.accumulate = (ci > 0) as u32;
        dev.dispatch(&Dispatch {
            source: CONV2D,
            entry,
            constants: &[],
            params: bytemuck::bytes_of(&p),
            inputs: &[x, w, bias],
            outputs: &[y],
            workgroups,
            flops: 0.0,
            bytes: 0.0,
        })?;
        if end >= g.cin {
            return Ok(());
        }
        ci = end;
    }
}

/// dw[cout, cin, kh, kw] = Σ_{n, oy, ox} gy[n, cout, oy, ox] · x[n, cin, iy, ix] for the
/// conv2d described by `g`, in slabs of at most `WGRAD_CHUNK` positions summed
/// by the reduction kernel as they are made (bounded scratch, see
/// [`reduce::sum_slabs`]).
pub(crate) fn weight_grad(
    dev: &Device,
    g: &ConvGeometry,
    x: &wgpu::Buffer,
    gy: &wgpu::Buffer,
    dw: &wgpu::Buffer,
) -> Result<()> {
    let per_slab = g.cout * g.cin * g.kh * g.kw;
    if per_slab == 0 {
        return Ok(());
    }
    let positions = g.n * g.ho * g.wo;
    let slabs = positions.div_ceil(WGRAD_CHUNK).max(1);
    let mut p = g.params()?;
    let depth = g.cin * g.kh * g.kw;
    if dev.tuning() == Tuning::Cpu {
        return cpu_weight_grad(dev, g, &p, x, gy, dw);
    }
    // Slabs are summed as they are made, a few per pass, so the scratch stays
    // bounded (reduce::slab_scratch_floats) however large the batch.
    if gemm_worth_it(g.cout, depth, positions) {
        p.k_chunk = WGRAD_CHUNK as u32;
        return reduce::sum_slabs(dev, slabs, per_slab, dw, 0, |first, count, out| {
            check_u32("weight-gradient partial sums", per_slab * count)?;
            let p = ConvParams {
                slab: check_u32("weight-gradient slab", first)?,
                ..p
            };
            gemm(dev, 2, &p, (g.cout, depth, count), [x, gy, x], out)
        });
    }
    let workgroups = grid(
        (per_slab as u64).div_ceil(WG as u64),
        dev.limits().max_compute_workgroups_per_dimension,
    )?;
    reduce::sum_slabs(dev, slabs, per_slab, dw, 0, |first, count, out| {
        check_u32("weight-gradient partial sums", per_slab * count)?;
        for local in 0..count {
            let s = first + local;
            p.slab = local as u32;
            p.m_begin = (s * WGRAD_CHUNK) as u32;
            p.m_end = ((s + 1) * WGRAD_CHUNK).min(positions) as u32;
            dev.dispatch(&Dispatch {
                source: CONV2D,
                entry: "conv2d_weight_grad_direct",
                constants: &[],
                params: bytemuck::bytes_of(&p),
                inputs: &[x, gy, x],
                outputs: &[out],
                workgroups,
                flops: 0.0,
                bytes: 0.0,
            })?;
        }
        Ok(())
    })
}
