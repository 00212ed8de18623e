use std::path::PathBuf;

/// Everything that can go wrong in kiln-voxel; each message names the file or the cause.
#[derive(Debug, thiserror::Error)]
pub enum VoxelError {
    #[error(transparent)]
    Gpu(#[from] kiln_gpu::GpuError),
    #[error(transparent)]
    Dataset(#[from] kiln_scene::DatasetError),
    #[error(transparent)]
    Run(#[from] kiln_run::RunError),
    #[error(transparent)]
    Checkpoint(#[from] kiln_run::CheckpointError),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("invalid voxel grid: {0}")]
    Grid(String),
    #[error("guidance: {0}")]
    Guidance(String),
    #[error("mask {what}: {message}")]
    Mask { what: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl VoxelError {
    pub fn file(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        VoxelError::File { path: path.into(), message: message.to_string() }
    }
}

pub type Result<T, E = VoxelError> = std::result::Result<T, E>;
