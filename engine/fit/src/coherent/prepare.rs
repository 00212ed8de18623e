//! CoherentGS's inputs from a scene (spec "Initialization"): kiln-depth's pipeline (monocular
//! depth from an ONNX model or user maps, normalised + bilateral-filtered disparity, depth
//! layers, flow for every ordered pair of training views with its consistency mask, per-view
//! scale/shift alignment), turned into the trainer's [`CoherentInputs`].

use super::{CoherentInputs, FlowField};
use crate::scene::Scene;
use crate::trainer::FitError;
use kiln_depth::pipeline::{prepare, read_depth_dir, read_flow_dir, DepthSource, FlowSource, InitOptions};
use kiln_depth::{AlignParams, DepthModel, FlowParams, LayerParams, ModelOptions};
use kiln_gpu::GpuContext;
pub use kiln_depth::MapKind;
use std::path::PathBuf;

/// Where depth and flow come from.
#[derive(Clone, Debug, Default)]
pub struct PrepareOptions {
    /// ONNX depth model (`[1, 3, H, W]` RGB in, one map out).
    pub depth_model: Option<PathBuf>,
    /// What the model outputs (FastDepth: depth; Depth Anything/MiDaS: disparity).
    pub model_output: Option<MapKind>,
    /// Folder with one map per training view, named after the image (`<stem>.png` 16-bit or
    /// `<stem>.npy`); `depth_kind` says whether they hold depth or disparity.
    pub depth_dir: Option<PathBuf>,
    pub depth_kind: Option<MapKind>,
    /// Folder with flow files `<from stem>_<to stem>.flo` or `.npy` for every ordered pair of
    /// training views; without it, flow is computed on the GPU.
    pub flow_dir: Option<PathBuf>,
    /// Per-view scale/shift alignment by the flow correspondences.
    pub align: bool,
    /// World length of the spec's depth unit (see `CoherentConfig::unit`).
    pub unit: f32,
    pub layers: usize,
}

/// What preparation found, for metrics.json and the log.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PrepareReport {
    pub depth_source: String,
    pub flow_source: String,
    pub flow_valid_fraction: Vec<f32>,
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
    pub align_residual_before: f64,
    pub align_residual_after: f64,
}

fn depth_err(e: kiln_depth::DepthError) -> FitError {
    FitError::Invalid(e.to_string())
}

/// Builds the trainer's inputs for `scene`'s training views.
pub fn prepare_inputs(ctx: &GpuContext, scene: &Scene, opts: &PrepareOptions) -> Result<(CoherentInputs, PrepareReport), FitError> {
    let views = &scene.train;
    if views.len() < 2 {
        return Err(FitError::Invalid(format!("CoherentGS needs 2 to 4 training views, got {} (use --views)", views.len())));
    }
    let mut report = PrepareReport::default();
    let sizes: Vec<(&str, u32, u32)> = views.iter().map(|v| (v.name.as_str(), v.camera.width, v.camera.height)).collect();
    let model;
    let depth = if let Some(dir) = &opts.depth_dir {
        report.depth_source = format!("maps in {}", dir.display());
        DepthSource::Maps(read_depth_dir(dir, &sizes, opts.depth_kind.unwrap_or(MapKind::Disparity)).map_err(depth_err)?)
    } else if let Some(path) = &opts.depth_model {
        report.depth_source = format!("model {}", path.display());
        let mut options = ModelOptions::default();
        if let Some(k) = opts.model_output {
            options.output = k;
        }
        model = DepthModel::load_with(path, options).map_err(depth_err)?;
        DepthSource::Model(&model)
    } else {
        return Err(FitError::Invalid("CoherentGS needs monocular depth: give --depth-model or --depth-dir".into()));
    };
    let flows = if let Some(dir) = &opts.flow_dir {
        report.flow_source = format!("files in {}", dir.display());
        FlowSource::Given(read_flow_dir(dir, &sizes).map_err(depth_err)?)
    } else {
        report.flow_source = "GPU coarse-to-fine flow".into();
        FlowSource::Estimate(FlowParams::default())
    };
    let init_opts = InitOptions {
        layers: LayerParams { count: opts.layers.max(1), ..Default::default() },
        align: opts.align.then(AlignParams::default),
        ..Default::default()
    };
    let images: Vec<&kiln_scene::dataset::Image> = views.iter().map(|v| v.image.as_ref()).collect();
    let cameras: Vec<&kiln_scene::Camera> = views.iter().map(|v| &v.camera).collect();
    let init = prepare(ctx, &images, &cameras, depth, flows, &init_opts).map_err(depth_err)?;

    report.flow_valid_fraction = init.flows.iter().map(|(_, _, f)| f.valid_fraction()).collect();
    // Aligned depth is in world units already; unaligned depth (1/disparity ≈ 0.83…5) is in the
    // spec's scene unit.
    let scale = if let Some(a) = &init.alignment {
        report.scale = a.scale.clone();
        report.shift = a.shift.clone();
        report.align_residual_before = a.residual_before;
        report.align_residual_after = a.residual_after;
        1.0
    } else {
        opts.unit
    };
    let inputs = CoherentInputs {
        depth: init.views.iter().map(|v| v.depth.values.iter().map(|z| z * scale).collect()).collect(),
        layers: init.views.iter().map(|v| v.layers.labels.clone()).collect(),
        layer_count: opts.layers.max(1),
        flows: init
            .flows
            .into_iter()
            .map(|(i, j, f)| FlowField { from: i, to: j, width: f.width, height: f.height, flow: f.interleaved(), mask: f.valid })
            .collect(),
    };
    Ok((inputs, report))
}
