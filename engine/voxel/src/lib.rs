//! kiln-voxel: dense voxel grids, GPU ray marching forward/backward, fitting from posed images,
//! and Vox-E editing. Math and protocol: docs/VOXE.md.
//!
//! - [`VoxelGrid`]: density + colour (SH0) at grid points in a box; trilinear, softplus, sigmoid.
//! - [`march`]: GPU ray marcher (forward, backward, occupancy for empty-space skipping);
//!   [`reference`]: its CPU (rayon, f64) reference.
//! - [`fit`]: coarse-to-fine fitting from posed images (GPU step, Adam, checkpoints).
//! - [`edit`]: Vox-E editing — [`guidance`], the [`correlation`] regularizer, attention grids,
//!   the seeded [`graphcut`] and the merge; [`mesh`]: level-set export (OBJ/PLY).

pub mod correlation;
pub mod edit;
pub mod error;
pub mod fit;
pub mod graphcut;
pub mod guidance;
pub mod grid;
pub mod march;
pub mod mesh;
pub mod rays;
pub mod reference;
pub mod rng;

pub use error::{Result, VoxelError};
pub use grid::VoxelGrid;
pub use march::{GpuGrid, Marcher, Rendered};
pub use reference::MarchSettings;
