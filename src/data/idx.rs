//! IDX files (the MNIST and Fashion-MNIST format), gzipped or not.
//!
//! An IDX file is a big-endian header — the magic number `0x00000803` for
//! 8-bit images of rank 3 (`[N, rows, cols]`), `0x00000804` for colour images
//! of rank 4 (`[N, C, rows, cols]`, as balgan exports RGB sets) or `0x00000801`
//! for 8-bit labels of rank 1 (`[N]`), then one u32 per dimension — followed by exactly the
//! product of the dimensions in bytes. Gzip is detected by its magic bytes
//! (`1f 8b`), not by the file name.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;

use super::dataset::Dataset;
use crate::error::{Error, Result};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 4 dimensions: colour
/// images `[N, C, rows, cols]`, as `data::export` writes RGB sets.
pub const IDX_IMAGES4_MAGIC: u32 = 0x0000_0804;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

fn format_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::io(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string()),
    )
}

/// Opens `path` for reading, decompressing on the fly when it starts with the
/// gzip magic bytes. Returns the reader and whether it was gzipped.
pub(crate) fn open_maybe_gz(path: &Path) -> Result<(Box<dyn Read>, bool)> {
    let mut file = BufReader::new(File::open(path).map_err(|e| Error::io(path, e))?);
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match file.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    let head = std::io::Cursor::new(magic[..got].to_vec());
    let chained = head.chain(file);
    if got == 2 && magic == [0x1f, 0x8b] {
        Ok((Box::new(GzDecoder::new(chained)), true))
    } else {
        Ok((Box::new(chained), false))
    }
}

/// Reads up to `n` bytes; fewer only at the end of the data.
fn read_up_to(path: &Path, r: &mut dyn Read, n: u64, gz: bool) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(n).read_to_end(&mut buf).map_err(|e| {
        if gz {
            format_err(path, format!("the gzip stream is corrupt or truncated ({e})"))
        } else {
            Error::io(path, e)
        }
    })?;
    Ok(buf)
}

/// An IDX file's dimensions and its data bytes.
struct Idx {
    dims: Vec<usize>,
    data: Vec<u8>,
}

/// Reads an IDX file whose magic number is one of `accepts` (magic, rank).
fn read_idx(path: &Path, accepts: &[(u32, usize)], what: &str) -> Result<Idx> {
    let (mut r, gz) = open_maybe_gz(path)?;
    let mut header = read_up_to(path, &mut r, 4, gz)?;
    if header.len() < 4 {
        return Err(format_err(
            path,
            format!(
                "not an IDX {what} file: {} bytes, too short for the 4-byte magic number",
                header.len()
            ),
        ));
    }
    let found = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let Some(&(_, rank)) = accepts.iter().find(|(m, _)| *m == found) else {
        let expected: Vec<String> = accepts.iter().map(|(m, _)| format!("0x{m:08x}")).collect();
        return Err(format_err(
            path,
            format!(
                "not an IDX {what} file: magic number 0x{found:08x}, expected {}{}",
                expected.join(" or "),
                if found == IDX_IMAGES_MAGIC || found == IDX_IMAGES4_MAGIC || found == IDX_LABELS_MAGIC {
                    " (images and labels swapped?)"
                } else {
                    ""
                }
            ),
        ));
    };
    let header_len = 4 + 4 * rank;
    header.extend(read_up_to(path, &mut r, 4 * rank as u64, gz)?);
    if header.len() < header_len {
        return Err(format_err(
            path,
            format!(
                "truncated IDX header: expected {header_len} bytes, got {}{}",
                header.len(),
                if gz { " after decompression" } else { "" }
            ),
        ));
    }
    let dims: Vec<usize> = header[4..]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let body = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&b| b <= (1u64 << 40))
        .ok_or_else(|| format_err(path, format!("IDX dimensions {dims:?} are implausibly large")))?;
    let data = read_up_to(path, &mut r, body + 1, gz)?;
    let suffix = if gz { " (after decompression)" } else { "" };
    let expected = header_len as u64 + body;
    let actual = header_len as u64 + data.len() as u64;
    if (data.len() as u64) < body {
        return Err(format_err(
            path,
            format!("truncated: dimensions {dims:?} need {expected} bytes but the file has {actual}{suffix}"),
        ));
    }
    if data.len() as u64 > body {
        // Count the whole surplus for the message.
        let rest = read_up_to(path, &mut r, u64::MAX, gz)?.len() as u64;
        return Err(format_err(
            path,
            format!(
                "wrong size: dimensions {dims:?} need {expected} bytes but the file has {}{suffix}",
                actual + rest
            ),
        ));
    }
    Ok(Idx { dims, data })
}

/// Reads an IDX image file: returns the pixels and `[N, C, rows, cols]` (C = 1
/// for the rank-3 grey format).
pub fn read_idx_images(path: &Path) -> Result<(Vec<u8>, [usize; 4])> {
    let idx = read_idx(path, &[(IDX_IMAGES_MAGIC, 3), (IDX_IMAGES4_MAGIC, 4)], "images")?;
    let [n, c, h, w] = match idx.dims[..] {
        [n, h, w] => [n, 1, h, w],
        [n, c, h, w] => [n, c, h, w],
        _ => unreachable!("read_idx returns the accepted rank"),
    };
    if h == 0 || w == 0 || c == 0 {
        return Err(format_err(path, format!("images of {c} x {h} x {w} have no pixels")));
    }
    Ok((idx.data, [n, c, h, w]))
}

/// Reads an IDX label file.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>> {
    Ok(read_idx(path, &[(IDX_LABELS_MAGIC, 1)], "labels")?.data)
}

/// Loads an IDX image file and its IDX label file as a dataset (one channel
/// for rank-3 files, C channels for rank-4 ones).
///
/// With `class_names`, every label must be below their number; without, the
/// classes are named `"0"`, `"1"`, … up to the largest label. Fails with a
/// message naming the file for a wrong magic number, a truncated or oversized
/// file, a corrupt gzip stream, or image and label counts that differ.
pub fn load_idx(images: &Path, labels: &Path, class_names: Option<&[&str]>) -> Result<Dataset> {
    let (pixels, [n, c, h, w]) = read_idx_images(images)?;
    let lab = read_idx_labels(labels)?;
    if lab.len() != n {
        return Err(format_err(
            labels,
            format!(
                "{} labels but {} has {n} images; the two files must belong together",
                lab.len(),
                images.display()
            ),
        ));
    }
    let names: Vec<String> = match class_names {
        Some(names) => names.iter().map(|s| s.to_string()).collect(),
        None => {
            let k = lab.iter().copied().max().map_or(1, |m| m as usize + 1);
            (0..k).map(|i| i.to_string()).collect()
        }
    };
    if let Some((i, &l)) = lab.iter().enumerate().find(|(_, &l)| l as usize >= names.len()) {
        return Err(format_err(
            labels,
            format!(
                "label {l} at position {i} is not below the number of classes ({})",
                names.len()
            ),
        ));
    }
    Dataset::from_u8(&pixels, [n, c, h, w], lab.into_iter().map(u32::from).collect(), names)
}
