//! [`Recipe`]: the imbalance protocols, their checks and the per-class counts
//! they keep.

use std::collections::BTreeSet;

use super::draw::{draw, group_by_class};
use super::tables::PaperDataset;
use super::OP;
use crate::error::{Error, Result};

/// One imbalance protocol. See the module documentation for the command-line
/// forms; every variant's `Display` parses back to the same value.
#[derive(Debug, Clone, PartialEq)]
pub enum Recipe {
    /// Keep every image.
    Full,
    /// Imbalance rate IR = N_majority / N_minority with the first class as the
    /// majority (SGBGAN §4.2): class 0 keeps all its N₀ images, every class
    /// 1..K−1 keeps ⌊N₀ / IR⌋ images (rounded down). IR ≥ 1. SGBGAN uses IR 5,
    /// 20, 50 and 100 on Fashion-MNIST and CIFAR-10.
    Ir {
        /// The ratio N₀ / N_c, at least 1.
        ratio: f64,
    },
    /// Explicit per-class counts, one per class.
    Counts(Vec<usize>),
    /// The per-class training counts BAGAN-GP's README prints (seed 001) for
    /// Fashion-MNIST, CIFAR-10 or the cells dataset. The images are drawn at
    /// random; the original code keeps the first 100·c images of class c and
    /// then splits 70/30, which these counts are the training part of.
    BaganGp(PaperDataset),
    /// Step imbalance (Buda et al., used by CostSensitive-ACGAN): a fraction μ of
    /// the K classes are minority classes, m = ⌈μ·K⌉ of them (μ·K is rounded up
    /// after subtracting 1e-9, so μ = 0.3, K = 10 gives 3 despite floating
    /// point). Majority classes keep n images each, minority classes keep
    /// ⌊n / ρ⌋ each, so ρ = max / min class size.
    Step {
        /// μ, the fraction of minority classes, in (0, 1].
        mu: f64,
        /// ρ, the majority-to-minority size ratio, at least 1.
        rho: f64,
        /// n, the majority class size; `None`: the smallest number of available
        /// images among the majority classes (so the majority classes are equal
        /// and the step is exact).
        majority: Option<usize>,
        /// The minority classes; `None`: the first m classes 0..m. When given it
        /// must have exactly m distinct entries.
        minority: Option<Vec<u32>>,
    },
    /// CostSensitive-ACGAN §4.1: every class keeps min(cap, N_c) images, then
    /// class `class` loses the fraction `remove` of those:
    /// it keeps round(min(cap, N_class) · (1 − remove)). On MNIST (cap 5000,
    /// class 0) removing 60/80/95 % leaves 2000/1000/250 images, a real ratio
    /// of 2.5/5/20 (the paper labels these IR 20/40/190).
    CapRemove {
        /// The class that is reduced (the paper: digit 0).
        class: u32,
        /// The removed fraction, in [0, 1).
        remove: f64,
        /// The cap applied to every class first (the paper: 5000).
        cap: usize,
    },
    /// AGGAN Table III multi-class counts: MNIST and Fashion-MNIST 4000, 2000,
    /// 1000, 750, 500, 350, 200, 100, 60, 40 (IR 100); CIFAR-10 and SVHN 4500,
    /// 2000, 1000, 800, 600, 500, 400, 250, 150, 80 (IR 56.25); CelebA and
    /// LSUN (5 classes) 15000, 1500, 750, 300, 150 (IR 100).
    Aggan(PaperDataset),
    /// AGGAN Table II two-class tasks (e.g. Fashion-MNIST sandal 5 vs sneaker 7,
    /// MNIST 5 vs 6, CIFAR-10 airplane 0 vs automobile 1; IR 10, 50, 100). The
    /// positive class is the minority: the negative class keeps all its N_neg
    /// images, the positive class keeps ⌊N_neg / IR⌋, every other class none.
    /// [`Recipe::select`] returns indices with the original labels;
    /// [`Recipe::classes`] gives `[negative, positive]`, the relabelling to
    /// two classes (negative → 0, positive → 1, names kept) that
    /// [`DataConfig`](crate::data::DataConfig) applies to the training, test
    /// and reference sets alike, so a run trains and is evaluated on the two
    /// classes only.
    AgganPair {
        /// The positive (minority) class.
        positive: u32,
        /// The negative (majority) class.
        negative: u32,
        /// N_neg / N_pos, at least 1.
        ir: f64,
    },
    /// S3VAE §3.2 discard rate: each listed class keeps round(N_c · (1 − rate))
    /// of its images, every other class keeps all. S3VAE removes 60/80/90 %
    /// (PlantVillage) or 90/95/97.5 % (CIFAR-10) of one class.
    Discard {
        /// The reduced classes (S3VAE: one; default class 0).
        classes: Vec<u32>,
        /// The discarded fraction, in [0, 1).
        rate: f64,
    },
}

impl Recipe {
    /// Checks the numbers that do not depend on the data: IR and ρ at least 1,
    /// μ in (0, 1], rates in [0, 1), two different classes for a pair, and a
    /// paper table that exists. [`Recipe::counts`] checks these too; call this
    /// first to reject a bad recipe before loading a dataset.
    pub fn check(&self) -> Result<()> {
        match self {
            Recipe::Full | Recipe::Counts(_) => Ok(()),
            Recipe::Ir { ratio } => check_ratio(self, "IR", *ratio),
            Recipe::BaganGp(d) => self.table(d.bagan_gp_counts()).map(|_| ()),
            Recipe::Step { mu, rho, .. } => {
                if !(*mu > 0.0 && *mu <= 1.0) {
                    return Err(Error::invalid(OP, format!("{self}: μ must lie in (0, 1], got {mu}")));
                }
                check_ratio(self, "ρ", *rho)
            }
            Recipe::CapRemove { remove, .. } => check_rate(self, "remove", *remove),
            Recipe::Aggan(d) => self.table(d.aggan_counts()).map(|_| ()),
            Recipe::AgganPair { positive, negative, ir } => {
                if positive == negative {
                    return Err(Error::invalid(OP, format!("{self}: the two classes must differ")));
                }
                check_ratio(self, "IR", *ir)
            }
            Recipe::Discard { rate, .. } => check_rate(self, "rate", *rate),
        }
    }

    /// The number of images of each class the recipe keeps, given the number
    /// `available[c]` of training images of class c (K = `available.len()`).
    ///
    /// Errors: a class with fewer images than asked (naming the class, the
    /// number asked and the number there), a class index ≥ K, a table whose
    /// length is not K, IR or ρ below 1, a rate outside [0, 1), a reduced class
    /// rounded down to no image, or nothing kept at all.
    pub fn counts(&self, available: &[usize]) -> Result<Vec<usize>> {
        self.check()?;
        let k = available.len();
        if k == 0 {
            return Err(Error::invalid(OP, format!("{self}: there are no classes")));
        }
        let counts = match self {
            Recipe::Full => available.to_vec(),
            Recipe::Ir { ratio } => {
                let n0 = available[0];
                let minor = (n0 as f64 / ratio).floor() as usize;
                let mut c = vec![minor; k];
                c[0] = n0;
                if k > 1 && minor == 0 {
                    return Err(Error::invalid(
                        OP,
                        format!("{self}: ⌊{n0} / {ratio}⌋ = 0 images for classes 1..{k}; use a smaller IR"),
                    ));
                }
                c
            }
            Recipe::Counts(c) => {
                check_len(self, c.len(), k)?;
                c.clone()
            }
            Recipe::BaganGp(d) => {
                let table = self.table(d.bagan_gp_counts())?;
                check_len(self, table.len(), k)?;
                table.to_vec()
            }
            Recipe::Step {
                mu,
                rho,
                majority,
                minority,
            } => {
                let m = ((mu * k as f64) - 1e-9).ceil().max(1.0) as usize;
                let minor: Vec<u32> = match minority {
                    None => (0..m as u32).collect(),
                    Some(list) => {
                        check_classes(self, list, k)?;
                        if list.len() != m {
                            return Err(Error::invalid(
                                OP,
                                format!(
                                    "{self}: μ = {mu} with {k} classes makes {m} minority classes but {} are listed",
                                    list.len()
                                ),
                            ));
                        }
                        list.clone()
                    }
                };
                let is_minor = |c: usize| minor.contains(&(c as u32));
                let n = match majority {
                    Some(n) => *n,
                    None => match (0..k).filter(|&c| !is_minor(c)).map(|c| available[c]).min() {
                        Some(n) => n,
                        // μ = 1: every class is a minority class of the largest one.
                        None => *available.iter().max().unwrap(),
                    },
                };
                let small = (n as f64 / rho).floor() as usize;
                if small == 0 {
                    return Err(Error::invalid(
                        OP,
                        format!("{self}: ⌊{n} / {rho}⌋ = 0 images for the minority classes; use a smaller ρ"),
                    ));
                }
                (0..k).map(|c| if is_minor(c) { small } else { n }).collect()
            }
            Recipe::CapRemove { class, remove, cap } => {
                check_classes(self, &[*class], k)?;
                let mut c: Vec<usize> = available.iter().map(|&n| n.min(*cap)).collect();
                let i = *class as usize;
                c[i] = keep_after_discard(self, i, c[i], *remove)?;
                c
            }
            Recipe::Aggan(d) => {
                let table = self.table(d.aggan_counts())?;
                check_len(self, table.len(), k)?;
                table.to_vec()
            }
            Recipe::AgganPair { positive, negative, ir } => {
                check_classes(self, &[*positive, *negative], k)?;
                let nn = available[*negative as usize];
                let np = (nn as f64 / ir).floor() as usize;
                if np == 0 {
                    return Err(Error::invalid(
                        OP,
                        format!("{self}: ⌊{nn} / {ir}⌋ = 0 images for class {positive}; use a smaller IR"),
                    ));
                }
                let mut c = vec![0; k];
                c[*negative as usize] = nn;
                c[*positive as usize] = np;
                c
            }
            Recipe::Discard { classes, rate } => {
                check_classes(self, classes, k)?;
                let mut c = available.to_vec();
                for &cl in classes {
                    let i = cl as usize;
                    c[i] = keep_after_discard(self, i, available[i], *rate)?;
                }
                c
            }
        };
        for (c, (&want, &have)) in counts.iter().zip(available).enumerate() {
            if want > have {
                return Err(Error::invalid(
                    OP,
                    format!("{self}: class {c} has {have} images but the recipe asks for {want}"),
                ));
            }
        }
        if counts.iter().all(|&n| n == 0) {
            return Err(Error::invalid(OP, format!("{self}: the recipe keeps no image")));
        }
        Ok(counts)
    }

    /// A paper recipe's table, or the error naming the datasets the paper
    /// prints tables for.
    fn table(&self, counts: Option<&'static [usize]>) -> Result<&'static [usize]> {
        counts.ok_or_else(|| {
            let printed = match self {
                Recipe::BaganGp(_) => "BAGAN-GP prints tables for fashion-mnist, cifar10 and cells only",
                _ => "AGGAN lists counts for mnist, fashion-mnist, cifar10 and svhn only",
            };
            Error::invalid(OP, format!("{self}: {printed}"))
        })
    }

    /// The classes a run on this recipe has, as original class indices in
    /// their new order (class `i` of the run is original class `classes[i]`);
    /// `None`: every class of the dataset, labels unchanged. Only
    /// [`Recipe::AgganPair`] narrows the classes: `[negative, positive]`, so
    /// the negative (majority) class is 0 and the positive (minority) class 1,
    /// a binary task's usual labels. Apply it with
    /// [`Dataset::select_classes`](crate::data::Dataset::select_classes) to
    /// the training and the test split alike.
    pub fn classes(&self) -> Option<Vec<u32>> {
        match self {
            Recipe::AgganPair { positive, negative, .. } => Some(vec![*negative, *positive]),
            _ => None,
        }
    }

    /// The indices of the images the recipe keeps, sorted ascending.
    ///
    /// `labels[i]` is the class of image i, each below `num_classes`. The number
    /// of images kept per class is [`Recipe::counts`] of the per-class totals;
    /// which images are kept is drawn from `seed` as the module documentation
    /// describes. Errors as [`Recipe::counts`], and for a label ≥ `num_classes`.
    pub fn select(&self, labels: &[u32], num_classes: usize, seed: u64) -> Result<Vec<usize>> {
        let by_class = group_by_class(labels, num_classes)?;
        let available: Vec<usize> = by_class.iter().map(Vec::len).collect();
        let counts = self.counts(&available)?;
        Ok(draw(by_class, &counts, seed))
    }
}

fn keep_after_discard(r: &Recipe, class: usize, n: usize, rate: f64) -> Result<usize> {
    let keep = (n as f64 * (1.0 - rate)).round() as usize;
    if keep == 0 && n > 0 {
        return Err(Error::invalid(
            OP,
            format!("{r}: class {class} would keep none of its {n} images; use a lower rate"),
        ));
    }
    Ok(keep)
}

fn check_ratio(r: &Recipe, what: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 1.0 {
        Ok(())
    } else {
        Err(Error::invalid(OP, format!("{r}: {what} must be at least 1, got {v}")))
    }
}

fn check_rate(r: &Recipe, what: &str, v: f64) -> Result<()> {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::invalid(OP, format!("{r}: {what} must lie in [0, 1), got {v}")))
    }
}

fn check_len(r: &Recipe, len: usize, k: usize) -> Result<()> {
    if len == k {
        Ok(())
    } else {
        Err(Error::invalid(
            OP,
            format!("{r}: the recipe lists {len} classes but the data has {k}"),
        ))
    }
}

fn check_classes(r: &Recipe, classes: &[u32], k: usize) -> Result<()> {
    if classes.is_empty() {
        return Err(Error::invalid(OP, format!("{r}: no class given")));
    }
    let mut seen = BTreeSet::new();
    for &c in classes {
        if c as usize >= k {
            return Err(Error::invalid(
                OP,
                format!("{r}: unknown class {c}, the data has classes 0..{}", k - 1),
            ));
        }
        if !seen.insert(c) {
            return Err(Error::invalid(OP, format!("{r}: class {c} is listed twice")));
        }
    }
    Ok(())
}
