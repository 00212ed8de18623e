use std::path::PathBuf;

/// Why depth, flow or alignment failed. `Display` is one line naming the file (where there is
/// one) and the cause, so the CLI can print it as is.
#[derive(Debug, thiserror::Error)]
pub enum DepthError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A file that does not parse or holds the wrong kind of data.
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    /// An ONNX model that cannot be loaded or run, or has the wrong input/output form.
    #[error("depth model {}: {message}", path.display())]
    Model { path: PathBuf, message: String },
    /// A map whose size does not match the view it is for.
    #[error("{what} is {got_w}×{got_h}, expected {want_w}×{want_h} (the size of {of})")]
    Size { what: String, got_w: u32, got_h: u32, want_w: u32, want_h: u32, of: String },
    /// Arguments that cannot work together (e.g. fewer than two views).
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Gpu(#[from] kiln_gpu::GpuError),
}

impl DepthError {
    pub(crate) fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        DepthError::Format { path: path.into(), message: message.into() }
    }
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DepthError::Io { path: path.into(), source }
    }
}
