//! `balgan fid PATH_A PATH_B`: the FID between two sets of features, as
//! `python -m pytorch_fid` is used, so FID computed on features extracted
//! elsewhere (Inception's, for published tables) can be compared.
//!
//! Each path is a `.npy` of raw features `[N, D]`, or a `.npz` holding either
//! `mu` `[D]` and `sigma` `[D, D]` (pytorch-fid's saved statistics) or a
//! feature array (`features`, or the only float array of rank 2). Members the
//! FID does not use (labels, images) are ignored. Image folders need balgan's
//! feature extractor, which is not read here yet: a folder is an error that
//! says how to get features.

use std::path::{Path, PathBuf};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::metrics::fid::{feature_stats, fid_from_stats};
use crate::metrics::npy::{read_npy, read_npz_members, NpyArray};
use crate::tensor::Tensor;

/// Arguments of `balgan fid`.
#[derive(Debug, Clone)]
pub struct FidArgs {
    pub a: PathBuf,
    pub b: PathBuf,
}

/// What one side was read from: its statistics and how they were made.
pub struct Side {
    pub mean: Tensor,
    pub cov: Tensor,
    /// Number of feature rows (None for precomputed statistics).
    pub count: Option<usize>,
    pub dim: usize,
    /// e.g. "features.npy [500, 64]" or "stats.npz mu/sigma".
    pub source: String,
}

/// The result: the FID and both sides.
pub struct FidOutput {
    pub value: f64,
    pub a: Side,
    pub b: Side,
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::invalid("fid", format!("{}: {msg}", path.display()))
}

fn from_features(dev: &Device, path: &Path, arr: &NpyArray, what: &str) -> Result<Side> {
    if arr.shape.len() != 2 {
        return Err(bad(
            path,
            format!("{what} has shape {:?}; features must be [N, D]", arr.shape),
        ));
    }
    let (n, d) = (arr.shape[0], arr.shape[1]);
    if n < 2 || d == 0 {
        return Err(bad(
            path,
            format!("{what} [{n}, {d}]: need at least 2 rows of D ≥ 1 features"),
        ));
    }
    let stats = feature_stats(&arr.to_tensor(dev)?)?;
    Ok(Side {
        mean: stats.mean,
        cov: stats.cov,
        count: Some(n),
        dim: d,
        source: format!("{what} features [{n}, {d}]"),
    })
}

/// Reads one side: a `.npy` of features or a `.npz` of features or `mu`/`sigma`.
pub fn read_side(dev: &Device, path: &Path) -> Result<Side> {
    if path.is_dir() {
        return Err(bad(
            path,
            "an image folder: balgan fid reads features here. Extract features to a .npy [N, D] \
             (or mu/sigma to a .npz, as pytorch_fid --save-stats does) and pass that; \
             `balgan eval --run RUN_DIR` gives per-class FID of a run's images in its own extractor's features",
        ));
    }
    if !path.exists() {
        return Err(bad(path, "no such file"));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    match ext.as_str() {
        "npy" => from_features(dev, path, &read_npy(path)?, &file),
        "npz" => {
            let members = read_npz_members(path)?;
            let get = |key: &str| members.iter().find(|m| m.name == key);
            let usable = |key: &str| -> Result<Option<&NpyArray>> {
                match get(key) {
                    None => Ok(None),
                    Some(m) => m
                        .array
                        .as_ref()
                        .map(Some)
                        .map_err(|why| bad(path, format!("member '{key}': {why}"))),
                }
            };
            if get("mu").is_some() || get("sigma").is_some() {
                let (Some(mu), Some(sigma)) = (usable("mu")?, usable("sigma")?) else {
                    return Err(bad(path, "has one of 'mu' and 'sigma' but not both"));
                };
                let d = mu.data.len();
                if mu.shape.len() > 1 && mu.shape.iter().filter(|&&s| s != 1).count() > 1 {
                    return Err(bad(path, format!("'mu' has shape {:?}; need [D]", mu.shape)));
                }
                if sigma.shape != [d, d] {
                    return Err(bad(
                        path,
                        format!(
                            "'sigma' has shape {:?}; with 'mu' of {d} values it must be [{d}, {d}]",
                            sigma.shape
                        ),
                    ));
                }
                return Ok(Side {
                    mean: Tensor::from_slice(dev, &mu.to_f32(), &[d])?,
                    cov: sigma.to_tensor(dev)?,
                    count: None,
                    dim: d,
                    source: format!("{file} mu/sigma [{d}]"),
                });
            }
            if let Some(f) = usable("features")? {
                return from_features(dev, path, f, &format!("{file}[features]"));
            }
            let rank2: Vec<_> = members
                .iter()
                .filter_map(|m| {
                    m.array
                        .as_ref()
                        .ok()
                        .filter(|a| a.shape.len() == 2)
                        .map(|a| (&m.name, a))
                })
                .collect();
            match rank2.as_slice() {
                [(name, a)] => from_features(dev, path, a, &format!("{file}[{name}]")),
                _ => {
                    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
                    Err(bad(
                        path,
                        format!(
                            "no 'mu' and 'sigma', no 'features' and not exactly one float [N, D] array \
                             among members {names:?}"
                        ),
                    ))
                }
            }
        }
        _ => Err(bad(path, "not a .npy or .npz file (or an image folder)")),
    }
}

/// The FID between the two paths' features or statistics.
pub fn fid_of_paths(dev: &Device, args: &FidArgs) -> Result<FidOutput> {
    let a = read_side(dev, &args.a)?;
    let b = read_side(dev, &args.b)?;
    if a.dim != b.dim {
        return Err(Error::invalid(
            "fid",
            format!(
                "feature dimensions differ: {} has D = {}, {} has D = {}",
                args.a.display(),
                a.dim,
                args.b.display(),
                b.dim
            ),
        ));
    }
    let f = fid_from_stats(&a.mean, &a.cov, &b.mean, &b.cov)?;
    Ok(FidOutput { value: f.value, a, b })
}

/// Prints `FID: <value>` and one line per side.
pub fn fid_command(dev: &Device, args: &FidArgs) -> Result<()> {
    let out = fid_of_paths(dev, args)?;
    println!("FID: {:.6}", out.value);
    for (label, path, side) in [("A", &args.a, &out.a), ("B", &args.b, &out.b)] {
        let n = side.count.map_or("n/a (statistics)".to_string(), |n| n.to_string());
        println!(
            "{label}: {} (N = {n}, D = {}; {})",
            path.display(),
            side.dim,
            side.source
        );
    }
    Ok(())
}
