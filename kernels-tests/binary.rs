//! shaders/binary.wgsl and shaders/where.wgsl: every binary op and `where`
//! against f64 under every kind of broadcasting; gradient checks (first and
//! second order) with the broadcast reduction in the backward pass.

use crate::common::*;
use balgan::Tensor;

type GpuFn = fn(&Tensor, &Tensor) -> balgan::Result<Tensor>;
/// (name, gpu op, f64 reference, differentiable)
type Case = (&'static str, GpuFn, fn(f64, f64) -> f64, bool);

/// Shape pairs: equal, both-sided stretch, missing leading axes, rank 0, empty,
/// and a size that is not a multiple of the 256-wide workgroup.
const PAIRS: [(&[usize], &[usize]); 9] = [
    (&[3, 4], &[3, 4]),
    (&[3, 1], &[1, 4]),
    (&[2, 3, 4], &[4]),
    (&[], &[5]),
    (&[5, 1, 3], &[1, 4, 1]),
    (&[0, 3], &[1, 3]),
    (&[1], &[1]),
    (&[257, 3], &[257, 1]),
    (&[2, 1, 3, 1, 2, 1], &[1, 2, 1, 3, 1, 2]),
];

fn cases() -> Vec<Case> {
    vec![
        ("add", |a, b| a.add(b), |a, b| a + b, true),
        ("sub", |a, b| a.sub(b), |a, b| a - b, true),
        ("mul", |a, b| a.mul(b), |a, b| a * b, true),
        ("div", |a, b| a.div(b), |a, b| a / b, true),
        ("maximum", |a, b| a.maximum(b), f64::max, true),
        ("minimum", |a, b| a.minimum(b), f64::min, true),
        ("lt", |a, b| a.lt(b), |a, b| (a < b) as u8 as f64, false),
        ("le", |a, b| a.le(b), |a, b| (a <= b) as u8 as f64, false),
        ("gt", |a, b| a.gt(b), |a, b| (a > b) as u8 as f64, false),
        ("ge", |a, b| a.ge(b), |a, b| (a >= b) as u8 as f64, false),
        ("eq", |a, b| a.eq(b), |a, b| (a == b) as u8 as f64, false),
        ("ne", |a, b| a.ne(b), |a, b| (a != b) as u8 as f64, false),
    ]
}

/// Inputs on a coarse grid of quarter steps so that equality cases occur and
/// divisors stay away from zero.
fn grid_values(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| (rng.below(16) as f32 - 8.0) * 0.25 + 0.125).collect()
}

#[test]
fn binary_kernels_match_f64_reference_under_broadcasting() {
    let mut rng = Rng::new(10);
    for (name, gpu, cpu, _) in cases() {
        for (sa, sb) in PAIRS {
            for (sa, sb) in [(sa, sb), (sb, sa)] {
                let a = grid_values(&mut rng, numel(sa));
                let b = grid_values(&mut rng, numel(sb));
                let y = gpu(&tensor(&a, sa), &tensor(&b, sb)).unwrap();
                let (want, shape) = reference::binary(&to_f64(&a), sa, &to_f64(&b), sb, cpu);
                assert_eq!(y.shape(), shape.as_slice(), "{name} {sa:?} {sb:?}");
                // One rounding of an exact f32 operation: half an ulp.
                assert_close(&format!("{name} {sa:?} {sb:?}"), &y.to_vec().unwrap(), &want, 0.0, 1e-7);
            }
        }
    }
}

/// The launch-time routes of `binary_map` (how each operand is indexed, and
/// four elements per invocation or one) against f64, outputs poisoned (the
/// test device fills new tensors with NaN): same shape with lengths 1, 3, 4,
/// 5, 1027 (a tail of 1–3 past the last group of four); a suffix of length 1,
/// 4 (groups of four) and 3, 7 (element by element); a middle block such as
/// a per-channel value over [N, C, H, W] with inner sizes 4·k (groups) and
/// 3, 49 (element by element); a column over rows; and interleaved broadcasts
/// that only the stride decode handles. Each case both ways round, for every
/// op (each op is its own pipeline). Tolerance: one rounding of an exact f32
/// operation, half an ulp (pow: a few ulps of the driver's pow).
#[test]
fn binary_routes_match_reference() {
    let pairs: [(&[usize], &[usize]); 16] = [
        (&[1], &[1]),
        (&[3], &[3]),
        (&[4], &[4]),
        (&[5], &[5]),
        (&[1027], &[1027]),
        (&[9, 4], &[4]),
        (&[5, 3], &[3]),
        (&[6, 7], &[7]),
        (&[3, 5], &[1]),
        (&[2, 3, 2, 2], &[3, 1, 1]),
        (&[2, 5, 8], &[5, 1]),
        (&[3, 4, 3], &[4, 1]),
        (&[2, 3, 7, 7], &[1, 3, 1, 1]),
        (&[6, 1], &[6, 20]),
        (&[3, 1, 4, 1], &[1, 2, 1, 5]),
        (&[5, 1, 3], &[5, 4, 1]),
    ];
    let mut rng = Rng::new(15);
    let mut all = cases();
    all.push(("pow", |a, b| a.pow(b), f64::powf, true));
    for (name, gpu, cpu, _) in all {
        for (sa, sb) in pairs {
            for (sa, sb) in [(sa, sb), (sb, sa)] {
                let (a, b) = if name == "pow" {
                    (rng.uniform(numel(sa), 0.2, 3.0), rng.uniform(numel(sb), -2.0, 2.0))
                } else {
                    (grid_values(&mut rng, numel(sa)), grid_values(&mut rng, numel(sb)))
                };
                let y = gpu(&tensor(&a, sa), &tensor(&b, sb)).unwrap();
                let (want, shape) = reference::binary(&to_f64(&a), sa, &to_f64(&b), sb, cpu);
                assert_eq!(y.shape(), shape.as_slice(), "{name} {sa:?} {sb:?}");
                let (atol, rtol) = if name == "pow" { (1e-6, 4e-6) } else { (0.0, 1e-7) };
                assert_close(
                    &format!("{name} {sa:?} {sb:?}"),
                    &y.to_vec().unwrap(),
                    &want,
                    atol,
                    rtol,
                );
            }
        }
    }
}

/// Long elementwise maps (2^20 + 4 elements with a suffix broadcast, 2^20 + 3
/// of the same shape): every element written, no loop in the kernel that
/// grows with the data.
#[test]
fn long_binary_map_writes_every_element() {
    let m = (1 << 20) + 4;
    let a: Vec<f32> = (0..m).map(|i| (i % 1000) as f32).collect();
    let y = tensor(&a, &[m / 4, 4])
        .add(&tensor(&[0.5, 1.5, 2.5, 3.5], &[4]))
        .unwrap()
        .to_vec()
        .unwrap();
    assert!(y
        .iter()
        .enumerate()
        .all(|(i, &v)| v == (i % 1000) as f32 + (i % 4) as f32 + 0.5));
    let n = m - 1;
    let a = &a[..n];
    let z = tensor(a, &[n]).mul(&tensor(a, &[n])).unwrap().to_vec().unwrap();
    assert!(z
        .iter()
        .enumerate()
        .all(|(i, &v)| v == ((i % 1000) * (i % 1000)) as f32));
}

#[test]
fn pow_matches_reference() {
    let mut rng = Rng::new(11);
    let a = rng.uniform(12, 0.2, 3.0);
    let b = rng.uniform(4, -2.0, 2.0);
    let y = tensor(&a, &[3, 4]).pow(&tensor(&b, &[4])).unwrap();
    let (want, _) = reference::binary(&to_f64(&a), &[3, 4], &to_f64(&b), &[4], f64::powf);
    assert_close("pow", &y.to_vec().unwrap(), &want, 1e-6, 4e-6);
}

#[test]
fn binary_gradients_first_and_second_order() {
    let mut rng = Rng::new(12);
    let shapes: [(&[usize], &[usize]); 4] = [
        (&[3, 4], &[3, 4]),
        (&[3, 1], &[1, 4]),
        (&[2, 3, 2], &[2]),
        (&[], &[2, 3]),
    ];
    for (name, gpu, cpu, diff) in cases() {
        if !diff {
            continue;
        }
        for (sa, sb) in shapes {
            let a = rng.away_from_zero(numel(sa), 0.5, 2.0);
            // Distinct from a so maximum/minimum have no ties.
            let b: Vec<f32> = rng
                .away_from_zero(numel(sb), 0.5, 2.0)
                .iter()
                .map(|v| v + 0.03)
                .collect();
            check_op(OpCheck {
                name: &format!("{name} {sa:?} {sb:?}"),
                inputs: vec![(a, sa.to_vec()), (b, sb.to_vec())],
                gpu: &|t| gpu(&t[0], &t[1]),
                cpu: &|x| reference::binary(&x[0], sa, &x[1], sb, cpu).0,
                second_order: true,
            });
        }
    }
    let a = rng.uniform(6, 0.5, 2.0);
    let b = rng.uniform(3, -1.5, 1.5);
    check_op(OpCheck {
        name: "pow",
        inputs: vec![(a, vec![2, 3]), (b, vec![3])],
        gpu: &|t| t[0].pow(&t[1]),
        cpu: &|x| reference::binary(&x[0], &[2, 3], &x[1], &[3], f64::powf).0,
        second_order: true,
    });
}

#[test]
fn where_selects_under_broadcasting() {
    let mut rng = Rng::new(13);
    // Every way an operand is read (shaders/where.wgsl's modes): the
    // output's shape (0), a suffix or one value (1), a block with broadcast
    // axes on both sides (3), and strides decoded per element (2, [2, 1, 4]
    // in [2, 3, 4]), alone and mixed; a ReLU gradient's where(x > 0, g, 0)
    // over more elements than a workgroup and not a multiple of 256.
    let shapes: [(&[usize], &[usize], &[usize]); 7] = [
        (&[3, 4], &[3, 4], &[3, 4]),
        (&[3, 1], &[1, 4], &[]),
        (&[4], &[2, 3, 4], &[3, 1]),
        (&[0, 2], &[1, 2], &[2]),
        (&[2, 1, 4], &[2, 3, 4], &[1, 3, 1]),
        (&[5, 9, 7], &[5, 1, 7], &[1, 1]),
        (&[3, 5, 7, 11], &[3, 5, 7, 11], &[]),
    ];
    for (sc, sa, sb) in shapes {
        let c: Vec<f32> = (0..numel(sc)).map(|_| rng.below(2) as f32).collect();
        let a = rng.uniform(numel(sa), -1.0, 1.0);
        let b = rng.uniform(numel(sb), -1.0, 1.0);
        let y = Tensor::where_(&tensor(&c, sc), &tensor(&a, sa), &tensor(&b, sb)).unwrap();
        let shape = reference::broadcast_shape(sc, &reference::broadcast_shape(sa, sb));
        let want: Vec<f64> = reference::indices(&shape)
            .iter()
            .map(|i| {
                let pick = reference::read_broadcast(&to_f64(&c), sc, i) != 0.0;
                if pick {
                    reference::read_broadcast(&to_f64(&a), sa, i)
                } else {
                    reference::read_broadcast(&to_f64(&b), sb, i)
                }
            })
            .collect();
        assert_eq!(y.shape(), shape.as_slice());
        assert_close(
            &format!("where {sc:?} {sa:?} {sb:?}"),
            &y.to_vec().unwrap(),
            &want,
            0.0,
            0.0,
        );
    }
}

#[test]
fn where_gradients_first_and_second_order() {
    let mut rng = Rng::new(14);
    let c: Vec<f32> = (0..4).map(|_| rng.below(2) as f32).collect();
    let cond = tensor(&c, &[4]);
    let c64 = to_f64(&c);
    let a = rng.uniform(12, -1.0, 1.0);
    let b = rng.uniform(3, -1.0, 1.0);
    check_op(OpCheck {
        name: "where",
        inputs: vec![(a, vec![3, 4]), (b, vec![3, 1])],
        // Squares make the second derivative non-trivial through the selection.
        gpu: &|t| Tensor::where_(&cond, &t[0].square()?, &t[1].square()?),
        cpu: &|x| {
            reference::indices(&[3, 4])
                .iter()
                .map(|i| {
                    let v = if c64[i[1]] != 0.0 {
                        reference::read_broadcast(&x[0], &[3, 4], i)
                    } else {
                        reference::read_broadcast(&x[1], &[3, 1], i)
                    };
                    v * v
                })
                .collect()
        },
        second_order: true,
    });
}
