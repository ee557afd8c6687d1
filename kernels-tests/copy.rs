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
