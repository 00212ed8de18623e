//! A kiln run folder (`kiln fit --out <folder>`): the fitted `point_cloud.ply`, and the
//! cameras of the dataset named in its `config.json`, drawn as frusta with their images.

use super::splats::{cloud_bounds, SplatScene};
use super::{Bounds, DatasetCamera};
use crate::ViewError;
use glam::Vec3;
use kiln_gpu::GpuContext;
use kiln_scene::{Dataset, LoadOptions};
use std::path::Path;
use std::sync::Arc;

/// The parts of `config.json` the viewer needs (written by `kiln fit`).
#[derive(serde::Deserialize)]
struct RunConfig {
    dataset: Option<std::path::PathBuf>,
    resolution: Option<u32>,
    background: Option<[f32; 3]>,
}

pub fn open(ctx: &Arc<GpuContext>, folder: &Path) -> Result<SplatScene, ViewError> {
    let ply = folder.join("point_cloud.ply");
    if !ply.is_file() {
        return Err(ViewError::Io {
            path: folder.to_path_buf(),
            message: "not a finished kiln run folder: it has no point_cloud.ply (finish the fit, e.g. `kiln fit --resume`)".into(),
        });
    }
    let mut scene = SplatScene::open(ctx, &ply)?;
    scene.name = folder.file_name().map_or_else(|| folder.display().to_string(), |n| n.to_string_lossy().to_string());
    scene.source = format!("run folder {}", folder.display());
    let config_path = folder.join("config.json");
    // The splats are worth showing even when the dataset has moved: cameras are optional, and
    // why they are missing goes to the stats.
    match load_cameras(&config_path) {
        Ok((cameras, background)) => {
            scene.background = background;
            if let Some(b) = camera_bounds(&cameras, scene.cloud().means.as_slice()) {
                scene.set_bounds(b);
            }
            scene.cameras = cameras;
        }
        Err(e) => {
            eprintln!("kiln view: no dataset cameras: {e}");
            scene.source = format!("{} (no cameras: {e})", scene.source);
        }
    }
    Ok(scene)
}

/// The dataset's train and test cameras at the resolution the run was fitted at.
/// Also the background the run was fitted against.
pub fn load_cameras(config_path: &Path) -> Result<(Vec<DatasetCamera>, Option<[f32; 3]>), ViewError> {
    let text = std::fs::read_to_string(config_path).map_err(|e| ViewError::Io { path: config_path.to_path_buf(), message: e.to_string() })?;
    let config: RunConfig =
        serde_json::from_str(&text).map_err(|e| ViewError::Io { path: config_path.to_path_buf(), message: format!("not a kiln run config: {e}") })?;
    let Some(dataset) = config.dataset else {
        return Ok((Vec::new(), config.background)); // the built-in demo scene has no dataset on disk
    };
    let opts = LoadOptions { resolution: config.resolution, background: config.background.map(Vec3::from), ..Default::default() };
    let ds = Dataset::load_with(&dataset, &opts)?;
    let tag = |split: &'static str| move |v: &kiln_scene::View| DatasetCamera { name: v.name.clone(), camera: v.camera, image: Some(v.image_path.clone()), split };
    let cameras = ds.train.iter().map(tag("train")).chain(ds.test.iter().map(tag("test"))).collect();
    Ok((cameras, Some(ds.background.to_array())))
}

/// Framing from the cameras: up is their mean up direction (datasets disagree on which world
/// axis is up), the front is the first camera's view direction, centre and radius from the
/// cloud.
pub fn camera_bounds(cameras: &[DatasetCamera], means: &[Vec3]) -> Option<Bounds> {
    let first = cameras.first()?;
    // Camera y (down) in world coordinates is the second row of the world-to-camera rotation.
    let up = -cameras.iter().map(|c| c.camera.rotation.row(1)).sum::<Vec3>();
    let mut b = cloud_bounds(means);
    b.up = up.try_normalize().unwrap_or(b.up);
    b.front = first.camera.rotation.row(2);
    Some(b)
}
