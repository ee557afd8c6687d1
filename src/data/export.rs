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

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::grid::{image_dims, render_grid, to_byte, write_png};
use crate::error::{Error, Result};

/// Writes `path` atomically: `write` fills a temporary file next to it
/// (`.<name>.tmp-<pid>-<n>`), which is flushed, synced and renamed onto
/// `path`; on any error the temporary file is removed and `path` is left as
/// it was. Parent folders are created.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| Error::io(path, io::Error::new(io::ErrorKind::InvalidInput, "not a file path")))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> io::Result<()> {
        let mut w = BufWriter::new(File::create(&tmp)?);
        write(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable; not every platform can open a
        // directory, and the data is already safe, so failures are ignored.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Remove the temporary files [`write_atomic`] leaves in `dir` when its
/// process is killed mid-write (`.NAME.tmp-PID-N`): those untouched for ten
/// minutes (a write takes seconds) whose process is no longer running (where
/// `/proc` tells; elsewhere, and for a process of another PID namespace
/// sharing the folder, the age alone decides). Returns what was removed.
pub fn remove_stale_temporaries(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let me = std::process::id();
    let proc_fs = Path::new("/proc/self").exists();
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = temporary_owner(&name) else {
            continue;
        };
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() >= 600);
        let dead = !proc_fs || !Path::new("/proc").join(pid.to_string()).exists();
        let stale = pid != me && old && dead;
        if stale && e.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    removed.sort();
    removed
}

/// The PID in a temporary file name `.NAME.tmp-PID-N`.
fn temporary_owner(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, tail) = name.rsplit_once(".tmp-")?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

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
    pub images: PathBuf,
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
