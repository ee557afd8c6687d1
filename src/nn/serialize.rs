//! Checkpoints: a module's parameters and buffers, and optimizer state, in
//! one safetensors file.
//!
//! **Layout.** Every tensor is stored as little-endian F32 under its module
//! name (`0.weight`, `encoder.conv1.bias`, …), optionally behind a prefix
//! (`generator.0.weight`). Optimizer state sits beside it under its own
//! prefix (`optim` in [`save_with_optimizer`]), keyed by the *parameter's*
//! name, so a checkpoint does not depend on the order in which parameters were
//! handed to the optimizer:
//!
//! | what | where |
//! |---|---|
//! | Adam first / second moments | tensors `optim.<param>.m`, `optim.<param>.v` |
//! | Adam per-parameter step counts | metadata `optim.<param>.step` |
//! | SGD momentum buffers | tensors `optim.<param>.momentum` |
//! | SGD started flags (0 or 1) | metadata `optim.<param>.started` |
//! | optimizer kind, `step()` calls | metadata `optim.kind`, `optim.steps` |
//!
//! Counters are decimal strings in the safetensors metadata (exact for any
//! u64). Metadata `format` is `balgan`.
//!
//! **Writing** is atomic: the file is written to a temporary file in the same
//! directory, flushed to disk (fsync), then renamed over the target, so a
//! crash or an error leaves either the old file or the new one, never a
//! partial one (a temporary file a killed process left behind is removed
//! by [`crate::atomic_file::remove_stale_temporaries`]). The bytes depend on
//! the state alone (tensors and metadata in name order), so `cmp` can compare
//! two checkpoints, and metadata `checksum` holds the CRC-32 of the header
//! and the data, verified on load. Tensors holding NaN or ±Inf are refused
//! ([`Error::NonFinite`]) unless [`CheckpointWriter::allow_non_finite`].
//!
//! **Loading** writes into the existing tensors in place ([`Tensor::assign_slice_`]),
//! so handles held elsewhere (an optimizer's parameter list) stay valid; an
//! optimizer's state is read into per-parameter tensors and handed to it
//! ([`OptimizerState::set_slots`]). Every
//! key is checked before anything is written: a failed load leaves the module
//! and the optimizer as they were. Errors name the file and the key: a missing
//! key, an unexpected key (strict mode), a shape mismatch, a dtype other than
//! F32, a truncated or corrupt file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use safetensors::tensor::TensorInfo;
use safetensors::{Dtype, SafeTensors};

use super::Module;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The optimizer prefix used by [`save_with_optimizer`] and
/// [`load_with_optimizer`].
pub const OPTIM_PREFIX: &str = "optim";

/// What an optimizer exposes so that its state can be saved and restored.
/// Implemented by the optimizers ([`crate::optim::Adam`], [`crate::optim::Sgd`],
/// in `optim::state`), so `nn` does not depend on `optim`.
pub trait OptimizerState {
    /// A short name stored with the state (`adam`, `sgd`); loading checks it.
    fn kind(&self) -> &'static str;
    /// The parameters the state belongs to, in the optimizer's order.
    fn params(&self) -> &[Tensor];
    /// Per-parameter state tensors by slot name (each list parallel to
    /// `params`, each tensor shaped like its parameter): copies, for saving.
    fn slots(&self) -> Result<Vec<(&'static str, Vec<Tensor>)>>;
    /// Overwrite the state from tensors laid out as [`OptimizerState::slots`]
    /// returns them.
    fn set_slots(&mut self, slots: &[(&'static str, Vec<Tensor>)]) -> Result<()>;
    /// The per-parameter counter's name and values, and the number of
    /// `step()` calls.
    fn counters(&self) -> (&'static str, Vec<u64>, u64);
    /// Restore the counters.
    fn set_counters(&mut self, steps: u64, per_param: &[u64]) -> Result<()>;
}

fn key(prefix: &str, name: &str) -> String {
    let prefix = prefix.trim_end_matches('.');
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn named_tensors(m: &dyn Module) -> Vec<(String, Tensor)> {
    let mut all = m.parameters();
    all.extend(m.buffers());
    all
}

/// The owner's name for each optimizer parameter (matched by shared storage).
fn param_names(owner: &dyn Module, opt: &dyn OptimizerState) -> Result<Vec<String>> {
    let named = owner.parameters();
    opt.params()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            named
                .iter()
                .find(|(_, t)| t.shares_storage(p))
                .map(|(n, _)| n.clone())
                .ok_or_else(|| {
                    Error::invalid(
                        "checkpoint",
                        format!(
                            "optimizer parameter {i} (shape {:?}) is not a parameter of the module given; \
                             pass the module the optimizer was built from",
                            p.shape()
                        ),
                    )
                })
        })
        .collect()
}

/// Collects tensors and metadata, then writes them as one safetensors file.
///
/// ```no_run
/// # use balgan::nn::{serialize::CheckpointWriter, Module};
/// # fn f(g: &dyn Module, d: &dyn Module, og: &balgan::optim::Adam, od: &balgan::optim::Adam) -> balgan::Result<()> {
/// CheckpointWriter::new()
///     .add_module("generator", g)
///     .add_module("critic", d)
///     .add_optimizer("optim_g", g, og)?
///     .add_optimizer("optim_d", d, od)?
///     .set_metadata("epoch", "12")
///     .write("run/checkpoint.safetensors")?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct CheckpointWriter {
    tensors: Vec<(String, Tensor)>,
    metadata: BTreeMap<String, String>,
    allow_non_finite: bool,
}

impl CheckpointWriter {
    /// An empty checkpoint.
    pub fn new() -> CheckpointWriter {
        CheckpointWriter::default()
    }

    /// Every parameter and buffer of `module`, under `prefix` (`""` for none).
    pub fn add_module(&mut self, prefix: &str, module: &dyn Module) -> &mut CheckpointWriter {
        for (name, t) in named_tensors(module) {
            self.tensors.push((key(prefix, &name), t));
        }
        self
    }

    /// One tensor under a name.
    pub fn add_tensor(&mut self, name: &str, t: &Tensor) -> &mut CheckpointWriter {
        self.tensors.push((name.to_string(), t.clone()));
        self
    }

    /// The state of `opt`, whose parameters belong to `owner` (their names in
    /// `owner` become the keys), under `prefix`.
    pub fn add_optimizer(
        &mut self,
        prefix: &str,
        owner: &dyn Module,
        opt: &dyn OptimizerState,
    ) -> Result<&mut CheckpointWriter> {
        let names = param_names(owner, opt)?;
        for (slot, tensors) in opt.slots()? {
            for (name, t) in names.iter().zip(tensors) {
                self.tensors.push((key(prefix, &format!("{name}.{slot}")), t));
            }
        }
        let (counter, values, steps) = opt.counters();
        for (name, v) in names.iter().zip(values) {
            self.metadata
                .insert(key(prefix, &format!("{name}.{counter}")), v.to_string());
        }
        self.metadata.insert(key(prefix, "kind"), opt.kind().to_string());
        self.metadata.insert(key(prefix, "steps"), steps.to_string());
        Ok(self)
    }

    /// A free-form metadata entry (a string; `format` and `checksum` are reserved).
    pub fn set_metadata(&mut self, key: &str, value: impl Into<String>) -> &mut CheckpointWriter {
        self.metadata.insert(key.to_string(), value.into());
        self
    }

    /// Write tensors holding NaN or ±Inf too (by default [`CheckpointWriter::write`]
    /// refuses them with [`Error::NonFinite`], so a diverged model never
    /// replaces a healthy checkpoint). For saving a broken state to inspect it.
    pub fn allow_non_finite(&mut self, allow: bool) -> &mut CheckpointWriter {
        self.allow_non_finite = allow;
        self
    }

    /// Read every tensor back from the GPU and write the file atomically
    /// (temporary file in the same directory, fsync, rename). The bytes are
    /// a function of the state alone (tensors and metadata in name order) and
    /// carry a checksum ([`CHECKSUM_KEY`]). Fails with [`Error::NonFinite`],
    /// writing nothing, when a tensor holds NaN or ±Inf (unless
    /// [`CheckpointWriter::allow_non_finite`]).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.encode(path)?;
        // A mistyped directory is an error, not a new folder.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
            return Err(Error::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("the directory {} does not exist", dir.display()),
                ),
            });
        }
        crate::atomic_file::write_atomic(path, |w| w.write_all(&bytes))
    }

    /// The file's bytes, checked as [`CheckpointWriter::write`] checks them
    /// (`path` only names the file in errors).
    pub fn encode(&self, path: impl AsRef<Path>) -> Result<Vec<u8>> {
        let shown = path.as_ref().display().to_string();
        let mut seen = HashSet::new();
        let dups: Vec<&str> = self
            .tensors
            .iter()
            .filter(|(n, _)| !seen.insert(n.as_str()))
            .map(|(n, _)| n.as_str())
            .collect();
        if !dups.is_empty() {
            return Err(Error::invalid(
                "save",
                format!("{shown}: duplicate tensor names {dups:?}; give the modules distinct names or prefixes"),
            ));
        }
        for reserved in ["format", CHECKSUM_KEY] {
            if self.metadata.contains_key(reserved) {
                return Err(Error::invalid(
                    "save",
                    format!("{shown}: the metadata key '{reserved}' is reserved"),
                ));
            }
        }
        let mut sorted: Vec<&(String, Tensor)> = self.tensors.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut entries = Vec::with_capacity(sorted.len());
        let mut data = Vec::new();
        for (name, t) in sorted {
            let values = t.to_vec()?;
            if !self.allow_non_finite {
                if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                    return Err(Error::NonFinite {
                        path: shown,
                        tensor: name.clone(),
                        index: i,
                        value: *v,
                    });
                }
            }
            let start = data.len();
            data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
            entries.push(HeaderEntry {
                name: name.clone(),
                shape: t.shape().to_vec(),
                offsets: (start, data.len()),
            });
        }
        let mut meta = self.metadata.clone();
        meta.insert("format".to_string(), "balgan".to_string());
        meta.remove(CHECKSUM_KEY);
        let checksum = checksum(&encode_header(&entries, &meta), &data);
        meta.insert(CHECKSUM_KEY.to_string(), checksum);
        let header = encode_header(&entries, &meta);
        let mut bytes = Vec::with_capacity(8 + header.len() + data.len());
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&data);
        Ok(bytes)
    }
}

/// The metadata key of a checkpoint's checksum: `crc32:` and eight hex digits,
/// the CRC-32 of the canonical header without this entry followed by the
/// tensor data. It covers every tensor byte, every shape and every metadata
/// value, so a flipped byte is caught on load.
pub const CHECKSUM_KEY: &str = "checksum";

/// One tensor's line in a safetensors header.
struct HeaderEntry {
    name: String,
    shape: Vec<usize>,
    offsets: (usize, usize),
}

/// A safetensors header with a fixed layout: `__metadata__` first, then the
/// tensors by name, keys sorted, no white space, padded with spaces to a
/// multiple of 8 bytes. Two writes of the same state give the same bytes.
fn encode_header(entries: &[HeaderEntry], meta: &BTreeMap<String, String>) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""));
    let mut out = String::from("{");
    out.push_str("\"__metadata__\":{");
    let fields: Vec<String> = meta.iter().map(|(k, v)| format!("{}:{}", q(k), q(v))).collect();
    out.push_str(&fields.join(","));
    out.push('}');
    for e in entries {
        let shape: Vec<String> = e.shape.iter().map(usize::to_string).collect();
        out.push_str(&format!(
            ",{}:{{\"data_offsets\":[{},{}],\"dtype\":\"F32\",\"shape\":[{}]}}",
            q(&e.name),
            e.offsets.0,
            e.offsets.1,
            shape.join(",")
        ));
    }
    out.push('}');
    while out.len() % 8 != 0 {
        out.push(' ');
    }
    out
}

fn checksum(header: &str, data: &[u8]) -> String {
    let mut h = crc32fast::Hasher::new();
    h.update(header.as_bytes());
    h.update(data);
    format!("crc32:{:08x}", h.finalize())
}

/// Recompute a checkpoint's checksum from what was read and compare.
fn verify_checksum(
    shown: &str,
    stored: &str,
    infos: &HashMap<String, TensorInfo>,
    metadata: &HashMap<String, String>,
    data: &[u8],
) -> Result<()> {
    let mut entries: Vec<HeaderEntry> = infos
        .iter()
        .map(|(name, info)| HeaderEntry {
            name: name.clone(),
            shape: info.shape.clone(),
            offsets: info.data_offsets,
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut meta: BTreeMap<String, String> = metadata.clone().into_iter().collect();
    meta.remove(CHECKSUM_KEY);
    let actual = checksum(&encode_header(&entries, &meta), data);
    if actual != stored {
        return Err(Error::invalid(
            "load",
            format!(
                "{shown}: checksum mismatch (the file records {stored}, its contents give {actual}): \
                 the file is corrupt (a damaged disk or copy, or an edit); use another checkpoint \
                 (a run keeps the one before as checkpoints/previous.safetensors) or train again"
            ),
        ));
    }
    Ok(())
}

/// What a load did: the keys written, and (lenient mode) the module tensors
/// the file lacked and the file's keys nothing asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Keys whose values were written into the module (and optimizer).
    pub loaded: Vec<String>,
    /// Keys the module expected but the file lacks (left untouched).
    pub missing: Vec<String>,
    /// Keys in the file that nothing loaded.
    pub unexpected: Vec<String>,
}

/// A pending in-place write, validated but not yet applied.
type Plan = Vec<(String, Tensor, Vec<f32>)>;
/// An optimizer's state by slot, one tensor per parameter ([`OptimizerState::slots`]).
type Slots = Vec<(&'static str, Vec<Tensor>)>;

/// A safetensors file read into memory and validated, from which modules and
/// optimizers are restored in place.
pub struct Checkpoint {
    path: String,
    bytes: Vec<u8>,
    data_start: usize,
    infos: HashMap<String, TensorInfo>,
    metadata: HashMap<String, String>,
    used: Mutex<HashSet<String>>,
}

impl Checkpoint {
    /// Read and validate `path` (header, offsets, file length).
    pub fn open(path: impl AsRef<Path>) -> Result<Checkpoint> {
        let p = path.as_ref();
        let shown = p.display().to_string();
        let bytes = std::fs::read(p).map_err(|source| Error::Io {
            path: shown.clone(),
            source,
        })?;
        let (header_len, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| {
            Error::invalid(
                "load",
                format!(
                    "{shown}: not a valid safetensors file ({e}); it may be truncated or corrupt \
                     (e.g. an interrupted copy): use another checkpoint or save it again"
                ),
            )
        })?;
        let infos: HashMap<String, TensorInfo> =
            meta.tensors().into_iter().map(|(n, info)| (n, info.clone())).collect();
        let metadata = meta.metadata().clone().unwrap_or_default();
        let ours = metadata.get("format").is_some_and(|f| f == "balgan");
        if let Some(stored) = metadata.get(CHECKSUM_KEY).filter(|c| ours && c.starts_with("crc32:")) {
            verify_checksum(&shown, stored, &infos, &metadata, &bytes[8 + header_len..])?;
        }
        Ok(Checkpoint {
            path: shown,
            bytes,
            data_start: 8 + header_len,
            infos,
            metadata,
            used: Mutex::new(HashSet::new()),
        })
    }

    /// The file this checkpoint was read from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tensor names in the file, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.infos.keys().cloned().collect();
        k.sort();
        k
    }

    /// A metadata entry.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// Whether the file holds a tensor named `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.infos.contains_key(key)
    }

    fn used(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.used.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The values and shape of tensor `key` on the host, checked to be F32.
    pub fn values(&self, key: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let Some(info) = self.infos.get(key) else {
            return Err(Error::invalid(
                "load",
                format!("{}: no tensor named '{key}' in the file", self.path),
            ));
        };
        if info.dtype != Dtype::F32 {
            return Err(Error::invalid(
                "load",
                format!(
                    "{}: tensor '{key}' is stored as {:?}, but balgan loads F32; convert the file's tensors to F32",
                    self.path, info.dtype
                ),
            ));
        }
        let (s, e) = info.data_offsets;
        let data = &self.bytes[self.data_start + s..self.data_start + e];
        let values = data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        self.used().insert(key.to_string());
        Ok((info.shape.clone(), values))
    }

    /// Check one key against the tensor it should fill.
    fn plan_one(&self, key: &str, target: &Tensor) -> Result<Vec<f32>> {
        if let Some(info) = self.infos.get(key) {
            if info.shape != target.shape() {
                return Err(Error::invalid(
                    "load",
                    format!(
                        "{}: tensor '{key}' has shape {:?} in the file but {:?} in the model; \
                         the checkpoint was saved from a different architecture",
                        self.path,
                        info.shape,
                        target.shape()
                    ),
                ));
            }
        }
        Ok(self.values(key)?.1)
    }

    fn plan_module(&self, prefix: &str, module: &dyn Module, strict: bool) -> Result<(Plan, Vec<String>)> {
        let mut plan = Vec::new();
        let mut missing = Vec::new();
        for (name, t) in named_tensors(module) {
            let k = key(prefix, &name);
            if !self.contains(&k) {
                missing.push(k);
                continue;
            }
            let values = self.plan_one(&k, &t)?;
            plan.push((k, t, values));
        }
        if strict && !missing.is_empty() {
            return Err(Error::invalid(
                "load",
                format!(
                    "{}: missing keys {missing:?}; the file holds {} tensors (e.g. {:?}); check the prefix, \
                     or load non-strictly to keep the current values of the missing tensors",
                    self.path,
                    self.infos.len(),
                    self.keys().into_iter().take(5).collect::<Vec<_>>()
                ),
            ));
        }
        Ok((plan, missing))
    }

    fn plan_optimizer(
        &self,
        prefix: &str,
        owner: &dyn Module,
        opt: &dyn OptimizerState,
    ) -> Result<(Plan, u64, Vec<u64>, Slots)> {
        let names = param_names(owner, opt)?;
        let meta_u64 = |k: &str| -> Result<u64> {
            let v = self.metadata(k).ok_or_else(|| {
                Error::invalid(
                    "load",
                    format!(
                        "{}: optimizer state is missing metadata '{k}'; was the checkpoint saved with its optimizer?",
                        self.path
                    ),
                )
            })?;
            v.parse().map_err(|_| {
                Error::invalid(
                    "load",
                    format!(
                        "{}: metadata '{k}' = '{v}' is not a whole number; the file is corrupt",
                        self.path
                    ),
                )
            })
        };
        let kind_key = key(prefix, "kind");
        match self.metadata(&kind_key) {
            Some(k) if k == opt.kind() => {}
            Some(k) => {
                return Err(Error::invalid(
                    "load",
                    format!(
                        "{}: '{kind_key}' holds {k} state but the optimizer is {}; build the same optimizer as saved",
                        self.path,
                        opt.kind()
                    ),
                ))
            }
            None => {
                return Err(Error::invalid(
                    "load",
                    format!(
                        "{}: no optimizer state under '{}' (metadata '{kind_key}' is absent); \
                         was the checkpoint saved with its optimizer?",
                        self.path,
                        prefix.trim_end_matches('.')
                    ),
                ))
            }
        }
        // The values land in copies of the state, handed to the optimizer
        // once everything has been checked.
        let slots = opt.slots()?;
        let mut plan = Vec::new();
        for (slot, tensors) in &slots {
            for (name, t) in names.iter().zip(tensors) {
                let k = key(prefix, &format!("{name}.{slot}"));
                let values = self.plan_one(&k, t)?;
                plan.push((k, t.clone(), values));
            }
        }
        let (counter, _, _) = opt.counters();
        let per_param = names
            .iter()
            .map(|n| meta_u64(&key(prefix, &format!("{n}.{counter}"))))
            .collect::<Result<Vec<u64>>>()?;
        let steps = meta_u64(&key(prefix, "steps"))?;
        Ok((plan, steps, per_param, slots))
    }

    fn apply(plan: Plan) -> Result<Vec<String>> {
        let mut loaded = Vec::with_capacity(plan.len());
        for (k, t, values) in plan {
            t.assign_slice_(&values)?;
            loaded.push(k);
        }
        Ok(loaded)
    }

    /// Write the tensors stored under `prefix` into `module`'s parameters and
    /// buffers, in place. `strict`: every module tensor must be in the file
    /// (otherwise missing ones keep their values and are reported). Shape and
    /// dtype mismatches are errors either way; nothing is written on error.
    /// Keys of the file that nothing loads are reported by
    /// [`Checkpoint::unused_keys`] and [`Checkpoint::finish`].
    pub fn load_module(&self, prefix: &str, module: &dyn Module, strict: bool) -> Result<LoadReport> {
        let (plan, missing) = self.plan_module(prefix, module, strict)?;
        Ok(LoadReport {
            loaded: Checkpoint::apply(plan)?,
            missing,
            unexpected: Vec::new(),
        })
    }

    /// Restore `opt`'s state (saved with [`CheckpointWriter::add_optimizer`]
    /// under `prefix`, for parameters of `owner`). All of it must be present;
    /// nothing is written on error.
    pub fn load_optimizer(&self, prefix: &str, owner: &dyn Module, opt: &mut dyn OptimizerState) -> Result<()> {
        let (plan, steps, per_param, slots) = self.plan_optimizer(prefix, owner, opt)?;
        // Counters first: they are the last thing that can be rejected.
        opt.set_counters(steps, &per_param)?;
        Checkpoint::apply(plan)?;
        opt.set_slots(&slots)
    }

    /// Tensor keys of the file that no load has read, sorted.
    pub fn unused_keys(&self) -> Vec<String> {
        let used = self.used();
        let mut k: Vec<String> = self.infos.keys().filter(|k| !used.contains(*k)).cloned().collect();
        k.sort();
        k
    }

    /// After the loads: in strict mode, an error naming every key of the file
    /// that nothing read (a file from another model, or a wrong prefix);
    /// leniently, just the list.
    pub fn finish(&self, strict: bool) -> Result<Vec<String>> {
        let unused = self.unused_keys();
        if strict && !unused.is_empty() {
            return Err(Error::invalid(
                "load",
                format!(
                    "{}: unexpected keys {unused:?}; the file holds tensors the model does not have; \
                     load non-strictly to ignore them",
                    self.path
                ),
            ));
        }
        Ok(unused)
    }
}

/// Save every parameter and buffer of `module` to `path` (atomically).
pub fn save(path: impl AsRef<Path>, module: &dyn Module) -> Result<()> {
    CheckpointWriter::new().add_module("", module).write(path)
}

/// Load `path` into `module` in place. `strict`: the file's keys and the
/// module's names must agree exactly (as PyTorch's `load_state_dict`);
/// otherwise missing and unexpected keys are reported in the [`LoadReport`].
/// Nothing is written on error.
pub fn load(path: impl AsRef<Path>, module: &dyn Module, strict: bool) -> Result<LoadReport> {
    let ck = Checkpoint::open(path)?;
    let (plan, missing) = ck.plan_module("", module, strict)?;
    let unexpected = ck.finish(strict)?;
    Ok(LoadReport {
        loaded: Checkpoint::apply(plan)?,
        missing,
        unexpected,
    })
}

/// Save `module` and the state of `opt` (built on `module`'s parameters),
/// the latter under [`OPTIM_PREFIX`].
pub fn save_with_optimizer(path: impl AsRef<Path>, module: &dyn Module, opt: &dyn OptimizerState) -> Result<()> {
    CheckpointWriter::new()
        .add_module("", module)
        .add_optimizer(OPTIM_PREFIX, module, opt)?
        .write(path)
}

/// Load what [`save_with_optimizer`] wrote, in place: training continues as
/// if it had not been interrupted. Nothing is written on error.
pub fn load_with_optimizer(
    path: impl AsRef<Path>,
    module: &dyn Module,
    opt: &mut dyn OptimizerState,
    strict: bool,
) -> Result<LoadReport> {
    let ck = Checkpoint::open(path)?;
    let (module_plan, missing) = ck.plan_module("", module, strict)?;
    let (opt_plan, steps, per_param, slots) = ck.plan_optimizer(OPTIM_PREFIX, module, opt)?;
    let unexpected = ck.finish(strict)?;
    // Counters first: they are the last thing that can be rejected.
    opt.set_counters(steps, &per_param)?;
    let mut loaded = Checkpoint::apply(module_plan)?;
    loaded.extend(Checkpoint::apply(opt_plan)?);
    opt.set_slots(&slots)?;
    Ok(LoadReport {
        loaded,
        missing,
        unexpected,
    })
}
