//! Voxel grids (kiln-voxel's `.kvox`): ray-marched by the same kernel `kiln voxel fit` renders
//! its test views with ([`kiln_voxel::Marcher`]), then the `view_present` kernel writes the
//! display mode. An edit run (`kiln voxel edit --out`) also loads the grid it started from, and
//! the side panel shows the edit, the original, or both split side by side.

use super::{Bounds, DatasetCamera, SceneKind, ViewStyle};
use crate::present::{PresentInput, Presenter, Target};
use crate::ViewError;
use glam::Vec3;
use kiln_gpu::{GpuContext, GpuTimer};
use kiln_scene::Camera;
use kiln_voxel::{GpuGrid, MarchSettings, Marcher, VoxelGrid};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which grid an edit run shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compare {
    /// The grid of the file or run (after the edit, for edit runs).
    Edited,
    /// The grid the edit started from.
    Original,
    /// Original left of the split line, edit right of it.
    Split,
}

/// Opacity of one voxel below which a cell is skipped while marching: the fitter's default
/// (`kiln_voxel::FitConfig::empty_alpha`), so the viewer marches what the fit rendered.
const EMPTY_ALPHA: f32 = 1e-3;

struct LoadedGrid {
    host: VoxelGrid,
    gpu: GpuGrid,
}

pub struct VoxelScene {
    pub name: String,
    pub source: String,
    marcher: Marcher,
    presenter: Presenter,
    grid: LoadedGrid,
    original: Option<LoadedGrid>,
    /// Voxels whose density or colour differ between the edit and the original.
    changed_voxels: Option<usize>,
    pub compare: Compare,
    /// Where the split line is, as a fraction of the image width.
    pub split: f32,
    pub cameras: Vec<DatasetCamera>,
    pub background: Option<[f32; 3]>,
    bounds: Bounds,
    /// The original's image in split mode (reused while the size stays).
    scratch: Option<Target>,
}

fn load_grid(ctx: &Arc<GpuContext>, marcher: &Marcher, path: &Path) -> Result<LoadedGrid, ViewError> {
    let host = VoxelGrid::load(path).map_err(|e| ViewError::Io { path: path.to_path_buf(), message: e.to_string() })?;
    let mut gpu = GpuGrid::upload(ctx, &host).map_err(|e| ViewError::Io { path: path.to_path_buf(), message: e.to_string() })?;
    // Empty-space skipping, as the fitter does once the grid is known.
    let threshold = -(1.0 - EMPTY_ALPHA).ln() / host.voxel_size();
    let mut enc = ctx.encoder("viewer voxel occupancy");
    marcher.update_occupancy(&mut enc, &mut gpu, threshold, None);
    ctx.submit(enc);
    Ok(LoadedGrid { host, gpu })
}

/// The parts of a voxel run's `config.json` the viewer reads (`kiln voxel fit` writes dataset,
/// resolution and background; `kiln voxel edit` writes the run it edited).
#[derive(serde::Deserialize)]
struct VoxelRunConfig {
    source_run: Option<PathBuf>,
}

impl VoxelScene {
    /// Opens a `.kvox` file, or a voxel run folder (one with `grid.kvox`).
    pub fn open(ctx: &Arc<GpuContext>, path: &Path) -> Result<Self, ViewError> {
        let marcher = Marcher::new(ctx.clone()).map_err(|e| ViewError::Render(e.to_string()))?;
        let (grid_path, folder) = if path.is_dir() { (path.join("grid.kvox"), Some(path)) } else { (path.to_path_buf(), None) };
        let grid = load_grid(ctx, &marcher, &grid_path)?;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().to_string());
        let mut scene = VoxelScene {
            name,
            source: path.display().to_string(),
            marcher,
            presenter: Presenter::new(ctx)?,
            bounds: grid_bounds(&grid.host),
            grid,
            original: None,
            changed_voxels: None,
            compare: Compare::Edited,
            split: 0.5,
            cameras: Vec::new(),
            background: None,
            scratch: None,
        };
        if let Some(folder) = folder {
            scene.load_run(ctx, folder)?;
        }
        Ok(scene)
    }

    /// Builds a scene from grids in memory (tests, library users).
    pub fn from_grids(ctx: &Arc<GpuContext>, grid: &VoxelGrid, original: Option<&VoxelGrid>, name: &str) -> Result<Self, ViewError> {
        let marcher = Marcher::new(ctx.clone()).map_err(|e| ViewError::Render(e.to_string()))?;
        let upload = |g: &VoxelGrid| -> Result<LoadedGrid, ViewError> {
            let mut gpu = GpuGrid::upload(ctx, g).map_err(|e| ViewError::Render(format!("{name}: {e}")))?;
            let mut enc = ctx.encoder("viewer voxel occupancy");
            marcher.update_occupancy(&mut enc, &mut gpu, -(1.0 - EMPTY_ALPHA).ln() / g.voxel_size(), None);
            ctx.submit(enc);
            Ok(LoadedGrid { host: g.clone(), gpu })
        };
        let loaded = upload(grid)?;
        let original = original.map(upload).transpose()?;
        let changed_voxels = original.as_ref().map(|o| changed_voxels(&o.host, &loaded.host));
        Ok(VoxelScene {
            name: name.to_string(),
            source: name.to_string(),
            presenter: Presenter::new(ctx)?,
            bounds: grid_bounds(grid),
            marcher,
            grid: loaded,
            compare: if original.is_some() { Compare::Split } else { Compare::Edited },
            original,
            changed_voxels,
            split: 0.5,
            cameras: Vec::new(),
            background: None,
            scratch: None,
        })
    }

    /// A run folder: the dataset's cameras, and for an edit run the grid it started from.
    fn load_run(&mut self, ctx: &Arc<GpuContext>, folder: &Path) -> Result<(), ViewError> {
        let config_path = folder.join("config.json");
        let source_run = match std::fs::read_to_string(&config_path) {
            Ok(text) => serde_json::from_str::<VoxelRunConfig>(&text)
                .map_err(|e| ViewError::Io { path: config_path.clone(), message: format!("not a kiln voxel run config: {e}") })?
                .source_run,
            Err(_) => None,
        };
        let camera_config = match &source_run {
            Some(src) => {
                let original = src.join("grid.kvox");
                let loaded = load_grid(ctx, &self.marcher, &original)?;
                if loaded.host.dims != self.grid.host.dims {
                    return Err(ViewError::Io {
                        path: original,
                        message: format!("the original grid is {:?} but the edit is {:?}; not the run this edit started from", loaded.host.dims, self.grid.host.dims),
                    });
                }
                self.changed_voxels = Some(changed_voxels(&loaded.host, &self.grid.host));
                self.original = Some(loaded);
                self.compare = Compare::Split;
                src.join("config.json")
            }
            None => config_path,
        };
        // The grid is worth showing without its cameras (a moved dataset); say why they are
        // missing.
        match super::run_folder::load_cameras(&camera_config) {
            Ok((cameras, background)) => {
                if let Some(first) = cameras.first() {
                    let up = -cameras.iter().map(|c| c.camera.rotation.row(1)).sum::<Vec3>();
                    self.bounds.up = up.try_normalize().unwrap_or(self.bounds.up);
                    self.bounds.front = first.camera.rotation.row(2);
                }
                self.cameras = cameras;
                self.background = background;
            }
            Err(e) => {
                eprintln!("kiln view: no dataset cameras: {e}");
                self.source = format!("{} (no cameras: {e})", self.source);
            }
        }
        self.source = format!("voxel run {}", folder.display());
        Ok(())
    }

    /// The march settings of an evaluation render: half a voxel per sample, no jitter, the
    /// style's background.
    pub fn settings(grid: &VoxelGrid, style: &ViewStyle) -> MarchSettings {
        MarchSettings { background: style.background, ..MarchSettings::for_grid(grid) }
    }

    fn march_into(&mut self, ctx: &GpuContext, which: Compare, camera: &Camera, style: &ViewStyle, target: &Target, mut timer: Option<&mut GpuTimer>) -> Result<(), ViewError> {
        let grid = match (which, &self.original) {
            (Compare::Original, Some(o)) => o,
            _ => &self.grid,
        };
        let rays = kiln_voxel::rays::camera_rays(camera);
        let count = camera.width * camera.height;
        ctx.check_binding("voxel view outputs", count as u64 * 5 * 4)?;
        let rays_buf = ctx.upload("viewer voxel rays", &rays);
        let outputs = ctx.zeroed("viewer voxel outputs", count as u64 * 5 * 4);
        let mut enc = ctx.encoder("viewer voxel march");
        self.marcher
            .encode_forward(&mut enc, &grid.gpu, &Self::settings(&grid.host, style), &rays_buf, count, 0, &outputs, timer.as_deref_mut())
            .map_err(|e| ViewError::Render(e.to_string()))?;
        self.presenter.encode(ctx, &mut enc, &PresentInput::voxel_rays(camera.width, camera.height, &outputs), style.mode, style.depth_range, target, timer.as_deref_mut());
        if let Some(t) = timer {
            t.resolve(&mut enc);
        }
        ctx.submit(enc);
        Ok(())
    }
}

/// Voxels whose density or colour differ (bit-wise) between two grids of the same size.
pub fn changed_voxels(a: &VoxelGrid, b: &VoxelGrid) -> usize {
    (0..a.len().min(b.len()))
        .filter(|&i| a.density[i].to_bits() != b.density[i].to_bits() || (0..3).any(|c| a.features[3 * i + c].to_bits() != b.features[3 * i + c].to_bits()))
        .count()
}

/// The grid's box as the framing sphere; up is +z (NeRF scenes) unless cameras say otherwise.
fn grid_bounds(grid: &VoxelGrid) -> Bounds {
    let center = 0.5 * (grid.bbox_min + grid.bbox_max);
    let radius = 0.5 * (grid.bbox_max - grid.bbox_min).length();
    Bounds { center, radius: if radius > 0.0 { radius } else { 1.0 }, up: Vec3::Z, front: Vec3::Y }
}

impl SceneKind for VoxelScene {
    fn title(&self) -> String {
        self.name.clone()
    }

    fn stats(&self) -> Vec<(String, String)> {
        let g = &self.grid.host;
        let mut s = vec![
            ("grid".to_string(), format!("{}×{}×{}", g.dims[0], g.dims[1], g.dims[2])),
            ("voxels".to_string(), super::splats::group_thousands(g.len())),
            ("box".to_string(), format!("{:.2?} – {:.2?}", g.bbox_min.to_array(), g.bbox_max.to_array())),
            ("voxel size".to_string(), format!("{:.4}", g.voxel_size())),
            ("source".to_string(), self.source.clone()),
        ];
        if let Some(n) = self.changed_voxels {
            s.push(("edited voxels".into(), format!("{} ({:.2} %)", super::splats::group_thousands(n), 100.0 * n as f64 / g.len().max(1) as f64)));
        }
        if !self.cameras.is_empty() {
            s.push(("cameras".into(), self.cameras.len().to_string()));
        }
        s
    }

    fn bounds(&self) -> Bounds {
        self.bounds
    }

    fn cameras(&self) -> &[DatasetCamera] {
        &self.cameras
    }

    fn background(&self) -> Option<[f32; 3]> {
        // Grids are fitted against white unless the run says otherwise (MarchSettings::for_grid).
        Some(self.background.unwrap_or([1.0; 3]))
    }

    fn ui(&mut self, ui: &mut egui::Ui) -> bool {
        if self.original.is_none() {
            return false;
        }
        let before = (self.compare, self.split);
        ui.label("edit run:");
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.compare, Compare::Original, "before");
            ui.selectable_value(&mut self.compare, Compare::Edited, "after");
            ui.selectable_value(&mut self.compare, Compare::Split, "split");
        });
        if self.compare == Compare::Split {
            ui.add(egui::Slider::new(&mut self.split, 0.0..=1.0).text("split (before | after)"));
        }
        before != (self.compare, self.split)
    }

    fn draw(&mut self, ctx: &Arc<GpuContext>, camera: &Camera, style: &ViewStyle, target: &Target, mut timer: Option<&mut GpuTimer>) -> Result<(), ViewError> {
        let compare = if self.original.is_some() { self.compare } else { Compare::Edited };
        if compare != Compare::Split {
            return self.march_into(ctx, compare, camera, style, target, timer);
        }
        self.march_into(ctx, Compare::Edited, camera, style, target, timer.as_deref_mut())?;
        let (w, h) = (camera.width, camera.height);
        let split_px = ((self.split.clamp(0.0, 1.0) * w as f32).round() as u32).min(w);
        if split_px == 0 {
            return Ok(());
        }
        if self.scratch.as_ref().is_none_or(|t| (t.width, t.height) != (w, h)) {
            self.scratch = Some(Target::new(ctx, w, h)?);
        }
        let scratch = self.scratch.take().expect("made above");
        let marched = self.march_into(ctx, Compare::Original, camera, style, &scratch, None);
        if marched.is_ok() {
            // The original's columns left of the split line replace the edit's.
            let mut enc = ctx.encoder("viewer voxel split");
            enc.copy_texture_to_texture(scratch.texture.as_image_copy(), target.texture.as_image_copy(), wgpu::Extent3d { width: split_px, height: h, depth_or_array_layers: 1 });
            ctx.submit(enc);
        }
        self.scratch = Some(scratch);
        marched
    }
}
