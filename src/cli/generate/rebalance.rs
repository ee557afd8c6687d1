//! `balgan rebalance`: the run's training set topped up with generated images
//! to a target count per class, written as an image folder and/or IDX files.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::check_classes;
use super::manifest::{Provenance, MANIFEST};
use super::sample::stream_class;
use super::sink::{class_folder_names, prepare_rebalance_out, real_name, syn_name, RebalanceSink};
use crate::cli::run::RunDir;
use crate::data::imbalance::imbalance_ratio;
use crate::device::Device;
use crate::error::{Error, Result};

/// Which files `balgan rebalance` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceFormat {
    /// `OUT/images/<class>/*.png`.
    Folder,
    /// `OUT/train-images-idx3-ubyte` + `OUT/train-labels-idx1-ubyte`.
    Idx,
    /// Both.
    Both,
}

impl RebalanceFormat {
    fn folder(self) -> bool {
        matches!(self, RebalanceFormat::Folder | RebalanceFormat::Both)
    }
    fn idx(self) -> bool {
        matches!(self, RebalanceFormat::Idx | RebalanceFormat::Both)
    }
}

impl std::str::FromStr for RebalanceFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<RebalanceFormat> {
        match s.to_ascii_lowercase().as_str() {
            "folder" | "image-folder" | "png" => Ok(RebalanceFormat::Folder),
            "idx" => Ok(RebalanceFormat::Idx),
            "both" => Ok(RebalanceFormat::Both),
            other => Err(Error::invalid(
                "--format",
                format!("unknown format '{other}'; use folder (PNG per class), idx (IDX files) or both"),
            )),
        }
    }
}

impl std::fmt::Display for RebalanceFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RebalanceFormat::Folder => "folder",
            RebalanceFormat::Idx => "idx",
            RebalanceFormat::Both => "both",
        })
    }
}

/// Everything `balgan rebalance` takes.
#[derive(Debug, Clone)]
pub struct RebalanceArgs {
    /// The run directory `balgan train` wrote.
    pub run: PathBuf,
    /// Output folder (new, empty, or an earlier `rebalance` output, which is replaced).
    pub out: PathBuf,
    /// `--format`: which files to write, `folder`, `idx` or `both` (default both).
    pub format: RebalanceFormat,
    /// Images per class after rebalancing (`None`: the largest class's count).
    /// Classes already at or above it are left as they are.
    pub target: Option<usize>,
    /// `--seed`: seed of the noise the generated images are drawn from, also in their file names (default 0).
    pub seed: u64,
    /// `--quiet`: print nothing but errors.
    pub quiet: bool,
}

/// The before/after table of a rebalance.
fn rebalance_table(names: &[String], before: &[usize], added: &[usize]) -> String {
    let mut s = String::from("| class | name | before | generated | after |\n|---:|---|---:|---:|---:|\n");
    let after: Vec<usize> = before.iter().zip(added).map(|(b, a)| b + a).collect();
    for (k, name) in names.iter().enumerate() {
        let _ = writeln!(s, "| {k} | {name} | {} | {} | {} |", before[k], added[k], after[k]);
    }
    let _ = writeln!(
        s,
        "\ntotal {} → {} images ({} generated), imbalance ratio {:.2} → {:.2}",
        before.iter().sum::<usize>(),
        after.iter().sum::<usize>(),
        added.iter().sum::<usize>(),
        imbalance_ratio(before),
        imbalance_ratio(&after)
    );
    s
}

/// Top up every class of the run's training set to `args.target` images (the
/// largest class's count by default) with images generated from the run's
/// last checkpoint, and write the real and generated images together as an
/// image folder and/or IDX files with a manifest marking the synthetic ones.
pub fn rebalance(dev: &Device, args: &RebalanceArgs) -> Result<()> {
    if args.target == Some(0) {
        return Err(Error::invalid(
            "--target",
            "a target of 0 images per class adds nothing; pass a count ≥ 1, or leave --target out to match the \
             largest class",
        ));
    }
    let run = RunDir::open(&args.run)?;
    let cfg = run.read_config()?;
    check_classes(&cfg, &run)?;
    let data = cfg.data.training_set()?;
    if data.class_names() != cfg.class_names.as_slice() {
        return Err(Error::invalid(
            "rebalance",
            format!(
                "the training data now has the classes [{}] but the run was trained on [{}]; point the run's \
                 config.toml ([data] path) at the data it was trained on",
                data.class_names().join(", "),
                cfg.class_names.join(", ")
            ),
        ));
    }
    let (c, s) = (cfg.model.channels, cfg.model.image_size);
    if data.channels() != c || data.height() != s || data.width() != s {
        return Err(Error::invalid(
            "rebalance",
            format!(
                "the training data has images of {}×{}×{} but the run's model makes {c}×{s}×{s}; point the run's \
                 config.toml at the data it was trained on",
                data.channels(),
                data.height(),
                data.width()
            ),
        ));
    }
    if args.format.idx() && cfg.class_names.len() > 256 {
        return Err(Error::invalid(
            "--format",
            format!(
                "IDX labels are single bytes but the run has {} classes; use --format folder",
                cfg.class_names.len()
            ),
        ));
    }
    let before = data.class_counts();
    let target = args.target.unwrap_or_else(|| before.iter().copied().max().unwrap_or(0));
    let added: Vec<usize> = before.iter().map(|&b| target.saturating_sub(b)).collect();
    let out = &args.out;
    // The model first: a run without a checkpoint must not cost an earlier output.
    let (mut model, state) = run.load_model(dev, &cfg)?;
    prepare_rebalance_out(out)?;
    let prov = Provenance::new(&run, &cfg, state.step, args.seed);
    let folders = class_folder_names(&cfg.class_names);
    if !args.quiet {
        if !state.finished {
            println!(
                "note: {} has not finished training; generating from its checkpoint at step {}",
                run.root.display(),
                state.step
            );
        }
        println!(
            "rebalancing the training split of {} ({} images) to {target} images per class with {} (step {}), seed {}",
            if data.name().is_empty() {
                cfg.data.dataset.as_str()
            } else {
                data.name()
            },
            data.len(),
            cfg.model.model.title(),
            state.step,
            args.seed
        );
        print!("{}", rebalance_table(&cfg.class_names, &before, &added));
    }

    let per = c * s * s;
    let total = before.iter().sum::<usize>() + added.iter().sum::<usize>();
    let mut sink = RebalanceSink::new(
        out,
        args.format.folder(),
        args.format.idx(),
        &folders,
        &cfg.class_names,
        (c, s),
        total,
    );
    // The real images, in training-set order.
    for (i, &label) in data.labels().iter().enumerate() {
        sink.push(data.image(i), label as usize, &real_name(i), None)?;
    }
    sink.make_class_folders()?;
    // The generated ones, class by class.
    for (k, &n) in added.iter().enumerate() {
        let mut i = 0;
        stream_class(
            model.as_mut(),
            k as u32,
            n,
            args.seed,
            per,
            |_, _| true,
            |images, m, _| {
                for img in images.chunks_exact(per).take(m) {
                    sink.push(img, k, &syn_name(args.seed, i), Some(&prov))?;
                    i += 1;
                }
                Ok(())
            },
        )?;
    }
    let images_dir = sink.images_dir().map(|d| d.to_path_buf());
    let idx_files = sink.finish(out)?;
    if !args.quiet {
        if let Some(dir) = &images_dir {
            println!("image folder: {}", dir.display());
        }
        if let Some(f) = &idx_files {
            println!("IDX files:    {} + {}", f.images.display(), f.labels.display());
        }
        println!(
            "manifest:     {} (synthetic = 1 marks the generated images)",
            out.join(MANIFEST).display()
        );
    }
    Ok(())
}
