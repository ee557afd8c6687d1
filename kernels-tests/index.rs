//! shaders/index.wgsl: index_select/index_add and gather/scatter_add against
//! f64, repeated indices, more indices than one adding chunk (4,096) and than
//! lavapipe's 65,535 loop iterations per invocation, bad indices, and
//! gradient checks.

use crate::common::*;
use balgan::IndexTensor;

#[test]
fn index_select_matches_reference() {
    let mut rng = Rng::new(50);
    for (shape, axis, n_idx) in [
        (vec![5, 3], 0, 7),
        (vec![2, 6, 3], 1, 4),
        (vec![2, 3, 10], 2, 1),
        (vec![4], 0, 0),
        (vec![300, 2], 0, 1000),
    ] {
        let x = rng.uniform(numel(&shape), -1.0, 1.0);
        let idx: Vec<u32> = (0..n_idx).map(|_| rng.below(shape[axis] as u64) as u32).collect();
        let it = IndexTensor::new(dev(), &idx).unwrap();
        let y = tensor(&x, &shape).index_select(axis as isize, &it).unwrap();
        let mut ws = shape.clone();
        ws[axis] = n_idx;
        assert_eq!(y.shape(), ws.as_slice());
        let want = reference::index_select(&to_f64(&x), &shape, axis, &idx);
        assert_close(
            &format!("index_select {shape:?} axis {axis}"),
            &y.to_vec().unwrap(),
            &want,
            0.0,
            0.0,
        );
    }
}

#[test]
fn index_add_accumulates_repeated_indices() {
    let mut rng = Rng::new(51);
    // 70,001 indices: a kernel scanning them all in one invocation would
    // run past 65,535 iterations and stop early on lavapipe, dropping
    // thousands of terms; chunks of 4,096 (18 dispatches) keep every loop short.
    for (shape, axis, n_idx) in [
        (vec![4, 3], 0, 9),
        (vec![2, 5, 3], 1, 12),
        (vec![10, 2], 0, 70_001),
        (vec![3, 2], 0, 0),
    ] {
        let base = rng.uniform(numel(&shape), -1.0, 1.0);
        let idx: Vec<u32> = (0..n_idx).map(|_| rng.below(shape[axis] as u64) as u32).collect();
        let mut ss = shape.clone();
        ss[axis] = n_idx;
        let src = rng.uniform(numel(&ss), -1.0, 1.0);
        let it = IndexTensor::new(dev(), &idx).unwrap();
        let y = tensor(&base, &shape)
            .index_add(axis as isize, &it, &tensor(&src, &ss))
            .unwrap();
        let want = reference::index_add(&to_f64(&base), &shape, axis, &idx, &to_f64(&src));
        // Up to n_idx/dim f32 additions per element, in index order.
        let tol = 1e-6 * (n_idx as f64 / shape[axis] as f64).max(1.0);
        let what = format!("index_add {shape:?} axis {axis} ({n_idx} indices)");
        assert_close(&what, &y.to_vec().unwrap(), &want, tol, 1e-6);
    }
}

#[test]
fn gather_and_scatter_add_match_reference() {
    let mut rng = Rng::new(53);
    // Label picks ([B, C] gathered at [B, 1]), a middle axis, a leading axis,
    // 1×1, and 70,001 indices along the axis: more than one adding chunk
    // (4,096) and more than the 65,535 iterations one invocation may loop.
    let cases: [(&[usize], usize, &[usize]); 5] = [
        (&[7, 10], 1, &[7, 1]),
        (&[2, 3, 4], 1, &[2, 5, 4]),
        (&[3, 2], 0, &[6, 2]),
        (&[1, 1], 0, &[1, 1]),
        (&[2, 3], 0, &[70_001, 3]),
    ];
    for (shape, axis, ishape) in cases {
        let x = rng.uniform(numel(shape), -1.0, 1.0);
        let idx: Vec<u32> = (0..numel(ishape))
            .map(|_| rng.below(shape[axis] as u64) as u32)
            .collect();
        let it = IndexTensor::with_shape(dev(), &idx, ishape).unwrap();
        let y = tensor(&x, shape).gather(axis as isize, &it).unwrap();
        assert_eq!(y.shape(), ishape);
        let want = reference::gather(&to_f64(&x), shape, axis, &idx, ishape);
        assert_close(
            &format!("gather {shape:?} axis {axis} {ishape:?}"),
            &y.to_vec().unwrap(),
            &want,
            0.0,
            0.0,
        );

        let src = rng.uniform(numel(ishape), -1.0, 1.0);
        let y = tensor(&x, shape)
            .scatter_add(axis as isize, &it, &tensor(&src, ishape))
            .unwrap();
        let want = reference::scatter_add(&to_f64(&x), shape, axis, &idx, &to_f64(&src), ishape);
        // Up to ishape[axis] f32 additions into one element, in index order.
        let tol = 1e-6 * ishape[axis] as f64;
        let what = format!("scatter_add {shape:?} axis {axis} {ishape:?}");
        assert_close(&what, &y.to_vec().unwrap(), &want, tol, 1e-6);
    }
}

#[test]
fn bad_indices_are_errors() {
    let it = IndexTensor::new(dev(), &[0, 5]).unwrap();
    let t = tensor(&[0.0; 10], &[5, 2]);
    let e = t.index_select(0, &it).unwrap_err().to_string();
    assert!(e.contains("index 5 is out of range for an axis of size 5"), "{e}");
    assert!(t.index_add(0, &it, &tensor(&[0.0; 4], &[2, 2])).is_err());
    let ok = IndexTensor::new(dev(), &[0, 1]).unwrap();
    assert!(
        t.index_add(0, &ok, &tensor(&[0.0; 6], &[3, 2])).is_err(),
        "src with the wrong index count"
    );
    // gather: indices shaped like the result, matching the tensor off the axis.
    let labels = IndexTensor::with_shape(dev(), &[1, 0, 1], &[3, 1]).unwrap();
    let e = t.gather(1, &labels).unwrap_err().to_string();
    assert!(e.contains("every axis but 1"), "{e}");
    let too_big = IndexTensor::with_shape(dev(), &[0, 2, 0, 1, 1], &[5, 1]).unwrap();
    assert!(t.gather(1, &too_big).is_err(), "index 2 on an axis of size 2");
    assert!(
        IndexTensor::with_shape(dev(), &[0, 1], &[3]).is_err(),
        "3 indices promised, 2 given"
    );
    assert!(t.gather(1, &ok).is_err(), "1-D indices for a 2-D gather");
}

#[test]
fn index_gradients_first_and_second_order() {
    let mut rng = Rng::new(52);
    let idx = [2u32, 0, 2, 1, 2];
    let it = IndexTensor::new(dev(), &idx).unwrap();
    check_op(OpCheck {
        name: "index_select",
        inputs: vec![(rng.uniform(12, -1.0, 1.0), vec![3, 4])],
        gpu: &|t| t[0].index_select(0, &it),
        cpu: &|x| reference::index_select(&x[0], &[3, 4], 0, &idx),
        second_order: true,
    });
    check_op(OpCheck {
        name: "index_add",
        inputs: vec![
            (rng.uniform(12, -1.0, 1.0), vec![4, 3]),
            (rng.uniform(15, -1.0, 1.0), vec![5, 3]),
        ],
        gpu: &|t| t[0].index_add(0, &it, &t[1]),
        cpu: &|x| reference::index_add(&x[0], &[4, 3], 0, &idx, &x[1]),
        second_order: true,
    });
    // Per-element indices along the middle axis of [2, 3, 2]: result [2, 4, 2].
    let gidx: Vec<u32> = (0..16).map(|_| rng.below(3) as u32).collect();
    let git = IndexTensor::with_shape(dev(), &gidx, &[2, 4, 2]).unwrap();
    check_op(OpCheck {
        name: "gather",
        inputs: vec![(rng.uniform(12, -1.0, 1.0), vec![2, 3, 2])],
        gpu: &|t| t[0].gather(1, &git),
        cpu: &|x| reference::gather(&x[0], &[2, 3, 2], 1, &gidx, &[2, 4, 2]),
        second_order: true,
    });
    check_op(OpCheck {
        name: "scatter_add",
        inputs: vec![
            (rng.uniform(12, -1.0, 1.0), vec![2, 3, 2]),
            (rng.uniform(16, -1.0, 1.0), vec![2, 4, 2]),
        ],
        gpu: &|t| t[0].scatter_add(1, &git, &t[1]),
        cpu: &|x| reference::scatter_add(&x[0], &[2, 3, 2], 1, &gidx, &x[1], &[2, 4, 2]),
        second_order: true,
    });
}

/// The backward of index_select and gather writes zeros plus the scattered
/// gradient in one pass (no zero-filled base): against f64 with outputs
/// poisoned, with 70,001 indices (several adding chunks; more than one
/// invocation may loop on lavapipe) and with none.
#[test]
fn selection_backward_starts_from_zeros() {
    let mut rng = Rng::new(54);
    for (shape, axis, n_idx) in [(vec![10, 3], 0, 70_001), (vec![2, 5, 3], 1, 7), (vec![4, 2], 0, 0)] {
        let idx: Vec<u32> = (0..n_idx).map(|_| rng.below(shape[axis] as u64) as u32).collect();
        let it = IndexTensor::new(dev(), &idx).unwrap();
        let x = tensor(&rng.uniform(numel(&shape), -1.0, 1.0), &shape).requires_grad_();
        let mut ys = shape.clone();
        ys[axis] = n_idx;
        let w = rng.uniform(numel(&ys), -1.0, 1.0);
        let loss = x
            .index_select(axis as isize, &it)
            .unwrap()
            .mul(&tensor(&w, &ys))
            .unwrap()
            .sum_all()
            .unwrap();
        loss.backward().unwrap();
        let zeros = vec![0.0; numel(&shape)];
        let want = reference::index_add(&zeros, &shape, axis, &idx, &to_f64(&w));
        let tol = 1e-6 * (n_idx as f64 / shape[axis] as f64).max(1.0);
        let got = x.grad().unwrap().to_vec().unwrap();
        assert_close(
            &format!("index_select backward {shape:?} ({n_idx})"),
            &got,
            &want,
            tol,
            1e-6,
        );
    }
    // gather's backward: per-element indices, 70,001 along the axis.
    let (shape, ishape) = ([2usize, 3], [70_001usize, 3]);
    let idx: Vec<u32> = (0..numel(&ishape)).map(|_| rng.below(2) as u32).collect();
    let it = IndexTensor::with_shape(dev(), &idx, &ishape).unwrap();
    let x = tensor(&rng.uniform(6, -1.0, 1.0), &shape).requires_grad_();
    let w = rng.uniform(numel(&ishape), -1.0, 1.0);
    let loss = x
        .gather(0, &it)
        .unwrap()
        .mul(&tensor(&w, &ishape))
        .unwrap()
        .sum_all()
        .unwrap();
    loss.backward().unwrap();
    let want = reference::scatter_add(&[0.0; 6], &shape, 0, &idx, &to_f64(&w), &ishape);
    let got = x.grad().unwrap().to_vec().unwrap();
    assert_close("gather backward", &got, &want, 1e-6 * 70_001.0, 1e-6);
}
