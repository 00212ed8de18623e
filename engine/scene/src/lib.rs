//! kiln-scene: cameras and conventions shared by every kiln method.
//!
//! Convention (see docs/ARCHITECTURE.md): OpenCV camera axes (x right, y down, z forward),
//! world-to-camera rotation + translation, intrinsics in pixels, pixel centres at +0.5.

pub mod camera;

pub use camera::{Camera, CameraError};
