//! The imbalance recipes of the published models: which training images of a
//! balanced dataset to keep so that the class counts follow a paper's protocol.
//!
//! A [`Recipe`] works on a slice of labels only (one `u32` class per image) and
//! returns the indices of the images it keeps, so it applies to any dataset type.
//! **Recipes are meant for training splits only.** Every paper keeps its test and
//! validation sets balanced (AGGAN, S3VAE, CostSensitive-ACGAN); use [`balanced`]
//! to draw an equal number of images per class when a balanced subset is needed.
//!
//! Two steps:
//! 1. [`Recipe::counts`] turns the per-class numbers of available images into the
//!    per-class numbers the recipe keeps (errors when a class has too few images);
//! 2. [`Recipe::select`] draws that many images of each class at random, from a
//!    seed, and returns their indices sorted.
//!
//! Selection is reproducible: the images of class `c` are chosen by
//! [`HostRng::choose`] (the first `counts[c]` positions of a front-to-back
//! Fisher–Yates shuffle) from the SplitMix64 stream started at
//! `seed ^ ((c + 1) · 0x9E3779B97F4A7C15)` (each class its own stream, so the
//! selection of one class does not depend on the counts of the others). A class kept whole is
//! not shuffled. Same labels, recipe and seed give the same indices on every
//! machine.
//!
//! Command-line forms (parsed by [`str::parse`], written back by `Display`):
//!
//! | form | recipe |
//! |---|---|
//! | `none` | keep every image |
//! | `ir:100` | [`Recipe::Ir`]: class 0 whole, the others ⌊N₀/IR⌋ each |
//! | `counts:4000,2000,1000` | [`Recipe::Counts`]: explicit per-class counts |
//! | `bagan-gp:fashion-mnist` | [`Recipe::BaganGp`]: the BAGAN-GP README tables (`fashion-mnist`, `cifar10`, `cells`) |
//! | `step:mu=0.1,rho=20[,n=5000][,minority=0+3]` | [`Recipe::Step`]: Buda et al.'s step imbalance |
//! | `cs-acgan:class=0,remove=0.6[,cap=5000]` | [`Recipe::CapRemove`]: CostSensitive-ACGAN's cap-and-remove |
//! | `aggan:fashion-mnist` | [`Recipe::Aggan`]: AGGAN Table III lists (`mnist`, `fashion-mnist`, `cifar10`, `svhn`) |
//! | `aggan-pair:5,7,ir=100` | [`Recipe::AgganPair`]: AGGAN Table II two-class tasks |
//! | `discard:class=0,rate=0.95` | [`Recipe::Discard`]: S3VAE's discard rate (`class=0+3` for several) |
//!
//! Rates (`remove`, `rate`) are fractions in [0, 1); a trailing `%` is accepted on
//! input (`rate=97.5%` is 0.975) and written back as a fraction.
//!
//! ```
//! use balgan::data::imbalance::Recipe;
//! # fn main() -> balgan::Result<()> {
//! // 6000 training images per class, labels 0..9 in turn.
//! let labels: Vec<u32> = (0..60_000).map(|i| i % 10).collect();
//! let recipe: Recipe = "ir:100".parse()?;
//! assert_eq!(recipe.counts(&[6000; 10])?, [6000, 60, 60, 60, 60, 60, 60, 60, 60, 60]);
//! let kept = recipe.select(&labels, 10, 1)?;
//! assert_eq!(kept.len(), 6000 + 9 * 60);
//! assert_eq!(recipe.to_string(), "ir:100");
//! # Ok(()) }
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::tensor::{HostRng, GOLDEN_GAMMA};

const OP: &str = "imbalance recipe";

/// The datasets whose per-class tables the papers print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaperDataset {
    /// MNIST digits (10 classes).
    Mnist,
    /// Fashion-MNIST (10 classes).
    FashionMnist,
    /// CIFAR-10 (10 classes).
    Cifar10,
    /// SVHN digits (10 classes).
    Svhn,
    /// The malaria cell images of BAGAN-GP / SGBGAN (4 classes: normal, ring,
    /// schizont, trophozoite).
    Cells,
}

impl PaperDataset {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PaperDataset::Mnist => "mnist",
            PaperDataset::FashionMnist => "fashion-mnist",
            PaperDataset::Cifar10 => "cifar10",
            PaperDataset::Svhn => "svhn",
            PaperDataset::Cells => "cells",
        }
    }

    /// Parses a dataset name; `f-mnist`, `fmnist` and `cifar-10` are accepted too.
    pub fn parse(s: &str) -> Result<PaperDataset> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mnist" => Ok(PaperDataset::Mnist),
            "fashion-mnist" | "fashion_mnist" | "fmnist" | "f-mnist" => Ok(PaperDataset::FashionMnist),
            "cifar10" | "cifar-10" => Ok(PaperDataset::Cifar10),
            "svhn" => Ok(PaperDataset::Svhn),
            "cells" => Ok(PaperDataset::Cells),
            other => Err(Error::invalid(
                OP,
                format!("unknown dataset '{other}'; expected mnist, fashion-mnist, cifar10, svhn or cells"),
            )),
        }
    }
}

impl fmt::Display for PaperDataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// BAGAN-GP README, Fashion-MNIST imbalanced training counts (seed 001).
pub const BAGAN_GP_FASHION_MNIST: [usize; 10] = [4166, 73, 139, 210, 287, 370, 422, 387, 545, 651];
/// BAGAN-GP README, CIFAR-10 imbalanced training counts (seed 001).
pub const BAGAN_GP_CIFAR10: [usize; 10] = [3490, 71, 130, 221, 269, 349, 435, 485, 572, 628];
/// BAGAN-GP README, cells training counts (normal, ring, schizont, trophozoite).
/// The test split of the paper is 1400 / 73 / 27 / 222.
pub const BAGAN_GP_CELLS: [usize; 4] = [5600, 292, 106, 887];
/// AGGAN Table III, MNIST and Fashion-MNIST training counts (IR 100).
pub const AGGAN_MNIST: [usize; 10] = [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40];
/// AGGAN Table III, CIFAR-10 and SVHN training counts (IR 56.25).
pub const AGGAN_CIFAR10: [usize; 10] = [4500, 2000, 1000, 800, 600, 500, 400, 250, 150, 80];

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
    /// 2000, 1000, 800, 600, 500, 400, 250, 150, 80 (IR 56.25).
    Aggan(PaperDataset),
    /// AGGAN Table II two-class tasks (e.g. Fashion-MNIST sandal 5 vs sneaker 7,
    /// MNIST 5 vs 6, CIFAR-10 airplane 0 vs automobile 1; IR 10, 50, 100). The
    /// positive class is the minority: the negative class keeps all its N_neg
    /// images, the positive class keeps ⌊N_neg / IR⌋, every other class none.
    /// The kept images carry their original labels; map them to {0, 1} for a
    /// binary classifier.
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
            Recipe::BaganGp(d) => match d {
                PaperDataset::FashionMnist | PaperDataset::Cifar10 | PaperDataset::Cells => Ok(()),
                _ => Err(Error::invalid(
                    OP,
                    format!("{self}: BAGAN-GP prints tables for fashion-mnist, cifar10 and cells only"),
                )),
            },
            Recipe::Step { mu, rho, .. } => {
                if !(*mu > 0.0 && *mu <= 1.0) {
                    return Err(Error::invalid(OP, format!("{self}: μ must lie in (0, 1], got {mu}")));
                }
                check_ratio(self, "ρ", *rho)
            }
            Recipe::CapRemove { remove, .. } => check_rate(self, "remove", *remove),
            Recipe::Aggan(d) => match d {
                PaperDataset::Cells => Err(Error::invalid(
                    OP,
                    format!("{self}: AGGAN lists counts for mnist, fashion-mnist, cifar10 and svhn only"),
                )),
                _ => Ok(()),
            },
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
                let table: &[usize] = match d {
                    PaperDataset::FashionMnist => &BAGAN_GP_FASHION_MNIST,
                    PaperDataset::Cifar10 => &BAGAN_GP_CIFAR10,
                    PaperDataset::Cells => &BAGAN_GP_CELLS,
                    _ => {
                        return Err(Error::invalid(
                            OP,
                            format!("{self}: BAGAN-GP prints tables for fashion-mnist, cifar10 and cells only"),
                        ))
                    }
                };
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
                let table: &[usize] = match d {
                    PaperDataset::Mnist | PaperDataset::FashionMnist => &AGGAN_MNIST,
                    PaperDataset::Cifar10 | PaperDataset::Svhn => &AGGAN_CIFAR10,
                    PaperDataset::Cells => {
                        return Err(Error::invalid(
                            OP,
                            format!("{self}: AGGAN lists counts for mnist, fashion-mnist, cifar10 and svhn only"),
                        ))
                    }
                };
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

/// A balanced subset: `per_class` images of every class 0..K, K = the largest
/// label + 1, drawn from `seed` as [`Recipe::select`] draws them. Sorted
/// indices. Errors when a class has fewer than `per_class` images (a class
/// between 0 and the largest label with no image at all included), when
/// `per_class` is 0, or when `labels` is empty.
pub fn balanced(labels: &[u32], per_class: usize, seed: u64) -> Result<Vec<usize>> {
    let Some(&max) = labels.iter().max() else {
        return Err(Error::invalid("balanced subset", "there are no labels"));
    };
    if per_class == 0 {
        return Err(Error::invalid("balanced subset", "per_class must be at least 1"));
    }
    let k = max as usize + 1;
    let by_class = group_by_class(labels, k)?;
    for (c, idx) in by_class.iter().enumerate() {
        if idx.len() < per_class {
            return Err(Error::invalid(
                "balanced subset",
                format!(
                    "class {c} has {} images but {per_class} per class were asked",
                    idx.len()
                ),
            ));
        }
    }
    Ok(draw(by_class, &vec![per_class; k], seed))
}

/// The number of images of each class 0..`num_classes` in `labels`. Errors for
/// a label ≥ `num_classes`.
pub fn class_counts(labels: &[u32], num_classes: usize) -> Result<Vec<usize>> {
    let mut c = vec![0; num_classes];
    for (i, &l) in labels.iter().enumerate() {
        let Some(slot) = c.get_mut(l as usize) else {
            return Err(Error::invalid(
                OP,
                format!("label {l} of image {i} is not below the {num_classes} classes"),
            ));
        };
        *slot += 1;
    }
    Ok(c)
}

/// The imbalance ratio max_c N_c / min_c N_c over the classes with at least one
/// image; 0 when no class has any (1 for a balanced set).
pub fn imbalance_ratio(counts: &[usize]) -> f64 {
    let nonzero = counts.iter().copied().filter(|&n| n > 0);
    match (nonzero.clone().max(), nonzero.min()) {
        (Some(max), Some(min)) => max as f64 / min as f64,
        _ => 0.0,
    }
}

/// A markdown table of per-class counts with each class's share of the total,
/// followed by the total and the imbalance ratio ([`imbalance_ratio`], classes
/// with no image left out). `names[c]` names class c; missing names are
/// replaced by the class index.
pub fn counts_table(names: &[&str], counts: &[usize]) -> String {
    let total: usize = counts.iter().sum();
    let mut s = String::from("| class | name | images | share |\n|---:|---|---:|---:|\n");
    for (c, &n) in counts.iter().enumerate() {
        let name = names.get(c).map(|s| s.to_string()).unwrap_or_else(|| c.to_string());
        let share = if total == 0 {
            0.0
        } else {
            100.0 * n as f64 / total as f64
        };
        s.push_str(&format!("| {c} | {name} | {n} | {share:.2} % |\n"));
    }
    s.push_str(&format!(
        "\ntotal {total} images, imbalance ratio {:.2}\n",
        imbalance_ratio(counts)
    ));
    s
}

fn group_by_class(labels: &[u32], num_classes: usize) -> Result<Vec<Vec<usize>>> {
    let counts = class_counts(labels, num_classes)?;
    let mut by_class: Vec<Vec<usize>> = counts.iter().map(|&n| Vec::with_capacity(n)).collect();
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    Ok(by_class)
}

/// Keeps `counts[c]` indices of each class: the first ones of a Fisher–Yates
/// shuffle seeded per class (only the first `counts[c]` positions are drawn).
fn draw(by_class: Vec<Vec<usize>>, counts: &[usize], seed: u64) -> Vec<usize> {
    let mut kept = Vec::with_capacity(counts.iter().sum());
    for (c, mut idx) in by_class.into_iter().enumerate() {
        let want = counts[c];
        if want < idx.len() {
            let mut rng = HostRng::new(seed ^ (c as u64 + 1).wrapping_mul(GOLDEN_GAMMA));
            kept.extend(rng.choose(idx.len(), want).into_iter().map(|i| idx[i]));
        } else {
            kept.append(&mut idx);
        }
    }
    kept.sort_unstable();
    kept
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

fn join_classes(classes: &[u32]) -> String {
    classes.iter().map(u32::to_string).collect::<Vec<_>>().join("+")
}

impl fmt::Display for Recipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipe::Full => write!(f, "none"),
            Recipe::Ir { ratio } => write!(f, "ir:{ratio}"),
            Recipe::Counts(c) => {
                let list: Vec<String> = c.iter().map(usize::to_string).collect();
                write!(f, "counts:{}", list.join(","))
            }
            Recipe::BaganGp(d) => write!(f, "bagan-gp:{d}"),
            Recipe::Step {
                mu,
                rho,
                majority,
                minority,
            } => {
                write!(f, "step:mu={mu},rho={rho}")?;
                if let Some(n) = majority {
                    write!(f, ",n={n}")?;
                }
                if let Some(m) = minority {
                    write!(f, ",minority={}", join_classes(m))?;
                }
                Ok(())
            }
            Recipe::CapRemove { class, remove, cap } => write!(f, "cs-acgan:class={class},remove={remove},cap={cap}"),
            Recipe::Aggan(d) => write!(f, "aggan:{d}"),
            Recipe::AgganPair { positive, negative, ir } => write!(f, "aggan-pair:{positive},{negative},ir={ir}"),
            Recipe::Discard { classes, rate } => write!(f, "discard:class={},rate={rate}", join_classes(classes)),
        }
    }
}

const FORMS: &str = "expected none, ir:R, counts:N0,N1,..., bagan-gp:DATASET, step:mu=M,rho=R[,n=N][,minority=C+C], \
                     cs-acgan:class=C,remove=F[,cap=N], aggan:DATASET, aggan-pair:POS,NEG,ir=R or discard:class=C[+C],rate=F";

fn bad(s: &str, why: impl fmt::Display) -> Error {
    Error::invalid(OP, format!("cannot parse '{s}': {why}; {FORMS}"))
}

fn parse_num<T: FromStr>(s: &str, what: &str, v: &str) -> Result<T> {
    v.trim()
        .parse()
        .map_err(|_| bad(s, format!("{what} '{v}' is not a valid number")))
}

/// A fraction, or a percentage with a trailing `%`.
fn parse_rate(s: &str, what: &str, v: &str) -> Result<f64> {
    match v.trim().strip_suffix('%') {
        Some(p) => Ok(parse_num::<f64>(s, what, p)? / 100.0),
        None => parse_num(s, what, v),
    }
}

fn parse_classes(s: &str, v: &str) -> Result<Vec<u32>> {
    v.split('+').map(|c| parse_num(s, "class", c)).collect()
}

/// Splits `k=v,k=v` into pairs, rejecting unknown and repeated keys.
fn key_values<'a>(s: &str, body: &'a str, allowed: &[&str]) -> Result<Vec<(&'a str, &'a str)>> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for part in body.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            return Err(bad(s, format!("'{part}' is not key=value")));
        };
        let k = k.trim();
        if !allowed.contains(&k) {
            return Err(bad(s, format!("unknown key '{k}' (allowed: {})", allowed.join(", "))));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(bad(s, format!("key '{k}' is given twice")));
        }
        out.push((k, v.trim()));
    }
    Ok(out)
}

fn required<'a>(s: &str, kv: &[(&str, &'a str)], key: &str) -> Result<&'a str> {
    kv.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .ok_or_else(|| bad(s, format!("missing '{key}='")))
}

fn optional<'a>(kv: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    kv.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

impl FromStr for Recipe {
    type Err = Error;

    /// Parses the command-line forms of the module documentation. Only the
    /// syntax is checked here; the numbers are checked against the data by
    /// [`Recipe::counts`].
    fn from_str(s: &str) -> Result<Recipe> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("full") {
            return Ok(Recipe::Full);
        }
        let Some((kind, body)) = t.split_once(':') else {
            return Err(bad(s, "missing ':'"));
        };
        let body = body.trim();
        match kind.trim().to_ascii_lowercase().as_str() {
            "ir" => Ok(Recipe::Ir {
                ratio: parse_num(s, "IR", body)?,
            }),
            "counts" => Ok(Recipe::Counts(
                body.split(',')
                    .map(|n| parse_num(s, "count", n))
                    .collect::<Result<_>>()?,
            )),
            "bagan-gp" => Ok(Recipe::BaganGp(PaperDataset::parse(body)?)),
            "aggan" => Ok(Recipe::Aggan(PaperDataset::parse(body)?)),
            "step" => {
                let kv = key_values(s, body, &["mu", "rho", "n", "minority"])?;
                Ok(Recipe::Step {
                    mu: parse_num(s, "mu", required(s, &kv, "mu")?)?,
                    rho: parse_num(s, "rho", required(s, &kv, "rho")?)?,
                    majority: optional(&kv, "n").map(|v| parse_num(s, "n", v)).transpose()?,
                    minority: optional(&kv, "minority").map(|v| parse_classes(s, v)).transpose()?,
                })
            }
            "cs-acgan" => {
                let kv = key_values(s, body, &["class", "remove", "cap"])?;
                Ok(Recipe::CapRemove {
                    class: optional(&kv, "class").map_or(Ok(0), |v| parse_num(s, "class", v))?,
                    remove: parse_rate(s, "remove", required(s, &kv, "remove")?)?,
                    cap: optional(&kv, "cap").map_or(Ok(5000), |v| parse_num(s, "cap", v))?,
                })
            }
            "aggan-pair" => {
                let parts: Vec<&str> = body.split(',').collect();
                if parts.len() != 3 {
                    return Err(bad(s, "aggan-pair takes POS,NEG,ir=R"));
                }
                let kv = key_values(s, parts[2], &["ir"])?;
                Ok(Recipe::AgganPair {
                    positive: parse_num(s, "positive class", parts[0])?,
                    negative: parse_num(s, "negative class", parts[1])?,
                    ir: parse_num(s, "ir", required(s, &kv, "ir")?)?,
                })
            }
            "discard" => {
                let kv = key_values(s, body, &["class", "rate"])?;
                Ok(Recipe::Discard {
                    classes: optional(&kv, "class").map_or(Ok(vec![0]), |v| parse_classes(s, v))?,
                    rate: parse_rate(s, "rate", required(s, &kv, "rate")?)?,
                })
            }
            other => Err(bad(s, format!("unknown recipe '{other}'"))),
        }
    }
}
