//! `balgan fid PATH_A PATH_B`: the FID between two sets of features, as
//! `python -m pytorch_fid` is used, so FID computed on features extracted
//! elsewhere (Inception's, for published tables) can be compared.
//!
//! Each path is a `.npy` of raw features `[N, D]`, or a `.npz` holding either
//! `mu` `[D]` and `sigma` `[D, D]` (pytorch-fid's saved statistics) or a
//! feature array (`features`, or the only float array of rank 2). Members the
//! FID does not use (labels, images) are ignored. An image folder (one
//! sub-folder per class, as `balgan generate` writes) is passed through
//! balgan's feature extractor: a saved one (`--extractor FILE`, as `balgan
//! eval` caches it in `RUN/eval/`) or the one cached in a run (`--run RUN`);
//! its file name and a fingerprint of its bytes are printed.

use std::path::{Path, PathBuf};

use crate::cli::eval::fnv1a64;
use crate::cli::run::RunDir;
use crate::data::folder::{flat_image_folder, image_folder};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::metrics::classifier::Classifier;
use crate::metrics::evaluate::features;
use crate::metrics::fid::{feature_stats, fid_from_stats};
use crate::metrics::npy::{read_npy, read_npz_members, NpyArray};
use crate::nn::{self, Checkpoint, Module};
use crate::tensor::{Generator, Tensor};

/// Arguments of `balgan fid`.
#[derive(Debug, Clone)]
pub struct FidArgs {
    /// `PATH_A`: the first side, a `.npy` or `.npz` file or an image folder.
    pub a: PathBuf,
    /// `PATH_B`: the second side, of the same feature dimension D.
    pub b: PathBuf,
    /// A saved feature extractor, for image folders.
    pub extractor: Option<PathBuf>,
    /// A run whose cached extractor (`RUN/eval/extractor-*.safetensors`) reads image folders.
    pub run: Option<PathBuf>,
    /// Side of the square images are resized to (default: the run's, else 32).
    pub image_size: Option<usize>,
}

/// A loaded feature extractor and how it is named in the output.
pub struct Extractor {
    /// The classifier network, in evaluation mode, whose pooled features FID is measured in.
    pub classifier: Classifier,
    /// "FILE (fingerprint 0123456789abcdef, width w, c channels)".
    pub name: String,
    /// Side the images of folders are resized to (`--image-size`, else the run's, else 32).
    pub image_size: usize,
    /// Image channels it reads.
    pub channels: usize,
}

/// The extractor for image folders: `--extractor`, else the one `balgan eval`
/// cached in `--run`'s `eval/` folder.
pub fn load_extractor(dev: &Device, args: &FidArgs) -> Result<Extractor> {
    let mut image_size = args.image_size;
    let path = match (&args.extractor, &args.run) {
        (Some(p), _) => p.clone(),
        (None, Some(run)) => {
            let run = RunDir::open(run)?;
            if image_size.is_none() {
                image_size = Some(run.read_config()?.data.image_size);
            }
            let dir = run.root.join("eval");
            let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map(|r| {
                    r.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| {
                            p.file_name()
                                .and_then(|f| f.to_str())
                                .is_some_and(|f| f.starts_with("extractor-") && f.ends_with(".safetensors"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            match found.len() {
                1 => found.remove(0),
                0 => {
                    return Err(Error::invalid(
                        "fid",
                        format!(
                        "{} holds no feature extractor: run `balgan eval --run {}` first (it trains and caches one)",
                        dir.display(),
                        run.root.display()
                    ),
                    ))
                }
                _ => {
                    return Err(Error::invalid(
                        "fid",
                        format!(
                            "{} holds several extractors {found:?}: pick one with --extractor",
                            dir.display()
                        ),
                    ))
                }
            }
        }
        (None, None) => {
            return Err(Error::invalid(
                "fid",
                "an image folder needs balgan's feature extractor: pass --run RUN (after `balgan eval --run RUN`, \
                 which caches one in RUN/eval/) or --extractor RUN/eval/extractor-….safetensors; or pass \
                 features as a .npy/.npz instead",
            ))
        }
    };
    let ckpt = Checkpoint::open(&path)?;
    let (stem, _) = ckpt.values("stem.conv.weight")?;
    let (head, _) = ckpt.values("head.bias")?;
    if stem.len() != 4 || head.len() != 1 {
        return Err(bad(
            &path,
            "not a balgan feature extractor (stem.conv.weight, head.bias)",
        ));
    }
    let (width, channels, classes) = (stem[0], stem[1], head[0]);
    let classifier = Classifier::new(dev, &Generator::new(0), channels, classes, width)?;
    classifier.set_training(false);
    nn::load(&path, &classifier, true)?;
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let name = format!(
        "{} (fingerprint {:016x}, width {width}, {channels} channel(s))",
        path.display(),
        fnv1a64(&bytes)
    );
    Ok(Extractor {
        classifier,
        name,
        image_size: image_size.unwrap_or(32),
        channels,
    })
}

fn from_folder(dev: &Device, path: &Path, ex: &Extractor) -> Result<Side> {
    // One sub-folder per class, or a flat folder of images (one class).
    let has_sub = std::fs::read_dir(path)
        .map_err(|e| Error::io(path, e))?
        .filter_map(|e| e.ok())
        .any(|e| e.path().is_dir());
    let ds = if has_sub {
        image_folder(path, ex.image_size)?
    } else {
        flat_image_folder(path, ex.image_size)?
    };
    if ds.channels() != ex.channels {
        return Err(bad(
            path,
            format!(
                "images have {} channel(s), the extractor reads {}",
                ds.channels(),
                ex.channels
            ),
        ));
    }
    let f = features(dev, &ex.classifier, &ds)?;
    let (n, d) = (f.shape()[0], f.shape()[1]);
    if n < 2 {
        return Err(bad(path, format!("{n} image(s): need at least 2")));
    }
    let stats = feature_stats(&f)?;
    Ok(Side {
        mean: stats.mean,
        cov: stats.cov,
        count: Some(n),
        dim: d,
        source: format!("image folder, {}px, {} class(es)", ex.image_size, ds.num_classes()),
    })
}

/// What one side was read from: its statistics and how they were made.
pub struct Side {
    /// Mean of the features, `[D]`.
    pub mean: Tensor,
    /// Covariance of the features, `[D, D]`.
    pub cov: Tensor,
    /// Number of feature rows (None for precomputed statistics).
    pub count: Option<usize>,
    /// Feature dimension D.
    pub dim: usize,
    /// e.g. "features.npy [500, 64]" or "stats.npz mu/sigma".
    pub source: String,
}

/// The result: the FID and both sides.
pub struct FidOutput {
    /// The Fréchet distance between the two sides' statistics.
    pub value: f64,
    /// The first side (`PATH_A`).
    pub a: Side,
    /// The second side (`PATH_B`).
    pub b: Side,
    /// The extractor's name, when a folder was read.
    pub extractor: Option<String>,
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

/// Reads one side: a `.npy` of features or a `.npz` of features or
/// `mu`/`sigma`, or an image folder through `extractor`.
pub fn read_side(dev: &Device, path: &Path, extractor: Option<&Extractor>) -> Result<Side> {
    if path.is_dir() {
        return match extractor {
            Some(ex) => from_folder(dev, path, ex),
            None => Err(bad(path, "image folder without an extractor")),
        };
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
    let extractor = if args.a.is_dir() || args.b.is_dir() {
        Some(load_extractor(dev, args)?)
    } else {
        None
    };
    let a = read_side(dev, &args.a, extractor.as_ref())?;
    let b = read_side(dev, &args.b, extractor.as_ref())?;
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
    Ok(FidOutput {
        value: f.value,
        a,
        b,
        extractor: extractor.map(|e| e.name),
    })
}

/// Prints `FID: <value>`, one line per side and the extractor used for folders.
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
    if let Some(name) = &out.extractor {
        println!("extractor: {name}");
    }
    Ok(())
}
