//! kiln-viewer: the desktop viewer (`kiln view`), winit + egui on kiln's own wgpu device.
//!
//! - [`controller`]: the camera as pure state (input events → pose), unit-tested.
//! - [`scenes`]: what can be opened, one module per scene kind (splat PLY, run folder, voxel
//!   grid or edit run, mesh or matched mesh pair).
//! - [`present`]: the viewport image; splats are rendered by the same
//!   [`kiln_splat::SplatRenderer`] as `kiln render`, then the `view_present` kernel writes the
//!   display mode into an RGBA8 texture that egui shows texel for pixel.
//! - [`viewer`]: state and UI (side panel, viewport, screenshots, live plots).
//! - [`live`]: the meeting point of a trainer thread and the viewer (`kiln fit --view`).
//! - `app`: the window, surface and event loop; window capture and the frame benchmark.

mod app;
pub mod controller;
pub mod live;
pub mod present;
pub mod scenes;
pub mod viewer;

use kiln_scene::Camera;
use std::path::PathBuf;
use std::sync::Arc;

/// Errors of the viewer; each names the file or the cause in one line.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Gpu(#[from] kiln_gpu::GpuError),
    #[error(transparent)]
    Splat(#[from] kiln_splat::SplatError),
    #[error(transparent)]
    Ply(#[from] kiln_splat::PlyError),
    #[error(transparent)]
    Dataset(#[from] kiln_scene::DatasetError),
    #[error(transparent)]
    Mesh(#[from] kiln_scene::mesh::MeshError),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: {what}")]
    Unsupported { path: PathBuf, what: String },
    #[error("cannot render: {0}")]
    Render(String),
    #[error("cannot open a window: {0}")]
    Window(String),
}

/// How `kiln view` starts.
#[derive(Clone, Default)]
pub struct ViewOptions {
    /// A 3DGS PLY or a kiln run folder to open at start.
    pub path: Option<PathBuf>,
    /// Window inner size in physical pixels.
    pub window_size: (u32, u32),
    /// Start with the side panel hidden (H toggles it).
    pub hide_panel: bool,
    /// Start at this camera's pose and field of view.
    pub camera: Option<Camera>,
    /// Capture the window to this PNG once the first frame has settled, then close.
    pub capture: Option<PathBuf>,
    /// Render this many frames while turning around the scene, then close and report times.
    pub bench_frames: Option<u32>,
    /// A cloud to show at start (instead of `path`), e.g. the synthetic benchmark scene.
    pub cloud: Option<(kiln_splat::GaussianCloud, String)>,
    /// With `path` a mesh: a second mesh and the map from its vertices to `path`'s (a matched
    /// pair, `kiln match --out`).
    pub pair: Option<(PathBuf, PathBuf)>,
    /// With `path` a mesh: per-vertex scalar fields to colour it by (one line per vertex, one
    /// column per field, e.g. `kiln basis`'s eigenvectors.txt).
    pub fields: Option<PathBuf>,
    /// Show a training run live.
    pub live: Option<Arc<live::LiveFeed>>,
}

/// Per-stage GPU time.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StageMs {
    pub stage: String,
    pub ms: f64,
}

/// Frame times of `--bench-frames`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    pub adapter: String,
    pub scene: String,
    pub gaussians: String,
    pub viewport_width: u32,
    pub viewport_height: u32,
    pub window_width: u32,
    pub window_height: u32,
    pub frames: u32,
    /// Scene draw (rasterizer + present kernel), waited for on the GPU.
    pub scene_ms_mean: f64,
    pub scene_ms_median: f64,
    /// Whole frames: scene, egui, swap-chain present.
    pub frame_ms_mean: f64,
    pub frame_ms_median: f64,
    /// Mean per frame, from GPU timestamps.
    pub stages: Vec<StageMs>,
}

/// The window capture of `--capture`.
#[derive(Clone, Debug)]
pub struct CaptureReport {
    pub path: PathBuf,
    pub window_width: u32,
    pub window_height: u32,
    /// Viewport rectangle in the window, physical pixels: x, y, width, height.
    pub viewport: [u32; 4],
    /// The camera of the image in the viewport.
    pub camera: Camera,
}

#[derive(Clone, Debug, Default)]
pub struct ViewReport {
    pub bench: Option<BenchReport>,
    pub capture: Option<CaptureReport>,
}

/// Opens the window and runs until it is closed (or the capture/benchmark is done).
///
/// Uses the process's shared GPU context, so that live training and the viewer share one
/// device. A file that cannot be opened is shown in the window, except in the scripted modes
/// (capture, benchmark), where it is returned as the error.
pub fn run(opts: ViewOptions) -> Result<ViewReport, ViewError> {
    let ctx = kiln_gpu::GpuContext::shared()?;
    let mut viewer = viewer::ViewerState::new(ctx);
    viewer.show_panel = !opts.hide_panel;
    viewer.live = opts.live.clone();
    let mut opts = opts;
    if let Some((cloud, name)) = opts.cloud.take() {
        let scene = scenes::splats::SplatScene::new(&viewer.ctx, cloud, name.clone(), name)?;
        viewer.set_scene(Box::new(scene));
    }
    if let Some(path) = &opts.path {
        let opened = match (&opts.pair, &opts.fields) {
            (Some((second, map)), _) => viewer.open_with(|ctx| Ok(Box::new(scenes::mesh::MeshScene::open_pair(ctx, path, second, map)?))),
            (None, Some(fields)) => viewer.open_with(|ctx| Ok(Box::new(scenes::mesh::MeshScene::open(ctx, path, Some(fields))?))),
            (None, None) => viewer.open(path),
        };
        if opts.capture.is_some() || opts.bench_frames.is_some() {
            opened?;
        }
    }
    if let (Some(cam), Some(scene)) = (&opts.camera, &viewer.scene) {
        // Orbit around the scene centre's depth along this camera's view.
        let b = scene.bounds();
        viewer.controller.distance = (b.center - cam.center()).dot(cam.rotation.row(2)).max(1e-3 * b.radius);
        viewer.controller.snap_to(cam);
        viewer.controller.home.orientation = viewer.controller.orientation;
        viewer.controller.home.target = viewer.controller.target;
        viewer.controller.home.fov_y_degrees = viewer.controller.fov_y_degrees;
        viewer.controller.home.distance = viewer.controller.distance;
    }
    app::run(opts, viewer)
}
