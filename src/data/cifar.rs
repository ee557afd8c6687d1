//! CIFAR-10 binary batches (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`).
//!
//! Each file is a sequence of 3073-byte records: one label byte, then 1024 red,
//! 1024 green and 1024 blue bytes of a 32×32 image (row-major planes, which is
//! already the NCHW layout).

use std::path::{Path, PathBuf};

use super::dataset::{Dataset, Split};
use crate::error::{Error, Result};

/// Bytes per CIFAR-10 record: 1 label + 3·32·32 pixels.
pub const CIFAR10_RECORD: usize = 1 + 3 * 32 * 32;

/// The ten CIFAR-10 class names, used when `batches.meta.txt` is absent.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

fn format_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string()),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::io(path, source))
}

/// Reads the class names of a `batches.meta.txt` (one per line, blank lines ignored).
pub fn read_cifar10_meta(path: &Path) -> Result<Vec<String>> {
    let bytes = read(path)?;
    let text = String::from_utf8(bytes).map_err(|_| format_err(path, "class-name file is not UTF-8 text"))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return Err(format_err(path, "class-name file lists no classes"));
    }
    Ok(names)
}

/// Loads CIFAR-10 binary batch files, concatenated in the given order.
///
/// Each file's size must be a non-zero multiple of 3073 bytes and every label
/// byte below the number of `class_names`.
pub fn load_cifar10_batches(files: &[PathBuf], class_names: &[String]) -> Result<Dataset> {
    if files.is_empty() {
        return Err(Error::invalid("cifar10", "no batch files were given"));
    }
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for path in files {
        let bytes = read(path)?;
        if bytes.is_empty() || bytes.len() % CIFAR10_RECORD != 0 {
            return Err(format_err(
                path,
                format!(
                    "not a CIFAR-10 binary batch: {} bytes is not a non-zero multiple of the {CIFAR10_RECORD}-byte record \
                     (truncated or a different format?)",
                    bytes.len()
                ),
            ));
        }
        pixels.reserve(bytes.len() / CIFAR10_RECORD * (CIFAR10_RECORD - 1));
        for (r, rec) in bytes.chunks_exact(CIFAR10_RECORD).enumerate() {
            let l = rec[0];
            if l as usize >= class_names.len() {
                return Err(format_err(
                    path,
                    format!(
                        "record {r} has label {l}, not below the number of classes ({})",
                        class_names.len()
                    ),
                ));
            }
            labels.push(l as u32);
            pixels.extend_from_slice(&rec[1..]);
        }
    }
    let n = labels.len();
    Dataset::from_u8(&pixels, [n, 3, 32, 32], labels, class_names.to_vec())
}

/// Loads the CIFAR-10 training (`data_batch_1.bin` … `data_batch_5.bin`) or test
/// (`test_batch.bin`) split from `dir` (the `cifar-10-batches-bin` folder).
///
/// Class names come from `dir/batches.meta.txt` when present, else the ten
/// standard names.
pub fn cifar10(dir: &Path, split: Split) -> Result<Dataset> {
    if !dir.is_dir() {
        return Err(Error::Io {
            path: dir.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "CIFAR-10 folder not found; pass the 'cifar-10-batches-bin' folder of the binary version",
            ),
        });
    }
    let files: Vec<PathBuf> = match split {
        Split::Train => (1..=5).map(|i| dir.join(format!("data_batch_{i}.bin"))).collect(),
        Split::Test => vec![dir.join("test_batch.bin")],
    };
    if let Some(missing) = files.iter().find(|f| !f.is_file()) {
        return Err(Error::Io {
            path: missing.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "CIFAR-10 {split} file missing; the folder must hold {} (the binary version's \
                     'cifar-10-batches-bin')",
                    match split {
                        Split::Train => "data_batch_1.bin … data_batch_5.bin",
                        Split::Test => "test_batch.bin",
                    }
                ),
            ),
        });
    }
    let meta = dir.join("batches.meta.txt");
    let names = if meta.is_file() {
        read_cifar10_meta(&meta)?
    } else {
        CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect()
    };
    Ok(load_cifar10_batches(&files, &names)?.with_name(format!("cifar10 {split}")))
}
