//! The published per-class training counts: BAGAN-GP's README tables and
//! AGGAN's Table III, and the datasets they are printed for.

use std::fmt;

use super::OP;
use crate::error::{Error, Result};

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
    /// CelebA as AGGAN splits it (5 classes).
    Celeba,
    /// LSUN as AGGAN splits it (5 classes).
    Lsun,
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
            PaperDataset::Celeba => "celeba",
            PaperDataset::Lsun => "lsun",
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
            "celeba" => Ok(PaperDataset::Celeba),
            "lsun" => Ok(PaperDataset::Lsun),
            other => Err(Error::invalid(
                OP,
                format!(
                    "unknown dataset '{other}'; expected mnist, fashion-mnist, cifar10, svhn, cells, celeba or lsun"
                ),
            )),
        }
    }
}

impl PaperDataset {
    /// The per-class training counts BAGAN-GP's README prints for this
    /// dataset ([`Recipe::BaganGp`](super::Recipe::BaganGp)); `None` where it
    /// prints none (MNIST, SVHN).
    pub fn bagan_gp_counts(self) -> Option<&'static [usize]> {
        match self {
            PaperDataset::FashionMnist => Some(&BAGAN_GP_FASHION_MNIST),
            PaperDataset::Cifar10 => Some(&BAGAN_GP_CIFAR10),
            PaperDataset::Cells => Some(&BAGAN_GP_CELLS),
            PaperDataset::Mnist | PaperDataset::Svhn | PaperDataset::Celeba | PaperDataset::Lsun => None,
        }
    }

    /// AGGAN Table III's per-class training counts for this dataset
    /// ([`Recipe::Aggan`](super::Recipe::Aggan)); `None` for the cells.
    pub fn aggan_counts(self) -> Option<&'static [usize]> {
        match self {
            PaperDataset::Mnist | PaperDataset::FashionMnist => Some(&AGGAN_MNIST),
            PaperDataset::Cifar10 | PaperDataset::Svhn => Some(&AGGAN_CIFAR10),
            PaperDataset::Celeba | PaperDataset::Lsun => Some(&AGGAN_CELEBA),
            PaperDataset::Cells => None,
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
/// AGGAN Table III, CelebA and LSUN training counts (5 classes, IR 100).
pub const AGGAN_CELEBA: [usize; 5] = [15000, 1500, 750, 300, 150];
