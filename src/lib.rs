//! kiln: a GPU engine for 3D reconstruction and geometry processing.
//!
//! This facade re-exports the engine crates so that a library user depends on one package.
pub use kiln_gpu as gpu;
pub use kiln_scene as scene;
pub use kiln_splat as splat;
pub use kiln_spectral as spectral;
pub use kiln_voxel as voxel;
