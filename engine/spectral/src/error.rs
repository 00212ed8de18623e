use std::path::PathBuf;

/// Why a spectral computation could not run. Input problems name the file or the shape.
#[derive(Debug, thiserror::Error)]
pub enum SpectralError {
    #[error(transparent)]
    Mesh(#[from] kiln_scene::mesh::MeshError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {msg}")]
    Parse { path: PathBuf, line: usize, msg: String },
    #[error("{what}: {msg}")]
    Invalid { what: String, msg: String },
    #[error("{what}: the eigensolver failed: {msg}")]
    Eigen { what: String, msg: String },
}

impl SpectralError {
    pub(crate) fn invalid(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Self::Invalid { what: what.into(), msg: msg.into() }
    }
}

pub type Result<T, E = SpectralError> = std::result::Result<T, E>;
