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

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::run::{generate_images, parse_classes, write_text, RunConfig, RunDir};
use crate::data::export::export_idx;
use crate::data::grid::{render_grid, write_png};
use crate::data::imbalance::imbalance_ratio;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::models::BalancingModel;
use crate::tensor::{splitmix64_mix, GOLDEN_GAMMA};

/// Images generated per call of the model.
const CHUNK: usize = 256;
/// The most images per class one `generate` call writes.
pub const MAX_COUNT: usize = 10_000_000;

const GENERATE_HEADER: &str = "file,class,label,synthetic,model,checkpoint,step,seed";
const REBALANCE_HEADER: &str = "file,idx_row,class,label,synthetic,model,checkpoint,step,seed";
const MANIFEST: &str = "manifest.csv";
/// The IDX prefix `rebalance` writes (`train-images-idx3-ubyte`, …).
const IDX_PREFIX: &str = "train";
const IDX_FILES: [&str; 3] = [
    "train-images-idx3-ubyte",
    "train-images-idx4-ubyte",
    "train-labels-idx1-ubyte",
];

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
    pub seed: u64,
    pub quiet: bool,
}

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
    pub format: RebalanceFormat,
    /// Images per class after rebalancing (`None`: the largest class's count).
    /// Classes already at or above it are left as they are.
    pub target: Option<usize>,
    pub seed: u64,
    pub quiet: bool,
}

/// Where the synthetic images come from (the manifest's provenance columns).
struct Provenance {
    model: String,
    checkpoint: String,
    step: u64,
    seed: u64,
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The fields of one CSV line (quoted fields as [`csv_field`] writes them).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') if cur.is_empty() => quoted = true,
            (false, ',') => out.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    out.push(cur);
    out
}

fn csv_line(fields: &[&str]) -> String {
    let mut s = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    s.push('\n');
    s
}

/// A folder name for each class: the name with characters file systems do
/// not allow replaced by `_`; empty, `.` and `..` become `class_<k>`, and a
/// name that collides with an earlier one gets `_<k>` appended.
pub fn class_folder_names(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for (k, name) in names.iter().enumerate() {
        let mut f: String = name
            .chars()
            .map(|c| {
                if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let trimmed = f.trim();
        if trimmed.is_empty() || trimmed == "." || trimmed == ".." || f.starts_with('.') {
            f = format!("class_{k}");
        }
        while out.iter().any(|o| o.eq_ignore_ascii_case(&f)) {
            f = format!("{f}_{k}");
        }
        out.push(f);
    }
    out
}

/// `seed`'s stream for chunk `chunk` of class `class` (SplitMix64 finaliser
/// of the three, so nearby seeds give unrelated streams).
fn chunk_seed(seed: u64, class: u32, chunk: u64) -> u64 {
    splitmix64_mix(
        seed ^ (class as u64 + 1).wrapping_mul(GOLDEN_GAMMA) ^ (chunk + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
    )
}

/// Generate `count` images of class `class` chunk by chunk; `each` gets every
/// chunk's images ([n, C, S, S] flat, in [−1, 1]), its size and the index of
/// its first image. A chunk for which `need(first, n)` is false is skipped
/// (not drawn); the others come out the same either way.
fn stream_class(
    model: &mut dyn BalancingModel,
    class: u32,
    count: usize,
    seed: u64,
    per_image: usize,
    need: impl Fn(usize, usize) -> bool,
    mut each: impl FnMut(&[f32], usize, usize) -> Result<()>,
) -> Result<()> {
    let mut left = count;
    let mut chunk = 0u64;
    while left > 0 {
        let n = left.min(CHUNK);
        let first = count - left;
        if !need(first, n) {
            left -= n;
            chunk += 1;
            continue;
        }
        let (images, _) = generate_images(model, &[class], n, chunk_seed(seed, class, chunk))?;
        if images.len() != n * per_image {
            return Err(Error::invalid(
                "generate",
                format!(
                    "the model made {} values for {n} images of {per_image} values each; the run's config.toml does \
                     not describe its model (was it edited?)",
                    images.len()
                ),
            ));
        }
        each(&images, n, first)?;
        left -= n;
        chunk += 1;
    }
    Ok(())
}

/// One image [C, S, S] in [−1, 1] as an 8-bit PNG.
fn save_png(path: &Path, image: &[f32], c: usize, s: usize) -> Result<()> {
    let img = render_grid(image, &[1, c, s, s], &[vec![0]], 0)?;
    write_png(path, &img)
}

fn syn_name(seed: u64, i: usize) -> String {
    format!("syn_{seed}_{i:05}.png")
}

fn real_name(index: usize) -> String {
    format!("real_{index:05}.png")
}

/// True when `dir` does not exist or holds nothing.
fn is_empty_dir(dir: &Path) -> Result<bool> {
    if !dir.exists() {
        return Ok(true);
    }
    if !dir.is_dir() {
        return Err(Error::invalid(
            "--out",
            format!(
                "{} is a file, not a folder; choose a folder for the output",
                dir.display()
            ),
        ));
    }
    let mut entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    Ok(entries.next().is_none())
}

/// The manifest's header line, if `out/manifest.csv` exists.
fn manifest_header(out: &Path) -> Option<String> {
    let text = std::fs::read_to_string(out.join(MANIFEST)).ok()?;
    text.lines().next().map(|l| l.trim_end().to_string())
}

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

fn provenance(run: &RunDir, cfg: &RunConfig, step: u64, seed: u64) -> Provenance {
    Provenance {
        model: cfg.model.model.name().to_string(),
        checkpoint: run.checkpoint_path().display().to_string(),
        step,
        seed,
    }
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
    let old_rows: Vec<String> = if is_empty_dir(out)? {
        Vec::new()
    } else if manifest_header(out).as_deref() == Some(GENERATE_HEADER) {
        let text = std::fs::read_to_string(out.join(MANIFEST)).map_err(|e| Error::io(out.join(MANIFEST), e))?;
        text.lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        return Err(Error::invalid(
            "--out",
            format!(
                "{} is not empty and is not an earlier `balgan generate` output (no manifest.csv of one); choose a \
                 new or empty folder",
                out.display()
            ),
        ));
    };
    let (mut model, state) = run.load_model(dev, &cfg)?;
    if !args.quiet && !state.finished {
        println!(
            "note: {} has not finished training; generating from its checkpoint at step {}",
            run.root.display(),
            state.step
        );
    }
    let prov = provenance(&run, &cfg, state.step, args.seed);
    let folders = class_folder_names(&cfg.class_names);
    let (c, s) = (cfg.model.channels, cfg.model.image_size);
    let per = c * s * s;
    let step = prov.step.to_string();
    let seed = prov.seed.to_string();
    let row_of = |k: u32, file: &str| {
        csv_line(&[
            file,
            &cfg.class_names[k as usize],
            &k.to_string(),
            "1",
            &prov.model,
            &prov.checkpoint,
            &step,
            &seed,
        ])
    };

    // The earlier manifest's rows: a row of a file this call writes is kept
    // (and the file not written again) when it came from the same checkpoint
    // step and seed and the file is there, as after an interrupted run with
    // the same arguments; otherwise it is dropped and the file rewritten.
    // Rows of other files stay; a torn last line of a killed run is dropped.
    let prefix = format!("syn_{}_", args.seed);
    let mut kept = String::new();
    let mut done: HashMap<u32, HashSet<usize>> = HashMap::new();
    for old in &old_rows {
        let f = csv_fields(old);
        if f.len() != GENERATE_HEADER.split(',').count() {
            continue;
        }
        let target = f[0].split_once('/').and_then(|(folder, name)| {
            let k = classes.iter().copied().find(|&k| folders[k as usize] == folder)?;
            let i: usize = name.strip_prefix(&prefix)?.strip_suffix(".png")?.parse().ok()?;
            (i < args.count && syn_name(args.seed, i) == name).then_some((k, i))
        });
        match target {
            None => {
                kept.push_str(old);
                kept.push('\n');
            }
            Some((k, i)) => {
                if row_of(k, &f[0]).trim_end() == old.trim_end() && out.join(&f[0]).is_file() {
                    done.entry(k).or_default().insert(i);
                    kept.push_str(old);
                    kept.push('\n');
                }
            }
        }
    }
    // The manifest is written before any image and grows chunk by chunk, so
    // an interrupted run leaves one that lists every image it finished.
    let manifest = out.join(MANIFEST);
    write_text(&manifest, &format!("{GENERATE_HEADER}\n{kept}"))?;
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(&manifest)
        .map_err(|e| Error::io(&manifest, e))?;
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
                log.write_all(rows.as_bytes())
                    .and_then(|()| log.flush())
                    .map_err(|e| Error::io(&manifest, e))
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
    log.sync_all().map_err(|e| Error::io(&manifest, e))?;
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

/// Make `out` ready for a rebalance: a new or empty folder is used as is; an
/// earlier rebalance output has its files (those its manifest lists, the IDX
/// files, leftover temporary files) removed first; anything else is refused.
fn prepare_rebalance_out(out: &Path) -> Result<()> {
    if is_empty_dir(out)? {
        return std::fs::create_dir_all(out).map_err(|e| Error::io(out, e));
    }
    let refuse = |why: String| {
        Error::invalid(
            "--out",
            format!(
                "{} is not empty and {why}; choose a new or empty folder (an earlier `balgan rebalance` output is \
                 replaced)",
                out.display()
            ),
        )
    };
    if manifest_header(out).as_deref() != Some(REBALANCE_HEADER) {
        return Err(refuse(
            "is not an earlier `balgan rebalance` output (no manifest.csv of one)".into(),
        ));
    }
    let manifest = out.join(MANIFEST);
    let text = std::fs::read_to_string(&manifest).map_err(|e| Error::io(&manifest, e))?;
    let listed: HashSet<PathBuf> = text
        .lines()
        .skip(1)
        .filter_map(|l| csv_fields(l).into_iter().next())
        .filter(|f| !f.is_empty())
        .map(|f| out.join(f))
        .collect();
    let is_tmp = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy())
            .is_some_and(|n| n.starts_with('.') && n.contains(".tmp-"))
    };
    // Check everything first, so a refusal deletes nothing.
    let mut remove = Vec::new();
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(out).map_err(|e| Error::io(out, e))? {
        let p = entry.map_err(|e| Error::io(out, e))?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name == MANIFEST || is_tmp(&p) || (IDX_FILES.contains(&name.as_str()) && p.is_file()) {
            if name != MANIFEST {
                remove.push(p);
            }
        } else if name == "images" && p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(d) = stack.pop() {
                dirs.push(d.clone());
                for e in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
                    let q = e.map_err(|e| Error::io(&d, e))?.path();
                    if q.is_dir() {
                        stack.push(q);
                    } else if listed.contains(&q) || is_tmp(&q) {
                        remove.push(q);
                    } else {
                        return Err(refuse(format!(
                            "{} was not written by `balgan rebalance` (its manifest does not list it)",
                            q.display()
                        )));
                    }
                }
            }
        } else {
            return Err(refuse(format!(
                "holds {}, which `balgan rebalance` does not write",
                p.display()
            )));
        }
    }
    for p in remove {
        std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
    }
    // Deepest first; folders are removed only when empty.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        let _ = std::fs::remove_dir(&d);
    }
    Ok(())
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
    let prov = provenance(&run, &cfg, state.step, args.seed);
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
    let folder = args.format.folder();
    let idx = args.format.idx();
    let images_dir = out.join("images");
    let mut manifest = format!("{REBALANCE_HEADER}\n");
    let mut idx_images: Vec<f32> = Vec::new();
    let mut idx_labels: Vec<usize> = Vec::new();
    if idx {
        let total = before.iter().sum::<usize>() + added.iter().sum::<usize>();
        idx_images.reserve_exact(total * per);
        idx_labels.reserve_exact(total);
    }
    // The real images, in training-set order.
    for (i, &label) in data.labels().iter().enumerate() {
        let l = label as usize;
        let file = if folder {
            let name = real_name(i);
            save_png(&images_dir.join(&folders[l]).join(&name), data.image(i), c, s)?;
            format!("images/{}/{name}", folders[l])
        } else {
            String::new()
        };
        let row = if idx {
            idx_images.extend_from_slice(data.image(i));
            idx_labels.push(l);
            (idx_labels.len() - 1).to_string()
        } else {
            String::new()
        };
        manifest.push_str(&csv_line(&[
            &file,
            &row,
            &cfg.class_names[l],
            &l.to_string(),
            "0",
            "",
            "",
            "",
            "",
        ]));
    }
    if folder {
        // Every class folder exists, even for a class that got nothing new.
        for f in &folders {
            let d = images_dir.join(f);
            std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
    }
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
                    let file = if folder {
                        let name = syn_name(args.seed, i);
                        save_png(&images_dir.join(&folders[k]).join(&name), img, c, s)?;
                        format!("images/{}/{name}", folders[k])
                    } else {
                        String::new()
                    };
                    let row = if idx {
                        idx_images.extend_from_slice(img);
                        idx_labels.push(k);
                        (idx_labels.len() - 1).to_string()
                    } else {
                        String::new()
                    };
                    manifest.push_str(&csv_line(&[
                        &file,
                        &row,
                        &cfg.class_names[k],
                        &k.to_string(),
                        "1",
                        &prov.model,
                        &prov.checkpoint,
                        &prov.step.to_string(),
                        &prov.seed.to_string(),
                    ]));
                    i += 1;
                }
                Ok(())
            },
        )?;
    }
    let idx_files = if idx {
        let n = idx_labels.len();
        Some(export_idx(
            out,
            IDX_PREFIX,
            &idx_images,
            &[n, c, s, s],
            &idx_labels,
            false,
        )?)
    } else {
        None
    };
    write_text(&out.join(MANIFEST), &manifest)?;
    if !args.quiet {
        if folder {
            println!("image folder: {}", images_dir.display());
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
