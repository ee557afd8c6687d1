//! Reading NumPy `.npy` and `.npz` files, so that features (or statistics)
//! computed by other tools can be fed to [`super::fid`].
//!
//! * `.npy` (format versions 1.0, 2.0 and 3.0): magic `\x93NUMPY`, version,
//!   header length (u16 little-endian for 1.0, u32 for 2.0/3.0), an ASCII
//!   Python dict `{'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }`,
//!   then the data. Supported: little-endian f32 (`<f4`) and f64 (`<f8`) arrays
//!   of rank 0, 1 or 2 in C order. Fortran order, other dtypes, big-endian data,
//!   higher ranks and truncated data are errors naming the file.
//! * `.npz`: a zip archive of `.npy` members, as written by `np.savez`. Members
//!   this reader cannot hold (integer or other dtypes, rank above 2, Fortran
//!   order: labels and images saved beside the features) are skipped, not an
//!   error: [`parse_npz_members`] says which and why. Only
//!   **stored** (uncompressed) members are read — the zip reader is a small
//!   hand-written one, no dependency; members of `np.savez_compressed` files
//!   (deflate) are an error that says to re-save with `np.savez`. ZIP64 size and
//!   offset fields (numpy writes them for large arrays) are understood. CRCs are
//!   not checked.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use crate::Device;

/// Element type of an array on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyDtype {
    /// `<f4`, little-endian IEEE binary32.
    F32,
    /// `<f8`, little-endian IEEE binary64.
    F64,
}

/// An array read from a `.npy` file (or an `.npz` member).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape as stored ([] for a scalar).
    pub shape: Vec<usize>,
    /// The dtype on disk.
    pub dtype: NpyDtype,
    /// The values in C (row-major) order, widened to f64 (lossless for f32).
    pub data: Vec<f64>,
}

impl NpyArray {
    /// The values rounded to f32.
    pub fn to_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }

    /// An f32 tensor of the same shape on `dev` (a scalar becomes shape `[1]`).
    pub fn to_tensor(&self, dev: &Device) -> Result<Tensor> {
        let shape = if self.shape.is_empty() {
            vec![1]
        } else {
            self.shape.clone()
        };
        Tensor::from_slice(dev, &self.to_f32(), &shape)
    }
}

fn bad(name: &str, message: impl std::fmt::Display) -> Error {
    Error::invalid("npy", format!("{name}: {message}"))
}

fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::io(path, source))
}

/// Reads a `.npy` file (see the module documentation for what is supported).
pub fn read_npy(path: impl AsRef<std::path::Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    parse_npy(&read_file(path)?, &path.display().to_string())
}

/// Value of `'key':` in the header dict, up to the next top-level comma.
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[start + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    if rest.starts_with('(') {
        let end = rest.find(')')?;
        Some(&rest[..=end])
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim())
    }
}

/// Parses the bytes of a `.npy` file; `name` (a path) appears in errors.
pub fn parse_npy(bytes: &[u8], name: &str) -> Result<NpyArray> {
    parse_npy_or_unsupported(bytes, name)?.map_err(|why| bad(name, why))
}

/// [`parse_npy`], with a well-formed array of a kind this reader does not hold
/// (dtype, Fortran order, rank) as `Ok(Err(why))`; corrupt or truncated files
/// are `Err`.
fn parse_npy_or_unsupported(bytes: &[u8], name: &str) -> Result<std::result::Result<NpyArray, String>> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad(name, "not a .npy file (no \\x93NUMPY magic) or truncated"));
    }
    let major = bytes[6];
    let (hlen, hstart) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad(name, "truncated header"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(bad(name, format!("unsupported .npy format version {v}"))),
    };
    let Some(header) = bytes.get(hstart..hstart + hlen) else {
        return Err(bad(
            name,
            format!("truncated header ({} of {hlen} bytes)", bytes.len() - hstart),
        ));
    };
    let header = std::str::from_utf8(header).map_err(|_| bad(name, "header is not text"))?;
    let descr = header_value(header, "descr").ok_or_else(|| bad(name, format!("no 'descr' in header {header}")))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let dtype = match descr {
        "<f4" => NpyDtype::F32,
        "<f8" => NpyDtype::F64,
        other => {
            return Ok(Err(format!(
                "unsupported dtype '{other}': only little-endian float32 '<f4' and float64 '<f8' are read"
            )))
        }
    };
    let fortran = header_value(header, "fortran_order")
        .ok_or_else(|| bad(name, format!("no 'fortran_order' in header {header}")))?;
    match fortran {
        "False" => {}
        "True" => {
            return Ok(Err(
                "Fortran-order array: save it in C order (np.ascontiguousarray) first".into(),
            ))
        }
        other => return Err(bad(name, format!("bad fortran_order value '{other}'"))),
    }
    let shape_txt = header_value(header, "shape").ok_or_else(|| bad(name, format!("no 'shape' in header {header}")))?;
    let inner = shape_txt
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| bad(name, format!("bad shape {shape_txt}")))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| bad(name, format!("bad shape {shape_txt}")))?;
    if shape.len() > 2 {
        return Ok(Err(format!(
            "rank-{} array {shape:?}: only rank 0, 1 and 2 are read",
            shape.len()
        )));
    }
    let count = shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
    let size = match dtype {
        NpyDtype::F32 => 4,
        NpyDtype::F64 => 8,
    };
    let need = count
        .and_then(|c| c.checked_mul(size))
        .ok_or_else(|| bad(name, format!("shape {shape:?} too large")))?;
    let body = &bytes[hstart + hlen..];
    if body.len() < need {
        return Err(bad(
            name,
            format!(
                "truncated data: shape {shape:?} needs {need} bytes, the file holds {}",
                body.len()
            ),
        ));
    }
    let body = &body[..need];
    let data = match dtype {
        NpyDtype::F32 => body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        NpyDtype::F64 => body
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    };
    Ok(Ok(NpyArray { shape, dtype, data }))
}

/// Reads every member of a `.npz` file this reader can hold, in archive order,
/// named without the `.npy` suffix (numpy's keys). Members of other dtypes,
/// ranks or order are skipped ([`read_npz_members`] lists them).
pub fn read_npz(path: impl AsRef<std::path::Path>) -> Result<Vec<(String, NpyArray)>> {
    let path = path.as_ref();
    parse_npz(&read_file(path)?, &path.display().to_string())
}

/// Every member of a `.npz` file, in archive order: the array, or why this
/// reader does not hold it (dtype, rank, Fortran order). A corrupt archive or
/// member is an error.
pub fn read_npz_members(path: impl AsRef<std::path::Path>) -> Result<Vec<NpzMember>> {
    let path = path.as_ref();
    parse_npz_members(&read_file(path)?, &path.display().to_string())
}

/// One member of a `.npz` archive, named without the `.npy` suffix.
#[derive(Debug, Clone, PartialEq)]
pub struct NpzMember {
    /// numpy's key (the member's file name without `.npy`).
    pub name: String,
    /// The array, or why it is not read (e.g. "unsupported dtype '<i8' …").
    pub array: std::result::Result<NpyArray, String>,
}

fn le16(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at.checked_add(2)?)
        .map(|s| u16::from_le_bytes([s[0], s[1]]) as u64)
}
fn le32(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at.checked_add(4)?)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as u64)
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at.checked_add(8)?)
        .map(|s| u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]))
}

/// Parses the bytes of a `.npz` (zip) archive; `name` appears in errors.
/// Members this reader does not hold are skipped (see [`parse_npz_members`]).
pub fn parse_npz(bytes: &[u8], name: &str) -> Result<Vec<(String, NpyArray)>> {
    Ok(parse_npz_members(bytes, name)?
        .into_iter()
        .filter_map(|m| m.array.ok().map(|a| (m.name, a)))
        .collect())
}

/// Parses the bytes of a `.npz` (zip) archive into all of its members.
pub fn parse_npz_members(bytes: &[u8], name: &str) -> Result<Vec<NpzMember>> {
    let trunc = || bad(name, "truncated or corrupt zip archive");
    // End of central directory: 22 bytes + a comment of up to 65,535 bytes.
    let lo = bytes.len().saturating_sub(22 + 65_535);
    let eocd = (lo..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| {
            bad(
                name,
                "not a zip archive (no end-of-central-directory record) or truncated",
            )
        })?;
    let mut entries = le16(bytes, eocd + 10).ok_or_else(trunc)?;
    let mut cd_offset = le32(bytes, eocd + 16).ok_or_else(trunc)?;
    if entries == 0xFFFF || cd_offset == 0xFFFF_FFFF {
        // ZIP64: the locator sits just before the EOCD and points at the ZIP64 EOCD.
        let loc = eocd.checked_sub(20).ok_or_else(trunc)?;
        if le32(bytes, loc) != Some(0x0706_4b50) {
            return Err(trunc());
        }
        let z = le64(bytes, loc + 8).ok_or_else(trunc)? as usize;
        if le32(bytes, z) != Some(0x0606_4b50) {
            return Err(trunc());
        }
        entries = le64(bytes, z + 32).ok_or_else(trunc)?;
        cd_offset = le64(bytes, z + 48).ok_or_else(trunc)?;
    }
    let mut out = Vec::new();
    let mut p = cd_offset as usize;
    for _ in 0..entries {
        if le32(bytes, p) != Some(0x0201_4b50) {
            return Err(trunc());
        }
        let method = le16(bytes, p + 10).ok_or_else(trunc)?;
        let mut csize = le32(bytes, p + 20).ok_or_else(trunc)?;
        let mut usize_ = le32(bytes, p + 24).ok_or_else(trunc)?;
        let nlen = le16(bytes, p + 28).ok_or_else(trunc)? as usize;
        let xlen = le16(bytes, p + 30).ok_or_else(trunc)? as usize;
        let clen = le16(bytes, p + 32).ok_or_else(trunc)? as usize;
        let mut local = le32(bytes, p + 42).ok_or_else(trunc)?;
        let fname = bytes.get(p + 46..p + 46 + nlen).ok_or_else(trunc)?;
        let fname = String::from_utf8_lossy(fname).into_owned();
        // ZIP64 extra field: the 0xFFFFFFFF fields follow in order.
        let extra = bytes.get(p + 46 + nlen..p + 46 + nlen + xlen).ok_or_else(trunc)?;
        let mut q = 0;
        while q + 4 <= extra.len() {
            let id = le16(extra, q).ok_or_else(trunc)?;
            let len = le16(extra, q + 2).ok_or_else(trunc)? as usize;
            if id == 1 {
                let mut r = q + 4;
                for field in [&mut usize_, &mut csize, &mut local] {
                    if *field == 0xFFFF_FFFF {
                        *field = le64(extra, r).ok_or_else(trunc)?;
                        r += 8;
                    }
                }
            }
            q += 4 + len;
        }
        p += 46 + nlen + xlen + clen;
        if method != 0 {
            return Err(bad(
                name,
                format!(
                    "member {fname} is compressed (zip method {method}); only stored members are read: \
                     save with np.savez, not np.savez_compressed"
                ),
            ));
        }
        let l = local as usize;
        if le32(bytes, l) != Some(0x0403_4b50) {
            return Err(trunc());
        }
        let lnlen = le16(bytes, l + 26).ok_or_else(trunc)? as usize;
        let lxlen = le16(bytes, l + 28).ok_or_else(trunc)? as usize;
        let start = l + 30 + lnlen + lxlen;
        let data = usize::try_from(csize)
            .ok()
            .and_then(|c| start.checked_add(c))
            .and_then(|end| bytes.get(start..end))
            .ok_or_else(|| {
                bad(
                    name,
                    format!("member {fname} truncated: needs {csize} bytes at offset {start}"),
                )
            })?;
        let key = fname.strip_suffix(".npy").unwrap_or(&fname).to_string();
        let array = parse_npy_or_unsupported(data, &format!("{name}[{fname}]"))?;
        out.push(NpzMember { name: key, array });
    }
    Ok(out)
}
