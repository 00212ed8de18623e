//! Gaussian splats: drawn by the same rasterizer `kiln render` uses
//! ([`kiln_splat::SplatRenderer::forward`]), then the `view_present` kernel writes the chosen
//! display mode into the viewport image.

use super::{Bounds, DatasetCamera, SceneKind, ViewStyle};
use crate::present::{PresentInput, Presenter, Target};
use crate::ViewError;
use glam::Vec3;
use kiln_gpu::{GpuContext, GpuTimer};
use kiln_scene::Camera;
use kiln_splat::{GaussianCloud, GpuCloud, RenderSettings, SplatRenderer};
use std::path::Path;
use std::sync::Arc;

pub struct SplatScene {
    pub name: String,
    /// The host copy: the scale factor is applied to it when it changes, and stats read it.
    cloud: GaussianCloud,
    gpu: GpuCloud,
    /// The splat scale the GPU log-scales currently include.
    uploaded_scale: f32,
    renderer: SplatRenderer,
    presenter: Presenter,
    pub cameras: Vec<DatasetCamera>,
    /// The dataset's background (run folders).
    pub background: Option<[f32; 3]>,
    bounds: Bounds,
    /// Where the cloud came from (file, run folder, or "live training").
    pub source: String,
}

/// The render settings of a viewer style: what `kiln render` would use for the same choices.
pub fn render_settings(style: &ViewStyle) -> RenderSettings {
    RenderSettings { background: style.background.to_vec(), sh_degree: Some(style.sh_degree), ..Default::default() }
}

impl SplatScene {
    pub fn open(ctx: &Arc<GpuContext>, path: &Path) -> Result<Self, ViewError> {
        let cloud = kiln_splat::read_gaussians(path)?;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().to_string());
        Self::new(ctx, cloud, name, path.display().to_string())
    }

    pub fn new(ctx: &Arc<GpuContext>, cloud: GaussianCloud, name: String, source: String) -> Result<Self, ViewError> {
        if cloud.is_empty() {
            return Err(ViewError::Render(format!("{source}: the cloud has no Gaussians")));
        }
        let gpu = GpuCloud::upload(ctx, &cloud)?;
        let bounds = cloud_bounds(&cloud.means);
        Ok(SplatScene {
            name,
            cloud,
            gpu,
            uploaded_scale: 1.0,
            renderer: SplatRenderer::new(ctx.clone())?,
            presenter: Presenter::new(ctx)?,
            cameras: Vec::new(),
            background: None,
            bounds,
            source,
        })
    }

    /// Replaces the Gaussians (live training) and keeps the framing.
    pub fn replace_cloud(&mut self, ctx: &GpuContext, cloud: GaussianCloud) -> Result<(), ViewError> {
        if cloud.is_empty() {
            return Err(ViewError::Render("the training snapshot has no Gaussians".into()));
        }
        self.gpu = GpuCloud::upload(ctx, &cloud)?;
        self.cloud = cloud;
        self.uploaded_scale = 1.0;
        Ok(())
    }

    pub fn set_bounds(&mut self, bounds: Bounds) {
        self.bounds = bounds;
    }

    pub fn cloud(&self) -> &GaussianCloud {
        &self.cloud
    }

    fn apply_scale(&mut self, ctx: &GpuContext, scale: f32) -> Result<(), ViewError> {
        if scale == self.uploaded_scale {
            return Ok(());
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(ViewError::Render(format!("Gaussian scale factor {scale} must be positive")));
        }
        // Scaling a Gaussian by s adds ln s to each log-scale; only that buffer is replaced.
        let ln = scale.ln();
        let scaled: Vec<f32> = self.cloud.log_scales.iter().flat_map(|v| (*v + Vec3::splat(ln)).to_array()).collect();
        self.gpu.log_scales = ctx.upload("log_scales (viewer scale)", &scaled);
        self.uploaded_scale = scale;
        Ok(())
    }
}

impl SceneKind for SplatScene {
    fn title(&self) -> String {
        self.name.clone()
    }

    fn stats(&self) -> Vec<(String, String)> {
        let mut s = vec![
            ("Gaussians".to_string(), group_thousands(self.cloud.len())),
            ("SH degree".to_string(), self.cloud.sh_degree.to_string()),
            ("source".to_string(), self.source.clone()),
        ];
        if self.cloud.feature_channels > 0 {
            s.push(("feature channels".into(), self.cloud.feature_channels.to_string()));
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

    fn sh_degree(&self) -> u32 {
        self.cloud.sh_degree
    }

    fn has_splats(&self) -> bool {
        true
    }

    fn as_splats_mut(&mut self) -> Option<&mut SplatScene> {
        Some(self)
    }

    fn background(&self) -> Option<[f32; 3]> {
        self.background
    }

    fn draw(&mut self, ctx: &Arc<GpuContext>, camera: &Camera, style: &ViewStyle, target: &Target, mut timer: Option<&mut GpuTimer>) -> Result<(), ViewError> {
        self.apply_scale(ctx, style.splat_scale)?;
        let fwd = self.renderer.forward(&self.gpu, camera, &render_settings(style), timer.as_deref_mut())?;
        let mut enc = ctx.encoder("viewer present");
        self.presenter.encode(ctx, &mut enc, &PresentInput::splats(&fwd), style.mode, style.depth_range, target, timer.as_deref_mut());
        if let Some(t) = timer {
            t.resolve(&mut enc);
        }
        ctx.submit(enc);
        Ok(())
    }
}

/// A robust framing sphere: the per-axis median as the centre, the 90th-percentile distance
/// (× 1.2) as the radius, so that a few far-away floaters do not shrink the scene to a dot.
/// Up is −y (the COLMAP/3DGS convention); run folders replace it with their cameras' up.
pub fn cloud_bounds(means: &[Vec3]) -> Bounds {
    // A strided sample keeps this cheap for millions of Gaussians.
    let stride = (means.len() / 100_000).max(1);
    let sample: Vec<Vec3> = means.iter().step_by(stride).copied().filter(|p| p.is_finite()).collect();
    if sample.is_empty() {
        return Bounds { center: Vec3::ZERO, radius: 1.0, up: Vec3::NEG_Y, front: Vec3::Z };
    }
    let median = |f: fn(&Vec3) -> f32| {
        let mut v: Vec<f32> = sample.iter().map(f).collect();
        let mid = v.len() / 2;
        *v.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1
    };
    let center = Vec3::new(median(|p| p.x), median(|p| p.y), median(|p| p.z));
    let mut d: Vec<f32> = sample.iter().map(|p| p.distance(center)).collect();
    let k = ((d.len() as f32 * 0.9) as usize).min(d.len() - 1);
    let radius = *d.select_nth_unstable_by(k, |a, b| a.total_cmp(b)).1 * 1.2;
    Bounds { center, radius: if radius > 0.0 { radius } else { 1.0 }, up: Vec3::NEG_Y, front: Vec3::Z }
}

pub fn group_thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
