//! Image grids as 8-bit PNG files: one row per class (or any chosen rows of
//! images), for looking at what a generator makes.
//!
//! Images are [N, C, H, W] floats in [−1, 1] (a tanh generator's range), C = 1
//! (written as a grey PNG) or C = 3 (RGB). Each value v becomes the byte
//!
//! ```text
//! q(v) = round((clamp(v, −1, 1) + 1) · 127.5)      (round half away from zero)
//! ```
//!
//! so −1 → 0, 0 → 128, 1 → 255; NaN becomes 0. The same mapping is used by
//! [`crate::data::export`].
//!
//! Layout: row r of the grid holds the images `rows[r]`, left to right; cell
//! (r, j) has its top-left pixel at (x, y) = (p + j·(W + p), p + r·(H + p)) with
//! p the padding, so the picture is (cols·(W + p) + p) × (rows·(H + p) + p)
//! pixels, cols the longest row. Padding and the cells of shorter rows are
//! black (byte 0).

use std::path::Path;

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The byte q(v) = round((clamp(v, −1, 1) + 1)·127.5) of a value in [−1, 1]
/// (NaN → 0). Evaluated in f64, so the rounding of the f32 value is the exact
/// one (f32 arithmetic would round some values just below a half upwards).
pub fn to_byte(v: f32) -> u8 {
    if v.is_nan() {
        return 0;
    }
    (((v as f64).clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8
}

/// An 8-bit picture: `channels` (1 grey, 3 RGB) interleaved bytes per pixel,
/// rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per pixel: 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// `height · width · channels` bytes, row-major, channels interleaved.
    pub pixels: Vec<u8>,
}

/// Checks `shape` is [N, C, H, W] with C ∈ {1, 3} and `len` values.
pub(crate) fn image_dims(op: &'static str, len: usize, shape: &[usize]) -> Result<(usize, usize, usize, usize)> {
    let &[n, c, h, w] = shape else {
        return Err(Error::invalid(
            op,
            format!("images must be [N, C, H, W], got shape {shape:?}"),
        ));
    };
    if c != 1 && c != 3 {
        return Err(Error::invalid(
            op,
            format!("images must have 1 (grey) or 3 (RGB) channels, got {c}"),
        ));
    }
    if n * c * h * w != len {
        return Err(Error::invalid(
            op,
            format!("shape {shape:?} needs {} values but {len} were given", n * c * h * w),
        ));
    }
    if h == 0 || w == 0 {
        return Err(Error::invalid(op, format!("images of size {h}×{w} are empty")));
    }
    Ok((n, c, h, w))
}

/// Lays out the images `rows` (indices into `images`, one `Vec` per grid row)
/// with `padding` black pixels between and around the cells, as the module
/// documentation describes. `images` is [N, C, H, W] (`shape`) in [−1, 1].
/// Errors for a bad shape, an index ≥ N, or no rows / only empty rows.
pub fn render_grid(images: &[f32], shape: &[usize], rows: &[Vec<usize>], padding: usize) -> Result<GridImage> {
    const OP: &str = "render_grid";
    let (n, c, h, w) = image_dims(OP, images.len(), shape)?;
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    if cols == 0 {
        return Err(Error::invalid(
            OP,
            "the grid has no images (no rows, or only empty rows)",
        ));
    }
    if let Some(&bad) = rows.iter().flatten().find(|&&i| i >= n) {
        return Err(Error::invalid(OP, format!("image index {bad} is not below N = {n}")));
    }
    let width = cols * (w + padding) + padding;
    let height = rows.len() * (h + padding) + padding;
    let (wu, hu) = match (u32::try_from(width), u32::try_from(height)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return Err(Error::invalid(OP, format!("a {width}×{height} picture is too large"))),
    };
    let mut pixels = vec![0u8; width * height * c];
    for (r, row) in rows.iter().enumerate() {
        for (j, &img) in row.iter().enumerate() {
            let (x0, y0) = (padding + j * (w + padding), padding + r * (h + padding));
            for ch in 0..c {
                let plane = &images[(img * c + ch) * h * w..][..h * w];
                for y in 0..h {
                    for x in 0..w {
                        pixels[((y0 + y) * width + x0 + x) * c + ch] = to_byte(plane[y * w + x]);
                    }
                }
            }
        }
    }
    Ok(GridImage {
        width: wu,
        height: hu,
        channels: c,
        pixels,
    })
}

/// Encodes `img` as an 8-bit grey or RGB PNG and writes it to `path`
/// atomically (a temporary file in the same folder, then a rename), creating
/// the parent folders.
pub fn write_png(path: impl AsRef<Path>, img: &GridImage) -> Result<()> {
    let color = if img.channels == 1 {
        ExtendedColorType::L8
    } else {
        ExtendedColorType::Rgb8
    };
    crate::atomic_file::write_atomic(path.as_ref(), |f| {
        PngEncoder::new(f)
            .write_image(&img.pixels, img.width, img.height, color)
            .map_err(std::io::Error::other)
    })
}

/// Renders the grid ([`render_grid`]) and writes it as a PNG ([`write_png`]):
/// `images` [N, C, H, W] (`shape`) in [−1, 1], C = 1 or 3; `rows` one list of
/// image indices per grid row (e.g. a row per class, see [`rows_by_class`]);
/// `padding` black pixels between and around the cells.
pub fn save_grid(
    path: impl AsRef<Path>,
    images: &[f32],
    shape: &[usize],
    rows: &[Vec<usize>],
    padding: usize,
) -> Result<()> {
    write_png(path, &render_grid(images, shape, rows, padding)?)
}

/// [`save_grid`] for images on the GPU (read back once).
pub fn save_grid_tensor(path: impl AsRef<Path>, images: &Tensor, rows: &[Vec<usize>], padding: usize) -> Result<()> {
    save_grid(path, &images.to_vec()?, images.shape(), rows, padding)
}

/// A row per class: row k lists the first `per_row` indices i (in order) with
/// labels\[i\] = k, fewer if the class has fewer images. Labels ≥ num_classes
/// are ignored.
pub fn rows_by_class(labels: &[usize], num_classes: usize, per_row: usize) -> Vec<Vec<usize>> {
    let mut rows = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        if l < num_classes && rows[l].len() < per_row {
            rows[l].push(i);
        }
    }
    rows
}
