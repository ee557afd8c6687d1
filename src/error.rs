//! The one error type of the crate. Every message says what was wrong and, where
//! there is one, how to fix it.

use std::fmt;

/// Result alias used across balgan.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in balgan.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No GPU or software adapter could be found.
    #[error("no GPU adapter found{filter}. {hint}")]
    NoAdapter { filter: String, hint: String },

    /// The adapter was found but a device could not be opened on it.
    #[error("could not open a device on adapter '{adapter}': {message}")]
    DeviceRequest { adapter: String, message: String },

    /// Two shapes that must agree do not.
    #[error("{op}: shape mismatch, {lhs:?} vs {rhs:?}{detail}")]
    ShapeMismatch {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
        detail: Detail,
    },

    /// An argument is out of range (an axis, an index, a rank, a length).
    #[error("{op}: {message}")]
    InvalidArgument { op: &'static str, message: String },

    /// A tensor or dispatch is larger than the adapter allows.
    #[error(
        "{what}: {requested} exceeds the adapter's limit of {limit}; split the work into smaller pieces (e.g. a smaller batch)"
    )]
    LimitExceeded { what: String, requested: u64, limit: u64 },

    /// A shader failed to compile or a pipeline could not be created.
    #[error("shader {file}: {message}")]
    Shader { file: &'static str, message: String },

    /// The GPU reported an error (validation, out of memory, device lost).
    #[error("GPU error: {0}")]
    Gpu(String),

    /// An op has no gradient rule for the requested input.
    #[error("{op}: backward is not supported for this input")]
    BackwardNotSupported { op: &'static str },

    /// Tensors on different devices were combined.
    #[error("{op}: tensors live on different devices")]
    DeviceMismatch { op: &'static str },

    /// Training produced a NaN or infinite loss.
    #[error(
        "training diverged: {loss} became {value} at step {step} ({phase} phase). Nothing after the last good \
         checkpoint was saved; lower the learning rates (g_lr, d_lr, ae_lr) or gp_weight under [model] in the \
         run's config.toml, then continue with `balgan train --resume RUN`"
    )]
    Diverged {
        step: u64,
        phase: String,
        loss: String,
        value: f32,
    },

    /// A tensor about to be saved holds NaN or ±Inf (a checkpoint is never
    /// written from a diverged model).
    #[error(
        "{path}: not written, tensor '{tensor}' holds {value} at element {index}; the model has diverged \
         (lower the learning rates), the file on disk was left as it was"
    )]
    NonFinite {
        path: String,
        tensor: String,
        index: usize,
        value: f32,
    },

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Optional extra text for [`Error::ShapeMismatch`].
#[derive(Debug, Default, Clone)]
pub struct Detail(pub String);

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, " ({})", self.0)
        }
    }
}

impl Error {
    pub(crate) fn shape(op: &'static str, lhs: &[usize], rhs: &[usize], detail: &str) -> Error {
        Error::ShapeMismatch {
            op,
            lhs: lhs.to_vec(),
            rhs: rhs.to_vec(),
            detail: Detail(detail.to_string()),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    pub(crate) fn invalid(op: &'static str, message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            op,
            message: message.into(),
        }
    }
}
