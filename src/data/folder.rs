//! Image folders: one sub-folder per class, holding PNG, JPEG or BMP files.
//!
//! The class names are the sub-folder names, sorted; within a class the files
//! are read in sorted order, so a folder always loads the same way. Files are
//! decoded by their content; only files named `*.png`, `*.jpg`, `*.jpeg` or
//! `*.bmp` (any case) are read, and hidden files are skipped.
//!
//! Channels follow the data: if every image is grey (stored as grey, or as
//! colour with R = G = B at every pixel) the dataset has 1 channel, otherwise 3
//! and grey images are repeated into R, G and B. Alpha is dropped. Every image is resized to a square of the chosen
//! side with bilinear interpolation as OpenCV's `cv2.resize` default
//! (`INTER_LINEAR`, pixel centres aligned) computes it, on unrounded floats;
//! the aspect ratio is not kept, as in the published pipelines.

use std::path::{Path, PathBuf};

use super::dataset::{scale_pixel, Dataset};
use crate::error::{Error, Result};

/// The side the published models resize every dataset to.
pub const DEFAULT_IMAGE_SIZE: usize = 64;

const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

fn format_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::io(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string()),
    )
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Resizes one `[C, H, W]` plane set of bytes to `[C, size, size]` floats in
/// [-1, 1], bilinear with `cv2.INTER_LINEAR`'s sampling: source coordinate
/// `(d + 0.5)·(src/dst) − 0.5`, clamped to the image.
pub fn resize_bilinear(pixels: &[u8], channels: usize, height: usize, width: usize, size: usize) -> Vec<f32> {
    resize_with(pixels, scale_pixel, channels, height, width, size)
}

/// [`resize_bilinear`] for pixels already in floats (kept in their range).
pub fn resize_bilinear_f32(pixels: &[f32], channels: usize, height: usize, width: usize, size: usize) -> Vec<f32> {
    resize_with(pixels, |v| v, channels, height, width, size)
}

fn resize_with<T: Copy>(
    pixels: &[T],
    value: impl Fn(T) -> f32,
    channels: usize,
    height: usize,
    width: usize,
    size: usize,
) -> Vec<f32> {
    let taps = |src: usize, dst: usize| -> Vec<(usize, usize, f32)> {
        let scale = src as f64 / dst as f64;
        (0..dst)
            .map(|d| {
                let x = ((d as f64 + 0.5) * scale - 0.5).max(0.0);
                let x0 = (x.floor() as usize).min(src - 1);
                let x1 = (x0 + 1).min(src - 1);
                let f = (x - x0 as f64).clamp(0.0, 1.0) as f32;
                (x0, x1, f)
            })
            .collect()
    };
    let ys = taps(height, size);
    let xs = taps(width, size);
    let mut out = Vec::with_capacity(channels * size * size);
    for c in 0..channels {
        let plane = &pixels[c * height * width..(c + 1) * height * width];
        for &(y0, y1, fy) in &ys {
            let r0 = &plane[y0 * width..(y0 + 1) * width];
            let r1 = &plane[y1 * width..(y1 + 1) * width];
            for &(x0, x1, fx) in &xs {
                let top = value(r0[x0]) * (1.0 - fx) + value(r0[x1]) * fx;
                let bottom = value(r1[x0]) * (1.0 - fx) + value(r1[x1]) * fx;
                out.push(top * (1.0 - fy) + bottom * fy);
            }
        }
    }
    out
}

struct Decoded {
    grey: bool,
    /// `[C, H, W]` bytes, C = 1 (grey) or 3.
    planes: Vec<u8>,
    height: usize,
    width: usize,
}

/// Deflate expands at most 1032-fold, so a PNG's filtered rows (at least
/// 1 + ⌈w/8⌉ bytes each, for 1-bit pixels) cannot exceed this many bytes
/// per byte of file (with slack for the fixed chunks).
const PNG_MAX_EXPANSION: u64 = 1100;

/// Rejects a PNG whose header claims more pixels than its file could hold,
/// before the decoder allocates the image (a corrupt or crafted IHDR).
fn check_png_size(path: &Path) -> Result<()> {
    let len = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    let reader = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| format_err(path, format!("unreadable image ({e}); remove or replace the file")))?;
    let min_stream = h as u64 * (1 + (w as u64).div_ceil(8));
    if min_stream > PNG_MAX_EXPANSION * len {
        return Err(format_err(
            path,
            format!(
                "the PNG header claims {w} x {h} pixels, more than a {len}-byte file can hold; \
                 the file is truncated or corrupt: remove or replace it"
            ),
        ));
    }
    Ok(())
}

fn decode(path: &Path) -> Result<Decoded> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    if reader.format() == Some(image::ImageFormat::Png) {
        check_png_size(path)?;
    }
    let img = reader
        .decode()
        .map_err(|e| format_err(path, format!("unreadable image ({e}); remove or replace the file")))?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    if width == 0 || height == 0 {
        return Err(format_err(path, "the image has no pixels"));
    }
    let rgb = img.color().has_color().then(|| img.to_rgb8());
    // Colour types say too little: BMP palettes and some PNGs store grey
    // pixels as RGB. An image is grey when R = G = B everywhere.
    let rgb = rgb.filter(|rgb| rgb.as_raw().chunks_exact(3).any(|p| p[0] != p[1] || p[1] != p[2]));
    if let Some(rgb) = rgb {
        let raw = rgb.as_raw();
        let mut planes = vec![0u8; 3 * height * width];
        for (p, px) in raw.chunks_exact(3).enumerate() {
            for c in 0..3 {
                planes[c * height * width + p] = px[c];
            }
        }
        Ok(Decoded {
            grey: false,
            planes,
            height,
            width,
        })
    } else {
        Ok(Decoded {
            grey: true,
            planes: img.to_luma8().into_raw(),
            height,
            width,
        })
    }
}

/// Loads an image folder (one sub-folder per class) with every image resized
/// to `size`×`size` (use [`DEFAULT_IMAGE_SIZE`] for the published models).
///
/// Fails, naming the path, when `root` has no class sub-folders, when a class
/// folder holds no image files, or when an image cannot be decoded.
pub fn image_folder(root: &Path, size: usize) -> Result<Dataset> {
    if size == 0 {
        return Err(Error::invalid(
            "image_folder",
            "the image size must be at least 1 pixel",
        ));
    }
    if !root.is_dir() {
        return Err(Error::io(
            root,
            std::io::Error::new(std::io::ErrorKind::NotFound, "image folder not found"),
        ));
    }
    let classes: Vec<PathBuf> = sorted_entries(root)?.into_iter().filter(|p| p.is_dir()).collect();
    if classes.is_empty() {
        return Err(format_err(
            root,
            "no class folders: put the images of each class in their own sub-folder (root/CLASS/IMAGE.png)",
        ));
    }
    let mut class_names = Vec::with_capacity(classes.len());
    let mut decoded = Vec::new();
    let mut labels = Vec::new();
    for (k, dir) in classes.iter().enumerate() {
        class_names.push(
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let files: Vec<PathBuf> = sorted_entries(dir)?
            .into_iter()
            .filter(|p| p.is_file() && is_image_name(p))
            .collect();
        if files.is_empty() {
            return Err(format_err(
                dir,
                "empty class folder: it holds no .png, .jpg, .jpeg or .bmp files; add images or remove the folder",
            ));
        }
        for f in files {
            decoded.push(decode(&f)?);
            labels.push(k as u32);
        }
    }
    assemble(root, decoded, labels, class_names, size)
}

/// The images directly inside `dir` (no sub-folders), as one class named
/// after the folder, resized to `size`×`size`: a set of images to measure
/// (`balgan fid`), not a labelled dataset.
pub fn flat_image_folder(dir: &Path, size: usize) -> Result<Dataset> {
    if size == 0 {
        return Err(Error::invalid(
            "image_folder",
            "the image size must be at least 1 pixel",
        ));
    }
    let files: Vec<PathBuf> = sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_file() && is_image_name(p))
        .collect();
    if files.is_empty() {
        return Err(format_err(dir, "no .png, .jpg, .jpeg or .bmp files in the folder"));
    }
    let decoded = files.iter().map(|f| decode(f)).collect::<Result<Vec<_>>>()?;
    let labels = vec![0; decoded.len()];
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    assemble(dir, decoded, labels, vec![name], size)
}

/// Decoded images → one dataset at `size`×`size`: grey when every image is
/// grey, otherwise RGB (grey images repeated over the three channels).
fn assemble(
    root: &Path,
    decoded: Vec<Decoded>,
    labels: Vec<u32>,
    class_names: Vec<String>,
    size: usize,
) -> Result<Dataset> {
    let all_grey = decoded.iter().all(|d| d.grey);
    let channels = if all_grey { 1 } else { 3 };
    super::dataset::check_host_memory(
        &format!("{} images at {size}×{size}", decoded.len()),
        &[decoded.len(), channels, size, size],
        "a smaller --image-size (or --size)",
    )?;
    let mut images = Vec::with_capacity(decoded.len() * channels * size * size);
    for d in decoded {
        let planes = if d.grey && channels == 3 {
            d.planes.repeat(3)
        } else {
            d.planes
        };
        images.extend(resize_bilinear(&planes, channels, d.height, d.width, size));
    }
    let n = labels.len();
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| root.display().to_string());
    Ok(Dataset::new(images, [n, channels, size, size], labels, class_names)?.with_name(name))
}
