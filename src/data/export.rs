//! Writing image sets (generated images, rebalanced datasets) to disk in two
//! formats other tools read: IDX files (MNIST's format) and an image folder
//! (one sub-folder per class, as torchvision's `ImageFolder` and Keras'
//! `image_dataset_from_directory` read). Every file is written atomically: to
//! a temporary file in the same folder, flushed and synced, then renamed over
//! the target, so a reader never sees a half-written file.
//!
//! Images are [N, C, H, W] floats in [−1, 1] and become bytes with
//! q(v) = round((clamp(v, −1, 1) + 1)·127.5), as in [`crate::data::grid`].
//!
//! IDX layout (big-endian): the magic number 0x00 0x00 0x08 d (unsigned bytes,
//! d dimensions), then d sizes as u32, then the bytes in row-major order.
//! Grey images (C = 1) are written as idx3 [N, H, W], exactly as MNIST's
//! `*-images-idx3-ubyte`; colour images (C = 3) as idx4 [N, C, H, W]
//! (balgan's channel-first layout). Labels are idx1 \[N\], one byte each.
//! With `gzip` the files are gzip streams (flate2, default level) named with a
//! `.gz` suffix, as the MNIST and Fashion-MNIST downloads are.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::grid::{image_dims, render_grid, to_byte, write_png};
use crate::atomic_file::write_atomic;
use crate::error::{Error, Result};

/// The IDX bytes of unsigned-byte data with the given sizes.
fn idx_bytes(dims: &[usize], data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&[0, 0, 0x08, dims.len() as u8]);
    for &d in dims {
        let d = u32::try_from(d).map_err(|_| Error::invalid("export_idx", format!("size {d} does not fit in u32")))?;
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    Ok(out)
}

fn write_maybe_gz(path: &Path, bytes: &[u8], gzip: bool) -> Result<()> {
    write_atomic(path, |w| {
        if gzip {
            let mut gz = GzEncoder::new(w, Compression::default());
            gz.write_all(bytes)?;
            gz.finish()?;
            Ok(())
        } else {
            w.write_all(bytes)
        }
    })
}

/// The two files [`export_idx`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxFiles {
    /// The images file (`<prefix>-images-idx3-ubyte` or `-idx4-ubyte`, `.gz` when gzipped).
    pub images: PathBuf,
    /// The labels file (`<prefix>-labels-idx1-ubyte`, `.gz` when gzipped).
    pub labels: PathBuf,
}

/// Writes images and labels as IDX files in `dir`:
/// `<prefix>-images-idx3-ubyte` (C = 1, [N, H, W]) or `<prefix>-images-idx4-ubyte`
/// (C = 3, [N, C, H, W]) and `<prefix>-labels-idx1-ubyte` (\[N\]), each with a
/// `.gz` suffix and gzip-compressed when `gzip` is true. `images` is
/// [N, C, H, W] (`shape`) in [−1, 1], mapped to bytes by q(v) (module docs);
/// `labels` has N entries, each below 256. Both files are written atomically.
pub fn export_idx(
    dir: impl AsRef<Path>,
    prefix: &str,
    images: &[f32],
    shape: &[usize],
    labels: &[usize],
    gzip: bool,
) -> Result<IdxFiles> {
    const OP: &str = "export_idx";
    let (n, c, h, w) = image_dims(OP, images.len(), shape)?;
    if labels.len() != n {
        return Err(Error::invalid(OP, format!("{} labels for {n} images", labels.len())));
    }
    let label_bytes = labels
        .iter()
        .map(|&l| u8::try_from(l).map_err(|_| Error::invalid(OP, format!("label {l} does not fit in a byte"))))
        .collect::<Result<Vec<u8>>>()?;
    let pixels: Vec<u8> = images.iter().map(|&v| to_byte(v)).collect();
    let (dims, d): (Vec<usize>, usize) = if c == 1 {
        (vec![n, h, w], 3)
    } else {
        (vec![n, c, h, w], 4)
    };
    let gz = if gzip { ".gz" } else { "" };
    let dir = dir.as_ref();
    let files = IdxFiles {
        images: dir.join(format!("{prefix}-images-idx{d}-ubyte{gz}")),
        labels: dir.join(format!("{prefix}-labels-idx1-ubyte{gz}")),
    };
    write_maybe_gz(&files.images, &idx_bytes(&dims, &pixels)?, gzip)?;
    write_maybe_gz(&files.labels, &idx_bytes(&[n], &label_bytes)?, gzip)?;
    Ok(files)
}

/// Writes images into `root/<class name>/<number>.png`, a folder per class,
/// batch after batch; numbers count up from 0 per class in the order images
/// arrive, zero-padded to 5 digits (so names sort numerically up to 99,999).
/// Every class folder is created up front, so empty classes still appear.
pub struct ImageFolderWriter {
    root: PathBuf,
    class_names: Vec<String>,
    counts: Vec<usize>,
}

impl ImageFolderWriter {
    /// Creates `root` and one sub-folder per class name. Names must be
    /// non-empty single path components (no `/` or `\`, not `.` or `..`) and
    /// distinct.
    pub fn new(root: impl AsRef<Path>, class_names: &[impl AsRef<str>]) -> Result<ImageFolderWriter> {
        const OP: &str = "ImageFolderWriter";
        let root = root.as_ref().to_path_buf();
        let names: Vec<String> = class_names.iter().map(|s| s.as_ref().to_string()).collect();
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
                return Err(Error::invalid(OP, format!("class name {name:?} is not a folder name")));
            }
            if names[..i].contains(name) {
                return Err(Error::invalid(OP, format!("class name {name:?} appears twice")));
            }
        }
        for name in &names {
            let d = root.join(name);
            fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        Ok(ImageFolderWriter {
            counts: vec![0; names.len()],
            class_names: names,
            root,
        })
    }

    /// Writes a batch: `images` [B, C, H, W] (`shape`, C = 1 or 3) in [−1, 1],
    /// `labels` B class indices. Each image becomes a grey or RGB 8-bit PNG
    /// (bytes q(v), module docs), written atomically.
    pub fn write_batch(&mut self, images: &[f32], shape: &[usize], labels: &[usize]) -> Result<()> {
        const OP: &str = "ImageFolderWriter::write_batch";
        let (n, c, h, w) = image_dims(OP, images.len(), shape)?;
        if labels.len() != n {
            return Err(Error::invalid(OP, format!("{} labels for {n} images", labels.len())));
        }
        let k = self.class_names.len();
        if let Some(&bad) = labels.iter().find(|&&l| l >= k) {
            return Err(Error::invalid(
                OP,
                format!("label {bad} is not below the {k} class names"),
            ));
        }
        let per = c * h * w;
        for (i, &l) in labels.iter().enumerate() {
            let img = render_grid(&images[i * per..(i + 1) * per], &[1, c, h, w], &[vec![0]], 0)?;
            let path = self
                .root
                .join(&self.class_names[l])
                .join(format!("{:05}.png", self.counts[l]));
            write_png(&path, &img)?;
            self.counts[l] += 1;
        }
        Ok(())
    }

    /// Images written so far, per class.
    pub fn counts(&self) -> &[usize] {
        &self.counts
    }

    /// The folder of class `k`.
    pub fn class_dir(&self, k: usize) -> PathBuf {
        self.root.join(&self.class_names[k])
    }
}

/// Writes a whole set as an image folder (see [`ImageFolderWriter`]) and
/// returns the number of images per class.
pub fn export_image_folder(
    root: impl AsRef<Path>,
    images: &[f32],
    shape: &[usize],
    labels: &[usize],
    class_names: &[impl AsRef<str>],
) -> Result<Vec<usize>> {
    let mut w = ImageFolderWriter::new(root, class_names)?;
    w.write_batch(images, shape, labels)?;
    Ok(w.counts().to_vec())
}
