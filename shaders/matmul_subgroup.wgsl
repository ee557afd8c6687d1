// Batched C = op(A)·op(B) for CPU drivers with subgroups (lavapipe: a
// subgroup is one 8-wide SIMD chunk of invocations).
//
// Why: a CPU driver runs a load whose address differs across lanes as one
// scalar load per lane, so the register-tile kernels of matmul.wgsl spend most
// of their time loading (per k, 12 lane-by-lane loads for 32 multiply-adds).
// Here a workgroup is one subgroup of S lanes. The lanes share W columns of C
// and each owns R rows. For each run of S values of k, lane l loads row k0 + l
// of B's W columns (W loads) and its own R rows' S values of A (R·S loads);
// then for each k the B row is broadcast from lane k - k0 (subgroupBroadcast:
// a register shuffle, not a load). Per k: W/S + R loads per lane for R·W
// multiply-adds. Measured on lavapipe at 1024³: 38 GFLOP/s at R = 4, W = 32,
// against 8.5 for the 4×8 register tile.
//
// The entry point `matmul_subgroup` is generated (src/kernels/matmul_subgroup.rs)
// for each (S, R, W): its loops over lanes, rows and columns are unrolled so
// every accumulator is a register. It reads MatmulParams, the bindings and the
// helpers of matmul.wgsl, and follows their conventions: transposes as index
// swaps, batch offsets, split-K slabs, the row bias and the blocked output.
//
// Swapped operands (OUT_T): when C's columns suit the lanes better than its
// rows (N long, M short), the launcher binds B as A and A as B and describes
// Cᵀ = op(B)ᵀ·op(A)ᵀ (its M is C's N). The kernel then writes element (i, j) of
// that product to C[j, i], and the row bias by j.
//
// Bounds: rows and columns past C are clamped for the loads (every lane must
// take part in the broadcasts) and not stored; values of k past the split's
// end read as 0 on both sides, so an Inf in A or B cannot turn a padding term
// into NaN.

override OUT_T: bool = false;

// Where the kernel's element (row, col) lands, given the matrix's first
// element: C[row, col], or C[col, row] for swapped operands (C's N is then
// the kernel's M).
fn sg_out_at(out_base: u32, row: u32, col: u32) -> u32 {
    if (OUT_T) {
        if (p.c_block == 0u) {
            return out_base + col * p.m + row;
        }
        let blk = row / p.c_block;
        return out_base + blk * p.c_block_stride + col * p.c_block + (row - blk * p.c_block);
    }
    return c_at(out_base, row, col);
}

// The bias of the kernel's element (row, col) for the given split.
fn sg_bias(row: u32, col: u32, split: u32) -> f32 {
    return row_bias_of(select(row, col, OUT_T), split);
}
