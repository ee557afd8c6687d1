//! shaders/copy.wgsl and shaders/fill.wgsl through the shape ops: permute,
//! transpose, narrow, embed, concat, broadcast_to, reshape; with gradients.

use crate::common::*;
use balgan::Tensor;

#[test]
fn fill_writes_every_element() {
    for n in [0usize, 1, 255, 256, 257, 70_000] {
        let t = Tensor::full(dev(), &[n], 1.5).unwrap();
        assert_close(&format!("fill {n}"), &t.to_vec().unwrap(), &vec![1.5; n], 0.0, 0.0);
    }
    assert_eq!(Tensor::zeros(dev(), &[2, 3]).unwrap().to_vec().unwrap(), vec![0.0; 6]);
    assert_eq!(Tensor::ones(dev(), &[]).unwrap().to_vec().unwrap(), vec![1.0]);
}

#[test]
fn permute_matches_reference() {
    let mut rng = Rng::new(40);
    let cases: [(&[usize], &[usize]); 5] = [
        (&[2, 3], &[1, 0]),
        (&[2, 3, 4], &[2, 0, 1]),
        (&[1, 5, 1, 3], &[3, 2, 1, 0]),
        (&[2, 3, 4, 5, 6, 7], &[5, 3, 1, 0, 2, 4]),
        (&[0, 3], &[1, 0]),
    ];
    for (shape, dims) in cases {
        let x = rng.uniform(numel(shape), -1.0, 1.0);
        let d: Vec<isize> = dims.iter().map(|&v| v as isize).collect();
        let y = tensor(&x, shape).permute(&d).unwrap();
        let (want, ws) = reference::permute(&to_f64(&x), shape, dims);
        assert_eq!(y.shape(), ws.as_slice());
        assert_close(
            &format!("permute {shape:?} {dims:?}"),
            &y.to_vec().unwrap(),
            &want,
            0.0,
            0.0,
        );
    }
}

#[test]
fn narrow_concat_embed_match_reference() {
    let mut rng = Rng::new(41);
    let shape = [3, 5, 4];
    let x = rng.uniform(60, -1.0, 1.0);
    let t = tensor(&x, &shape);
    for (axis, start, len) in [(0, 1, 2), (1, 0, 5), (1, 4, 1), (2, 1, 3), (1, 2, 0)] {
        let y = t.narrow(axis as isize, start, len).unwrap();
        assert_close(
            &format!("narrow {axis} {start} {len}"),
            &y.to_vec().unwrap(),
            &reference::narrow(&to_f64(&x), &shape, axis, start, len),
            0.0,
            0.0,
        );
        // embed is narrow's adjoint: zeros outside the block, the block inside.
        let e = y.embed(&shape, axis, start).unwrap().to_vec().unwrap();
        let want: Vec<f64> = reference::indices(&shape)
            .iter()
            .enumerate()
            .map(|(n, i)| {
                if i[axis] >= start && i[axis] < start + len {
                    x[n] as f64
                } else {
                    0.0
                }
            })
            .collect();
        assert_close("embed", &e, &want, 0.0, 0.0);
    }
    let a = rng.uniform(6, -1.0, 1.0);
    let b = rng.uniform(9, -1.0, 1.0);
    let c = rng.uniform(3, -1.0, 1.0);
    let y = Tensor::concat(&[&tensor(&a, &[3, 2]), &tensor(&b, &[3, 3]), &tensor(&c, &[3, 1])], 1).unwrap();
    let want = reference::concat(
        &[(&to_f64(&a), &[3, 2]), (&to_f64(&b), &[3, 3]), (&to_f64(&c), &[3, 1])],
        1,
    );
    assert_eq!(y.shape(), &[3, 6]);
    assert_close("concat", &y.to_vec().unwrap(), &want, 0.0, 0.0);
}

#[test]
fn reshape_shares_storage_and_checks_counts() {
    let t = tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let r = t.reshape(&[3, usize::MAX]).unwrap();
    assert_eq!(r.shape(), &[3, 2]);
    assert!(r.shares_storage(&t));
    assert!(t.reshape(&[4, 2]).is_err());
    assert_eq!(t.unsqueeze(0).unwrap().shape(), &[1, 2, 3]);
    assert_eq!(t.unsqueeze(-1).unwrap().squeeze(2).unwrap().shape(), &[2, 3]);
    assert!(t.squeeze(0).is_err());
}

#[test]
fn shape_op_gradients_first_and_second_order() {
    let mut rng = Rng::new(42);
    let x = rng.uniform(24, -1.0, 1.0);
    check_op(OpCheck {
        name: "permute",
        inputs: vec![(x.clone(), vec![2, 3, 4])],
        gpu: &|t| t[0].permute(&[2, 0, 1]),
        cpu: &|x| reference::permute(&x[0], &[2, 3, 4], &[2, 0, 1]).0,
        second_order: true,
    });
    check_op(OpCheck {
        name: "transpose",
        inputs: vec![(x.clone(), vec![2, 3, 4])],
        gpu: &|t| t[0].transpose(0, -1),
        cpu: &|x| reference::permute(&x[0], &[2, 3, 4], &[2, 1, 0]).0,
        second_order: true,
    });
    check_op(OpCheck {
        name: "reshape",
        inputs: vec![(x.clone(), vec![2, 3, 4])],
        gpu: &|t| t[0].reshape(&[4, 6]),
        cpu: &|x| x[0].clone(),
        second_order: true,
    });
    check_op(OpCheck {
        name: "narrow",
        inputs: vec![(x.clone(), vec![2, 3, 4])],
        gpu: &|t| t[0].narrow(1, 1, 2),
        cpu: &|x| reference::narrow(&x[0], &[2, 3, 4], 1, 1, 2),
        second_order: true,
    });
    check_op(OpCheck {
        name: "embed",
        inputs: vec![(rng.uniform(8, -1.0, 1.0), vec![2, 2, 2])],
        gpu: &|t| t[0].embed(&[2, 5, 2], 1, 2),
        cpu: &|x| {
            reference::indices(&[2, 5, 2])
                .iter()
                .map(|i| {
                    if (2..4).contains(&i[1]) {
                        x[0][reference::offset(&[i[0], i[1] - 2, i[2]], &[2, 2, 2])]
                    } else {
                        0.0
                    }
                })
                .collect()
        },
        second_order: true,
    });
    check_op(OpCheck {
        name: "concat",
        inputs: vec![
            (rng.uniform(6, -1.0, 1.0), vec![2, 3]),
            (rng.uniform(2, -1.0, 1.0), vec![2, 1]),
        ],
        gpu: &|t| Tensor::concat(&[&t[0], &t[1]], -1),
        cpu: &|x| reference::concat(&[(&x[0], &[2, 3]), (&x[1], &[2, 1])], 1),
        second_order: true,
    });
}

/// Every route of the copy kernel against the f64 reference, outputs
/// poisoned (the shared test device fills new tensors with NaN): after
/// merging axes, rank ≤ 3 runs on `copy_grid` with a workgroup shaped to the
/// last two extents (last extents 7, 13, 16, 49, 257, 300; middle extents that
/// do not fill a group), broadcasts along each axis (stride 0 first, middle,
/// last), offsets (narrow), 1 element, and the fallbacks to `strided_copy`:
/// rank 4+ after merging, a last extent under 4 (2, 3) and a first extent
/// past the grid's 65,535. Copies are exact (tolerance 0).
#[test]
fn copy_routes_match_reference() {
    let mut rng = Rng::new(43);
    let permutes: [(&[usize], &[usize]); 10] = [
        (&[1], &[0]),
        (&[7, 1], &[1, 0]),
        (&[3, 257], &[1, 0]),
        (&[5, 3, 49], &[1, 0, 2]),
        (&[6, 16, 3, 5], &[0, 2, 3, 1]),
        (&[2, 300, 7], &[2, 1, 0]),
        (&[33, 17], &[1, 0]),
        (&[4, 9, 1, 11], &[3, 1, 2, 0]),
        (&[3, 4, 5, 6], &[1, 3, 0, 2]),
        (&[70_000, 2, 3], &[0, 2, 1]),
    ];
    for (shape, dims) in permutes {
        let x = rng.uniform(numel(shape), -1.0, 1.0);
        let d: Vec<isize> = dims.iter().map(|&v| v as isize).collect();
        let y = tensor(&x, shape).permute(&d).unwrap();
        let (want, _) = reference::permute(&to_f64(&x), shape, dims);
        assert_close(
            &format!("permute {shape:?} {dims:?}"),
            &y.to_vec().unwrap(),
            &want,
            0.0,
            0.0,
        );
    }
    let broadcasts: [(&[usize], &[usize]); 8] = [
        (&[1], &[1]),
        (&[1], &[1, 5]),
        (&[1, 5, 3], &[4, 5, 3]),
        (&[4, 1, 3], &[4, 5, 3]),
        (&[4, 5, 1], &[4, 5, 3]),
        (&[7, 1], &[7, 13]),
        (&[13], &[3, 7, 13]),
        (&[2, 1, 3, 1], &[2, 5, 3, 4]),
    ];
    for (from, to) in broadcasts {
        let x = rng.uniform(numel(from), -1.0, 1.0);
        let y = tensor(&x, from).broadcast_to(to).unwrap();
        let want = reference::broadcast_to(&to_f64(&x), from, to);
        assert_close(
            &format!("broadcast {from:?} → {to:?}"),
            &y.to_vec().unwrap(),
            &want,
            0.0,
            0.0,
        );
    }
    let shape = [5, 7, 9];
    let x = rng.uniform(numel(&shape), -1.0, 1.0);
    let t = tensor(&x, &shape);
    for (axis, start, len) in [(0, 4, 1), (1, 3, 3), (2, 5, 4), (2, 0, 1), (0, 0, 5)] {
        let y = t.narrow(axis as isize, start, len).unwrap();
        let want = reference::narrow(&to_f64(&x), &shape, axis, start, len);
        assert_close(
            &format!("narrow {axis} {start} {len}"),
            &y.to_vec().unwrap(),
            &want,
            0.0,
            0.0,
        );
    }
}

/// Embed (narrow's adjoint) writes the block and the zeros around it in one
/// pass: along each axis, blocks at the start, middle and end, rows whose
/// length is not a multiple of the workgroup, 1 element; outputs poisoned.
#[test]
fn embed_writes_block_and_zeros() {
    let mut rng = Rng::new(44);
    let cases: [(&[usize], usize, usize, usize); 7] = [
        (&[1], 0, 0, 1),
        (&[1, 3], 1, 2, 1),
        (&[3, 5, 4], 0, 1, 1),
        (&[3, 5, 4], 1, 2, 3),
        (&[3, 5, 4], 2, 3, 1),
        (&[2, 300], 1, 0, 299),
        (&[64, 3136], 1, 1568, 1568),
    ];
    for (shape, axis, start, len) in cases {
        let mut block = shape.to_vec();
        block[axis] = len;
        let x = rng.uniform(numel(&block), -1.0, 1.0);
        let e = tensor(&x, &block).embed(shape, axis, start).unwrap();
        let want: Vec<f64> = reference::indices(shape)
            .iter()
            .map(|i| {
                if i[axis] >= start && i[axis] < start + len {
                    let mut j = i.clone();
                    j[axis] -= start;
                    x[reference::offset(&j, &block)] as f64
                } else {
                    0.0
                }
            })
            .collect();
        assert_close(
            &format!("embed {shape:?} {axis} {start} {len}"),
            &e.to_vec().unwrap(),
            &want,
            0.0,
            0.0,
        );
    }
}

/// A copy far longer than 65,535 elements per dimension and per invocation's
/// loop budget: every element lands (the copy kernels have no per-element
/// loop over the data; this would catch one).
#[test]
fn long_copies_write_every_element() {
    let n = (1 << 20) + 3;
    let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let t = tensor(&x, &[n]);
    let y = t.narrow(0, 1, n - 2).unwrap().to_vec().unwrap();
    assert!(
        y.iter().enumerate().all(|(i, &v)| v == (i + 1) as f32),
        "narrow of 2^20 + 1"
    );
    let c = Tensor::concat(&[&t, &t], 0).unwrap().to_vec().unwrap();
    assert!(
        c.iter().enumerate().all(|(i, &v)| v == (i % n) as f32),
        "concat of 2 × (2^20 + 3)"
    );
}
