//! The one error type of the crate. Every message says what was wrong and, where
//! there is one, how to fix it.

use std::fmt;

/// Result alias used across balgan.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in balgan.
///
/// The enum is `#[non_exhaustive]`: a `match` on it needs a `_` arm, so new
/// kinds of failure can be added without breaking downstream crates. Code
/// outside balgan makes its own errors with the constructors
/// ([`Error::invalid`], [`Error::shape`], [`Error::io`], [`Error::limit`],
/// [`Error::gpu`]), e.g. a layer of its own that checks its input:
///
/// ```
/// use balgan::Error;
///
/// fn check_channels(shape: &[usize]) -> balgan::Result<()> {
///     if shape.len() != 4 {
///         return Err(Error::invalid("MyBlock", format!("input must be [N, C, H, W], got {shape:?}")));
///     }
///     if shape[1] % 2 != 0 {
///         let even = [shape[0], shape[1] + 1, shape[2], shape[3]];
///         return Err(Error::shape("MyBlock", shape, &even, "channels must be even"));
///     }
///     Ok(())
/// }
///
/// let e = check_channels(&[2, 3, 8, 8]).unwrap_err();
/// assert!(matches!(e, Error::ShapeMismatch { op: "MyBlock", .. }));
/// assert_eq!(e.to_string(), "MyBlock: shape mismatch, [2, 3, 8, 8] vs [2, 4, 8, 8] (channels must be even)");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No GPU or software adapter could be found.
    #[error("no GPU adapter found{filter}. {hint}")]
    NoAdapter {
        /// The backend and adapter filters in force (`" for backend 'vulkan'"`), or empty.
        filter: String,
        /// What to install or set to get an adapter.
        hint: String,
    },

    /// The adapter was found but a device could not be opened on it.
    #[error("could not open a device on adapter '{adapter}': {message}")]
    DeviceRequest {
        /// The adapter's name.
        adapter: String,
        /// wgpu's reason.
        message: String,
    },

    /// Two shapes that must agree do not.
    #[error("{op}: shape mismatch, {lhs:?} vs {rhs:?}{detail}")]
    ShapeMismatch {
        /// The operation or layer that checked the shapes.
        op: &'static str,
        /// The shape it was given.
        lhs: Vec<usize>,
        /// The shape it needed (or the other operand's).
        rhs: Vec<usize>,
        /// What must hold, if said.
        detail: Detail,
    },

    /// An argument is out of range (an axis, an index, a rank, a length).
    #[error("{op}: {message}")]
    InvalidArgument {
        /// The operation, layer or option that refused the argument.
        op: &'static str,
        /// What was wrong and how to fix it.
        message: String,
    },

    /// A tensor or dispatch is larger than the adapter allows.
    #[error(
        "{what}: {requested} exceeds the adapter's limit of {limit}; split the work into smaller pieces (e.g. a smaller batch)"
    )]
    LimitExceeded {
        /// What was too large (a buffer, a dispatch's workgroup count).
        what: String,
        /// The size asked for.
        requested: u64,
        /// The adapter's limit.
        limit: u64,
    },

    /// A shader failed to compile or a pipeline could not be created.
    #[error("shader {file}: {message}")]
    Shader {
        /// The shader's file name.
        file: &'static str,
        /// The compiler's or driver's message.
        message: String,
    },

    /// The GPU reported an error (validation, out of memory, device lost).
    #[error("GPU error: {0}")]
    Gpu(String),

    /// An op has no gradient rule for the requested input.
    #[error("{op}: backward is not supported for this input")]
    BackwardNotSupported {
        /// The op without the rule.
        op: &'static str,
    },

    /// Tensors on different devices were combined.
    #[error("{op}: tensors live on different devices")]
    DeviceMismatch {
        /// The op that combined them.
        op: &'static str,
    },

    /// Training produced a NaN or infinite loss.
    #[error(
        "training diverged: {loss} became {value} at step {step} ({phase} phase). Nothing after the last good \
         checkpoint was saved; lower the learning rates (g_lr, d_lr, ae_lr) or gp_weight under [model] in the \
         run's config.toml, then continue with `balgan train --resume RUN`"
    )]
    Diverged {
        /// The training step at which the loss was read.
        step: u64,
        /// The training phase (e.g. "autoencoder", "adversarial").
        phase: String,
        /// The loss's name.
        loss: String,
        /// Its value (NaN or ±Inf).
        value: f32,
    },

    /// A tensor about to be saved holds NaN or ±Inf (a checkpoint is never
    /// written from a diverged model).
    #[error(
        "{path}: not written, tensor '{tensor}' holds {value} at element {index}; the model has diverged \
         (lower the learning rates), the file on disk was left as it was"
    )]
    NonFinite {
        /// The file that was not written.
        path: String,
        /// The tensor's name in the file.
        tensor: String,
        /// The first non-finite element's flat index.
        index: usize,
        /// Its value.
        value: f32,
    },

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The operating system's error (kept as the [`std::error::Error::source`]).
        #[source]
        source: std::io::Error,
    },
}

/// Optional extra text for [`Error::ShapeMismatch`]: what must hold. Shown
/// in parentheses after the shapes; nothing when empty.
#[derive(Debug, Default, Clone)]
pub struct Detail(
    /// The text.
    pub String,
);

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
    /// An [`Error::ShapeMismatch`]: `op` was given shape `lhs` where `rhs`
    /// (or a shape agreeing with it) was needed; `detail` says what must hold
    /// (may be empty).
    pub fn shape(op: &'static str, lhs: &[usize], rhs: &[usize], detail: &str) -> Error {
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

    /// An [`Error::InvalidArgument`]: `op` refused an argument; `message`
    /// says what was wrong and how to fix it.
    pub fn invalid(op: &'static str, message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            op,
            message: message.into(),
        }
    }

    /// An [`Error::LimitExceeded`]: `what` asked for `requested` where the
    /// adapter allows `limit`.
    pub fn limit(what: impl Into<String>, requested: u64, limit: u64) -> Error {
        Error::LimitExceeded {
            what: what.into(),
            requested,
            limit,
        }
    }

    /// An [`Error::Gpu`] with the adapter's or driver's message.
    pub fn gpu(message: impl Into<String>) -> Error {
        Error::Gpu(message.into())
    }
}
