//! The imbalanced-classification measures on confusion matrices worked out by
//! hand. Pure host code, no device.

use crate::common::Rng;
use balgan::metrics::classification::{ConfusionMatrix, S3VAE_BETA};
use balgan::Error;

fn close(what: &str, got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-12, "{what}: got {got}, want {want}");
}

fn close_all(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (c, (&g, &w)) in got.iter().zip(want).enumerate() {
        close(&format!("{what}[{c}]"), g, w);
    }
}

#[test]
fn classification_two_classes_by_hand() {
    // rows = true class:      predicted 0  predicted 1
    //   true 0                     8            2
    //   true 1                     1            9
    // N = 20, accuracy = 17/20.
    // class 0: TP 8, FN 2, FP 1 → P = 8/9, R = 8/10, F1 = 2·8/(16 + 2 + 1) = 16/19,
    //          F1.5 = 3.25·8/(3.25·8 + 2.25·2 + 1) = 26/31.5 = 52/63.
    // class 1: TP 9, FN 1, FP 2 → P = 9/11, R = 9/10, F1 = 18/(18 + 1 + 2) = 6/7,
    //          F1.5 = 29.25/(29.25 + 2.25 + 2) = 117/134.
    // macro F1 = (16/19 + 6/7)/2 = 113/133; ACSA = (0.8 + 0.9)/2 = 0.85;
    // G-mean = √(0.8·0.9) = √0.72.
    let cm = ConfusionMatrix::from_rows(&[[8u64, 2], [1, 9]]).unwrap();
    assert_eq!(cm.total(), 20);
    assert_eq!((cm.support(0), cm.predicted(0)), (10, 9));
    close("accuracy", cm.accuracy(), 17.0 / 20.0);
    close_all("precision", &cm.precisions(), &[8.0 / 9.0, 9.0 / 11.0]);
    close_all("recall", &cm.recalls(), &[0.8, 0.9]);
    close_all("F1", &cm.f_betas(1.0), &[16.0 / 19.0, 6.0 / 7.0]);
    close_all("F1.5", &cm.f_betas(S3VAE_BETA), &[52.0 / 63.0, 117.0 / 134.0]);
    close("macro F1", cm.macro_f1(), 113.0 / 133.0);
    close("macro F1.5", cm.macro_f_beta(1.5), (52.0 / 63.0 + 117.0 / 134.0) / 2.0);
    close("ACSA", cm.acsa(), 0.85);
    close("G-mean", cm.g_mean(), 0.72f64.sqrt());
    // F_β from P and R agrees with the count form: (1 + β²)PR/(β²P + R).
    let (p, r) = (8.0 / 9.0, 0.8);
    close("F1.5 from P, R", cm.f_beta(0, 1.5), 3.25 * p * r / (2.25 * p + r));
    let s = cm.summary();
    close("summary accuracy", s.accuracy, 0.85);
    close("summary g-mean", s.g_mean, 0.72f64.sqrt());
}

#[test]
fn classification_three_classes_by_hand() {
    //          p0 p1 p2 | support
    //   t0      5  1  0 |  6
    //   t1      2  3  1 |  6
    //   t2      0  2  6 |  8
    // predicted 7  6  7   N = 20, accuracy = 14/20.
    // class 0: P = 5/7, R = 5/6, F1 = 10/(10 + 1 + 2) = 10/13, F1.5 = 16.25/(16.25 + 2.25 + 2) = 16.25/20.5
    // class 1: P = 3/6, R = 3/6, F1 = 6/(6 + 3 + 3) = 1/2,     F1.5 = 9.75/(9.75 + 6.75 + 3) = 1/2
    // class 2: P = 6/7, R = 6/8, F1 = 12/(12 + 2 + 1) = 4/5,   F1.5 = 19.5/(19.5 + 4.5 + 1) = 0.78
    // macro F1 = (10/13 + 1/2 + 4/5)/3 = 269/390; ACSA = (5/6 + 1/2 + 3/4)/3 = 25/36;
    // G-mean = (5/6 · 1/2 · 3/4)^(1/3) = (5/16)^(1/3).
    let cm = ConfusionMatrix::from_rows(&[vec![5u64, 1, 0], vec![2, 3, 1], vec![0, 2, 6]]).unwrap();
    close("accuracy", cm.accuracy(), 0.7);
    close_all("precision", &cm.precisions(), &[5.0 / 7.0, 0.5, 6.0 / 7.0]);
    close_all("recall", &cm.recalls(), &[5.0 / 6.0, 0.5, 0.75]);
    close_all("F1", &cm.f_betas(1.0), &[10.0 / 13.0, 0.5, 0.8]);
    close_all("F1.5", &cm.f_betas(1.5), &[16.25 / 20.5, 0.5, 0.78]);
    close("macro F1", cm.macro_f1(), 269.0 / 390.0);
    close("macro F1.5", cm.macro_f_beta(1.5), (16.25 / 20.5 + 0.5 + 0.78) / 3.0);
    close("ACSA", cm.acsa(), 25.0 / 36.0);
    close("G-mean", cm.g_mean(), (5.0f64 / 16.0).cbrt());
    assert_eq!(cm.rows(), vec![vec![5, 1, 0], vec![2, 3, 1], vec![0, 2, 6]]);
}

#[test]
fn classification_matrix_from_predictions() {
    // (true, predicted): (0,0) (0,1) (1,1) (2,2) (2,0) (2,2)
    let cm = ConfusionMatrix::from_predictions(&[0, 0, 1, 2, 2, 2], &[0, 1, 1, 2, 0, 2], 3).unwrap();
    assert_eq!(cm.rows(), vec![vec![1, 1, 0], vec![0, 1, 0], vec![1, 0, 2]]);
    assert_eq!(cm.get(2, 0), 1);
    assert_eq!(cm.num_classes(), 3);
}

#[test]
fn classification_class_never_predicted() {
    //          p0 p1 p2
    //   t0      3  1  0
    //   t1      0  4  0
    //   t2      1  1  0    class 2 is never predicted: P = 0/0 := 0, R = 0/2 = 0, F1 = 0.
    // class 0: P = 3/4, R = 3/4, F1 = 6/(6 + 1 + 1) = 3/4; class 1: P = 4/6, R = 1, F1 = 8/(8 + 0 + 2) = 4/5.
    // accuracy 7/10; macro F1 = (3/4 + 4/5 + 0)/3 = 31/60; ACSA = (3/4 + 1 + 0)/3 = 7/12; G-mean = 0.
    let cm = ConfusionMatrix::from_rows(&[[3u64, 1, 0], [0, 4, 0], [1, 1, 0]]).unwrap();
    assert_eq!(cm.predicted(2), 0);
    let p = cm.precisions();
    assert!(p.iter().all(|x| x.is_finite()), "{p:?}");
    close_all("precision", &p, &[0.75, 4.0 / 6.0, 0.0]);
    close_all("recall", &cm.recalls(), &[0.75, 1.0, 0.0]);
    close_all("F1", &cm.f_betas(1.0), &[0.75, 0.8, 0.0]);
    close("F1.5 of class 2", cm.f_beta(2, 1.5), 0.0);
    close("accuracy", cm.accuracy(), 0.7);
    close("macro F1", cm.macro_f1(), 31.0 / 60.0);
    close("ACSA", cm.acsa(), 7.0 / 12.0);
    close("G-mean", cm.g_mean(), 0.0);
}

#[test]
fn classification_classes_without_images() {
    // Class 2 never occurs and is never predicted: left out of every average.
    // Class 3 has no image but is predicted once: P = 0, R = 0/0 := 0, F1 = 0,
    // counted in macro F1 but not in ACSA or G-mean.
    //   labels      0 0 1 1
    //   predictions 0 3 1 1  → class 0: P 1, R 1/2, F1 2/3; class 1: P 1, R 1, F1 1.
    // macro F1 = (2/3 + 1 + 0)/3 = 5/9; ACSA = (1/2 + 1)/2 = 3/4; G-mean = √(1/2).
    let cm = ConfusionMatrix::from_predictions(&[0, 0, 1, 1], &[0, 3, 1, 1], 4).unwrap();
    close_all("recall", &cm.recalls(), &[0.5, 1.0, 0.0, 0.0]);
    close("macro F1", cm.macro_f1(), 5.0 / 9.0);
    close("ACSA", cm.acsa(), 0.75);
    close("G-mean", cm.g_mean(), 0.5f64.sqrt());
    // An empty matrix: every measure 0, none NaN.
    let empty = ConfusionMatrix::new(3).unwrap();
    let s = empty.summary();
    for v in [s.accuracy, s.acsa, s.macro_f1, s.macro_f_beta, s.g_mean] {
        assert_eq!(v, 0.0);
    }
}

#[test]
fn classification_perfect_predictions_score_one() {
    let mut rng = Rng::new(0xC1A5);
    let k = 5;
    let labels: Vec<u32> = (0..500)
        .map(|i| if i < k { i as u32 } else { rng.below(k as u64) as u32 })
        .collect();
    let cm = ConfusionMatrix::from_predictions(&labels, &labels, k).unwrap();
    let s = cm.summary();
    for (what, v) in [
        ("accuracy", s.accuracy),
        ("ACSA", s.acsa),
        ("macro F1", s.macro_f1),
        ("macro F1.5", s.macro_f_beta),
        ("G-mean", s.g_mean),
    ] {
        close(what, v, 1.0);
    }
    close_all("precision", &cm.precisions(), &[1.0; 5]);
    close_all("recall", &cm.recalls(), &[1.0; 5]);
    close_all("F1", &cm.f_betas(1.0), &[1.0; 5]);
}

#[test]
fn classification_bad_input_is_an_error() {
    let e = ConfusionMatrix::from_predictions(&[0, 1, 1], &[0, 1], 2).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    assert!(e.to_string().contains("3 labels but 2 predictions"), "{e}");
    let e = ConfusionMatrix::from_predictions(&[0, 2], &[0, 1], 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("image 1") && e.contains("label 2"), "{e}");
    let e = ConfusionMatrix::from_predictions(&[0, 1], &[5, 1], 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("image 0") && e.contains("prediction 5"), "{e}");
    assert!(ConfusionMatrix::new(0).is_err());
    assert!(ConfusionMatrix::from_rows(&[vec![1u64, 2], vec![3]]).is_err());
    assert!(ConfusionMatrix::from_rows::<Vec<u64>>(&[]).is_err());
    let mut cm = ConfusionMatrix::new(2).unwrap();
    assert!(cm.add(2, 0).is_err());
    assert_eq!(cm.total(), 0);
}

#[test]
fn classification_report_is_a_markdown_table() {
    let cm = ConfusionMatrix::from_rows(&[[8u64, 2], [1, 9]]).unwrap();
    let r = cm.report_with_names(&["sandal", "sneaker"]);
    // class 0: support 10, predicted 9, P 0.8889, R 0.8000, F1 16/19 = 0.8421, F1.5 52/63 = 0.8254
    assert!(
        r.contains("| sandal | 10 | 9 | 0.8889 | 0.8000 | 0.8421 | 0.8254 |"),
        "{r}"
    );
    assert!(r.contains("| accuracy | 0.8500 |"), "{r}");
    assert!(r.contains("| G-mean | 0.8485 |"), "{r}");
    assert!(r.contains("| sneaker | 1 | 9 |"), "{r}");
    let plain = cm.report();
    assert!(plain.contains("| 1 | 10 | 11 |"), "{plain}");
    // Every table line has the same number of cells as its header.
    for block in r.split("\n\n") {
        let lines: Vec<&str> = block.lines().filter(|l| l.starts_with('|')).collect();
        if let Some(head) = lines.first() {
            let cells = head.matches('|').count();
            assert!(lines.iter().all(|l| l.matches('|').count() == cells), "{block}");
        }
    }
}

#[test]
fn classification_grouped_f_beta_by_hand() {
    //          p0 p1 p2
    //   t0      5  1  0
    //   t1      2  3  1
    //   t2      0  2  6
    // Group {2} against {0, 1}: TP = 6, FN = 0 + 2 = 2, FP = 0 + 1 = 1,
    //   F1.5 = 3.25·6/(3.25·6 + 2.25·2 + 1) = 19.5/25 = 0.78 (class 2's own F1.5).
    // Group {1, 2} against {0}: TP = 3 + 1 + 2 + 6 = 12, FN = 2 + 0 = 2,
    //   FP = 1 + 0 = 1, TN = 5; F1 = 24/(24 + 2 + 1) = 8/9,
    //   F1.5 = 39/(39 + 4.5 + 1) = 78/89. A group image predicted as the
    //   other group class (t1 → p2, t2 → p1) counts as right.
    let cm = ConfusionMatrix::from_rows(&[[5u64, 1, 0], [2, 3, 1], [0, 2, 6]]).unwrap();
    close("F1.5 {2}", cm.grouped_f_beta(&[2], S3VAE_BETA).unwrap(), 0.78);
    assert_eq!(cm.grouped(&[1, 2]).unwrap().rows(), vec![vec![12, 2], vec![1, 5]]);
    assert_eq!(
        cm.grouped(&[2, 1, 2]).unwrap(),
        cm.grouped(&[1, 2]).unwrap(),
        "order and repeats do not matter"
    );
    close("F1 {1, 2}", cm.grouped_f_beta(&[1, 2], 1.0).unwrap(), 8.0 / 9.0);
    close("F1.5 {1, 2}", cm.grouped_f_beta(&[1, 2], 1.5).unwrap(), 78.0 / 89.0);

    // S3VAE's case: the discarded class 0 of 3 is rarely recognised.
    //          p0 p1 p2
    //   t0      4  3  3    {0}: TP = 4, FN = 6, FP = 1 + 0 = 1,
    //   t1      1  9  0         F1.5 = 13/(13 + 13.5 + 1) = 26/55;
    //   t2      0  0 10    {1, 2}: TP = 9 + 10 = 19, FN = 1, FP = 6,
    //                           F1.5 = 61.75/(61.75 + 2.25 + 6) = 61.75/70.
    let s3 = ConfusionMatrix::from_rows(&[[4u64, 3, 3], [1, 9, 0], [0, 0, 10]]).unwrap();
    close("discarded F1.5", s3.grouped_f_beta(&[0], 1.5).unwrap(), 26.0 / 55.0);
    close("rest F1.5", s3.grouped_f_beta(&[1, 2], 1.5).unwrap(), 61.75 / 70.0);

    for bad in [&[][..], &[0, 1, 2][..], &[3][..]] {
        let e = cm.grouped(bad).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{bad:?}: {e}");
    }
}
