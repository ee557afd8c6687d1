//! Fashion-MNIST without flags: found in an explicit folder, then under the
//! `BALGAN_DATA` environment variable, then where the Debian package
//! `dataset-fashion-mnist` installs it (`/usr/share/datasets/fashion-mnist`).

use std::path::{Path, PathBuf};

use super::dataset::{Dataset, Split};
use super::idx::load_idx;
use crate::error::{Error, Result};

/// Where the Debian package `dataset-fashion-mnist` installs the files.
pub const FASHION_MNIST_DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The environment variable naming a data folder (the files directly in it, or
/// in its `fashion-mnist` sub-folder).
pub const DATA_ENV: &str = "BALGAN_DATA";

/// The ten Fashion-MNIST class names, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

pub(crate) fn prefix(split: Split) -> &'static str {
    match split {
        Split::Train => "train",
        Split::Test => "t10k",
    }
}

/// The image and label files of `split` in `dir`, gzipped (`.gz`) or not, if
/// both are there.
pub(crate) fn files_in(dir: &Path, split: Split) -> Option<(PathBuf, PathBuf)> {
    let p = prefix(split);
    let find = |stem: String| {
        [format!("{stem}.gz"), stem]
            .into_iter()
            .map(|n| dir.join(n))
            .find(|f| f.is_file())
    };
    Some((
        find(format!("{p}-images-idx3-ubyte"))?,
        find(format!("{p}-labels-idx1-ubyte"))?,
    ))
}

/// Finds the image and label files of `split`.
///
/// Looks in `path` when given (the folder itself or its `fashion-mnist`
/// sub-folder; nothing else is tried then), else in `$BALGAN_DATA` (likewise),
/// else in [`FASHION_MNIST_DEBIAN_DIR`]. The error lists every place tried
/// and how to get the data.
pub fn locate_fashion_mnist(split: Split, path: Option<&Path>) -> Result<(PathBuf, PathBuf)> {
    let mut tried: Vec<PathBuf> = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    match path {
        Some(p) => {
            candidates.push(p.to_path_buf());
            candidates.push(p.join("fashion-mnist"));
        }
        None => {
            if let Some(env) = std::env::var_os(DATA_ENV).filter(|v| !v.is_empty()) {
                let p = PathBuf::from(env);
                candidates.push(p.clone());
                candidates.push(p.join("fashion-mnist"));
            }
            candidates.push(PathBuf::from(FASHION_MNIST_DEBIAN_DIR));
        }
    }
    for dir in candidates {
        if let Some(found) = files_in(&dir, split) {
            return Ok(found);
        }
        tried.push(dir);
    }
    let p = prefix(split);
    let list: Vec<String> = tried.iter().map(|d| d.display().to_string()).collect();
    Err(Error::Io {
        path: list.join(", "),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "Fashion-MNIST {split} files ({p}-images-idx3-ubyte[.gz], {p}-labels-idx1-ubyte[.gz]) not found there; \
                 install them with `sudo apt-get install dataset-fashion-mnist`, or pass the folder holding them \
                 with --data, or set {DATA_ENV} to it"
            ),
        ),
    })
}

/// Loads Fashion-MNIST's `split` (60,000 training or 10,000 test images of
/// 1×28×28) from the place [`locate_fashion_mnist`] finds.
pub fn fashion_mnist(split: Split, path: Option<&Path>) -> Result<Dataset> {
    let (images, labels) = locate_fashion_mnist(split, path)?;
    Ok(load_idx(&images, &labels, Some(&FASHION_MNIST_CLASSES))?.with_name(format!("fashion-mnist {split}")))
}
