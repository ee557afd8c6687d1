//! MNIST from a folder the user gives: the same IDX files as Fashion-MNIST
//! (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-…`, each
//! plain or gzipped), in the folder or in its `mnist` sub-folder. No Debian
//! package ships MNIST, so there is no default place.

use std::path::Path;

use super::dataset::{Dataset, Split};
use super::fashion_mnist::{files_in, prefix};
use super::idx::load_idx;
use crate::error::{Error, Result};

/// The ten digit class names, by label.
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Loads MNIST's `split` (60,000 training or 10,000 test images of 1×28×28)
/// from `dir` or `dir/mnist`.
pub fn mnist(split: Split, dir: &Path) -> Result<Dataset> {
    for d in [dir.to_path_buf(), dir.join("mnist")] {
        if let Some((images, labels)) = files_in(&d, split) {
            return Ok(load_idx(&images, &labels, Some(&MNIST_CLASSES))?.with_name(format!("mnist {split}")));
        }
    }
    let p = prefix(split);
    Err(Error::Io {
        path: format!("{}, {}", dir.display(), dir.join("mnist").display()),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "MNIST {split} files ({p}-images-idx3-ubyte[.gz], {p}-labels-idx1-ubyte[.gz]) not found there; \
                 download the four IDX files of MNIST and pass their folder with --data"
            ),
        ),
    })
}
