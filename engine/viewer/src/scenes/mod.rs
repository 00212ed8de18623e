//! What the viewer can open. Each scene kind is one module implementing [`SceneKind`]; adding a
//! kind (voxel grids, matched mesh pairs) means one new module and one line in [`open`].
//!
//! - [`splats`]: a 3DGS PLY (kiln's or any standard one); also what live training shows.
//! - [`run_folder`]: a kiln run folder — its fitted splats plus the dataset's cameras.

pub mod run_folder;
pub mod splats;

use crate::present::{DisplayMode, Target};
use crate::ViewError;
use glam::Vec3;
use kiln_gpu::{GpuContext, GpuTimer};
use kiln_scene::Camera;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A sphere that holds the interesting part of a scene, and which way is up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    pub center: Vec3,
    pub radius: f32,
    pub up: Vec3,
    /// The direction the first view looks in (the home camera looks that way).
    pub front: Vec3,
}

/// A camera of the dataset a scene was fitted to, drawn as a frustum.
#[derive(Clone, Debug)]
pub struct DatasetCamera {
    pub name: String,
    pub camera: Camera,
    /// Its image on disk (shown when the camera is selected).
    pub image: Option<PathBuf>,
    /// "train" or "test".
    pub split: &'static str,
}

/// Settings the side panel edits, shared by every scene kind (each uses what applies to it).
#[derive(Clone, Debug, PartialEq)]
pub struct ViewStyle {
    pub mode: DisplayMode,
    pub background: [f32; 3],
    /// Highest SH degree used (clamped to the scene's).
    pub sh_degree: u32,
    /// Multiplies every Gaussian's scale.
    pub splat_scale: f32,
    /// Depth shown as [near, far] in depth mode.
    pub depth_range: (f32, f32),
}

impl Default for ViewStyle {
    fn default() -> Self {
        ViewStyle { mode: DisplayMode::Color, background: [0.0; 3], sh_degree: 3, splat_scale: 1.0, depth_range: (0.1, 10.0) }
    }
}

/// One kind of content the viewer can show.
pub trait SceneKind {
    /// What is shown, for the title bar (usually the file name).
    fn title(&self) -> String;
    /// Lines of statistics for the side panel: (label, value).
    fn stats(&self) -> Vec<(String, String)>;
    fn bounds(&self) -> Bounds;
    /// Cameras to draw as frusta and snap to.
    fn cameras(&self) -> &[DatasetCamera] {
        &[]
    }
    /// The background the scene was fitted against (white for NeRF scenes), if known.
    fn background(&self) -> Option<[f32; 3]> {
        None
    }
    /// Highest SH degree the scene has (0 for kinds without SH).
    fn sh_degree(&self) -> u32 {
        0
    }
    /// The splat scene behind this kind, if it is one (live training replaces its cloud).
    fn as_splats_mut(&mut self) -> Option<&mut splats::SplatScene> {
        None
    }
    /// Draws the scene seen by `camera` into `target` (same size as the camera).
    fn draw(&mut self, ctx: &Arc<GpuContext>, camera: &Camera, style: &ViewStyle, target: &Target, timer: Option<&mut GpuTimer>) -> Result<(), ViewError>;
}

/// Opens a file or folder as the matching scene kind.
pub fn open(ctx: &Arc<GpuContext>, path: &Path) -> Result<Box<dyn SceneKind>, ViewError> {
    if !path.exists() {
        return Err(ViewError::Io { path: path.to_path_buf(), message: "no such file or folder".into() });
    }
    if path.is_dir() {
        return Ok(Box::new(run_folder::open(ctx, path)?));
    }
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "ply" => Ok(Box::new(splats::SplatScene::open(ctx, path)?)),
        "obj" | "off" => Err(ViewError::Unsupported { path: path.to_path_buf(), what: "meshes are not viewable yet (kiln_scene::mesh is being written)".into() }),
        _ => Err(ViewError::Unsupported {
            path: path.to_path_buf(),
            what: format!("unknown file type {:?}; kiln view opens a 3DGS .ply or a kiln run folder", ext),
        }),
    }
}
