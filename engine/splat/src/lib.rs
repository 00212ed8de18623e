//! kiln-splat: Gaussian clouds and the differentiable tile rasterizer.
//!
//! The math both the GPU kernels and the CPU reference implement is written out in
//! `docs/RASTERIZER.md`; keep the three in step.

pub mod cloud;
pub mod gpu;
pub mod loss;
pub mod ply;
pub mod reference;
pub mod synthetic;
#[doc(hidden)]
pub mod testing;
pub mod types;

pub use cloud::{sh_coeffs, GaussianCloud};
pub use ply::{read_gaussians, read_point_cloud, write_gaussians, PlyError};
pub use types::{CloudGrads, ColorSource, OutputGrads, RenderOutput, RenderSettings, TILE_SIZE};

pub use gpu::{GpuCloud, SplatError, SplatRenderer};
