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
//! [`HostRng::choose`](crate::tensor::HostRng::choose) (the first `counts[c]` positions of a front-to-back
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
//! | `aggan-pair:5,7,ir=100` | [`Recipe::AgganPair`]: AGGAN Table II two-class tasks (POS,NEG: a run has the two classes, negative 0 and positive 1, in training and test; [`Recipe::classes`]) |
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

mod draw;
mod grammar;
mod recipe;
mod tables;

pub use draw::balanced;
pub use recipe::Recipe;
pub use tables::{PaperDataset, AGGAN_CIFAR10, AGGAN_MNIST, BAGAN_GP_CELLS, BAGAN_GP_CIFAR10, BAGAN_GP_FASHION_MNIST};

use crate::error::{Error, Result};

/// The operation named in this module's errors.
const OP: &str = "imbalance recipe";

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
