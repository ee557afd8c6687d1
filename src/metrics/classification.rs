//! Measures of a classifier on imbalanced data, from a confusion matrix.
//!
//! Notation for class c of K, with M the confusion matrix (`M[t][p]` = number of
//! images of true class t predicted as p, rows = true class):
//! - TP_c = `M[c][c]`, FN_c = Σ_{p≠c} `M[c][p]`, FP_c = Σ_{t≠c} `M[t][c]`;
//! - support_c = TP_c + FN_c (images of class c), predicted_c = TP_c + FP_c;
//! - precision P_c = TP_c / (TP_c + FP_c), recall R_c = TP_c / (TP_c + FN_c);
//! - F_β,c = (1 + β²)·P_c·R_c / (β²·P_c + R_c)
//!   = (1 + β²)·TP_c / ((1 + β²)·TP_c + β²·FN_c + FP_c); F1 is β = 1.
//!
//! **0/0 is 0** everywhere: a class never predicted has precision 0, a class with
//! no image has recall 0, and F_β is 0 when TP_c = 0.
//!
//! Averages:
//! - accuracy = Σ_c TP_c / N (0 for an empty matrix);
//! - macro F_β = mean of F_β,c over the classes that occur as a label or as a
//!   prediction (the classes of an all-zero row and column are left out, as
//!   scikit-learn does when its labels are not given);
//! - ACSA (average class-specific accuracy, AGGAN) = mean of R_c over the
//!   classes with support_c > 0;
//! - G-mean = (Π R_c)^(1/n) over the same n classes with support > 0, so it is 0
//!   as soon as one such class has recall 0.
//!
//! Grouped F_β (S3VAE): one group G of classes (S3VAE: the class whose
//! training images were partly discarded) against all the others, as a
//! two-class problem: TP = images of G predicted as a class of G, FN = images
//! of G predicted outside G, FP = other images predicted into G, then F_β as
//! above ([`ConfusionMatrix::grouped`], [`ConfusionMatrix::grouped_f_beta`]).
//!
//! Test sets are balanced in every paper, so in practice every class has support
//! and the averages run over all K classes.
//!
//! ```
//! use balgan::metrics::classification::ConfusionMatrix;
//! # fn main() -> balgan::Result<()> {
//! let cm = ConfusionMatrix::from_predictions(&[0, 0, 1, 1], &[0, 1, 1, 1], 2)?;
//! assert_eq!(cm.accuracy(), 0.75);
//! assert_eq!(cm.recalls(), [0.5, 1.0]);
//! assert_eq!(cm.acsa(), 0.75);
//! println!("{}", cm.report_with_names(&["sandal", "sneaker"]));
//! # Ok(()) }
//! ```

use std::fmt::Write as _;

use crate::error::{Error, Result};

/// β of the F_β measure S3VAE reports (F1.5, weighting recall above precision).
pub const S3VAE_BETA: f64 = 1.5;

/// A K×K confusion matrix: rows are true classes, columns predicted classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    k: usize,
    /// Row-major K·K counts.
    m: Vec<u64>,
}

/// The headline measures of one confusion matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Fraction of images classified correctly.
    pub accuracy: f64,
    /// Mean per-class recall over classes with images.
    pub acsa: f64,
    /// Mean per-class F1.
    pub macro_f1: f64,
    /// Mean per-class F_β with β = [`S3VAE_BETA`].
    pub macro_f_beta: f64,
    /// Geometric mean of the per-class recalls over classes with images.
    pub g_mean: f64,
}

/// The predicted class of each row of row-major logits [rows, k]: the index
/// of the row's largest value (the first on a tie; NaNs never win).
pub fn argmax_rows(logits: &[f32], k: usize) -> Vec<u32> {
    logits
        .chunks(k.max(1))
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                .0 as u32
        })
        .collect()
}

fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

impl ConfusionMatrix {
    /// An all-zero matrix for K = `num_classes` ≥ 1 classes.
    pub fn new(num_classes: usize) -> Result<ConfusionMatrix> {
        if num_classes == 0 {
            return Err(Error::invalid("confusion matrix", "needs at least one class"));
        }
        Ok(ConfusionMatrix {
            k: num_classes,
            m: vec![0; num_classes * num_classes],
        })
    }

    /// The matrix of `predictions[i]` against `labels[i]`. Errors when the two
    /// lengths differ or a label or prediction is ≥ `num_classes`.
    pub fn from_predictions(labels: &[u32], predictions: &[u32], num_classes: usize) -> Result<ConfusionMatrix> {
        if labels.len() != predictions.len() {
            return Err(Error::invalid(
                "confusion matrix",
                format!(
                    "{} labels but {} predictions; give one prediction per label",
                    labels.len(),
                    predictions.len()
                ),
            ));
        }
        let mut cm = ConfusionMatrix::new(num_classes)?;
        for (i, (&t, &p)) in labels.iter().zip(predictions).enumerate() {
            cm.add(t, p).map_err(|e| match e {
                Error::InvalidArgument { op, message } => Error::InvalidArgument {
                    op,
                    message: format!("image {i}: {message}"),
                },
                e => e,
            })?;
        }
        Ok(cm)
    }

    /// A matrix from its rows: `rows[t][p]` images of true class t predicted as
    /// p. Errors when the rows are not K rows of K entries (K ≥ 1).
    pub fn from_rows<R: AsRef<[u64]>>(rows: &[R]) -> Result<ConfusionMatrix> {
        let mut cm = ConfusionMatrix::new(rows.len())?;
        for (t, row) in rows.iter().enumerate() {
            let row = row.as_ref();
            if row.len() != cm.k {
                return Err(Error::invalid(
                    "confusion matrix",
                    format!("row {t} has {} entries but the matrix has {} rows", row.len(), cm.k),
                ));
            }
            cm.m[t * cm.k..(t + 1) * cm.k].copy_from_slice(row);
        }
        Ok(cm)
    }

    /// Counts one image of true class `label` predicted as `prediction`.
    pub fn add(&mut self, label: u32, prediction: u32) -> Result<()> {
        for (what, v) in [("label", label), ("prediction", prediction)] {
            if v as usize >= self.k {
                return Err(Error::invalid(
                    "confusion matrix",
                    format!("{what} {v} is not below the {} classes", self.k),
                ));
            }
        }
        self.m[label as usize * self.k + prediction as usize] += 1;
        Ok(())
    }

    /// K, the number of classes.
    pub fn num_classes(&self) -> usize {
        self.k
    }

    /// `M[label][prediction]`. Panics when either is ≥ K.
    pub fn get(&self, label: usize, prediction: usize) -> u64 {
        assert!(label < self.k && prediction < self.k, "class out of range");
        self.m[label * self.k + prediction]
    }

    /// The rows of the matrix (row t = true class t).
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.m.chunks(self.k).map(<[u64]>::to_vec).collect()
    }

    /// N, the number of images counted.
    pub fn total(&self) -> u64 {
        self.m.iter().sum()
    }

    /// support_c = Σ_p `M[c][p]`, the images of true class c.
    pub fn support(&self, class: usize) -> u64 {
        (0..self.k).map(|p| self.get(class, p)).sum()
    }

    /// predicted_c = Σ_t `M[t][c]`, the images predicted as class c.
    pub fn predicted(&self, class: usize) -> u64 {
        (0..self.k).map(|t| self.get(t, class)).sum()
    }

    /// accuracy = Σ_c `M[c][c]` / N; 0 for an empty matrix.
    pub fn accuracy(&self) -> f64 {
        let tp: u64 = (0..self.k).map(|c| self.get(c, c)).sum();
        ratio(tp as f64, self.total() as f64)
    }

    /// P_c = TP_c / predicted_c; 0 when class c is never predicted.
    pub fn precision(&self, class: usize) -> f64 {
        ratio(self.get(class, class) as f64, self.predicted(class) as f64)
    }

    /// R_c = TP_c / support_c; 0 when class c has no image.
    pub fn recall(&self, class: usize) -> f64 {
        ratio(self.get(class, class) as f64, self.support(class) as f64)
    }

    /// F_β,c = (1 + β²)·TP / ((1 + β²)·TP + β²·FN + FP), equal to
    /// (1 + β²)·P·R / (β²·P + R); 0 when TP = 0.
    pub fn f_beta(&self, class: usize, beta: f64) -> f64 {
        let b2 = beta * beta;
        let tp = self.get(class, class) as f64;
        let fn_ = self.support(class) as f64 - tp;
        let fp = self.predicted(class) as f64 - tp;
        ratio((1.0 + b2) * tp, (1.0 + b2) * tp + b2 * fn_ + fp)
    }

    /// F1_c = 2·P·R / (P + R) = 2·TP / (2·TP + FN + FP); 0 when TP = 0.
    pub fn f1(&self, class: usize) -> f64 {
        self.f_beta(class, 1.0)
    }

    /// P_c for every class.
    pub fn precisions(&self) -> Vec<f64> {
        (0..self.k).map(|c| self.precision(c)).collect()
    }

    /// R_c for every class.
    pub fn recalls(&self) -> Vec<f64> {
        (0..self.k).map(|c| self.recall(c)).collect()
    }

    /// F_β,c for every class.
    pub fn f_betas(&self, beta: f64) -> Vec<f64> {
        (0..self.k).map(|c| self.f_beta(c, beta)).collect()
    }

    /// The classes that occur as a label or a prediction.
    fn occurring(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.k).filter(|&c| self.support(c) > 0 || self.predicted(c) > 0)
    }

    /// The classes with at least one image.
    fn with_support(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.k).filter(|&c| self.support(c) > 0)
    }

    /// macro F_β = mean of F_β,c over the classes that occur as a label or a
    /// prediction; 0 for an empty matrix.
    pub fn macro_f_beta(&self, beta: f64) -> f64 {
        let f: Vec<f64> = self.occurring().map(|c| self.f_beta(c, beta)).collect();
        ratio(f.iter().sum(), f.len() as f64)
    }

    /// macro F1 = [`ConfusionMatrix::macro_f_beta`] with β = 1.
    pub fn macro_f1(&self) -> f64 {
        self.macro_f_beta(1.0)
    }

    /// ACSA = (1/n) Σ R_c over the n classes with support > 0 (the balanced
    /// accuracy); 0 for an empty matrix.
    pub fn acsa(&self) -> f64 {
        let r: Vec<f64> = self.with_support().map(|c| self.recall(c)).collect();
        ratio(r.iter().sum(), r.len() as f64)
    }

    /// G-mean = (Π R_c)^(1/n) over the n classes with support > 0, computed as
    /// exp(mean ln R_c); 0 when one of those recalls is 0 or the matrix is empty.
    pub fn g_mean(&self) -> f64 {
        let r: Vec<f64> = self.with_support().map(|c| self.recall(c)).collect();
        if r.is_empty() || r.contains(&0.0) {
            return 0.0;
        }
        (r.iter().map(|x| x.ln()).sum::<f64>() / r.len() as f64).exp()
    }

    /// The 2×2 matrix of `group` against all other classes: row and column 0
    /// are the group, row and column 1 the rest, so
    /// `M'[0][0]` = Σ_{t∈G, p∈G} `M[t][p]` (a group image predicted as any
    /// group class counts as right), `M'[0][1]` = Σ_{t∈G, p∉G} `M[t][p]`,
    /// `M'[1][0]` = Σ_{t∉G, p∈G} `M[t][p]` and `M'[1][1]` the rest. For a
    /// group of one class c, class 0 of the result has the TP, FN and FP of c.
    /// Errors when the group is empty, holds every class, or names a class
    /// ≥ K; repeated entries count once.
    pub fn grouped(&self, group: &[usize]) -> Result<ConfusionMatrix> {
        let mut inside = vec![false; self.k];
        for &c in group {
            if c >= self.k {
                return Err(Error::invalid(
                    "confusion matrix",
                    format!("group class {c} is not below the {} classes", self.k),
                ));
            }
            inside[c] = true;
        }
        let n = inside.iter().filter(|&&b| b).count();
        if n == 0 || n == self.k {
            return Err(Error::invalid(
                "confusion matrix",
                format!(
                    "a group of {n} of the {} classes has no other classes to be set against; \
                     name at least one class and leave at least one out",
                    self.k
                ),
            ));
        }
        let side = |c: usize| usize::from(!inside[c]);
        let mut out = ConfusionMatrix::new(2)?;
        for t in 0..self.k {
            for p in 0..self.k {
                out.m[side(t) * 2 + side(p)] += self.get(t, p);
            }
        }
        Ok(out)
    }

    /// F_β of `group` taken as one class against all the others (the F_β of
    /// class 0 of [`ConfusionMatrix::grouped`]): S3VAE's F1.5 with the
    /// discarded class as the group and β = [`S3VAE_BETA`].
    pub fn grouped_f_beta(&self, group: &[usize], beta: f64) -> Result<f64> {
        Ok(self.grouped(group)?.f_beta(0, beta))
    }

    /// Accuracy, ACSA, macro F1, macro F1.5 and G-mean together.
    pub fn summary(&self) -> Summary {
        Summary {
            accuracy: self.accuracy(),
            acsa: self.acsa(),
            macro_f1: self.macro_f1(),
            macro_f_beta: self.macro_f_beta(S3VAE_BETA),
            g_mean: self.g_mean(),
        }
    }

    /// [`ConfusionMatrix::report_with_names`] with the class indices as names.
    pub fn report(&self) -> String {
        self.report_with_names(&[])
    }

    /// A markdown report: one row per class (support, predicted, precision,
    /// recall, F1, F1.5), then the averages of [`ConfusionMatrix::summary`] and
    /// the confusion matrix itself. `names[c]` names class c; missing names are
    /// replaced by the index.
    pub fn report_with_names(&self, names: &[&str]) -> String {
        let name = |c: usize| names.get(c).map(|s| s.to_string()).unwrap_or_else(|| c.to_string());
        let mut s = String::new();
        s.push_str("| class | support | predicted | precision | recall | F1 | F1.5 |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
        for c in 0..self.k {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} |",
                name(c),
                self.support(c),
                self.predicted(c),
                self.precision(c),
                self.recall(c),
                self.f1(c),
                self.f_beta(c, S3VAE_BETA)
            );
        }
        let sm = self.summary();
        s.push_str("\n| measure | value |\n|---|---:|\n");
        for (what, v) in [
            ("accuracy", sm.accuracy),
            ("ACSA (mean recall)", sm.acsa),
            ("macro F1", sm.macro_f1),
            ("macro F1.5", sm.macro_f_beta),
            ("G-mean", sm.g_mean),
        ] {
            let _ = writeln!(s, "| {what} | {v:.4} |");
        }
        s.push_str("\nConfusion matrix (rows: true class, columns: predicted class)\n\n| true \\ predicted |");
        for c in 0..self.k {
            let _ = write!(s, " {} |", name(c));
        }
        s.push_str("\n|---|");
        s.push_str(&"---:|".repeat(self.k));
        s.push('\n');
        for t in 0..self.k {
            let _ = write!(s, "| {} |", name(t));
            for p in 0..self.k {
                let _ = write!(s, " {} |", self.get(t, p));
            }
            s.push('\n');
        }
        s
    }
}
