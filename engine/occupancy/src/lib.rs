//! VoxelSplat (Zhu et al., CVPR 2025): splat losses for occupancy and scene-flow learning.
//!
//! - [`grid`]: the voxel grid (Occ3D layout: index = (x·Y + y)·Z + z) and class conventions.
//! - [`sample`]: class- and speed-balanced sampling of visible voxels (seeded).
//! - [`backend`]: the splat renderer the loss draws with — kiln's GPU rasterizer, or the f64
//!   CPU reference (the oracle for finite-difference checks).
//! - [`splat_loss`]: voxels → semantic Gaussians → renders in several cameras and timestamps →
//!   soft-label CE, depth L1 and rendered-flow L1, with gradients to voxel logits and flow.
//! - [`loss3d`]: the 3-D terms (class-weighted CE on visible voxels, weighted flow L1).
//! - [`street`]: the seeded synthetic street benchmark (boxes, moving cars and pedestrians,
//!   surround cameras over several timestamps, GT occupancy/semantics/flow/visibility).
//! - [`metrics`]: mIoU, RayIoU-style first-hit metric, flow EPE and velocity error.
//! - [`net`]: a small 3-D conv occupancy + flow network (Burn via kiln-nn).
//! - [`train`]: the benchmark's two arms (3-D losses; 3-D + VoxelSplat) and their evaluation.
//! - [`occ3d`]: readers for Occ3D-nuScenes `labels.npz` (semantics, mask_lidar, mask_camera).
//! - [`view`]: occupancy and flow as a coloured mesh (class-coloured voxel faces, flow arrows)
//!   for `kiln view`.
//!
//! Method spec: `methods/voxelsplat.md`; design notes: docs/VOXELSPLAT.md.

pub mod backend;
pub mod grid;
pub mod loss3d;
pub mod metrics;
pub mod net;
pub mod occ3d;
pub mod raycast;
pub mod sample;
pub mod splat_loss;
pub mod street;
pub mod train;
pub mod view;

pub use backend::{CpuReference, GpuSplat, SplatBackend};
pub use grid::{ClassSet, VoxelGrid};
pub use sample::{sample_voxels, SampleConfig};
pub use splat_loss::{LossView, SplatLoss, SplatLossConfig, SplatLossOutput, VoxelPrediction, VoxelTargets};

/// Errors of the occupancy crate; each names the input and the cause.
#[derive(Debug, thiserror::Error)]
pub enum OccError {
    #[error("{what}: {reason}")]
    Shape { what: String, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Splat(#[from] kiln_splat::SplatError),
    #[error(transparent)]
    Gpu(#[from] kiln_gpu::GpuError),
    #[error("{path}: {reason}")]
    File { path: std::path::PathBuf, reason: String },
}

impl OccError {
    pub(crate) fn shape(what: impl Into<String>, reason: impl Into<String>) -> Self {
        OccError::Shape { what: what.into(), reason: reason.into() }
    }
}
