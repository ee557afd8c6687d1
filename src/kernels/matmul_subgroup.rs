//! The matrix product of CPU drivers with subgroups: batched C = op(A)·op(B)
//! with one subgroup per workgroup (lavapipe: a subgroup is one 8-wide SIMD
//! chunk of invocations). This file generates the kernel's WGSL for a
//! (subgroup size, R, W) and picks R and W per shape; [`super::matmul`]
//! launches it.
//!
//! Why: a CPU driver runs a load whose address differs across lanes as one
//! scalar load per lane, so the register-tile kernels of matmul.wgsl spend most
//! of their time loading (per k, 12 lane-by-lane loads for 32 multiply-adds).
//! Here a workgroup is one subgroup of S lanes. The lanes share W columns of C
//! and each owns R rows. For each run of S values of k, lane l loads row k0 + l
//! of B's W columns (W loads) and its own R rows' S values of A (R·S loads);
//! then for each k the B row is broadcast from lane k - k0 (subgroupBroadcast:
//! a register shuffle, not a load). Per k: W/S + R loads per lane for R·W
//! multiply-adds. Measured on lavapipe at 1024³: 38 GFLOP/s at R = 4, W = 32,
//! against 8.5 for the 4×8 register tile.
//!
//! The entry point `matmul_subgroup` is generated for each (S, R, W) and the
//! loads of each operand ([`Loads`]): its loops over lanes, rows and columns
//! are unrolled so every accumulator is a register. It is appended to
//! `matmul.wgsl`, reads its MatmulParams, bindings and helpers, and follows
//! their conventions: transposes as index
//! swaps, batch offsets, split-K slabs, the row bias and the blocked output.
//!
//! Lanes own rows, never columns: a variant that swapped the operands (lanes
//! owning C's columns, for products with few rows) wrote C with lanes at
//! consecutive addresses, and lavapipe ran it 10-20× slower than the same
//! product with lanes a row apart (a 256×16×128 product: 3 ms against
//! 0.17 ms). Few rows take R = 1 or 2 instead.
//!
//! Bounds: rows and columns past C are clamped for the loads (every lane must
//! take part in the broadcasts) and not stored; values of k past the split's
//! end read as 0 on both sides, so an Inf in A or B cannot turn a padding term
//! into NaN.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

use crate::device::ShaderSource;

/// Subgroup widths the kernel is generated for (lavapipe's is 8 with AVX2, 4
/// with SSE only). Adapters with another width keep the register tiles.
pub const SIZES: [u32; 3] = [4, 8, 16];

/// Output tile of one workgroup: `lanes · rows` rows of C by `cols` columns.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubgroupTile {
    /// Rows each lane owns (R).
    pub rows: usize,
    /// Columns the lanes share (W, a multiple of 4).
    pub cols: usize,
}

/// Each (R, W) the launcher may pick, with its rate relative to the best:
/// GFLOP/s on lavapipe (2 cores) for a 1024³ A·B with the tile forced, 14.6,
/// 21.3, 22.6, 20.4, 28.9, 31.4, 24.3, 35.6 and 42.1 in this order
/// (`cargo bench --bench matmul` prints them). More rows
/// per lane and wider shares load less per multiply-add; R = 8 (36.9 at
/// W = 16) spills more than it saves.
const SHAPES: [(usize, usize, f64); 9] = [
    (1, 8, 0.35),
    (1, 16, 0.51),
    (1, 32, 0.54),
    (2, 8, 0.48),
    (2, 16, 0.69),
    (2, 32, 0.75),
    (4, 8, 0.58),
    (4, 16, 0.85),
    (4, 32, 1.00),
];

/// Rate of scalar loads of an operand relative to 4-wide ones (lavapipe,
/// 1024³: 30 against 40 GFLOP/s with both operands scalar).
const SCALAR_LOADS: f64 = 0.87;

/// The tile for an M×N product on `lanes`-wide subgroups: the (R, W) with
/// the least padded work over its rate, the rate lowered for each operand
/// `loads` says must be read one float at a time.
#[doc(hidden)]
pub fn choose_tile(m: usize, n: usize, lanes: usize, loads: impl Fn(SubgroupTile) -> (Loads, Loads)) -> SubgroupTile {
    if let Some(tile) = FORCED.with(|f| f.get()) {
        return tile;
    }
    let mut best = (f64::INFINITY, SubgroupTile { rows: 1, cols: 8 });
    for &(rows, cols, rate) in &SHAPES {
        let tile = SubgroupTile { rows, cols };
        let (a, b) = loads(tile);
        let scalar = (a == Loads::Scalar) as i32 + (b == Loads::Scalar) as i32;
        let padded = m.div_ceil(lanes * rows) * lanes * rows * n.div_ceil(cols) * cols;
        let cost = padded as f64 / (rate * SCALAR_LOADS.powi(scalar));
        if cost < best.0 {
            best = (cost, tile);
        }
    }
    best.1
}

thread_local! {
    static FORCED: std::cell::Cell<Option<SubgroupTile>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with every product this thread launches on the subgroup kernel
/// using `tile` (its loads still chosen by the layout), so that tests reach
/// each tile on small shapes.
#[doc(hidden)]
pub fn with_tile<T>(tile: SubgroupTile, f: impl FnOnce() -> T) -> T {
    let before = FORCED.with(|c| c.replace(Some(tile)));
    let out = f();
    FORCED.with(|c| c.set(before));
    out
}

/// Each (R, W) the launcher chooses from.
#[doc(hidden)]
pub fn tile_shapes() -> impl Iterator<Item = (usize, usize)> {
    SHAPES.iter().map(|&(r, w, _)| (r, w))
}

/// How a kernel reads an operand: one float at a time (any layout), or 4 at a
/// time where the layout keeps them contiguous and 16-byte aligned. A CPU
/// driver runs a load lane by lane either way, so 4-wide loads are about a
/// third cheaper per float (measured on lavapipe at 1024³: 40 against 30
/// GFLOP/s).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Loads {
    /// Scalar loads.
    Scalar,
    /// 4 consecutive values of k: A stored [M, K] or B stored [N, K], K % 4 = 0.
    AlongK,
    /// 4 consecutive rows (A stored [K, M], M % 4 = 0, R % 4 = 0) or columns
    /// (B stored [K, N], N % 4 = 0, W % 4 = 0).
    AlongMn,
}

/// A generated variant: subgroup width, tile and the loads of A and B.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Variant {
    pub lanes: usize,
    pub rows: usize,
    pub cols: usize,
    pub a: Loads,
    pub b: Loads,
}

/// The loads a product allows: `a_ok`/`b_ok` say whether the operand's
/// offset and batch strides are multiples of 4 (so every 4-wide load is
/// aligned).
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn choose_loads(
    tile: SubgroupTile,
    lanes: usize,
    (m, n, k): (usize, usize, usize),
    trans_a: bool,
    trans_b: bool,
    a_ok: bool,
    b_ok: bool,
) -> (Loads, Loads) {
    let a = match trans_a {
        false if a_ok && k.is_multiple_of(4) => Loads::AlongK,
        true if a_ok && m.is_multiple_of(4) && tile.rows.is_multiple_of(4) => Loads::AlongMn,
        _ => Loads::Scalar,
    };
    let b = match trans_b {
        false if b_ok && n.is_multiple_of(4) => Loads::AlongMn,
        true if b_ok && k.is_multiple_of(4) && tile.cols.is_multiple_of(lanes) => Loads::AlongK,
        _ => Loads::Scalar,
    };
    (a, b)
}

/// The shader for a variant (built once per variant and kept for the
/// process, like its pipelines).
pub fn source(v: Variant) -> ShaderSource {
    static SOURCES: OnceLock<Mutex<HashMap<Variant, ShaderSource>>> = OnceLock::new();
    let mut map = SOURCES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    *map.entry(v).or_insert_with(|| {
        let wgsl = format!("{}\n{}", super::MATMUL.wgsl, entry_point(v));
        let file = format!(
            "matmul_subgroup_s{}_r{}_w{}_{:?}_{:?}.wgsl",
            v.lanes, v.rows, v.cols, v.a, v.b
        );
        ShaderSource {
            file: Box::leak(file.into_boxed_str()),
            wgsl: Box::leak(wgsl.into_boxed_str()),
        }
    })
}

/// Every variant's text written out, for validation tests: each load mode
/// of each operand at each width and a few tiles.
pub fn validation_variants() -> Vec<Variant> {
    let mut all = Vec::new();
    for lanes in SIZES {
        for (rows, cols) in [(1, 8), (4, 32), (4, 16)] {
            for a in [Loads::Scalar, Loads::AlongK, Loads::AlongMn] {
                for b in [Loads::Scalar, Loads::AlongK, Loads::AlongMn] {
                    let v = Variant {
                        lanes: lanes as usize,
                        rows,
                        cols,
                        a,
                        b,
                    };
                    if valid(v) {
                        all.push(v);
                    }
                }
            }
        }
    }
    all
}

/// Whether a variant can be generated: 4-wide loads along rows need R % 4 =
/// 0, along K need S % 4 = 0, and B along K spreads W columns over the S
/// lanes.
fn valid(v: Variant) -> bool {
    v.cols.is_multiple_of(4)
        && v.lanes.is_multiple_of(4)
        && (v.a != Loads::AlongMn || v.rows.is_multiple_of(4))
        && (v.b != Loads::AlongK || v.cols.is_multiple_of(v.lanes))
}

/// The components of a `vec4`, by index.
const COMPONENTS: [&str; 4] = ["x", "y", "z", "w"];

/// `matmul_subgroup` for a variant, every loop over lanes, rows and columns
/// written out (see the shader's header).
fn entry_point(v: Variant) -> String {
    assert!(valid(v), "matmul_subgroup variant {v:?} cannot be generated");
    let Variant { lanes, rows, cols, .. } = v;
    let quads = cols / 4;
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "@compute @workgroup_size({lanes})");
    let _ = writeln!(
        w,
        "fn matmul_subgroup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {{"
    );
    let _ = writeln!(w, "    let z = wid.z / p.splits;");
    let _ = writeln!(w, "    let split = wid.z - z * p.splits;");
    let _ = writeln!(w, "    let offs = batch_offsets(z);");
    let _ = writeln!(w, "    let a_row = select(p.k, 1u, p.trans_a == 1u);");
    let _ = writeln!(w, "    let a_k = select(1u, p.m, p.trans_a == 1u);");
    let _ = writeln!(w, "    let b_k = select(p.n, 1u, p.trans_b == 1u);");
    let _ = writeln!(w, "    let b_col = select(1u, p.k, p.trans_b == 1u);");
    let _ = writeln!(w, "    let row0 = wid.y * {}u + lane * {rows}u;", lanes * rows);
    let _ = writeln!(w, "    let col0 = wid.x * {cols}u;");
    let _ = writeln!(w, "    let k_begin = (p.split_base + split) * p.k_chunk;");
    let _ = writeln!(w, "    let k_end = min(k_begin + p.k_chunk, p.k);");
    // Where this lane's rows of A and the shared columns of B start.
    match v.a {
        Loads::AlongMn => {
            for g in 0..rows / 4 {
                let _ = writeln!(
                    w,
                    "    let ra{g} = offs.x / 4u + min((row0 + {}u) / 4u, p.m / 4u - 1u);",
                    4 * g
                );
            }
        }
        _ => {
            for i in 0..rows {
                let _ = writeln!(w, "    let ra{i} = offs.x + min(row0 + {i}u, p.m - 1u) * a_row;");
            }
        }
    }
    match v.b {
        Loads::AlongMn => {
            for q in 0..quads {
                let _ = writeln!(w, "    let cb{q} = offs.y / 4u + min(col0 / 4u + {q}u, p.n / 4u - 1u);");
            }
        }
        Loads::AlongK => {
            // Lane l reads columns l·W/S .. (l + 1)·W/S of the tile.
            for t in 0..cols / lanes {
                let _ = writeln!(
                    w,
                    "    let cb{t} = offs.y + min(col0 + lane * {}u + {t}u, p.n - 1u) * p.k;",
                    cols / lanes
                );
            }
        }
        Loads::Scalar => {
            for j in 0..cols {
                let _ = writeln!(w, "    let cb{j} = offs.y + min(col0 + {j}u, p.n - 1u) * b_col;");
            }
        }
    }
    for i in 0..rows {
        for q in 0..quads {
            let _ = writeln!(w, "    var acc{i}_{q} = vec4<f32>(0.0);");
        }
    }
    let _ = writeln!(w, "    for (var k0 = k_begin; k0 < k_end; k0 = k0 + {lanes}u) {{");
    // B: per k of the run, the vector b{kk}_{q} of columns 4q .. 4q + 3.
    match v.b {
        Loads::AlongK => {
            // Lane l holds S values of k for its columns; column j's run comes
            // from lane j / (W/S), 4 values of k per broadcast.
            let per = cols / lanes;
            for t in 0..cols / lanes {
                for g in 0..lanes / 4 {
                    let _ = writeln!(
                        w,
                        "        let bk{t}_{g} = select(vec4<f32>(0.0), b4[(cb{t} + min(k0 + {0}u, k_end - 4u)) / 4u], k0 + {0}u < k_end);",
                        4 * g
                    );
                }
            }
            for j in 0..cols {
                for g in 0..lanes / 4 {
                    let _ = writeln!(
                        w,
                        "        let bc{j}_{g} = subgroupBroadcast(bk{}_{g}, {}u);",
                        j % per,
                        j / per
                    );
                }
            }
            for kk in 0..lanes {
                let (g, e) = (kk / 4, COMPONENTS[kk % 4]);
                for q in 0..quads {
                    let j = 4 * q;
                    let _ = writeln!(
                        w,
                        "        let b{kk}_{q} = vec4<f32>(bc{j}_{g}.{e}, bc{}_{g}.{e}, bc{}_{g}.{e}, bc{}_{g}.{e});",
                        j + 1,
                        j + 2,
                        j + 3
                    );
                }
            }
        }
        _ => {
            // Lane l holds row k0 + l of the tile's columns.
            let _ = writeln!(w, "        let kl = min(k0 + lane, k_end - 1u);");
            let _ = writeln!(w, "        let live = k0 + lane < k_end;");
            for q in 0..quads {
                if v.b == Loads::AlongMn {
                    let _ = writeln!(
                        w,
                        "        let bv{q} = select(vec4<f32>(0.0), b4[cb{q} + kl * (p.n / 4u)], live);"
                    );
                } else {
                    let j = 4 * q;
                    let _ = writeln!(
                        w,
                        "        let bv{q} = select(vec4<f32>(0.0), vec4<f32>(b[cb{j} + kl * b_k], b[cb{} + kl * b_k], b[cb{} + kl * b_k], b[cb{} + kl * b_k]), live);",
                        j + 1,
                        j + 2,
                        j + 3
                    );
                }
            }
            for kk in 0..lanes {
                for q in 0..quads {
                    let _ = writeln!(w, "        let b{kk}_{q} = subgroupBroadcast(bv{q}, {kk}u);");
                }
            }
        }
    }
    // A: this lane's value a{i}_{kk} of row i at k0 + kk (0 past the split's end).
    match v.a {
        Loads::AlongK => {
            for i in 0..rows {
                for g in 0..lanes / 4 {
                    let _ = writeln!(
                        w,
                        "        let av{i}_{g} = select(vec4<f32>(0.0), a4[(ra{i} + min(k0 + {0}u, k_end - 4u)) / 4u], k0 + {0}u < k_end);",
                        4 * g
                    );
                }
            }
            for i in 0..rows {
                for kk in 0..lanes {
                    let _ = writeln!(w, "        let a{i}_{kk} = av{i}_{}.{};", kk / 4, COMPONENTS[kk % 4]);
                }
            }
        }
        Loads::AlongMn => {
            for g in 0..rows / 4 {
                for kk in 0..lanes {
                    let _ = writeln!(
                        w,
                        "        let av{g}_{kk} = select(vec4<f32>(0.0), a4[ra{g} + min(k0 + {kk}u, k_end - 1u) * (p.m / 4u)], k0 + {kk}u < k_end);"
                    );
                }
            }
            for i in 0..rows {
                for kk in 0..lanes {
                    let _ = writeln!(w, "        let a{i}_{kk} = av{}_{kk}.{};", i / 4, COMPONENTS[i % 4]);
                }
            }
        }
        Loads::Scalar => {
            for kk in 0..lanes {
                let _ = writeln!(w, "        let ka{kk} = min(k0 + {kk}u, k_end - 1u) * a_k;");
            }
            for i in 0..rows {
                for kk in 0..lanes {
                    let _ = writeln!(
                        w,
                        "        let a{i}_{kk} = select(0.0, a[ra{i} + ka{kk}], k0 + {kk}u < k_end);"
                    );
                }
            }
        }
    }
    for kk in 0..lanes {
        for q in 0..quads {
            for i in 0..rows {
                let _ = writeln!(
                    w,
                    "        acc{i}_{q} = fma(vec4<f32>(a{i}_{kk}), b{kk}_{q}, acc{i}_{q});"
                );
            }
        }
    }
    let _ = writeln!(w, "    }}");
    let _ = writeln!(w, "    let out_base = p.c_offset + (split * p.batch + z) * p.m * p.n;");
    for i in 0..rows {
        let _ = writeln!(w, "    if (row0 + {i}u < p.m) {{");
        for q in 0..quads {
            for (e, comp) in COMPONENTS.iter().enumerate() {
                let j = 4 * q + e;
                let _ = writeln!(
                    w,
                    "        if (col0 + {j}u < p.n) {{ c[c_at(out_base, row0 + {i}u, col0 + {j}u)] = acc{i}_{q}.{comp} + row_bias_of(row0 + {i}u, split); }}"
                );
            }
        }
        let _ = writeln!(w, "    }}");
    }
    let _ = writeln!(w, "}}");
    s
}
