//! kiln-scene: cameras and conventions shared by every kiln method, and the dataset loaders.
//!
//! Convention (see docs/ARCHITECTURE.md): OpenCV camera axes (x right, y down, z forward),
//! world-to-camera rotation + translation, intrinsics in pixels, pixel centres at +0.5.
//! Datasets in other conventions (COLMAP, NeRF/Blender, LLFF) are converted once, at load
//! ([`dataset`]).

pub mod camera;
pub mod dataset;
pub mod mesh;

pub use camera::{Camera, CameraError};
pub use dataset::{Dataset, DatasetError, DatasetFormat, LoadOptions, View};
