//! Fitting a voxel grid to posed images (the Vox-E / ReLU-Fields reconstruction stage).
//!
//! Each step draws a seeded batch of rays (random view, random pixel) on the host and uploads
//! them with their target colours; the GPU then runs forward → MSE gradient → backward → Adam
//! (kiln_gpu::AdamGroup, one group for densities and one for features). No read-back inside a
//! step except the colours every `log_every` steps for the progress bar.
//!
//! Coarse to fine: the grid grows by doubling through `stages` stages up to `resolution`
//! points per axis (e.g. 16 → 32 → 64 → 128), with the steps split evenly; at each stage the
//! raw values are trilinearly resampled and the Adam moments restart. From the second stage on
//! an occupancy mask (recomputed every `occupancy_every` steps) lets rays skip empty cells.
//! Learning rate: `lr · 0.9^stage`, decaying ×0.1 over each stage (exponentially).

use crate::error::{Result, VoxelError};
use crate::grid::VoxelGrid;
use crate::march::{GpuGrid, Marcher, Rendered};
use crate::reference::{MarchSettings, OUT};
use crate::rng::{pcg_hash, Rng};
use glam::Vec3;
use kiln_gpu::{AdamConfig, AdamGroup, GpuContext, GpuTimer, Kernel};
use kiln_run::Checkpoint;
use kiln_scene::dataset::Image;
use kiln_scene::Camera;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FitConfig {
    pub iterations: u32,
    /// Final grid points per axis.
    pub resolution: u32,
    /// Coarse-to-fine stages (the first has resolution / 2^(stages−1) points per axis).
    pub stages: u32,
    pub rays_per_batch: u32,
    pub lr: f32,
    pub seed: u64,
    pub bbox_min: [f32; 3],
    pub bbox_max: [f32; 3],
    pub background: [f32; 3],
    /// Opacity of one voxel below which a cell counts as empty (skipped once known).
    pub empty_alpha: f32,
    pub occupancy_every: u32,
    pub checkpoint_interval: u32,
    /// Samples per voxel along a ray in training.
    pub samples_per_voxel: f32,
    /// Train only the features (densities fixed): attention grids rendered with the scene's
    /// densities use this.
    #[serde(default)]
    pub freeze_density: bool,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            iterations: 2000,
            resolution: 128,
            stages: 4,
            rays_per_batch: 8192,
            lr: 0.03,
            seed: 0,
            bbox_min: [-1.5; 3],
            bbox_max: [1.5; 3],
            background: [1.0; 3],
            empty_alpha: 1e-3,
            occupancy_every: 100,
            checkpoint_interval: 500,
            samples_per_voxel: 2.0,
            freeze_density: false,
        }
    }
}

impl FitConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(VoxelError::Invalid(m));
        if self.iterations == 0 {
            return bad("iterations must be positive".into());
        }
        if self.stages == 0 || self.stages > 8 {
            return bad(format!("{} stages: between 1 and 8", self.stages));
        }
        if (self.resolution >> (self.stages - 1)) < 4 {
            return bad(format!("grid resolution {} with {} stages: the first stage would have fewer than 4 points per axis", self.resolution, self.stages));
        }
        if self.rays_per_batch == 0 || !(self.lr > 0.0 && self.lr.is_finite()) || !(self.samples_per_voxel > 0.0) {
            return bad("rays per batch, learning rate and samples per voxel must be positive".into());
        }
        if (0..3).any(|a| !(self.bbox_max[a] > self.bbox_min[a])) {
            return bad(format!("box {:?}..{:?} has no positive extent", self.bbox_min, self.bbox_max));
        }
        Ok(())
    }

    /// Grid points per axis in `stage`.
    pub fn stage_resolution(&self, stage: u32) -> u32 {
        self.resolution >> (self.stages - 1 - stage.min(self.stages - 1))
    }

    /// The stage step `step` (0-based) belongs to.
    pub fn stage_of(&self, step: u32) -> u32 {
        ((step as u64 * self.stages as u64) / self.iterations as u64).min(self.stages as u64 - 1) as u32
    }

    fn stage_start(&self, stage: u32) -> u32 {
        (stage as u64 * self.iterations as u64).div_ceil(self.stages as u64) as u32
    }

    pub fn learning_rate(&self, step: u32) -> f32 {
        let s = self.stage_of(step);
        let (a, b) = (self.stage_start(s), self.stage_start(s + 1).max(self.stage_start(s) + 1));
        let frac = (step - a) as f32 / (b - a) as f32;
        self.lr * 0.9f32.powi(s as i32) * 0.1f32.powf(frac)
    }

    /// March settings for training on a grid of `res` points per axis (jitter set per step).
    pub fn march_settings(&self, grid: &VoxelGrid) -> MarchSettings {
        let mut s = MarchSettings::for_grid(grid);
        s.step = grid.voxel_size() / self.samples_per_voxel;
        let diag = (grid.bbox_max - grid.bbox_min).length();
        s.max_samples = (diag / s.step).ceil() as u32 + 1;
        s.background = self.background;
        s
    }
}

/// A training view: camera and image (RGB, composited on the background).
#[derive(Clone)]
pub struct FitView {
    pub name: String,
    pub camera: Camera,
    pub image: Arc<Image>,
}

/// Loss and PSNR of a logged step (MSE over the batch).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct LogPoint {
    pub step: u32,
    pub loss: f32,
    pub psnr: f32,
}

/// PSNR of a mean squared error on [0, 1] images.
pub fn psnr(mse: f64) -> f64 {
    -10.0 * mse.max(1e-12).log10()
}

pub struct Fitter {
    pub ctx: Arc<GpuContext>,
    pub marcher: Marcher,
    pub config: FitConfig,
    pub views: Vec<FitView>,
    pub grid: GpuGrid,
    pub step: u32,
    pub history: Vec<LogPoint>,
    stage: u32,
    adam_density: AdamGroup,
    adam_features: AdamGroup,
    g_density: wgpu::Buffer,
    g_features: wgpu::Buffer,
    loss_kernel: Kernel,
    batch: Batch,
}

/// The per-step GPU buffers of one ray batch.
struct Batch {
    rays: wgpu::Buffer,
    targets: wgpu::Buffer,
    out: wgpu::Buffer,
    d_out: wgpu::Buffer,
    host_targets: Vec<f32>,
}

impl Fitter {
    /// A fresh fit: seeded random grid at the first stage's resolution.
    pub fn new(ctx: Arc<GpuContext>, views: Vec<FitView>, config: FitConfig) -> Result<Fitter> {
        config.validate()?;
        let r = config.stage_resolution(0);
        // Light fog (σ ≈ 0.04–0.7) so every ray starts with gradient, grey-ish colours.
        let grid = VoxelGrid::random([r; 3], Vec3::from(config.bbox_min), Vec3::from(config.bbox_max), (-0.1, 0.0), 0.5, config.seed)?;
        Self::with_grid(ctx, views, config, &grid, 0)
    }

    /// A fit that starts from `grid` (single-stage use: the grid keeps its resolution).
    pub fn from_grid(ctx: Arc<GpuContext>, views: Vec<FitView>, config: FitConfig, grid: &VoxelGrid) -> Result<Fitter> {
        config.validate()?;
        Self::with_grid(ctx, views, config, grid, 0)
    }

    fn with_grid(ctx: Arc<GpuContext>, views: Vec<FitView>, config: FitConfig, grid: &VoxelGrid, stage: u32) -> Result<Fitter> {
        if views.is_empty() {
            return Err(VoxelError::Invalid("no training views".into()));
        }
        for v in &views {
            if v.image.width != v.camera.width || v.image.height != v.camera.height {
                return Err(VoxelError::Invalid(format!("view {}: image {}x{} but camera {}x{}", v.name, v.image.width, v.image.height, v.camera.width, v.camera.height)));
            }
        }
        let marcher = Marcher::new(ctx.clone())?;
        let gpu = GpuGrid::upload(&ctx, grid)?;
        let n = grid.len() as u32;
        let adam = AdamConfig { eps: 1e-8, ..Default::default() };
        let b = config.rays_per_batch as u64;
        let batch = Batch {
            rays: ctx.zeroed("fit rays", b * 24),
            targets: ctx.zeroed("fit targets", b * 12),
            out: ctx.zeroed("fit outputs", b * OUT as u64 * 4),
            d_out: ctx.zeroed("fit output grads", b * OUT as u64 * 4),
            host_targets: Vec::new(),
        };
        Ok(Fitter {
            adam_density: AdamGroup::new(&ctx, "density", n, 1, adam.clone())?,
            adam_features: AdamGroup::new(&ctx, "features", n, 3, adam)?,
            g_density: ctx.zeroed("grad density", n as u64 * 4),
            g_features: ctx.zeroed("grad features", n as u64 * 12),
            loss_kernel: Kernel::new(&ctx, "voxel_loss.wgsl", "main", &[("WG", "64".into())])?,
            marcher,
            grid: gpu,
            step: 0,
            history: Vec::new(),
            stage,
            config,
            views,
            batch,
            ctx,
        })
    }

    pub fn stage(&self) -> u32 {
        self.stage
    }

    /// The current grid on the host (waits for the GPU).
    pub fn grid(&self) -> Result<VoxelGrid> {
        self.grid.download(&self.ctx)
    }

    fn settings(&self) -> MarchSettings {
        let host = VoxelGrid { dims: self.grid.dims, bbox_min: self.grid.bbox_min, bbox_max: self.grid.bbox_max, density_scale: self.grid.density_scale, density: vec![], features: vec![] };
        self.config.march_settings(&host)
    }

    fn empty_sigma(&self) -> f32 {
        let s = self.settings();
        let voxel = s.step * self.config.samples_per_voxel;
        -(1.0 - self.config.empty_alpha).ln() / voxel
    }

    /// Moves to `stage`: resample the grid, restart Adam, recompute the occupancy mask.
    fn grow(&mut self, stage: u32) -> Result<()> {
        let r = self.config.stage_resolution(stage);
        let grid = self.grid()?.resampled([r; 3])?;
        let mut fresh = Fitter::with_grid(self.ctx.clone(), std::mem::take(&mut self.views), self.config.clone(), &grid, stage)?;
        fresh.step = self.step;
        fresh.history = std::mem::take(&mut self.history);
        *self = fresh;
        self.refresh_occupancy();
        Ok(())
    }

    fn refresh_occupancy(&mut self) {
        let threshold = self.empty_sigma();
        let mut enc = self.ctx.encoder("occupancy");
        self.marcher.update_occupancy(&mut enc, &mut self.grid, threshold, None);
        self.ctx.submit(enc);
    }

    fn sample_batch(&mut self) -> Vec<f32> {
        let b = self.config.rays_per_batch as usize;
        let mut rng = Rng::new(self.config.seed ^ (self.step as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
        let mut rays = Vec::with_capacity(6 * b);
        let targets = &mut self.batch.host_targets;
        targets.clear();
        for _ in 0..b {
            let v = &self.views[rng.below(self.views.len() as u64) as usize];
            let (w, h) = (v.camera.width as u64, v.camera.height as u64);
            let p = rng.below(w * h);
            let (x, y) = ((p % w) as u32, (p / w) as u32);
            rays.extend_from_slice(&crate::rays::ray_through(&v.camera, x as f32 + 0.5, y as f32 + 0.5));
            targets.extend_from_slice(&v.image.pixel(x, y));
        }
        rays
    }

    /// One training step; returns the batch's loss and PSNR when `log` (reads the colours back).
    pub fn train_step(&mut self, log: bool) -> Result<Option<LogPoint>> {
        self.train_step_timed(log, None)
    }

    pub fn train_step_timed(&mut self, log: bool, mut timer: Option<&mut GpuTimer>) -> Result<Option<LogPoint>> {
        let stage = self.config.stage_of(self.step);
        if stage != self.stage {
            self.grow(stage)?;
        } else if stage > 0 && self.step.is_multiple_of(self.config.occupancy_every.max(1)) {
            self.refresh_occupancy();
        }
        let rays = self.sample_batch();
        let b = self.config.rays_per_batch;
        self.ctx.queue.write_buffer(&self.batch.rays, 0, bytemuck::cast_slice(&rays));
        self.ctx.queue.write_buffer(&self.batch.targets, 0, bytemuck::cast_slice(&self.batch.host_targets));
        let mut s = self.settings();
        s.jitter_seed = Some(pcg_hash(self.config.seed as u32 ^ pcg_hash(self.step)));
        let lr = self.config.learning_rate(self.step);
        let mut enc = self.ctx.encoder("voxel fit step");
        enc.clear_buffer(&self.g_density, 0, None);
        enc.clear_buffer(&self.g_features, 0, None);
        self.marcher.encode_forward(&mut enc, &self.grid, &s, &self.batch.rays, b, 0, &self.batch.out, timer.as_deref_mut())?;
        {
            let uniform = self.ctx.uniform("voxel loss params", &[b, 0, 0, 0]);
            let bind = self.loss_kernel.bind(&self.ctx, &[&uniform, &self.batch.out, &self.batch.targets, &self.batch.d_out]);
            let mut pass = GpuContext::begin_pass(&mut enc, "loss", timer.as_deref_mut());
            self.loss_kernel.dispatch(&mut pass, &bind, b.div_ceil(64));
        }
        self.marcher.encode_backward(&mut enc, &self.grid, &s, &self.batch.rays, b, 0, &self.batch.out, &self.batch.d_out, &self.g_density, &self.g_features, timer.as_deref_mut())?;
        if !self.config.freeze_density {
            self.adam_density.encode_step(&self.ctx, &mut enc, &self.grid.density, &self.g_density, lr, timer.as_deref_mut())?;
        }
        self.adam_features.encode_step(&self.ctx, &mut enc, &self.grid.features, &self.g_features, lr, timer.as_deref_mut())?;
        if let Some(t) = timer.as_deref_mut() {
            t.resolve(&mut enc);
        }
        self.ctx.submit(enc);
        self.step += 1;
        if !log {
            return Ok(None);
        }
        let out: Vec<f32> = self.ctx.read(&self.batch.out, b as usize * OUT)?;
        let mse = out
            .chunks(OUT)
            .zip(self.batch.host_targets.chunks(3))
            .map(|(o, t)| (0..3).map(|c| ((o[c] - t[c]) as f64).powi(2)).sum::<f64>())
            .sum::<f64>()
            / (3.0 * b as f64);
        if !mse.is_finite() {
            return Err(VoxelError::Invalid(format!("the loss became {mse} at step {}", self.step)));
        }
        let p = LogPoint { step: self.step, loss: mse as f32, psnr: psnr(mse) as f32 };
        self.history.push(p);
        Ok(Some(p))
    }

    /// Evaluation settings: samples at segment centres, the training step.
    pub fn eval_settings(&self) -> MarchSettings {
        MarchSettings { jitter_seed: None, ..self.settings() }
    }

    pub fn render(&self, camera: &Camera) -> Result<Rendered> {
        self.marcher.render(&self.grid, &self.eval_settings(), camera)
    }

    /// Renders `views` and returns (name, PSNR) per view with the renders.
    pub fn evaluate(&self, views: &[FitView]) -> Result<(Vec<(String, f64)>, Vec<Rendered>)> {
        let mut metrics = Vec::new();
        let mut renders = Vec::new();
        for v in views {
            let r = self.render(&v.camera)?;
            let mse = r.rgb.iter().zip(&v.image.rgb).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / r.rgb.len() as f64;
            metrics.push((v.name.clone(), psnr(mse)));
            renders.push(r);
        }
        Ok((metrics, renders))
    }

    /// Everything a resumed run needs: grid, Adam state, step, stage, history.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let grid = self.grid()?;
        let dm = self.adam_density.snapshot(&self.ctx)?;
        let fm = self.adam_features.snapshot(&self.ctx)?;
        let mut ck = grid.to_checkpoint(serde_json::json!({
            "step": self.step,
            "stage": self.stage,
            "adam_steps": [dm.step, fm.step],
            "occupancy": self.grid.skip_empty,
            "config": self.config,
            "history": self.history,
        }));
        ck.push("adam density m", dm.exp_avg);
        ck.push("adam density v", dm.exp_avg_sq);
        ck.push("adam features m", fm.exp_avg);
        ck.push("adam features v", fm.exp_avg_sq);
        if self.grid.skip_empty {
            ck.push("occupancy", self.grid.read_occupancy(&self.ctx)?.iter().map(|&o| o as f32).collect());
        }
        Ok(ck)
    }

    /// Restores a checkpoint made by [`Fitter::checkpoint`] with the same configuration.
    pub fn restore(&mut self, ck: &Checkpoint) -> Result<()> {
        let what = std::path::Path::new("checkpoint");
        let grid = VoxelGrid::from_checkpoint(ck, what)?;
        let extra = &ck.meta["extra"];
        let bad = |m: &str| VoxelError::Invalid(format!("checkpoint: {m}"));
        let config: FitConfig = serde_json::from_value(extra["config"].clone()).map_err(|_| bad("no fit configuration"))?;
        if config != self.config {
            return Err(bad("it was written with another configuration (iterations, resolution, seed…)"));
        }
        let stage = extra["stage"].as_u64().ok_or_else(|| bad("no stage"))? as u32;
        let mut fresh = Fitter::with_grid(self.ctx.clone(), std::mem::take(&mut self.views), self.config.clone(), &grid, stage)?;
        fresh.step = extra["step"].as_u64().ok_or_else(|| bad("no step"))? as u32;
        fresh.history = serde_json::from_value(extra["history"].clone()).unwrap_or_default();
        let steps: [u64; 2] = serde_json::from_value(extra["adam_steps"].clone()).map_err(|_| bad("no Adam steps"))?;
        let n = grid.len() as u32;
        let get = |name: &str| ck.get(name).map(|v| v.to_vec()).ok_or_else(|| bad(&format!("no tensor {name}")));
        fresh.adam_density.restore(&self.ctx, &kiln_gpu::AdamSnapshot { items: n, row: 1, step: steps[0], exp_avg: get("adam density m")?, exp_avg_sq: get("adam density v")? })?;
        fresh.adam_features.restore(&self.ctx, &kiln_gpu::AdamSnapshot { items: n, row: 3, step: steps[1], exp_avg: get("adam features m")?, exp_avg_sq: get("adam features v")? })?;
        *self = fresh;
        if let Some(occ) = ck.get("occupancy") {
            if occ.len() != self.grid.len() {
                return Err(bad("occupancy mask of the wrong size"));
            }
            let occ: Vec<u32> = occ.iter().map(|&o| o as u32).collect();
            self.ctx.queue.write_buffer(&self.grid.occupancy, 0, bytemuck::cast_slice(&occ));
            self.grid.skip_empty = true;
        }
        Ok(())
    }
}

/// A box around the object when the training images have alpha masks (NeRF-synthetic scenes):
/// the visual hull on a `lattice`³ grid of the search box — points that project into some view
/// and onto no background pixel (alpha < 8/255) of any view — grown by three lattice cells and
/// clipped to the search box. `None` without masks or when nothing survives. Fitting in this
/// box instead of Vox-E's fixed 3×3×3 one spends the grid's voxels on the object: lego at 128³
/// goes from 27.6 to 28.9 dB (docs/VOXE.md).
pub fn mask_hull_box(views: &[FitView], search_min: [f32; 3], search_max: [f32; 3], lattice: u32) -> Option<([f32; 3], [f32; 3])> {
    use rayon::prelude::*;
    let masked: Vec<&FitView> = views.iter().filter(|v| v.image.alpha.is_some()).collect();
    if masked.is_empty() || lattice < 2 {
        return None;
    }
    let (lo, hi) = (Vec3::from(search_min), Vec3::from(search_max));
    let cell = (hi - lo) / (lattice - 1) as f32;
    let n = lattice as usize;
    let kept: Vec<Vec3> = (0..n * n * n)
        .into_par_iter()
        .filter_map(|i| {
            let p = lo + Vec3::new((i / (n * n)) as f32, ((i / n) % n) as f32, (i % n) as f32) * cell;
            let mut seen = false;
            for v in &masked {
                let c = &v.camera;
                let q = c.world_to_camera(p);
                if q.z <= 0.0 {
                    continue;
                }
                let (u, w) = (c.fx * q.x / q.z + c.cx, c.fy * q.y / q.z + c.cy);
                if u < 0.0 || w < 0.0 || u >= c.width as f32 || w >= c.height as f32 {
                    continue;
                }
                seen = true;
                let alpha = v.image.alpha.as_ref().expect("masked views only");
                if alpha[w as usize * v.image.width as usize + u as usize] < 8.0 / 255.0 {
                    return None;
                }
            }
            seen.then_some(p)
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    let (mut bmin, mut bmax) = kept.iter().fold((Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)), |(a, b), p| (a.min(*p), b.max(*p)));
    bmin = (bmin - 3.0 * cell).max(lo);
    bmax = (bmax + 3.0 * cell).min(hi);
    Some((bmin.to_array(), bmax.to_array()))
}
