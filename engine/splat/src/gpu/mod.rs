//! The GPU rasterizer: forward and backward as WGSL compute kernels (`shaders/splat_*.wgsl`).
//!
//! Pipeline of a forward render (docs/RASTERIZER.md has the math):
//! 1. `project`: cull, EWA projection, SH colour, tiles touched, depth key — per Gaussian.
//! 2. `sort`: stable radix sort of Gaussian ids by depth.
//! 3. `bin`: tile counts in depth order → exclusive scan → (tile, splat) pairs written in depth
//!    order; stable radix sort on the tile id alone keeps depth order inside each tile; then
//!    each tile's [start, end) range.
//! 4. `rasterize`: one 16×16 workgroup per tile composites front to back.
//!
//! The pair count is read back once per forward to size the pair buffers; that is the only
//! CPU read-back and it happens before the pairs exist.

mod buffers;
mod renderer;

pub use buffers::GpuCloud;
pub use renderer::{ForwardState, GpuGrads, SplatRenderer};

/// Errors from rendering.
#[derive(Debug, thiserror::Error)]
pub enum SplatError {
    #[error(transparent)]
    Gpu(#[from] kiln_gpu::GpuError),
    #[error("invalid Gaussian cloud: {0}")]
    Cloud(String),
    #[error("invalid camera: {0}")]
    Camera(String),
    #[error("invalid render settings: {0}")]
    Settings(String),
}
