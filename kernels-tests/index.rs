//! shaders/index.wgsl: index_select and scatter_add against f64, repeated
//! indices, more indices than one scatter chunk, and gradient checks.

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
        assert_close(
            &format!("index_select {shape:?} axis {axis}"),
            &y.to_vec().unwrap(),
            &reference::index_select(&to_f64(&x), &shape, axis, &idx),
            0.0,
            0.0,
        );
    }
}

#[test]
fn scatter_add_accumulates_repeated_indices() {
    let mut rng = Rng::new(51);
    // 5,000 indices exceed one scatter chunk (4,096), so two dispatches accumulate.
    for (shape, axis, n_idx) in [
        (vec![4, 3], 0, 9),
        (vec![2, 5, 3], 1, 12),
        (vec![10, 2], 0, 5000),
        (vec![3, 2], 0, 0),
    ] {
        let base = rng.uniform(numel(&shape), -1.0, 1.0);
        let idx: Vec<u32> = (0..n_idx).map(|_| rng.below(shape[axis] as u64) as u32).collect();
        let mut ss = shape.clone();
        ss[axis] = n_idx;
        let src = rng.uniform(numel(&ss), -1.0, 1.0);
        let it = IndexTensor::new(dev(), &idx).unwrap();
        let y = tensor(&base, &shape)
            .scatter_add(axis as isize, &it, &tensor(&src, &ss))
            .unwrap();
        let want = reference::scatter_add(&to_f64(&base), &shape, axis, &idx, &to_f64(&src));
        // Up to n_idx/dim f32 additions per element, in index order.
        let tol = 1e-6 * (n_idx as f64 / shape[axis] as f64).max(1.0);
        assert_close(
            &format!("scatter_add {shape:?} axis {axis} ({n_idx} indices)"),
            &y.to_vec().unwrap(),
            &want,
            tol,
            1e-6,
        );
    }
}

#[test]
fn out_of_range_indices_are_errors() {
    let it = IndexTensor::new(dev(), &[0, 5]).unwrap();
    let t = tensor(&[0.0; 10], &[5, 2]);
    let e = t.index_select(0, &it).unwrap_err().to_string();
    assert!(e.contains("index 5 is out of range for an axis of size 5"), "{e}");
    assert!(t.scatter_add(0, &it, &tensor(&[0.0; 4], &[2, 2])).is_err());
    let ok = IndexTensor::new(dev(), &[0, 1]).unwrap();
    assert!(
        t.scatter_add(0, &ok, &tensor(&[0.0; 6], &[3, 2])).is_err(),
        "src with the wrong index count"
    );
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
        name: "scatter_add",
        inputs: vec![
            (rng.uniform(12, -1.0, 1.0), vec![4, 3]),
            (rng.uniform(15, -1.0, 1.0), vec![5, 3]),
        ],
        gpu: &|t| t[0].scatter_add(0, &it, &t[1]),
        cpu: &|x| reference::scatter_add(&x[0], &[4, 3], 0, &idx, &x[1]),
        second_order: true,
    });
}
