//! kiln-fit: trainers. 3D Gaussian splatting with the 3DGS defaults
//! (`../shared/methods/3dgs.md` §5).

pub mod config;

pub use config::TrainConfig;
