//! What the viewer can open. Each scene kind is one module implementing [`SceneKind`]; adding a
//! kind means one new module and one line in [`open`].
//!
//! - [`splats`]: a 3DGS PLY (kiln's or any standard one); also what live training shows.
//! - [`run_folder`]: a kiln run folder — its fitted splats plus the dataset's cameras.
//! - [`voxels`]: a voxel grid (`.kvox`) or voxel run folder; an edit run shows before/after.
//! - [`mesh`]: a triangle mesh (OBJ, OFF, PLY with faces) with colours or scalar fields, or a
//!   matched pair with colours transferred through a point-to-point map; also an occupancy
//!   run's predictions (class-coloured voxels and flow arrows, written by `kiln occ train`).

pub mod mesh;
pub mod run_folder;
pub mod splats;
pub mod voxels;

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
    /// Whether the splat controls (SH degree, Gaussian scale) apply.
    fn has_splats(&self) -> bool {
        false
    }
    /// The splat scene behind this kind, if it is one (live training replaces its cloud).
    fn as_splats_mut(&mut self) -> Option<&mut splats::SplatScene> {
        None
    }
    /// Scene-specific controls in the side panel; returns true when the image must be redrawn.
    fn ui(&mut self, _ui: &mut egui::Ui) -> bool {
        false
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
        if let Some(first) = occupancy_prediction(path)? {
            // `kiln occ train` runs: ground truth and prediction of the first test scene.
            let mut scene = mesh::MeshScene::open(ctx, &first, None)?;
            scene.set_orientation(Vec3::Z, Vec3::X);
            return Ok(Box::new(scene));
        }
        if path.join("grid.kvox").is_file() && !path.join("point_cloud.ply").is_file() {
            return Ok(Box::new(voxels::VoxelScene::open(ctx, path)?));
        }
        return Ok(Box::new(run_folder::open(ctx, path)?));
    }
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "ply" if ply_has_faces(path)? => Ok(Box::new(mesh::MeshScene::open(ctx, path, None)?)),
        "ply" => Ok(Box::new(splats::SplatScene::open(ctx, path)?)),
        "obj" | "off" => Ok(Box::new(mesh::MeshScene::open(ctx, path, None)?)),
        "kvox" => Ok(Box::new(voxels::VoxelScene::open(ctx, path)?)),
        _ => Err(ViewError::Unsupported {
            path: path.to_path_buf(),
            what: format!("unknown file type {:?}; kiln view opens a 3DGS .ply, a mesh (.obj, .off, .ply with faces), a voxel grid (.kvox) or a kiln run folder", ext),
        }),
    }
}

/// The first `predictions/scene_*.ply` of an occupancy run folder, if it is one.
fn occupancy_prediction(run: &Path) -> Result<Option<PathBuf>, ViewError> {
    let dir = run.join("predictions");
    if !dir.is_dir() || run.join("point_cloud.ply").is_file() {
        return Ok(None);
    }
    let entries = std::fs::read_dir(&dir).map_err(|e| ViewError::Io { path: dir.clone(), message: e.to_string() })?;
    let mut scenes: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ply") && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("scene_")))
        .collect();
    scenes.sort();
    if scenes.is_empty() {
        return Err(ViewError::Io { path: dir, message: "no scene_*.ply in this occupancy run's predictions folder (the run has not finished)".into() });
    }
    Ok(scenes.into_iter().next())
}

/// Whether a PLY file's header declares faces (a mesh) rather than only vertices (splats or
/// points). Reads the header only.
pub fn ply_has_faces(path: &Path) -> Result<bool, ViewError> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| ViewError::Io { path: path.to_path_buf(), message: e.to_string() })?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    // A header is a few dozen short lines; stop early on binary garbage.
    for _ in 0..512 {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(|e| ViewError::Io { path: path.to_path_buf(), message: e.to_string() })? == 0 || line.len() > 4096 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["end_header"] => break,
            ["element", "face", n] => return Ok(n.parse::<u64>().is_ok_and(|n| n > 0)),
            _ => {}
        }
    }
    Ok(false)
}
