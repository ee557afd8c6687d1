//! shaders/matmul.wgsl: batched, broadcast, transposed products against f64
//! on shapes that do not divide the 64×64 tile or the K step of 16, a K long
//! enough to need split-K, and gradient checks through every transpose flag.

use crate::common::*;
use balgan::{Tensor, Tuning};

/// Runs on every product kernel: `Gpu` (workgroup-memory tiles), `Cpu` with
/// subgroups (the subgroup product) and without (register tiles, 4-wide
/// when B allows).
fn check(rng: &mut Rng, sa: &[usize], sb: &[usize], ta: bool, tb: bool) {
    let a = rng.uniform(numel(sa), -1.0, 1.0);
    let b = rng.uniform(numel(sb), -1.0, 1.0);
    let (want, shape) = reference::matmul(&to_f64(&a), sa, &to_f64(&b), sb, ta, tb);
    let k = if ta { sa[sa.len() - 2] } else { sa[sa.len() - 1] };
    // K products of terms in [-1, 1] summed in f32 with fma: error grows like
    // sqrt(K)·ulp; 1e-6·K is a safe bound for K up to ~10^5.
    let tol = 1e-6 * (k as f64).max(1.0);
    for (tuning, d) in product_devices() {
        let at = Tensor::from_slice(d, &a, sa).unwrap();
        let bt = Tensor::from_slice(d, &b, sb).unwrap();
        let y = at.matmul_t(&bt, ta, tb).unwrap();
        assert_eq!(y.shape(), shape.as_slice(), "{sa:?} x {sb:?} ({ta}, {tb})");
        let what = format!("{tuning:?} matmul {sa:?} x {sb:?} ta={ta} tb={tb}");
        assert_close(&what, &y.to_vec().unwrap(), &want, tol, 1e-5);
    }
}

#[test]
fn matmul_matches_f64_reference_on_awkward_shapes() {
    let mut rng = Rng::new(30);
    for (m, k, n) in [
        (1, 1, 1),
        (3, 5, 7),
        (64, 64, 64),
        (65, 17, 63),
        (130, 33, 1),
        (1, 257, 129),
        (7, 0, 5),
        (33, 9, 65),
        (33, 9, 68),
        (5, 3, 4),
        (70, 130, 132),
        (33, 12, 65), // K % 4 = 0: the dot-product kernel when B is transposed
        (5, 8, 3),
    ] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let sa = if ta { vec![k, m] } else { vec![m, k] };
            let sb = if tb { vec![n, k] } else { vec![k, n] };
            check(&mut rng, &sa, &sb, ta, tb);
        }
    }
}

#[test]
fn batched_matmul_broadcasts_batch_axes() {
    let mut rng = Rng::new(31);
    check(&mut rng, &[4, 5, 3], &[4, 3, 6], false, false);
    check(&mut rng, &[2, 1, 5, 3], &[4, 3, 6], false, false);
    check(&mut rng, &[5, 3], &[2, 3, 3, 6], false, false);
    check(&mut rng, &[2, 3, 5, 3], &[2, 1, 6, 3], false, true);
    check(&mut rng, &[3, 1, 2, 70, 9], &[1, 2, 1, 9, 66], false, false);
    // N a multiple of 4: the 4-wide register-tile kernel, batch slabs aligned.
    check(&mut rng, &[2, 1, 5, 3], &[4, 3, 8], false, false);
    check(&mut rng, &[3, 2, 7, 5], &[3, 1, 7, 12], true, false);
    // K % 4 = 0 with B transposed: the dot-product register-tile kernel.
    check(&mut rng, &[2, 3, 5, 8], &[2, 1, 6, 8], false, true);
}

/// K = 70,001 > 65,535: one invocation walking all of K would be cut short by
/// lavapipe's loop limit; split-K keeps every invocation's loop bounded.
#[test]
fn deep_products_use_split_k_and_stay_exact() {
    let mut rng = Rng::new(32);
    check(&mut rng, &[70_001, 2], &[70_001, 4], true, false);
    check(&mut rng, &[3, 70_001], &[70_001, 5], false, false);
    check(&mut rng, &[3, 70_001], &[70_001, 8], false, false);
    check(&mut rng, &[3, 70_000], &[5, 70_000], false, true);
}

#[test]
fn matmul_gradients_first_and_second_order() {
    let mut rng = Rng::new(33);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let (m, k, n) = (3, 4, 2);
        let sa = if ta { vec![k, m] } else { vec![m, k] };
        let sb = if tb { vec![n, k] } else { vec![k, n] };
        let (sa2, sb2) = (sa.clone(), sb.clone());
        check_op(OpCheck {
            name: &format!("matmul ta={ta} tb={tb}"),
            inputs: vec![(rng.uniform(12, -1.0, 1.0), sa), (rng.uniform(8, -1.0, 1.0), sb)],
            gpu: &|t| t[0].matmul_t(&t[1], ta, tb),
            cpu: &|x| reference::matmul(&x[0], &sa2, &x[1], &sb2, ta, tb).0,
            second_order: true,
        });
    }
    // Broadcast batch: the gradient of the shared operand sums over the batch.
    check_op(OpCheck {
        name: "batched matmul",
        inputs: vec![
            (rng.uniform(2 * 3 * 4, -1.0, 1.0), vec![2, 3, 4]),
            (rng.uniform(4 * 2, -1.0, 1.0), vec![4, 2]),
        ],
        gpu: &|t| t[0].matmul(&t[1]),
        cpu: &|x| reference::matmul(&x[0], &[2, 3, 4], &x[1], &[4, 2], false, false).0,
        second_order: true,
    });
}

#[test]
fn matmul_rejects_mismatched_shapes() {
    let a = tensor(&[0.0; 6], &[2, 3]);
    let b = tensor(&[0.0; 8], &[4, 2]);
    let e = a.matmul(&b).unwrap_err().to_string();
    assert!(e.contains("inner sizes differ: 3 vs 4"), "{e}");
    let v = tensor(&[0.0; 3], &[3]);
    assert!(a.matmul(&v).is_err());
}

/// The register-tile layouts the CPU route picks per shape, each checked
/// against f64 on every product kernel: narrow N and M shrink the workgroup's tile,
/// and a long K under a small output adds K-splits side by side in the
/// workgroup (summed after). Sizes that do not divide the tile, K % 4 ≠ 0, a
/// last split shorter than the others and a last workgroup with fewer splits
/// than KS are all in the list; the layouts are asserted so the test keeps
/// exercising them if the choice changes.
#[test]
fn cpu_register_tile_layouts_fit_narrow_products() {
    use balgan::kernels::matmul::{choose_reg_layout, RegLayout};
    let mut rng = Rng::new(34);
    // (batch, m, n, k, ta, tb, (tx, ty, ks), splits)
    let cases = [
        // The weight gradient of a 1-channel 4×4 conv: dot products, 4×2 invocations × 8 splits.
        (1, 16, 16, 12_544, false, true, (2, 4, 8), 32),
        // The same, odd sizes and K % 4 ≠ 0 (the scalar kernel).
        (1, 13, 10, 12_543, false, true, (2, 4, 8), 32),
        // The last transposed conv's product (M = 1·4·4 rows, N = 14·14): half-height tile.
        (3, 16, 196, 16, true, false, (8, 4, 1), 1),
        // Narrow on both sides, K split for parallelism, B row-major (4-wide).
        (1, 6, 20, 9_000, true, false, (4, 2, 8), 32),
        // Too little work to split: one invocation.
        (1, 3, 7, 3_000, false, false, (1, 1, 1), 1),
        (1, 1, 1, 1, false, false, (1, 1, 1), 1),
        // A linear layer's product: a 32×32 tile, 2 splits per workgroup.
        (1, 64, 30, 1_568, false, true, (4, 8, 2), 4),
        // Full tiles.
        (1, 70, 130, 300, false, false, (8, 8, 1), 1),
    ];
    for (batch, m, n, k, ta, tb, (tx, ty, ks), splits) in cases {
        assert_eq!(
            choose_reg_layout(m, n, k, batch),
            (RegLayout { tx, ty, ks }, splits),
            "layout of {batch}×{m}×{n}×{k}"
        );
        let sa = if ta { vec![batch, k, m] } else { vec![batch, m, k] };
        let sb = if tb { vec![batch, n, k] } else { vec![batch, k, n] };
        check(&mut rng, &sa, &sb, ta, tb);
    }
}

/// In-workgroup K-splits when the slab sum runs in passes of a few slabs
/// each (a small partial budget): the passes' split counts are not multiples
/// of KS, so the last workgroup of a pass has idle split slots.
#[test]
fn in_workgroup_splits_survive_slab_passes() {
    let mut rng = Rng::new(35);
    let (m, n, k) = (16, 16, 12_544);
    let a = rng.uniform(m * k, -1.0, 1.0);
    let b = rng.uniform(n * k, -1.0, 1.0);
    let (want, _) = reference::matmul(&to_f64(&a), &[m, k], &to_f64(&b), &[n, k], false, true);
    let [gpu, cpu] = private_tuned_devices();
    for (tuning, d) in [gpu, cpu, (Tuning::Cpu, private_register_tile_device())] {
        // 5 slabs per pass: passes of 5 and then 4 splits, KS = 8.
        d.set_partial_budget(5 * m * n);
        let at = Tensor::from_slice(&d, &a, &[m, k]).unwrap();
        let bt = Tensor::from_slice(&d, &b, &[n, k]).unwrap();
        let y = at.matmul_t(&bt, false, true).unwrap();
        // As `check`: 1e-6·K for K-long sums of products in [-1, 1].
        assert_close(
            &format!("{tuning:?} split passes"),
            &y.to_vec().unwrap(),
            &want,
            1e-6 * k as f64,
            1e-5,
        );
    }
}

/// The register tiles that read A 4 floats at a time (CPU tuning; B row-major
/// with N % 4 = 0): A stored [K, M] with M % 4 = 0, or [M, K] with K % 4 = 0.
/// Sizes that do not divide the 32×64 tile, a single quad, batch broadcast,
/// and K long enough to need split-K (70,000 > 65,535: the loop-limit rule).
#[test]
fn four_wide_a_register_tiles_match_f64() {
    let mut rng = Rng::new(36);
    for (m, k, n) in [
        (4, 4, 4),
        (36, 20, 68),
        (8, 3, 12),
        (5, 8, 4),
        (68, 132, 72),
        (12, 1, 8),
    ] {
        for ta in [false, true] {
            let sa = if ta { vec![k, m] } else { vec![m, k] };
            check(&mut rng, &sa, &[k, n], ta, false);
        }
    }
    check(&mut rng, &[2, 1, 36, 20], &[3, 20, 68], false, false);
    check(&mut rng, &[3, 20, 36], &[1, 20, 68], true, false);
    check(&mut rng, &[3, 70_000], &[70_000, 8], false, false);
    check(&mut rng, &[70_000, 4], &[70_000, 8], true, false);
}

/// The subgroup product (CPU drivers with subgroups, such as lavapipe), each
/// tile forced on small shapes: sizes that are not multiples
/// of 4 (scalar loads, rows and columns past C clamped), multiples of 4
/// (4-wide loads of both operands in each storage order), K shorter than a
/// run of lanes and not a multiple of it, a batch with a broadcast operand,
/// and a 1×1 product.
#[test]
fn subgroup_product_matches_f64_for_every_tile() {
    use balgan::kernels::matmul_subgroup::{tile_shapes, with_tile, SubgroupTile};
    let (_, d) = &tuned_devices()[1];
    if d.subgroup_size().is_none() {
        assert!(
            !under_ci(),
            "CI's lavapipe has subgroups: the subgroup product must be tested"
        );
        eprintln!("skipped: this adapter has no fixed-width subgroups");
        return;
    }
    let mut rng = Rng::new(37);
    let mut run = |sa: &[usize], sb: &[usize], ta: bool, tb: bool, tile: SubgroupTile| {
        let a = rng.uniform(numel(sa), -1.0, 1.0);
        let b = rng.uniform(numel(sb), -1.0, 1.0);
        let (want, _) = reference::matmul(&to_f64(&a), sa, &to_f64(&b), sb, ta, tb);
        let k = if ta { sa[sa.len() - 2] } else { sa[sa.len() - 1] };
        let at = Tensor::from_slice(d, &a, sa).unwrap();
        let bt = Tensor::from_slice(d, &b, sb).unwrap();
        let y = with_tile(tile, || at.matmul_t(&bt, ta, tb).unwrap().to_vec().unwrap());
        // As `check`: 1e-6·K for K-long sums of products in [-1, 1].
        let what = format!("{tile:?} {sa:?} x {sb:?} ta={ta} tb={tb}");
        assert_close(&what, &y, &want, 1e-6 * k.max(1) as f64, 1e-5);
    };
    for (rows, cols) in tile_shapes() {
        let tile = SubgroupTile { rows, cols };
        for (m, k, n) in [(5, 13, 7), (36, 20, 40), (1, 3, 1)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let sa = if ta { vec![k, m] } else { vec![m, k] };
                let sb = if tb { vec![n, k] } else { vec![k, n] };
                run(&sa, &sb, ta, tb, tile);
            }
        }
        run(&[2, 1, 12, 8], &[3, 8, 16], false, false, tile);
        run(&[3, 8, 12], &[1, 16, 8], true, true, tile);
    }
}
