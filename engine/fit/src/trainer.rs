//! The 3D Gaussian splatting trainer: everything per step on the GPU (render, loss, backward,
//! densification statistics, Adam); densification and opacity resets every few hundred steps
//! through the host (see `densify.rs`).

use crate::densify::{densify, reset_opacity, DensifyParams, DensifyReport, DensifyStats};
use crate::scene::{Scene, SceneView};
use crate::TrainConfig;
use kiln_gpu::adam::{AdamConfig, AdamGroup, AdamSnapshot};
use kiln_gpu::{GpuContext, GpuError, Kernel, GATHER_ZERO};
use kiln_run::Checkpoint;
use kiln_splat::loss::{ImageLoss, LossConfig, LossValues};
use kiln_splat::{sh_coeffs, GaussianCloud, GpuCloud, RenderOutput, RenderSettings, SplatError, SplatRenderer};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Splat(#[from] SplatError),
    #[error("{0}")]
    Invalid(String),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// A value of the run became NaN or infinite (the optimization diverged).
    #[error("training diverged at step {step}: {what}")]
    Diverged { step: u32, what: String },
}

/// Parameter groups, in the order of `GpuState::adam`.
const GROUPS: [&str; 6] = ["means", "log_scales", "rotations", "opacity", "sh_dc", "sh_rest"];

/// One logged training point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogPoint {
    pub step: u32,
    pub loss: f32,
    pub psnr: f32,
    pub gaussians: u32,
}

/// Metrics of one evaluated view.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ViewMetrics {
    pub name: String,
    pub psnr: f64,
    pub ssim: f64,
}

struct GpuView {
    camera: kiln_scene::Camera,
    image: wgpu::Buffer,
}

/// The cloud, its optimizer state and the densification statistics, on the GPU.
struct GpuState {
    n: u32,
    sh_degree: u32,
    params: [wgpu::Buffer; 6],
    grads: [wgpu::Buffer; 6],
    /// One group per entry of GROUPS; `None` for the higher SH bands at degree 0.
    adam: Vec<Option<AdamGroup>>,
    sh_packed: wgpu::Buffer,
    features: wgpu::Buffer,
    grad_accum: wgpu::Buffer,
    view_count: wgpu::Buffer,
    max_radius: wgpu::Buffer,
}

fn rows(sh_degree: u32) -> [u32; 6] {
    [3, 3, 4, 1, 3, 3 * (sh_coeffs(sh_degree) as u32 - 1)]
}

/// Where a new GPU state's optimizer moments come from.
enum Moments<'a> {
    Zero,
    Snapshots(&'a [Option<AdamSnapshot>]),
    /// Groups already on the GPU (gathered after densification).
    Groups(Vec<Option<AdamGroup>>),
}

impl GpuState {
    fn upload(ctx: &GpuContext, cloud: &GaussianCloud, moments: Moments<'_>) -> Result<Self, FitError> {
        cloud.validate().map_err(FitError::Invalid)?;
        let n = cloud.len() as u32;
        let k = sh_coeffs(cloud.sh_degree);
        let (mut dc, mut rest) = (Vec::with_capacity(n as usize * 3), Vec::with_capacity(n as usize * 3 * (k - 1)));
        for row in cloud.sh.chunks_exact(k * 3) {
            dc.extend_from_slice(&row[..3]);
            rest.extend_from_slice(&row[3..]);
        }
        let params = [
            ctx.upload("means", bytemuck::cast_slice::<_, f32>(&cloud.means)),
            ctx.upload("log_scales", bytemuck::cast_slice::<_, f32>(&cloud.log_scales)),
            ctx.upload("rotations", bytemuck::cast_slice::<_, f32>(&cloud.rotations)),
            ctx.upload("opacity", &cloud.opacity_logits),
            ctx.upload("sh_dc", &dc),
            ctx.upload("sh_rest", &rest),
        ];
        let r = rows(cloud.sh_degree);
        let grads = std::array::from_fn(|g| ctx.zeroed(&format!("grad {}", GROUPS[g]), n.max(1) as u64 * r[g] as u64 * 4));
        let groups = match moments {
            Moments::Groups(g) => g,
            Moments::Zero => (0..6)
                .map(|g| (r[g] > 0).then(|| AdamGroup::new(ctx, GROUPS[g], n, r[g], AdamConfig::default())).transpose())
                .collect::<Result<_, _>>()?,
            Moments::Snapshots(s) => (0..6)
                .map(|g| match (&s[g], r[g]) {
                    (Some(snap), r) if r > 0 => AdamGroup::from_snapshot(ctx, GROUPS[g], snap, AdamConfig::default()).map(Some),
                    _ => Ok(None),
                })
                .collect::<Result<_, _>>()?,
        };
        let nb = n.max(1) as u64 * 4;
        Ok(GpuState {
            n,
            sh_degree: cloud.sh_degree,
            params,
            grads,
            adam: groups,
            sh_packed: ctx.zeroed("sh packed", nb * k as u64 * 3),
            features: ctx.zeroed("features", 4),
            grad_accum: ctx.zeroed("grad accum", nb),
            view_count: ctx.zeroed("view count", nb),
            max_radius: ctx.zeroed("max radius", nb),
        })
    }

    fn download(&self, ctx: &GpuContext) -> Result<GaussianCloud, FitError> {
        let n = self.n as usize;
        let k = sh_coeffs(self.sh_degree);
        let means: Vec<f32> = ctx.read(&self.params[0], n * 3)?;
        let scales: Vec<f32> = ctx.read(&self.params[1], n * 3)?;
        let rots: Vec<f32> = ctx.read(&self.params[2], n * 4)?;
        let dc: Vec<f32> = ctx.read(&self.params[4], n * 3)?;
        let rest: Vec<f32> = ctx.read(&self.params[5], n * 3 * (k - 1))?;
        let mut sh = Vec::with_capacity(n * k * 3);
        for i in 0..n {
            sh.extend_from_slice(&dc[i * 3..i * 3 + 3]);
            sh.extend_from_slice(&rest[i * 3 * (k - 1)..(i + 1) * 3 * (k - 1)]);
        }
        Ok(GaussianCloud {
            means: bytemuck::cast_slice(&means).to_vec(),
            log_scales: bytemuck::cast_slice(&scales).to_vec(),
            rotations: bytemuck::cast_slice(&rots).to_vec(),
            opacity_logits: ctx.read(&self.params[3], n)?,
            sh_degree: self.sh_degree,
            sh,
            feature_channels: 0,
            features: Vec::new(),
        })
    }

    fn stats(&self, ctx: &GpuContext) -> Result<DensifyStats, FitError> {
        let n = self.n as usize;
        Ok(DensifyStats {
            grad_accum: ctx.read(&self.grad_accum, n)?,
            view_count: ctx.read(&self.view_count, n)?,
            max_radius: ctx.read(&self.max_radius, n)?,
        })
    }

    /// The renderer's view of the cloud (buffers shared, SH packed by `pack_sh`).
    fn cloud(&self) -> GpuCloud {
        GpuCloud {
            len: self.n,
            sh_degree: self.sh_degree,
            feature_channels: 0,
            means: self.params[0].clone(),
            log_scales: self.params[1].clone(),
            rotations: self.params[2].clone(),
            opacity_logits: self.params[3].clone(),
            sh: self.sh_packed.clone(),
            features: self.features.clone(),
        }
    }
}

/// Uniforms of the SH pack/unpack kernels (`fit_sh_pack.wgsl`, `fit_sh_unpack.wgsl`), shared
/// by the 3DGS and CoherentGS trainers.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct ShShape {
    pub(crate) n: u32,
    pub(crate) k: u32,
    pub(crate) _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct StatsUniform {
    n: u32,
    _pad: u32,
    half_size: [f32; 2],
}

/// Trains a Gaussian cloud on a [`Scene`].
pub struct Trainer {
    ctx: Arc<GpuContext>,
    renderer: SplatRenderer,
    loss: ImageLoss,
    pack: Kernel,
    unpack: Kernel,
    stats_kernel: Kernel,
    pub config: TrainConfig,
    views: Vec<GpuView>,
    pub scene: Scene,
    state: GpuState,
    loss_values: wgpu::Buffer,
    /// Steps taken.
    pub step: u32,
    pub history: Vec<LogPoint>,
    pub last_densify: DensifyReport,
}

impl Trainer {
    /// A trainer starting from the scene's SfM points, or from random points in the cameras'
    /// view volume when it has none.
    pub fn new(ctx: Arc<GpuContext>, scene: Scene, config: TrainConfig) -> Result<Self, FitError> {
        if scene.train.is_empty() {
            return Err(FitError::Invalid("the scene has no training views".into()));
        }
        let cloud = match &scene.points {
            Some(p) if !p.is_empty() => crate::init::cloud_from_points(p, config.max_sh_degree),
            _ => {
                // 3DGS's synthetic-scene init: uniform in a cube, ±1.3 for the Blender scenes,
                // whose camera extent is 4.4: 0.3 of the extent, around the look-at centre.
                let pts = crate::init::random_points(config.random_init_points as usize, scene.center, scene.extent * 0.3, config.seed);
                crate::init::cloud_from_points(&pts, config.max_sh_degree)
            }
        };
        Self::with_cloud(ctx, scene, config, &cloud)
    }

    pub fn with_cloud(ctx: Arc<GpuContext>, scene: Scene, config: TrainConfig, cloud: &GaussianCloud) -> Result<Self, FitError> {
        let views = scene
            .train
            .iter()
            .map(|v: &SceneView| GpuView { camera: v.camera, image: ctx.upload("target image", &v.image.rgb) })
            .collect();
        Ok(Trainer {
            renderer: SplatRenderer::new(ctx.clone())?,
            loss: ImageLoss::new(&ctx, LossConfig { ssim_weight: config.ssim_weight, ..Default::default() })?,
            pack: Kernel::new(&ctx, "fit_sh_pack.wgsl", "main", &[])?,
            unpack: Kernel::new(&ctx, "fit_sh_unpack.wgsl", "main", &[])?,
            stats_kernel: Kernel::new(&ctx, "fit_stats.wgsl", "main", &[])?,
            state: GpuState::upload(&ctx, cloud, Moments::Zero)?,
            loss_values: ImageLoss::values_buffer(&ctx),
            views,
            scene,
            config,
            step: 0,
            history: Vec::new(),
            last_densify: DensifyReport::default(),
            ctx,
        })
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    pub fn gaussians(&self) -> u32 {
        self.state.n
    }

    fn settings(&self, sh_degree: u32) -> RenderSettings {
        RenderSettings {
            alpha_clamp: self.config.alpha_clamp,
            background: self.scene.background.to_array().to_vec(),
            sh_degree: Some(sh_degree),
            ..Default::default()
        }
    }

    /// Training view for `step`: a seeded shuffle of the views per epoch.
    fn view_index(&self, step: u32) -> usize {
        let n = self.views.len();
        let epoch = step as usize / n;
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for i in (1..n).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        order[step as usize % n]
    }

    fn record_pack(&self, enc: &mut wgpu::CommandEncoder) {
        let s = &self.state;
        let k = sh_coeffs(s.sh_degree) as u32;
        let shape = self.ctx.uniform("sh shape", &ShShape { n: s.n, k, _pad: [0; 2] });
        let mut pass = GpuContext::begin_pass(enc, "pack sh", None);
        let bind = self.pack.bind(&self.ctx, &[&shape, &s.params[4], &s.params[5], &s.sh_packed]);
        self.pack.dispatch(&mut pass, &bind, (s.n * k * 3).div_ceil(256));
    }

    /// One training step. Returns the loss values when `read_loss` (a GPU read-back).
    pub fn train_step(&mut self, read_loss: bool) -> Result<Option<LossValues>, FitError> {
        self.train_step_timed(read_loss, None)
    }

    /// [`Trainer::train_step`] with per-stage GPU timestamps (`kiln bench fit`). The timer is
    /// resolved at the end of the step; read it before the next.
    pub fn train_step_timed(&mut self, read_loss: bool, mut timer: Option<&mut kiln_gpu::GpuTimer>) -> Result<Option<LossValues>, FitError> {
        let ctx = self.ctx.clone();
        let step = self.step;
        let view = &self.views[self.view_index(step)];
        let cam = view.camera;
        let settings = self.settings(self.config.sh_degree(step));

        let mut enc = ctx.encoder("fit: pack");
        self.record_pack(&mut enc);
        ctx.submit(enc);
        let cloud = self.state.cloud();
        let fwd = self.renderer.forward(&cloud, &cam, &settings, timer.as_deref_mut())?;

        let pixels = cam.width as u64 * cam.height as u64;
        let grad_color = ctx.zeroed("grad colour", pixels * 12);
        let zero = ctx.zeroed("zero grads", pixels * 4);
        let mut enc = ctx.encoder("fit: loss");
        self.loss.encode(&ctx, &mut enc, &fwd.color, &view.image, cam.width, cam.height, 3, &self.loss_values, Some(&grad_color), timer.as_deref_mut())?;
        ctx.submit(enc);
        let grads = self.renderer.backward(&cloud, &fwd, &grad_color, &zero, &zero, timer.as_deref_mut())?;

        let s = &mut self.state;
        let mut enc = ctx.encoder("fit: update");
        let k = sh_coeffs(s.sh_degree) as u32;
        {
            let shape = ctx.uniform("sh shape", &ShShape { n: s.n, k, _pad: [0; 2] });
            let su = ctx.uniform(
                "stats",
                &StatsUniform { n: s.n, _pad: 0, half_size: [cam.width as f32 * 0.5, cam.height as f32 * 0.5] },
            );
            let mut pass = GpuContext::begin_pass(&mut enc, "optimizer", timer.as_deref_mut());
            let bind = self.unpack.bind(&ctx, &[&shape, &grads.sh, &s.grads[4], &s.grads[5]]);
            self.unpack.dispatch(&mut pass, &bind, (s.n * k * 3).div_ceil(256));
            let bind = self.stats_kernel.bind(
                &ctx,
                &[&su, &grads.splat_grads, &fwd.tile_counts, &fwd.splats, &s.grad_accum, &s.view_count, &s.max_radius],
            );
            self.stats_kernel.dispatch(&mut pass, &bind, s.n.div_ceil(256));
            let c = &self.config;
            let lrs = [
                c.lr_mean(step) * self.scene.extent,
                c.lr_scale,
                c.lr_rotation,
                c.lr_opacity,
                c.lr_sh_dc,
                c.lr_sh_dc / c.lr_sh_rest_divisor,
            ];
            let grad_bufs = [&grads.means, &grads.log_scales, &grads.rotations, &grads.opacity_logits, &s.grads[4], &s.grads[5]];
            for g in 0..6 {
                if let Some(group) = s.adam[g].as_mut().filter(|a| !a.is_empty()) {
                    group.record_step(&ctx, &mut pass, &s.params[g], grad_bufs[g], lrs[g])?;
                }
            }
        }
        if let Some(t) = timer {
            t.resolve(&mut enc);
        }
        ctx.submit(enc);
        self.step += 1;

        let values = if read_loss { Some(ImageLoss::read_values(&ctx, &self.loss_values)?) } else { None };
        if let Some(v) = values {
            self.history.push(LogPoint { step: self.step, loss: v.loss, psnr: v.psnr() as f32, gaussians: self.state.n });
        }
        self.maybe_densify()?;
        Ok(values)
    }

    fn maybe_densify(&mut self) -> Result<(), FitError> {
        let c = self.config.clone();
        let step = self.step;
        // Nothing after the last step: a reset or split then would only be left unrepaired.
        if step >= c.densify_until || step >= c.iterations {
            return Ok(());
        }
        if step > c.densify_from && step.is_multiple_of(c.densify_interval) {
            self.densify_now()?;
        }
        let white = self.scene.background.min_element() >= 1.0;
        if step.is_multiple_of(c.opacity_reset_interval) || (white && step == c.densify_from) {
            self.reset_opacity()?;
        }
        Ok(())
    }

    /// Clone, split and prune now (normally called on the schedule).
    pub fn densify_now(&mut self) -> Result<DensifyReport, FitError> {
        let ctx = self.ctx.clone();
        let cloud = self.state.download(&ctx)?;
        let stats = self.state.stats(&ctx)?;
        let c = &self.config;
        let params = DensifyParams {
            grad_threshold: c.densify_grad_threshold,
            dense_size: c.percent_dense * self.scene.extent,
            prune_opacity: c.prune_opacity,
            prune_big: self.step > c.opacity_reset_interval,
            max_screen_radius: c.prune_screen_size,
            max_world_size: c.prune_world_size * self.scene.extent,
            seed: c.seed ^ (self.step as u64) << 20,
        };
        let (next, source, report) = densify(&cloud, &stats, &params);
        let mut adam = std::mem::take(&mut self.state.adam);
        let mut enc = ctx.encoder("fit: densify moments");
        for g in adam.iter_mut().flatten() {
            g.gather_host(&ctx, &mut enc, &source)?;
        }
        ctx.submit(enc);
        self.state = GpuState::upload(&ctx, &next, Moments::Groups(adam))?;
        self.last_densify = report.clone();
        Ok(report)
    }

    /// Opacity reset (3DGS): opacity = min(opacity, 0.01), its optimizer moments zeroed.
    pub fn reset_opacity(&mut self) -> Result<(), FitError> {
        let ctx = self.ctx.clone();
        let n = self.state.n as usize;
        let mut logits: Vec<f32> = ctx.read(&self.state.params[3], n)?;
        reset_opacity(&mut logits);
        ctx.queue.write_buffer(&self.state.params[3], 0, bytemuck::cast_slice(&logits));
        let mut enc = ctx.encoder("fit: reset opacity moments");
        if let Some(g) = self.state.adam[3].as_mut() {
            g.gather_host(&ctx, &mut enc, &vec![GATHER_ZERO; n])?;
        }
        ctx.submit(enc);
        Ok(())
    }

    /// The current cloud, on the host.
    pub fn cloud(&self) -> Result<GaussianCloud, FitError> {
        self.state.download(&self.ctx)
    }

    /// Renders a camera with the current cloud (full SH degree of the schedule at this step).
    pub fn render(&self, camera: &kiln_scene::Camera) -> Result<RenderOutput, FitError> {
        let mut enc = self.ctx.encoder("fit: pack");
        self.record_pack(&mut enc);
        self.ctx.submit(enc);
        let settings = self.settings(self.config.sh_degree(self.step));
        let fwd = self.renderer.forward(&self.state.cloud(), camera, &settings, None)?;
        Ok(self.renderer.read_output(&fwd)?)
    }

    /// PSNR and SSIM of renders (clamped to [0, 1]) against the views' images.
    pub fn evaluate(&self, views: &[SceneView]) -> Result<(Vec<ViewMetrics>, Vec<RenderOutput>), FitError> {
        evaluate_views(views, |camera| self.render(camera))
    }

    /// Everything needed to continue later: the cloud, optimizer moments, statistics, step
    /// and history.
    pub fn checkpoint(&self) -> Result<Checkpoint, FitError> {
        let ctx = &self.ctx;
        let cloud = self.cloud()?;
        let stats = self.state.stats(ctx)?;
        let steps: Vec<u64> = self.state.adam.iter().map(|g| g.as_ref().map_or(0, |g| g.step())).collect();
        let mut ck = Checkpoint::new(serde_json::json!({
            "step": self.step,
            "sh_degree": cloud.sh_degree,
            "gaussians": cloud.len(),
            "adam_steps": steps,
            "history": self.history,
            "config": self.config,
        }));
        ck.push("means", bytemuck::cast_slice(&cloud.means).to_vec());
        ck.push("log_scales", bytemuck::cast_slice(&cloud.log_scales).to_vec());
        ck.push("rotations", bytemuck::cast_slice(&cloud.rotations).to_vec());
        ck.push("opacity_logits", cloud.opacity_logits.clone());
        ck.push("sh", cloud.sh.clone());
        for (g, name) in GROUPS.iter().enumerate() {
            if let Some(group) = &self.state.adam[g] {
                let snap = group.snapshot(ctx)?;
                ck.push(&format!("adam.{name}.m"), snap.exp_avg);
                ck.push(&format!("adam.{name}.v"), snap.exp_avg_sq);
            }
        }
        ck.push("stats.grad_accum", stats.grad_accum);
        ck.push("stats.view_count", stats.view_count);
        ck.push("stats.max_radius", stats.max_radius);
        Ok(ck)
    }

    /// Continues from a checkpoint made by [`Trainer::checkpoint`] on the same scene.
    pub fn restore(&mut self, ck: &Checkpoint) -> Result<(), FitError> {
        let bad = |what: &str| FitError::Checkpoint(format!("missing or malformed {what}"));
        let get = |name: &str| ck.get(name).ok_or_else(|| bad(name));
        let sh_degree = ck.meta["sh_degree"].as_u64().ok_or_else(|| bad("sh_degree"))? as u32;
        let cloud = GaussianCloud {
            means: bytemuck::cast_slice(get("means")?).to_vec(),
            log_scales: bytemuck::cast_slice(get("log_scales")?).to_vec(),
            rotations: bytemuck::cast_slice(get("rotations")?).to_vec(),
            opacity_logits: get("opacity_logits")?.to_vec(),
            sh_degree,
            sh: get("sh")?.to_vec(),
            ..Default::default()
        };
        cloud.validate().map_err(FitError::Checkpoint)?;
        let n = cloud.len() as u32;
        let r = rows(sh_degree);
        let steps = ck.meta["adam_steps"].as_array().ok_or_else(|| bad("adam_steps"))?;
        let mut snaps = Vec::new();
        for (g, name) in GROUPS.iter().enumerate() {
            if r[g] == 0 {
                snaps.push(None);
                continue;
            }
            let m = get(&format!("adam.{name}.m"))?.to_vec();
            let v = get(&format!("adam.{name}.v"))?.to_vec();
            if m.len() != (n * r[g]) as usize || v.len() != m.len() {
                return Err(bad(&format!("adam.{name}")));
            }
            snaps.push(Some(AdamSnapshot { items: n, row: r[g], step: steps.get(g).and_then(|s| s.as_u64()).unwrap_or(0), exp_avg: m, exp_avg_sq: v }));
        }
        let state = GpuState::upload(&self.ctx, &cloud, Moments::Snapshots(&snaps))?;
        for (name, buf) in [("stats.grad_accum", &state.grad_accum), ("stats.view_count", &state.view_count), ("stats.max_radius", &state.max_radius)] {
            let data = get(name)?;
            if data.len() != n as usize {
                return Err(bad(name));
            }
            if n > 0 {
                self.ctx.queue.write_buffer(buf, 0, bytemuck::cast_slice(data));
            }
        }
        self.state = state;
        self.step = ck.meta["step"].as_u64().ok_or_else(|| bad("step"))? as u32;
        self.history = serde_json::from_value(ck.meta["history"].clone()).map_err(|_| bad("history"))?;
        Ok(())
    }
}

/// PSNR and SSIM of each view's render (clamped to [0, 1]) against its image; shared by the
/// 3DGS and CoherentGS trainers, which differ only in how they render.
pub(crate) fn evaluate_views(
    views: &[SceneView],
    mut render: impl FnMut(&kiln_scene::Camera) -> Result<RenderOutput, FitError>,
) -> Result<(Vec<ViewMetrics>, Vec<RenderOutput>), FitError> {
    let mut metrics = Vec::new();
    let mut renders = Vec::new();
    for v in views {
        let mut out = render(&v.camera)?;
        out.color.iter_mut().for_each(|c| *c = c.clamp(0.0, 1.0));
        let (w, h) = (v.camera.width as usize, v.camera.height as usize);
        metrics.push(ViewMetrics {
            name: v.name.clone(),
            psnr: kiln_splat::loss::psnr(&out.color, &v.image.rgb),
            ssim: kiln_splat::loss::ssim(&out.color, &v.image.rgb, w, h, 3),
        });
        renders.push(out);
    }
    Ok((metrics, renders))
}
