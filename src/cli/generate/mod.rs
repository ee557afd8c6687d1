//! `balgan generate` and `balgan rebalance`: images from a trained run.
//!
//! `generate` writes `count` synthetic images of each chosen class:
//!
//! ```text
//! OUT/
//!   <class>/syn_<seed>_<i>.png     i counts from 0 per class, zero-padded to 5 digits
//!   manifest.csv                   file,class,label,synthetic,model,checkpoint,step,seed
//! ```
//!
//! The manifest is written before the first image and rows are appended as
//! each chunk's images are written, so a killed run leaves a manifest of what
//! it finished; the same command again keeps the listed images (same
//! checkpoint step and seed) and writes only the rest.
//!
//! `rebalance` takes the run's training set exactly as it was trained (the
//! training split under the run's imbalance recipe, never the test split),
//! tops every class up to a target count (default: the largest class's) with
//! generated images, and writes the real and the generated images together:
//!
//! ```text
//! OUT/
//!   images/<class>/real_<index>.png       the training images (index: position in the training set)
//!   images/<class>/syn_<seed>_<i>.png     the generated ones
//!   train-images-idx3-ubyte               (idx4 for colour) real rows first, then the generated ones
//!   train-labels-idx1-ubyte
//!   manifest.csv                          file,idx_row,class,label,synthetic,model,checkpoint,step,seed
//! ```
//!
//! Pixels in [−1, 1] become bytes with q(v) = round((clamp(v, −1, 1) + 1)·127.5)
//! ([`crate::data::grid::to_byte`]), the inverse of how the real images were
//! read, so real and generated files share the real data's 0–255 range; PNGs
//! are 8-bit grey or RGB (lossless). Every file is written atomically.
//!
//! Class folders are named after the classes, with characters a file system
//! does not allow in a name (`/ \ : * ? " < > |`, control characters) replaced
//! by `_` (Fashion-MNIST's `T-shirt/top` becomes `T-shirt_top`); the manifest
//! keeps the real name and the label. Readers of image folders (torchvision,
//! Keras, [`crate::data::image_folder`]) number classes by sorted folder name,
//! which can differ from the run's label order; the manifest's `label` column
//! and the IDX labels keep the run's order.
//!
//! Sampling: the images of class `c` come in chunks of at most 256, chunk `k`
//! drawn from a noise stream seeded by a hash of (seed, c, k). So the same
//! seed gives the same images of a class whichever other classes are asked
//! for, and memory stays bounded by one chunk (plus the whole set when IDX
//! files are written).
//!
//! Files: `sample` (the chunked noise streams), `manifest` (the CSV layouts
//! and `generate`'s growing manifest), `sink` (class folders, file names, IDX
//! files, the output folder), `rebalance` (the `rebalance` command); the
//! `generate` command is here.

mod manifest;
mod rebalance;
mod sample;
mod sink;

use std::collections::HashSet;
use std::path::PathBuf;

pub use rebalance::{rebalance, RebalanceArgs, RebalanceFormat};
pub use sink::class_folder_names;

use super::run::{parse_classes, RunConfig, RunDir};
use crate::device::Device;
use crate::error::{Error, Result};
use manifest::{earlier_generate_rows, generate_row, resume, ManifestLog, Provenance, Resume};
use sample::stream_class;
use sink::{save_png, syn_name};

/// The most images per class one `generate` call writes.
pub const MAX_COUNT: usize = 10_000_000;

/// Everything `balgan generate` takes.
#[derive(Debug, Clone)]
pub struct GenerateArgs {
    /// The run directory `balgan train` wrote.
    pub run: PathBuf,
    /// Classes by name or index, or `all`.
    pub classes: Vec<String>,
    /// Images per class.
    pub count: usize,
    /// Output folder (new, empty, or an earlier `generate` output).
    pub out: PathBuf,
    /// `--seed`: seed of the noise the images are drawn from, also in their file names (default 0).
    pub seed: u64,
    /// `--quiet`: print nothing but errors.
    pub quiet: bool,
}

/// The run's class names must match its model (both commands check this first).
fn check_classes(cfg: &RunConfig, run: &RunDir) -> Result<()> {
    if cfg.class_names.len() < 2 || cfg.class_names.len() != cfg.model.classes {
        return Err(Error::invalid(
            "--run",
            format!(
                "{} lists {} class names for a model of {} classes; the run's config.toml is damaged (train the run again)",
                run.config_path().display(),
                cfg.class_names.len(),
                cfg.model.classes
            ),
        ));
    }
    Ok(())
}

/// Generate `args.count` images of each of `args.classes` from the run's last
/// checkpoint into `args.out/<class>/syn_<seed>_<i>.png`, and list them in
/// `args.out/manifest.csv`. An earlier `generate` output may be reused: its
/// manifest keeps the rows of files this call does not overwrite.
pub fn generate(dev: &Device, args: &GenerateArgs) -> Result<()> {
    if args.count == 0 {
        return Err(Error::invalid(
            "--count",
            "0 images asked for; pass --count N with N ≥ 1 (images per class)",
        ));
    }
    if args.count > MAX_COUNT {
        return Err(Error::invalid(
            "--count",
            format!(
                "{} images per class is more than the limit of {MAX_COUNT}; ask for fewer (run generate again \
                 with another --seed for more)",
                args.count
            ),
        ));
    }
    if args.classes.is_empty() {
        return Err(Error::invalid(
            "--class",
            "no class given; pass --class NAME (a class name, an index, or 'all'; repeatable)",
        ));
    }
    let run = RunDir::open(&args.run)?;
    let cfg = run.read_config()?;
    check_classes(&cfg, &run)?;
    let mut classes = Vec::new();
    for c in parse_classes(&cfg.class_names, &args.classes)? {
        if !classes.contains(&c) {
            classes.push(c);
        }
    }
    let out = &args.out;
    let old_rows = earlier_generate_rows(out)?;
    let (mut model, state) = run.load_model(dev, &cfg)?;
    if !args.quiet && !state.finished {
        println!(
            "note: {} has not finished training; generating from its checkpoint at step {}",
            run.root.display(),
            state.step
        );
    }
    let prov = Provenance::new(&run, &cfg, state.step, args.seed);
    let folders = class_folder_names(&cfg.class_names);
    let (c, s) = (cfg.model.channels, cfg.model.image_size);
    let per = c * s * s;
    let row_of = |k: u32, file: &str| generate_row(file, &cfg.class_names[k as usize], k, &prov);

    let Resume { kept, done } = resume(&old_rows, out, &folders, &classes, args.count, args.seed, row_of);
    let mut log = ManifestLog::create(out, &kept)?;
    let mut written = 0usize;
    let mut reused = 0usize;
    let none = HashSet::new();
    for &k in &classes {
        let dir = out.join(&folders[k as usize]);
        let have = done.get(&k).unwrap_or(&none);
        reused += have.len();
        let need = |first: usize, n: usize| (first..first + n).any(|i| !have.contains(&i));
        stream_class(
            model.as_mut(),
            k,
            args.count,
            args.seed,
            per,
            need,
            |images, n, first| {
                let mut rows = String::new();
                for (j, img) in images.chunks_exact(per).take(n).enumerate() {
                    let i = first + j;
                    if have.contains(&i) {
                        continue;
                    }
                    let name = syn_name(args.seed, i);
                    save_png(&dir.join(&name), img, c, s)?;
                    rows.push_str(&row_of(k, &format!("{}/{name}", folders[k as usize])));
                    written += 1;
                }
                log.append(&rows)
            },
        )?;
        if !args.quiet {
            let again = if have.is_empty() {
                String::new()
            } else {
                format!(" ({} already there from an earlier run)", have.len())
            };
            println!(
                "{}: {} images → {}{again}",
                cfg.class_names[k as usize],
                args.count,
                dir.display()
            );
        }
    }
    let manifest = log.path().to_path_buf();
    log.finish()?;
    if !args.quiet {
        println!(
            "{} images of {} class(es) from {} (step {}), seed {}{}; manifest: {}",
            written + reused,
            classes.len(),
            prov.checkpoint,
            prov.step,
            args.seed,
            if reused > 0 {
                format!(" ({reused} kept from an earlier run)")
            } else {
                String::new()
            },
            manifest.display()
        );
    }
    Ok(())
}
