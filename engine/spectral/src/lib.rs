//! Spectral geometry: Laplacians, eigenbases, descriptors, functional maps.
//!
//! Pipeline (docs/SPECTRAL.md): mesh → [`laplacian::cotangent`] → [`eigen::eigen_shift_invert`]
//! → descriptors ([`descriptors`]) → functional map fit ([`fmap::fit`]) → ZoomOut → point map →
//! evaluation on `.vts` ground truth with heat-method geodesics ([`geodesic`], [`eval`]).
//! [`pipeline`] runs it end to end. CPU only (faer + rayon): the sparse factorization is the core
//! and stays on the CPU.

pub mod ball_tree;
pub mod basis_eval;
#[cfg(feature = "learned")]
pub mod basis_model;
pub mod cloud_match;
pub mod cloud_orient;
pub mod descriptors;
pub mod eigen;
pub mod error;
pub mod eval;
pub mod fmap;
pub mod geodesic;
mod intrinsic;
pub mod laplacian;
pub mod learned;
#[cfg(feature = "learned")]
pub mod learned_eval;
pub mod pipeline;
pub mod pointcloud;
pub mod robust;

pub use error::{Result, SpectralError};
