//! Where the images go: class folders of PNGs (their names and the names of
//! the files in them), the IDX files of `rebalance`, and the output folder
//! itself (new, empty, or an earlier output).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::manifest::{csv_fields, manifest_header, rebalance_row, Provenance, MANIFEST, REBALANCE_HEADER};
use crate::data::export::{export_idx, IdxFiles};
use crate::data::grid::{render_grid, write_png};
use crate::error::{Error, Result};

/// The IDX prefix `rebalance` writes (`train-images-idx3-ubyte`, …).
const IDX_PREFIX: &str = "train";
const IDX_FILES: [&str; 3] = [
    "train-images-idx3-ubyte",
    "train-images-idx4-ubyte",
    "train-labels-idx1-ubyte",
];

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

/// One image [C, S, S] in [−1, 1] as an 8-bit PNG.
pub(super) fn save_png(path: &Path, image: &[f32], c: usize, s: usize) -> Result<()> {
    let img = render_grid(image, &[1, c, s, s], &[vec![0]], 0)?;
    write_png(path, &img)
}

pub(super) fn syn_name(seed: u64, i: usize) -> String {
    format!("syn_{seed}_{i:05}.png")
}

pub(super) fn real_name(index: usize) -> String {
    format!("real_{index:05}.png")
}

/// True when `dir` does not exist or holds nothing.
pub(super) fn is_empty_dir(dir: &Path) -> Result<bool> {
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

/// Make `out` ready for a rebalance: a new or empty folder is used as is; an
/// earlier rebalance output has its files (those its manifest lists, the IDX
/// files, leftover temporary files) removed first; anything else is refused.
pub(super) fn prepare_rebalance_out(out: &Path) -> Result<()> {
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

/// What `rebalance` writes, real and generated images alike: PNGs under
/// `OUT/images/<class>/` (with an image folder), IDX rows collected for the
/// end (with IDX files), and a manifest row for each image.
pub(super) struct RebalanceSink<'a> {
    /// `OUT/images` with an image folder.
    images_dir: Option<PathBuf>,
    /// Whether IDX files are written.
    idx: bool,
    folders: &'a [String],
    class_names: &'a [String],
    /// (channels, side) of every image.
    geometry: (usize, usize),
    idx_images: Vec<f32>,
    idx_labels: Vec<usize>,
    manifest: String,
}

impl<'a> RebalanceSink<'a> {
    /// A sink for `total` images of `geometry` (channels, side), the class
    /// folders named `folders`.
    pub fn new(
        out: &Path,
        folder: bool,
        idx: bool,
        folders: &'a [String],
        class_names: &'a [String],
        geometry: (usize, usize),
        total: usize,
    ) -> RebalanceSink<'a> {
        let (c, s) = geometry;
        let mut idx_images: Vec<f32> = Vec::new();
        let mut idx_labels: Vec<usize> = Vec::new();
        if idx {
            idx_images.reserve_exact(total * c * s * s);
            idx_labels.reserve_exact(total);
        }
        RebalanceSink {
            images_dir: folder.then(|| out.join("images")),
            idx,
            folders,
            class_names,
            geometry,
            idx_images,
            idx_labels,
            manifest: format!("{REBALANCE_HEADER}\n"),
        }
    }

    /// `OUT/images`, when an image folder is written.
    pub fn images_dir(&self) -> Option<&Path> {
        self.images_dir.as_deref()
    }

    /// One image of class `label`, named `name` in its class folder;
    /// `synthetic`: where a generated image comes from (`None`: a real one).
    pub fn push(&mut self, image: &[f32], label: usize, name: &str, synthetic: Option<&Provenance>) -> Result<()> {
        let (c, s) = self.geometry;
        let folder = &self.folders[label];
        let file = match &self.images_dir {
            Some(dir) => {
                save_png(&dir.join(folder).join(name), image, c, s)?;
                format!("images/{folder}/{name}")
            }
            None => String::new(),
        };
        let row = if self.idx {
            self.idx_images.extend_from_slice(image);
            self.idx_labels.push(label);
            (self.idx_labels.len() - 1).to_string()
        } else {
            String::new()
        };
        self.manifest
            .push_str(&rebalance_row(&file, &row, &self.class_names[label], label, synthetic));
        Ok(())
    }

    /// Make every class folder, even for a class with no image.
    pub fn make_class_folders(&self) -> Result<()> {
        if let Some(dir) = &self.images_dir {
            for f in self.folders {
                let d = dir.join(f);
                std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
            }
        }
        Ok(())
    }

    /// Write the IDX files (when asked for) and the manifest into `out`.
    pub fn finish(self, out: &Path) -> Result<Option<IdxFiles>> {
        let (c, s) = self.geometry;
        let idx_files = if self.idx {
            let n = self.idx_labels.len();
            Some(export_idx(
                out,
                IDX_PREFIX,
                &self.idx_images,
                &[n, c, s, s],
                &self.idx_labels,
                false,
            )?)
        } else {
            None
        };
        crate::cli::run::write_text(&out.join(MANIFEST), &self.manifest)?;
        Ok(idx_files)
    }
}
