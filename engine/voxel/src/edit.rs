//! Vox-E editing: guidance-driven optimization of a copy of the grid with the volumetric
//! correlation regularizer, attention grids fitted to 2-D masks, a seeded min-cut over the
//! occupied voxels, and the merge that keeps every voxel outside the cut bit-identical.
//!
//! One step: render a view on the GPU → read it back → guidance (host: it may be another
//! process, so this read-back is inherent) → dL/dI uploaded → the regularizer's gradient
//! λ·∂(1−ρ)/∂σ_e (a whole-grid reduction on the host; the density is read back for it, a
//! written-down cost of this step) initializes the density gradient → GPU backward adds the
//! image term → GPU Adam. The original grid is only read; any error leaves it untouched.

use crate::correlation::{pearson, regularizer};
use crate::error::{Result, VoxelError};
use crate::fit::{FitConfig, FitView, Fitter};
use crate::graphcut::{merge, occupied_dilated, seeded_cut, CutConfig};
use crate::guidance::{check_grad, Guidance, ViewInfo};
use crate::march::{GpuGrid, Marcher, Rendered};
use crate::reference::{MarchSettings, OUT};
use crate::rng::{pcg_hash, Rng};
use crate::VoxelGrid;
use glam::Vec3;
use kiln_gpu::{AdamConfig, AdamGroup, GpuContext};
use kiln_scene::dataset::Image;
use kiln_scene::Camera;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A view the edit renders (cameras of the dataset, or any others).
#[derive(Clone, Debug)]
pub struct EditView {
    pub name: String,
    pub camera: Camera,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EditConfig {
    pub steps: u32,
    pub lr: f32,
    /// Weight λ of 1 − ρ (Vox-E: 200 for objects, 60,000 for real scenes, with SDS gradients).
    pub lambda: f32,
    pub seed: u64,
    pub prompt: String,
    pub samples_per_voxel: f32,
    pub background: [f32; 3],
    /// Attention-grid fitting: steps, rays per batch, learning rate.
    pub attention_steps: u32,
    pub attention_rays: u32,
    pub attention_lr: f32,
    /// Voxels with σ at least this (then dilated 3×3×3) are candidates of the cut; default:
    /// one voxel of opacity 10⁻³.
    pub candidate_sigma: Option<f32>,
    pub cut: CutConfig,
    /// Skip the attention grids and the cut: the whole edited grid is kept.
    pub no_refine: bool,
}

impl Default for EditConfig {
    fn default() -> Self {
        EditConfig {
            steps: 300,
            lr: 0.03,
            lambda: 200.0,
            seed: 0,
            prompt: String::new(),
            samples_per_voxel: 2.0,
            background: [1.0; 3],
            attention_steps: 300,
            attention_rays: 4096,
            attention_lr: 0.035,
            candidate_sigma: None,
            cut: CutConfig::default(),
            no_refine: false,
        }
    }
}

/// Soft 2-D masks per view for the attention grids: (edit, object), each width·height in [0, 1].
pub trait AttentionSource {
    fn masks(&mut self, ctx: &MaskContext<'_>) -> Result<(Vec<f32>, Vec<f32>)>;
}

/// What an attention source may use: the view, the edited grid and its render.
pub struct MaskContext<'a> {
    pub index: usize,
    pub view: &'a EditView,
    pub render: &'a Rendered,
    pub edited: &'a VoxelGrid,
    pub marcher: &'a Marcher,
    pub settings: &'a MarchSettings,
}

/// Masks rendered from a 3-D box with the edited densities: edit = opacity-weighted share of
/// the ray inside the box; object = the rest of the rendered opacity.
pub struct BoxAttention {
    pub min: Vec3,
    pub max: Vec3,
    indicator: Option<GpuGrid>,
}

impl BoxAttention {
    pub fn new(min: Vec3, max: Vec3) -> BoxAttention {
        BoxAttention { min, max, indicator: None }
    }
}

impl AttentionSource for BoxAttention {
    fn masks(&mut self, c: &MaskContext<'_>) -> Result<(Vec<f32>, Vec<f32>)> {
        if self.indicator.is_none() {
            let mut g = c.edited.clone();
            let [nx, ny, _] = g.dims;
            for i in 0..g.len() {
                let p = g.point(i as u32 % nx, (i as u32 / nx) % ny, i as u32 / (nx * ny));
                let inside = p.cmpge(self.min).all() && p.cmple(self.max).all();
                g.features[3 * i..3 * i + 3].fill(if inside { 30.0 } else { -30.0 });
            }
            self.indicator = Some(GpuGrid::upload(&c.marcher.ctx, &g)?);
        }
        let s = MarchSettings { background: [0.0; 3], ..*c.settings };
        let r = c.marcher.render(self.indicator.as_ref().unwrap(), &s, &c.view.camera)?;
        let edit: Vec<f32> = r.rgb.chunks(3).map(|p| p[0]).collect();
        let object = edit.iter().zip(&c.render.alpha).map(|(e, a)| (a - e).max(0.0)).collect();
        Ok((edit, object))
    }
}

/// User-painted edit masks (one image per view, white = edit); object = rendered opacity
/// outside the mask.
pub struct ImageMasks {
    pub masks: Vec<Image>,
    /// Names the masks in errors (file paths).
    pub names: Vec<String>,
}

impl AttentionSource for ImageMasks {
    fn masks(&mut self, c: &MaskContext<'_>) -> Result<(Vec<f32>, Vec<f32>)> {
        let name = self.names.get(c.index).cloned().unwrap_or_else(|| format!("of view {}", c.index));
        let m = self.masks.get(c.index).ok_or_else(|| VoxelError::Mask { what: name.clone(), message: "missing".into() })?;
        if (m.width, m.height) != (c.view.camera.width, c.view.camera.height) {
            return Err(VoxelError::Mask {
                what: name,
                message: format!("is {}x{} but view {} renders at {}x{}", m.width, m.height, c.view.name, c.view.camera.width, c.view.camera.height),
            });
        }
        let edit: Vec<f32> = m.rgb.chunks(3).map(|p| p[0].clamp(0.0, 1.0)).collect();
        let object = edit.iter().zip(&c.render.alpha).map(|(e, a)| a * (1.0 - e)).collect();
        Ok((edit, object))
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct EditReport {
    /// Mean guidance loss over the views: original grid, edited grid (before the cut), result.
    pub loss_before: f64,
    pub loss_edited: f64,
    pub loss_after: f64,
    /// Pearson correlation of raw densities with the original: edited grid, result.
    pub correlation_edited: f64,
    pub correlation_after: f64,
    pub candidates: usize,
    pub source_seeds: usize,
    pub sink_seeds: usize,
    /// Grid points the cut lets change.
    pub edit_voxels: usize,
    /// (step, guidance loss, λ(1 − ρ)) per step.
    pub history: Vec<(u32, f32, f32)>,
}

pub struct EditOutcome {
    /// The merged result: edited inside the cut, the original (bit for bit) outside.
    pub grid: VoxelGrid,
    /// The edited grid before refinement.
    pub edited: VoxelGrid,
    pub mask: Vec<bool>,
    pub edit_attention: Vec<f32>,
    pub object_attention: Vec<f32>,
    pub report: EditReport,
}

fn settings(grid: &VoxelGrid, cfg: &EditConfig) -> MarchSettings {
    let mut s = MarchSettings::for_grid(grid);
    s.step = grid.voxel_size() / cfg.samples_per_voxel;
    s.max_samples = ((grid.bbox_max - grid.bbox_min).length() / s.step).ceil() as u32 + 1;
    s.background = cfg.background;
    s
}

/// Mean guidance loss of a grid over the views (samples at segment centres).
fn mean_loss(marcher: &Marcher, grid: &VoxelGrid, views: &[EditView], guidance: &mut dyn Guidance, cfg: &EditConfig) -> Result<f64> {
    let gpu = GpuGrid::upload(&marcher.ctx, grid)?;
    let s = settings(grid, cfg);
    let mut total = 0.0;
    for (i, v) in views.iter().enumerate() {
        let r = marcher.render(&gpu, &s, &v.camera)?;
        let info = ViewInfo::new(u32::MAX, i, &v.name, &v.camera, &cfg.prompt, cfg.seed);
        let g = guidance.grad(&r, &info)?;
        check_grad(&g, &r, "guidance")?;
        total += g.loss as f64;
    }
    Ok(total / views.len() as f64)
}

/// Runs a whole edit. `progress(step, loss)` is called after every guidance step.
pub fn edit(
    ctx: Arc<GpuContext>,
    original: &VoxelGrid,
    views: &[EditView],
    guidance: &mut dyn Guidance,
    attention: &mut dyn AttentionSource,
    cfg: &EditConfig,
    progress: &mut dyn FnMut(u32, f32),
) -> Result<EditOutcome> {
    original.validate()?;
    if views.is_empty() {
        return Err(VoxelError::Invalid("an edit needs at least one view".into()));
    }
    if !(cfg.lambda >= 0.0 && cfg.lambda.is_finite()) || !(cfg.lr > 0.0) {
        return Err(VoxelError::Invalid(format!("edit λ {} / learning rate {}: must be non-negative / positive", cfg.lambda, cfg.lr)));
    }
    let marcher = Marcher::new(ctx.clone())?;
    let loss_before = mean_loss(&marcher, original, views, guidance, cfg)?;
    let gpu = GpuGrid::upload(&ctx, original)?;
    let n = original.len();
    let adam = AdamConfig { eps: 1e-8, ..Default::default() };
    let mut adam_d = AdamGroup::new(&ctx, "edit density", n as u32, 1, adam.clone())?;
    let mut adam_f = AdamGroup::new(&ctx, "edit features", n as u32, 3, adam)?;
    let g_density = ctx.zeroed("edit grad density", n as u64 * 4);
    let g_features = ctx.zeroed("edit grad features", 3 * n as u64 * 4);
    let zeros = vec![0f32; 3 * n];
    let base = settings(original, cfg);
    let mut rng = Rng::new(cfg.seed);
    let mut history = Vec::new();
    for step in 0..cfg.steps {
        let vi = rng.below(views.len() as u64) as usize;
        let view = &views[vi];
        let s = MarchSettings { jitter_seed: Some(pcg_hash(cfg.seed as u32 ^ pcg_hash(step))), ..base };
        let rays = crate::rays::camera_rays(&view.camera);
        let out = marcher.render_rays(&gpu, &s, &rays)?;
        let render = Rendered::from_outputs(view.camera.width, view.camera.height, &out);
        let info = ViewInfo::new(step, vi, &view.name, &view.camera, &cfg.prompt, cfg.seed.wrapping_add(step as u64));
        let g = guidance.grad(&render, &info)?;
        check_grad(&g, &render, "guidance")?;
        let d_out: Vec<f32> = (0..render.alpha.len())
            .flat_map(|p| [g.rgb[3 * p], g.rgb[3 * p + 1], g.rgb[3 * p + 2], 0.0, g.alpha.as_ref().map_or(0.0, |a| a[p])])
            .collect();
        let density: Vec<f32> = ctx.read(&gpu.density, n)?;
        let (reg, reg_grad) = regularizer(&density, &original.density, cfg.lambda);
        ctx.queue.write_buffer(&g_density, 0, bytemuck::cast_slice(&reg_grad));
        ctx.queue.write_buffer(&g_features, 0, bytemuck::cast_slice(&zeros));
        marcher.accumulate_backward(&gpu, &s, &rays, &d_out, &g_density, &g_features)?;
        let mut enc = ctx.encoder("edit adam");
        adam_d.encode_step(&ctx, &mut enc, &gpu.density, &g_density, cfg.lr, None)?;
        adam_f.encode_step(&ctx, &mut enc, &gpu.features, &g_features, cfg.lr, None)?;
        ctx.submit(enc);
        debug_assert_eq!(out.len(), rays.len() / 6 * OUT);
        history.push((step, g.loss, reg as f32));
        progress(step + 1, g.loss);
    }
    let edited = gpu.download(&ctx)?;
    edited.validate().map_err(|e| VoxelError::Invalid(format!("the edit diverged: {e}")))?;
    let loss_edited = mean_loss(&marcher, &edited, views, guidance, cfg)?;
    let correlation_edited = pearson(&edited.density, &original.density);

    let (mask, edit_att, obj_att, cut_stats) = if cfg.no_refine {
        (vec![true; n], vec![0.0; n], vec![0.0; n], (0, 0, 0))
    } else {
        let (ea, oa) = fit_attention(&ctx, &marcher, &edited, views, attention, cfg)?;
        let sigma_min = cfg.candidate_sigma.unwrap_or_else(|| -(1.0f32 - 1e-3).ln() / edited.voxel_size());
        let candidates = occupied_dilated(&edited, sigma_min);
        let cut = seeded_cut(&edited, &candidates, &ea, &oa, &cfg.cut);
        (cut.mask, ea, oa, (cut.candidates, cut.source_seeds, cut.sink_seeds))
    };
    let grid = merge(original, &edited, &mask);
    let loss_after = mean_loss(&marcher, &grid, views, guidance, cfg)?;
    let report = EditReport {
        loss_before,
        loss_edited,
        loss_after,
        correlation_edited,
        correlation_after: pearson(&grid.density, &original.density),
        candidates: cut_stats.0,
        source_seeds: cut_stats.1,
        sink_seeds: cut_stats.2,
        edit_voxels: mask.iter().filter(|&&m| m).count(),
        history,
    };
    Ok(EditOutcome { grid, edited, mask, edit_attention: edit_att, object_attention: obj_att, report })
}

/// Fits the edit and object attention grids (features 0 and 1 of a grid carrying the edited
/// densities, frozen) to the sources' masks: MSE on rendered values, background 0.
pub fn fit_attention(ctx: &Arc<GpuContext>, marcher: &Marcher, edited: &VoxelGrid, views: &[EditView], source: &mut dyn AttentionSource, cfg: &EditConfig) -> Result<(Vec<f32>, Vec<f32>)> {
    let s = settings(edited, cfg);
    let gpu = GpuGrid::upload(ctx, edited)?;
    let mut fit_views = Vec::new();
    for (i, v) in views.iter().enumerate() {
        let render = marcher.render(&gpu, &s, &v.camera)?;
        let (e, o) = source.masks(&MaskContext { index: i, view: v, render: &render, edited, marcher, settings: &s })?;
        let px = (v.camera.width * v.camera.height) as usize;
        if e.len() != px || o.len() != px {
            return Err(VoxelError::Mask { what: format!("of view {}", v.name), message: format!("{} / {} values for {px} pixels", e.len(), o.len()) });
        }
        let rgb = e.iter().zip(&o).flat_map(|(&a, &b)| [a, b, 0.0]).collect();
        fit_views.push(FitView { name: v.name.clone(), camera: v.camera, image: Arc::new(Image { width: v.camera.width, height: v.camera.height, rgb, alpha: None }) });
    }
    let mut att = edited.clone();
    att.features.fill(0.0);
    let config = FitConfig {
        iterations: cfg.attention_steps.max(1),
        resolution: edited.dims[0],
        stages: 1,
        rays_per_batch: cfg.attention_rays,
        lr: cfg.attention_lr,
        seed: cfg.seed,
        bbox_min: edited.bbox_min.to_array(),
        bbox_max: edited.bbox_max.to_array(),
        background: [0.0; 3],
        samples_per_voxel: cfg.samples_per_voxel,
        freeze_density: true,
        ..Default::default()
    };
    let mut fitter = Fitter::from_grid(ctx.clone(), fit_views, config, &att)?;
    for _ in 0..cfg.attention_steps {
        fitter.train_step(false)?;
    }
    let g = fitter.grid()?;
    Ok((g.features.chunks(3).map(|f| f[0]).collect(), g.features.chunks(3).map(|f| f[1]).collect()))
}
