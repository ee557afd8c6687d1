//! `manifest.csv`: its two layouts (`generate`'s and `rebalance`'s), the CSV
//! fields, and `generate`'s growing manifest, which a run that was cut short
//! resumes from.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::sink::{is_empty_dir, syn_name};
use crate::cli::run::{write_text, RunConfig, RunDir};
use crate::error::{Error, Result};

pub(super) const GENERATE_HEADER: &str = "file,class,label,synthetic,model,checkpoint,step,seed";
pub(super) const REBALANCE_HEADER: &str = "file,idx_row,class,label,synthetic,model,checkpoint,step,seed";
pub(super) const MANIFEST: &str = "manifest.csv";

/// Where the synthetic images come from (the manifest's provenance columns).
pub(super) struct Provenance {
    pub model: String,
    pub checkpoint: String,
    pub step: u64,
    pub seed: u64,
}

impl Provenance {
    /// The provenance of images drawn with `seed` from `run`'s checkpoint at `step`.
    pub fn new(run: &RunDir, cfg: &RunConfig, step: u64, seed: u64) -> Provenance {
        Provenance {
            model: cfg.model.model.name().to_string(),
            checkpoint: run.checkpoint_path().display().to_string(),
            step,
            seed,
        }
    }
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
pub(super) fn csv_fields(line: &str) -> Vec<String> {
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

/// A [`GENERATE_HEADER`] row: `file` (relative to the output folder), a
/// generated image of class `label` named `class`.
pub(super) fn generate_row(file: &str, class: &str, label: u32, prov: &Provenance) -> String {
    csv_line(&[
        file,
        class,
        &label.to_string(),
        "1",
        &prov.model,
        &prov.checkpoint,
        &prov.step.to_string(),
        &prov.seed.to_string(),
    ])
}

/// A [`REBALANCE_HEADER`] row: `file` (empty without an image folder), `idx_row`
/// (empty without IDX files), the class, and the provenance of a generated
/// image (`None`: a real one).
pub(super) fn rebalance_row(
    file: &str,
    idx_row: &str,
    class: &str,
    label: usize,
    synthetic: Option<&Provenance>,
) -> String {
    let label = label.to_string();
    match synthetic {
        None => csv_line(&[file, idx_row, class, &label, "0", "", "", "", ""]),
        Some(p) => csv_line(&[
            file,
            idx_row,
            class,
            &label,
            "1",
            &p.model,
            &p.checkpoint,
            &p.step.to_string(),
            &p.seed.to_string(),
        ]),
    }
}

/// The manifest's header line, if `out/manifest.csv` exists.
pub(super) fn manifest_header(out: &Path) -> Option<String> {
    let text = std::fs::read_to_string(out.join(MANIFEST)).ok()?;
    text.lines().next().map(|l| l.trim_end().to_string())
}

/// The rows of an earlier `generate` output in `out` (none for a new or empty
/// folder); any other non-empty folder is refused.
pub(super) fn earlier_generate_rows(out: &Path) -> Result<Vec<String>> {
    if is_empty_dir(out)? {
        Ok(Vec::new())
    } else if manifest_header(out).as_deref() == Some(GENERATE_HEADER) {
        let text = std::fs::read_to_string(out.join(MANIFEST)).map_err(|e| Error::io(out.join(MANIFEST), e))?;
        Ok(text
            .lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    } else {
        Err(Error::invalid(
            "--out",
            format!(
                "{} is not empty and is not an earlier `balgan generate` output (no manifest.csv of one); choose a \
                 new or empty folder",
                out.display()
            ),
        ))
    }
}

/// What an earlier `generate` into the same folder leaves to this one.
pub(super) struct Resume {
    /// The earlier rows that stay, each with its line break.
    pub kept: String,
    /// Per class, the images (by index) that are there already and are not
    /// written again.
    pub done: HashMap<u32, HashSet<usize>>,
}

/// Sort the earlier manifest's rows: a row of a file this call writes (class
/// in `classes`, image index below `count`, named for `seed`) is kept (and the
/// file not written again) when it equals the row this call would write,
/// `row_of(class, file)` — same checkpoint step and seed — and the file is
/// there, as after an interrupted run with the same arguments; otherwise it
/// is dropped and the file rewritten. Rows of other files stay; a torn last
/// line of a killed run is dropped.
pub(super) fn resume(
    old_rows: &[String],
    out: &Path,
    folders: &[String],
    classes: &[u32],
    count: usize,
    seed: u64,
    row_of: impl Fn(u32, &str) -> String,
) -> Resume {
    let prefix = format!("syn_{seed}_");
    let mut kept = String::new();
    let mut done: HashMap<u32, HashSet<usize>> = HashMap::new();
    for old in old_rows {
        let f = csv_fields(old);
        if f.len() != GENERATE_HEADER.split(',').count() {
            continue;
        }
        let target = f[0].split_once('/').and_then(|(folder, name)| {
            let k = classes.iter().copied().find(|&k| folders[k as usize] == folder)?;
            let i: usize = name.strip_prefix(&prefix)?.strip_suffix(".png")?.parse().ok()?;
            (i < count && syn_name(seed, i) == name).then_some((k, i))
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
    Resume { kept, done }
}

/// `generate`'s manifest, written before any image and grown chunk by chunk,
/// so an interrupted run leaves one that lists every image it finished.
pub(super) struct ManifestLog {
    path: PathBuf,
    file: File,
}

impl ManifestLog {
    /// `out/manifest.csv` with the header and the `kept` rows, open for appending.
    pub fn create(out: &Path, kept: &str) -> Result<ManifestLog> {
        let path = out.join(MANIFEST);
        write_text(&path, &format!("{GENERATE_HEADER}\n{kept}"))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(ManifestLog { path, file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append rows and flush them.
    pub fn append(&mut self, rows: &str) -> Result<()> {
        self.file
            .write_all(rows.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Sync the file to disk.
    pub fn finish(self) -> Result<()> {
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))
    }
}
