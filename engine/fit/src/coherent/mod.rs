//! CoherentGS (`../shared/methods/coherentgs.md`): sparse-view splatting with one Gaussian per
//! input pixel, each moving only along its pixel ray.
//!
//! A step: the per-view decoders (kiln's kernels by default, or Burn; kiln-nn) give depth
//! offsets and opacities → positions on the ray → GPU render of one random training view →
//! GPU L1+SSIM, pyramid-L1 levels and layer-masked disparity TV (`gpu_image_terms`) → GPU
//! rasterizer backward → dL/d(depth) = dL/dμ · ray, plus the flow loss on world positions
//! (`gpu_flow`) → decoder backward and AdamW; SH rest, scales and rotations by kiln's GPU Adam.
//! With kiln's decoders the whole step stays on the GPU (`device`) and one read-back brings the
//! loss values; with Burn's (whose tensors' buffers are private) the per-Gaussian legs take the
//! host path. `kiln bench coherent` times each part (docs/COHERENTGS.md).

mod config;
mod device;
pub mod gpu_flow;
pub mod gpu_image_terms;
pub mod losses;
pub mod prepare;

pub use config::CoherentConfig;
pub use losses::FlowField;

use crate::scene::{Scene, SceneView};
use crate::trainer::{FitError, LogPoint, ViewMetrics};
use glam::Vec3;
use kiln_gpu::adam::{AdamConfig, AdamGroup, AdamSnapshot};
use kiln_run::Checkpoint;
use kiln_gpu::{GpuContext, Kernel};
use kiln_nn::{CyclicLr, Decoder, DecoderConfig, DecoderOutput};
use kiln_splat::loss::{ImageLoss, LossConfig, LossValues};
use kiln_splat::{sh_coeffs, GaussianCloud, GpuCloud, RenderOutput, RenderSettings};
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use std::sync::Arc;

const SH_C0: f32 = 0.282_094_8;

/// What CoherentGS starts from besides the images: per training view a depth map (camera z,
/// world units, already aligned — see `prepare`), its depth layers, and flow between the views.
#[derive(Clone, Debug, Default)]
pub struct CoherentInputs {
    /// `depth[v][y·w + x]` > 0.
    pub depth: Vec<Vec<f32>>,
    /// `layers[v][y·w + x]` < `layer_count`.
    pub layers: Vec<Vec<u8>>,
    pub layer_count: usize,
    pub flows: Vec<FlowField>,
    /// Per-pixel starting opacity, `start_opacity[v][y·w + x]` in (0, 1); empty: every
    /// Gaussian starts at the view-count rule's opacity (the method's). kiln's free-space
    /// prior (`prepare::free_space_conflicts`) fills it.
    pub start_opacity: Vec<Vec<f32>>,
}

impl CoherentInputs {
    fn validate(&self, views: &[SceneView]) -> Result<(), FitError> {
        let bad = |m: String| Err(FitError::Invalid(m));
        if views.len() < 2 {
            return bad(format!("CoherentGS needs 2 to 4 training views, got {}", views.len()));
        }
        if self.depth.len() != views.len() || self.layers.len() != views.len() {
            return bad(format!("{} depth maps and {} layer maps for {} views", self.depth.len(), self.layers.len(), views.len()));
        }
        if !self.start_opacity.is_empty() && self.start_opacity.len() != views.len() {
            return bad(format!("{} starting-opacity maps for {} views", self.start_opacity.len(), views.len()));
        }
        for (v, view) in views.iter().enumerate() {
            let n = (view.camera.width * view.camera.height) as usize;
            if self.depth[v].len() != n {
                return bad(format!(
                    "depth map of view {} has {} values, the image is {}x{} ({n})",
                    view.name,
                    self.depth[v].len(),
                    view.camera.width,
                    view.camera.height
                ));
            }
            if let Some(z) = self.depth[v].iter().find(|z| !(z.is_finite() && **z > 0.0)) {
                return bad(format!("depth map of view {} has a non-positive or non-finite depth {z}", view.name));
            }
            if self.layers[v].len() != n || self.layers[v].iter().any(|&l| l as usize >= self.layer_count.max(1)) {
                return bad(format!("layer map of view {} does not match the image or the {} layers", view.name, self.layer_count));
            }
            if let Some(o) = self.start_opacity.get(v) {
                if o.len() != n || o.iter().any(|a| !(*a > 0.0 && *a < 1.0)) {
                    return bad(format!("starting opacities of view {} are not {n} values in (0, 1)", view.name));
                }
            }
        }
        for f in &self.flows {
            let (Some(a), Some(b)) = (views.get(f.from), views.get(f.to)) else {
                return bad(format!("flow {} → {} names a view that does not exist", f.from, f.to));
            };
            let n = (a.camera.width * a.camera.height) as usize;
            if (f.width, f.height) != (a.camera.width, a.camera.height) || (b.camera.width, b.camera.height) != (a.camera.width, a.camera.height) || f.flow.len() != n || f.mask.len() != n {
                return bad(format!("flow {} → {} is {}x{}, the views are {}x{}", f.from, f.to, f.width, f.height, a.camera.width, a.camera.height));
            }
        }
        Ok(())
    }
}

/// Adam on host vectors (the no-decoder ablation's per-Gaussian parameters, whose gradients
/// are on the host already).
struct HostAdam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl HostAdam {
    fn new(n: usize) -> Self {
        HostAdam { m: vec![0.0; n], v: vec![0.0; n], t: 0 }
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: &[f32]) {
        self.t += 1;
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-15f32);
        let (bc1, bc2) = (1.0 - b1.powi(self.t), 1.0 - b2.powi(self.t));
        let last = lr.len() - 1;
        (params, &mut self.m, &mut self.v).into_par_iter().zip(grads).enumerate().for_each(|(i, ((p, m, v), g))| {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= lr[i.min(last)] * (*m / bc1) / ((*v / bc2).sqrt() + eps);
        });
    }
}

/// Per-view geometry: pixel rays, base depth and layers.
struct ViewGeom {
    width: usize,
    height: usize,
    center: Vec3,
    fy: f32,
    rays: Vec<Vec3>,
    layers: Vec<u8>,
    base_depth: Vec<f32>,
}

/// Where the depth offsets and opacities come from: decoders, or free per-pixel parameters
/// (the no-decoder ablation).
enum Offsets {
    Decoders { depth: Vec<Decoder>, opacity: Vec<Decoder>, depth_lr: CyclicLr, opacity_lr: CyclicLr },
    Direct { depth: Vec<f32>, opacity: Vec<f32>, adam: HostAdam },
}

use crate::trainer::ShShape;

/// How many Gaussians' offsets sit at the ends of their range: the fraction of pixels whose
/// selected decoder output has |tanh| > 0.99, for the depth offset (±50 scene units) and the
/// opacity logit (±100). A saturated tanh passes almost no gradient back, so a run whose
/// fractions climb has thrown Gaussians off their rays and cannot pull them back.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Saturation {
    pub depth: f32,
    pub opacity: f32,
}

/// Wall-clock seconds spent in each part of `train_step`, summed over the steps so far (host
/// clock; the parts that end with a read-back include the GPU work queued before it).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct StepTimes {
    /// The decoder forwards, recorded and read back (the GPU work queued before the read-back
    /// included: the previous step's decoder backward, unless `decoder_backward_wait` took it).
    pub decoder_forward: f64,
    /// Positions/opacities to the GPU; recording the render and the image terms (L1 + SSIM,
    /// pyramid L1, disparity TV, supersampling's pooling; all on the GPU since session 12).
    pub render: f64,
    /// Rasterizer backward, the flow loss (GPU), GPU Adam, gradient read-back.
    pub losses_backward: f64,
    /// The chain rule from the position gradient to the ray depth, on the host path (the flow
    /// loss runs on the GPU, in `losses_backward`; the device path does the chain rule there
    /// too, in `decoder_backward`).
    pub chain_rule: f64,
    /// dL/d(decoder output) to the decoders, recording their backward and AdamW (host time; on
    /// the device path it ends in the step's last read-back, so it includes the GPU time of the
    /// chain pass and of the decoders' backward).
    pub decoder_backward: f64,
    /// Waiting for that backward to finish on the GPU: only with
    /// [`CoherentTrainer::sync_parts`] (benchmarks), else it is in the next `decoder_forward_wait`.
    pub decoder_backward_wait: f64,
}

impl StepTimes {
    /// Every part by its field name, in step order.
    pub fn parts(&self) -> [(&'static str, f64); 6] {
        [
            ("decoder_forward", self.decoder_forward),
            ("render", self.render),
            ("losses_backward", self.losses_backward),
            ("chain_rule", self.chain_rule),
            ("decoder_backward", self.decoder_backward),
            ("decoder_backward_wait", self.decoder_backward_wait),
        ]
    }
}

pub struct CoherentTrainer {
    ctx: Arc<GpuContext>,
    pub times: StepTimes,
    /// Wait for the decoders' backward at the end of each step, so that `times` splits the
    /// decoders' GPU time from their host time (benchmarks; it costs a pipeline bubble).
    pub sync_parts: bool,
    pub scene: Scene,
    pub config: CoherentConfig,
    inputs: CoherentInputs,
    geom: Vec<ViewGeom>,
    /// Offset of each view's Gaussians in the cloud.
    first: Vec<usize>,
    n: usize,
    offsets: Offsets,
    /// logit α₀ per Gaussian, views in order: the view-count rule's, or the inputs' starting
    /// opacities.
    base_logit: Vec<f32>,
    renderer: kiln_splat::SplatRenderer,
    /// The flow loss on the GPU (none without flow or with `use_flow` off).
    flow_loss: Option<gpu_flow::GpuFlowLoss>,
    /// The per-Gaussian legs on the GPU (only when every decoder runs on kiln's kernels).
    device: Option<device::DeviceChain>,
    /// Take the host path even when `device` is there (the tests' reference).
    pub host_chain: bool,
    loss: ImageLoss,
    loss_values: wgpu::Buffer,
    /// The pyramid L1 levels ≥ 1, the disparity TV and supersampling's pooling, on the GPU;
    /// per training view, with its output-gradient buffers.
    image_terms: gpu_image_terms::GpuImageTerms,
    pack: Kernel,
    unpack: Kernel,
    cloud: GpuCloud,
    sh_dc: wgpu::Buffer,
    sh_rest: wgpu::Buffer,
    grad_dc: wgpu::Buffer,
    grad_rest: wgpu::Buffer,
    adam_rest: AdamGroup,
    adam_scale: AdamGroup,
    adam_rot: AdamGroup,
    targets: Vec<wgpu::Buffer>,
    /// Current Δz and opacity logits per Gaussian (host copies of the last step's).
    dz: Vec<f32>,
    logits: Vec<f32>,
    pub step: u32,
    pub history: Vec<LogPoint>,
    /// Of the offsets of the last step (or of construction/restore).
    pub saturation: Saturation,
    rng: Xoshiro256PlusPlus,
}

fn step_rng(seed: u64, step: u32) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed ^ (step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The view rendered at `step`: the views in a shuffled order per epoch of `views` steps, as
/// the reference code pops a random camera from a stack it refills when empty (every view once
/// per epoch, not uniform draws that can repeat one view and skip another). Seeded by (seed,
/// epoch), so a resumed run draws what the uninterrupted one would.
fn epoch_view(seed: u64, step: u32, views: usize) -> usize {
    let views = views.max(1);
    let epoch = step / views as u32;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xE90C_u64.wrapping_mul(epoch as u64 + 1).rotate_left(17));
    let mut order: Vec<usize> = (0..views).collect();
    order.shuffle(&mut rng);
    order[step as usize % views]
}

/// The pyramid's and the TV's losses from their per-workgroup sums (the next two buffers of
/// the step's read-back); without the TV its sums are never written (zero).
fn image_term_losses(read: &mut impl Iterator<Item = Vec<f32>>) -> (f32, f32) {
    let pyramid: f32 = read.next().unwrap_or_default().iter().sum();
    let tv: f32 = read.next().unwrap_or_default().iter().sum();
    (pyramid, tv)
}

fn logit(p: f32) -> f32 {
    (p / (1.0 - p)).ln()
}

impl CoherentTrainer {
    pub fn new(ctx: Arc<GpuContext>, scene: Scene, config: CoherentConfig, inputs: CoherentInputs) -> Result<Self, FitError> {
        config.validate().map_err(FitError::Invalid)?;
        inputs.validate(&scene.train)?;
        let views = scene.train.len();
        let rule_logit = logit(CoherentConfig::base_opacity(views));
        let geom: Vec<ViewGeom> = scene
            .train
            .iter()
            .enumerate()
            .map(|(v, sv)| ViewGeom {
                width: sv.camera.width as usize,
                height: sv.camera.height as usize,
                center: sv.camera.center(),
                fy: sv.camera.fy,
                rays: losses::pixel_rays(&sv.camera),
                layers: inputs.layers[v].clone(),
                base_depth: inputs.depth[v].clone(),
            })
            .collect();
        let mut first = Vec::new();
        let mut n = 0;
        for g in &geom {
            first.push(n);
            n += g.width * g.height;
        }
        let layer_count = inputs.layer_count.max(1);
        let mut decoder_batches: Vec<Vec<usize>> = Vec::new();
        let offsets = if config.use_decoder {
            // Views of one size share a batched network, as many as the adapter can bind: on
            // kiln's kernels a stage's padded input grows with the batch (fern's three
            // full-size views need 138 MB in one buffer, past lavapipe's 128 MiB). The views'
            // weights are drawn per view, so a split batch trains the same networks.
            let decoder_config = |ngf: usize, v: usize| {
                let mut c = DecoderConfig::new(geom[v].height, geom[v].width, ngf, v, views);
                c.out_channels = layer_count;
                c
            };
            let widest = config.depth_ngf(views).max(config.opacity_ngf(views));
            let fits = |batch: usize, v: usize| {
                !matches!(config.decoder_backend, kiln_nn::DecoderBackend::Kiln)
                    || kiln_nn::GpuDecoder::largest_binding(&decoder_config(widest, v), batch + 1) <= ctx.max_binding()
            };
            let mut batches: Vec<Vec<usize>> = Vec::new();
            for v in 0..views {
                match batches.iter_mut().find(|b| (geom[b[0]].width, geom[b[0]].height) == (geom[v].width, geom[v].height) && fits(b.len(), v)) {
                    Some(b) => b.push(v),
                    None => batches.push(vec![v]),
                }
            }
            let make = |ngf: usize, batch: &Vec<usize>, salt: u64| {
                let mut c = decoder_config(ngf, batch[0]);
                c.seed = config.seed ^ salt;
                c.conv = config.decoder_conv;
                Decoder::new(config.decoder_backend, &ctx, c, batch).map_err(|e| FitError::Invalid(e.to_string()))
            };
            let it = config.iterations as f32;
            decoder_batches = batches.clone();
            Offsets::Decoders {
                depth: batches.iter().map(|b| make(config.depth_ngf(views), b, 0x0de7)).collect::<Result<_, _>>()?,
                opacity: batches.iter().map(|b| make(config.opacity_ngf(views), b, 0x0ac1)).collect::<Result<_, _>>()?,
                depth_lr: CyclicLr { base: config.depth_lr[0], max: config.depth_lr[1], step_size: (config.depth_lr_step * it).round().max(1.0) as u32 },
                opacity_lr: CyclicLr { base: config.opacity_lr[0], max: config.opacity_lr[1], step_size: (config.opacity_lr_step * it).round().max(1.0) as u32 },
            }
        } else {
            Offsets::Direct { depth: vec![0.0; n], opacity: vec![0.0; n], adam: HostAdam::new(2 * n) }
        };

        // The cloud: pixel colours as SH DC (frozen, as the code), identity rotations.
        let k = sh_coeffs(config.max_sh_degree);
        let mut dc = Vec::with_capacity(n * 3);
        for sv in &scene.train {
            dc.extend(sv.image.rgb.iter().map(|c| (c - 0.5) / SH_C0));
        }
        let base_logit: Vec<f32> = if inputs.start_opacity.is_empty() {
            vec![rule_logit; n]
        } else {
            inputs.start_opacity.iter().flatten().map(|&a| logit(a)).collect()
        };
        let rotations: Vec<f32> = (0..n).flat_map(|_| [1.0, 0.0, 0.0, 0.0]).collect();
        let cloud = GpuCloud {
            len: n as u32,
            sh_degree: config.max_sh_degree,
            feature_channels: 0,
            means: ctx.zeroed("coherent means", n as u64 * 12),
            log_scales: ctx.zeroed("coherent log_scales", n as u64 * 12),
            rotations: ctx.upload("coherent rotations", &rotations),
            opacity_logits: ctx.zeroed("coherent opacity", n as u64 * 4),
            sh: ctx.zeroed("coherent sh packed", n as u64 * k as u64 * 12),
            features: ctx.zeroed("features", 4),
        };
        let rest_rows = 3 * (k as u32 - 1);
        let targets = scene.train.iter().map(|v| ctx.upload("target image", &v.image.rgb)).collect();
        let term_views: Vec<(u32, u32, &[f32], &[u8])> =
            scene.train.iter().zip(&inputs.layers).map(|(v, l)| (v.camera.width, v.camera.height, &v.image.rgb[..], &l[..])).collect();
        let image_terms = gpu_image_terms::GpuImageTerms::new(&ctx, &term_views, &config.pyramid_weights, 1.0 - config.ssim_weight)?;
        let flow_loss = if config.use_flow && !inputs.flows.is_empty() {
            Some(gpu_flow::GpuFlowLoss::new(&ctx, &inputs.flows, &first, config.unit, config.flow_weight)?)
        } else {
            None
        };
        let device = match &offsets {
            Offsets::Decoders { depth, opacity, .. } if depth.iter().chain(opacity).all(|d| matches!(d, Decoder::Kiln(_))) => {
                let scale = config.offset_units * config.unit;
                Some(device::DeviceChain::new(&ctx, &geom, &first, &decoder_batches, layer_count, scale, config.opacity_gain, &base_logit)?)
            }
            _ => None,
        };
        let mut t = CoherentTrainer {
            renderer: kiln_splat::SplatRenderer::new(ctx.clone())?,
            flow_loss,
            device,
            host_chain: false,
            loss: ImageLoss::new(&ctx, LossConfig { ssim_weight: config.ssim_weight, ..Default::default() })?,
            loss_values: ImageLoss::values_buffer(&ctx),
            image_terms,
            pack: Kernel::new(&ctx, "fit_sh_pack.wgsl", "main", &[])?,
            unpack: Kernel::new(&ctx, "fit_sh_unpack.wgsl", "main", &[])?,
            sh_dc: ctx.upload("coherent sh dc", &dc),
            sh_rest: ctx.zeroed("coherent sh rest", (n as u64 * rest_rows as u64).max(1) * 4),
            grad_dc: ctx.zeroed("grad sh dc", n as u64 * 12),
            grad_rest: ctx.zeroed("grad sh rest", (n as u64 * rest_rows as u64).max(1) * 4),
            adam_rest: AdamGroup::new(&ctx, "sh_rest", n as u32, rest_rows.max(1), AdamConfig::default())?,
            adam_scale: AdamGroup::new(&ctx, "log_scales", n as u32, 3, AdamConfig::default())?,
            adam_rot: AdamGroup::new(&ctx, "rotations", n as u32, 4, AdamConfig::default())?,
            cloud,
            targets,
            dz: vec![0.0; n],
            logits: base_logit.clone(),
            base_logit,
            geom,
            first,
            n,
            offsets,
            inputs,
            rng: Xoshiro256PlusPlus::seed_from_u64(config.seed),
            config,
            scene,
            step: 0,
            history: Vec::new(),
            saturation: Saturation::default(),
            times: StepTimes::default(),
            sync_parts: false,
            ctx,
        };
        t.offsets_forward_only()?;
        t.reset_scales();
        t.upload_geometry();
        Ok(t)
    }

    pub fn gaussians(&self) -> usize {
        self.n
    }

    /// Everything training changes: the step and loss history, scales, rotations and SH rest
    /// with their Adam moments, and the depth/opacity offsets — the decoders' weights with,
    /// for kiln's decoders, their AdamW moments (Burn's optimizer keeps its moments private, so
    /// those restart on restore) — or the free per-pixel offsets with their Adam state. The inputs (depth, layers, flow) are recomputed by
    /// `prepare`, which is deterministic.
    pub fn checkpoint(&self) -> Result<Checkpoint, FitError> {
        let ctx = &self.ctx;
        let n = self.n;
        // SH rest rows per Gaussian (none at SH degree 0, where its buffers are placeholders).
        let rows = if self.cloud.sh_coeffs() > 1 { self.adam_rest.row() as usize } else { 0 };
        let (kind, host_t) = match &self.offsets {
            Offsets::Decoders { .. } => ("decoders", 0),
            Offsets::Direct { adam, .. } => ("direct", adam.t),
        };
        let adam_steps = [self.adam_rest.step(), self.adam_scale.step(), self.adam_rot.step()];
        let mut ck = Checkpoint::new(serde_json::json!({
            "method": "coherent",
            "step": self.step,
            "gaussians": n,
            "offsets": kind,
            "host_adam_t": host_t,
            "adam_steps": adam_steps,
            "history": self.history,
            "config": self.config,
        }));
        ck.push("log_scales", ctx.read(&self.cloud.log_scales, n * 3)?);
        ck.push("rotations", ctx.read(&self.cloud.rotations, n * 4)?);
        if rows > 0 {
            ck.push("sh_rest", ctx.read(&self.sh_rest, n * rows)?);
        }
        for (name, group) in [("sh_rest", &self.adam_rest), ("log_scales", &self.adam_scale), ("rotations", &self.adam_rot)] {
            if name == "sh_rest" && rows == 0 {
                continue;
            }
            let snap = group.snapshot(ctx)?;
            ck.push(&format!("adam.{name}.m"), snap.exp_avg);
            ck.push(&format!("adam.{name}.v"), snap.exp_avg_sq);
        }
        match &self.offsets {
            Offsets::Decoders { depth, opacity, .. } => {
                // Per view, whatever the batching: decoder.<kind>.<view>.<tensor>.
                for (kind, decoders) in [("depth", depth), ("opacity", opacity)] {
                    for d in decoders {
                        for (&v, params) in d.views().iter().zip(d.view_parameters_host().map_err(nn_err)?) {
                            for (j, t) in params.into_iter().enumerate() {
                                ck.push(&format!("decoder.{kind}.{v}.{j}"), t);
                            }
                        }
                        // kiln's decoders: their AdamW moments too (Burn keeps its private).
                        if let Some(opt) = d.view_optimizer_host().map_err(nn_err)? {
                            for (i, &v) in d.views().iter().enumerate() {
                                ck.meta[format!("decoder.{kind}.{v}.adam_step")] = opt.step.into();
                                for (j, (m, s)) in opt.exp_avg[i].iter().zip(&opt.exp_avg_sq[i]).enumerate() {
                                    ck.push(&format!("decoder.{kind}.{v}.{j}.m"), m.clone());
                                    ck.push(&format!("decoder.{kind}.{v}.{j}.v"), s.clone());
                                }
                            }
                        }
                    }
                }
            }
            Offsets::Direct { depth, opacity, adam } => {
                ck.push("direct.depth", depth.clone());
                ck.push("direct.opacity", opacity.clone());
                ck.push("direct.adam.m", adam.m.clone());
                ck.push("direct.adam.v", adam.v.clone());
            }
        }
        Ok(ck)
    }

    /// Continues from `ck`, written by [`Self::checkpoint`] of a trainer built from the same
    /// scene, inputs and configuration (its sizes are checked).
    pub fn restore(&mut self, ck: &Checkpoint) -> Result<(), FitError> {
        let bad = |what: &str| FitError::Checkpoint(format!("missing or malformed {what}"));
        let n = self.n;
        let sized = |name: &str, len: usize| -> Result<Vec<f32>, FitError> {
            let v = ck.get(name).ok_or_else(|| bad(name))?;
            if v.len() != len {
                return Err(FitError::Checkpoint(format!("{name} has {} values, this run needs {len} (another scene or configuration?)", v.len())));
            }
            Ok(v.to_vec())
        };
        if ck.meta["method"].as_str() != Some("coherent") || ck.meta["gaussians"].as_u64() != Some(n as u64) {
            return Err(FitError::Checkpoint(format!("not a CoherentGS checkpoint of {n} Gaussians")));
        }
        let step = ck.meta["step"].as_u64().ok_or_else(|| bad("step"))? as u32;
        let history: Vec<LogPoint> = serde_json::from_value(ck.meta["history"].clone()).map_err(|_| bad("history"))?;
        let steps = ck.meta["adam_steps"].as_array().ok_or_else(|| bad("adam_steps"))?;
        let rows = if self.cloud.sh_coeffs() > 1 { self.adam_rest.row() as usize } else { 0 };
        let ctx = self.ctx.clone();
        ctx.queue.write_buffer(&self.cloud.log_scales, 0, bytemuck::cast_slice(&sized("log_scales", n * 3)?));
        ctx.queue.write_buffer(&self.cloud.rotations, 0, bytemuck::cast_slice(&sized("rotations", n * 4)?));
        if rows > 0 {
            ctx.queue.write_buffer(&self.sh_rest, 0, bytemuck::cast_slice(&sized("sh_rest", n * rows)?));
        }
        for (k, (name, row)) in [("sh_rest", rows), ("log_scales", 3), ("rotations", 4)].into_iter().enumerate() {
            if row == 0 {
                continue;
            }
            let snap = AdamSnapshot {
                items: n as u32,
                row: row as u32,
                step: steps.get(k).and_then(|s| s.as_u64()).ok_or_else(|| bad("adam_steps"))?,
                exp_avg: sized(&format!("adam.{name}.m"), n * row)?,
                exp_avg_sq: sized(&format!("adam.{name}.v"), n * row)?,
            };
            let group = AdamGroup::from_snapshot(&ctx, name, &snap, AdamConfig::default())?;
            match k {
                0 => self.adam_rest = group,
                1 => self.adam_scale = group,
                _ => self.adam_rot = group,
            }
        }
        match &mut self.offsets {
            Offsets::Decoders { depth, opacity, .. } => {
                if ck.meta["offsets"].as_str() != Some("decoders") {
                    return Err(FitError::Checkpoint("the checkpoint has free offsets, this run has decoders (--no-decoder differs)".into()));
                }
                for (kind, decoders) in [("depth", depth), ("opacity", opacity)] {
                    for d in decoders.iter_mut() {
                        let current = d.view_parameters_host().map_err(nn_err)?;
                        let per_view = d
                            .views()
                            .iter()
                            .zip(&current)
                            .map(|(&v, params)| params.iter().enumerate().map(|(j, t)| sized(&format!("decoder.{kind}.{v}.{j}"), t.len())).collect::<Result<Vec<_>, _>>())
                            .collect::<Result<Vec<_>, _>>()?;
                        d.set_view_parameters_host(&per_view).map_err(nn_err)?;
                        // The AdamW moments where the checkpoint has them (kiln's decoders
                        // wrote them); otherwise they restart.
                        let views = d.views().to_vec();
                        let step = ck.meta[format!("decoder.{kind}.{}.adam_step", views[0])].as_u64();
                        if let Some(step) = step.filter(|_| ck.get(&format!("decoder.{kind}.{}.0.m", views[0])).is_some()) {
                            let moments = |suffix: &str| -> Result<Vec<Vec<Vec<f32>>>, FitError> {
                                views
                                    .iter()
                                    .zip(&per_view)
                                    .map(|(v, params)| params.iter().enumerate().map(|(j, t)| sized(&format!("decoder.{kind}.{v}.{j}.{suffix}"), t.len())).collect())
                                    .collect()
                            };
                            let state = kiln_nn::OptimizerState { step, exp_avg: moments("m")?, exp_avg_sq: moments("v")? };
                            d.set_view_optimizer_host(&state).map_err(nn_err)?;
                        }
                    }
                }
            }
            Offsets::Direct { depth, opacity, adam } => {
                if ck.meta["offsets"].as_str() != Some("direct") {
                    return Err(FitError::Checkpoint("the checkpoint has decoders, this run has free offsets (--no-decoder differs)".into()));
                }
                *depth = sized("direct.depth", n)?;
                *opacity = sized("direct.opacity", n)?;
                adam.m = sized("direct.adam.m", 2 * n)?;
                adam.v = sized("direct.adam.v", 2 * n)?;
                adam.t = ck.meta["host_adam_t"].as_i64().ok_or_else(|| bad("host_adam_t"))? as i32;
            }
        }
        self.step = step;
        self.history = history;
        self.offsets_forward_only()?;
        self.upload_geometry();
        Ok(())
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    /// World positions of every view's Gaussians for depths base + `dz`.
    fn positions(&self, dz: &[f32]) -> Vec<Vec<Vec3>> {
        self.geom
            .iter()
            .enumerate()
            .map(|(v, g)| {
                let o = self.first[v];
                (0..g.rays.len()).into_par_iter().map(|p| g.center + g.rays[p] * (g.base_depth[p] + dz[o + p])).collect()
            })
            .collect()
    }

    fn offset_scale(&self) -> f32 {
        self.config.offset_units * self.config.unit
    }

    /// Δz and opacity logits from the current parameters (no graph kept).
    fn offsets_forward_only(&mut self) -> Result<(), FitError> {
        self.offsets_forward(None).map(drop)
    }

    /// Sets Δz, the opacity logits and their saturation from the current parameters. Returns
    /// the decoders' passes per view (depth, opacity), whose graphs their backward needs; none
    /// for free offsets.
    fn offsets_forward(&mut self, timer: Option<&mut kiln_gpu::GpuTimer>) -> Result<Vec<(DecoderOutput, DecoderOutput)>, FitError> {
        let (mut dz, mut logits) = (vec![0.0; self.n], vec![0.0; self.n]);
        let mut passes = Vec::new();
        let counts = match &self.offsets {
            Offsets::Decoders { depth, opacity, .. } => {
                let mut counts = (0, 0);
                // Every forward is queued before the first read-back, so the device runs them
                // back to back (kiln's decoders: one submission, one wait).
                let t0 = std::time::Instant::now();
                let all: Vec<&Decoder> = depth.iter().chain(opacity.iter()).collect();
                let mut all = Decoder::forward_all(&all, timer).map_err(nn_err)?.into_iter();
                self.times.decoder_forward += t0.elapsed().as_secs_f64();
                let depth_passes: Vec<_> = all.by_ref().take(depth.len()).collect();
                for ((d, o), batch) in depth_passes.into_iter().zip(all).zip(depth) {
                    for (i, &v) in batch.views().iter().enumerate() {
                        let c = self.select(v, d.view_values(i), o.view_values(i), &mut dz, &mut logits)?;
                        counts = (counts.0 + c.0, counts.1 + c.1);
                    }
                    passes.push((d, o));
                }
                counts
            }
            Offsets::Direct { depth, opacity, .. } => {
                if let Some((i, t)) = depth.iter().chain(opacity.iter()).enumerate().find(|(_, t)| !t.is_finite()) {
                    let (kind, gaussian) = if i < depth.len() { ("depth", i) } else { ("opacity", i - depth.len()) };
                    return Err(FitError::Diverged { step: self.step, what: format!("the free {kind} offset of Gaussian {gaussian} is {t}") });
                }
                let s = self.offset_scale();
                let gain = self.config.opacity_gain;
                dz = depth.par_iter().map(|t| s * t.tanh()).collect();
                logits = opacity.par_iter().zip(&self.base_logit).map(|(t, base)| base + gain * t.tanh()).collect();
                (depth.par_iter().filter(|t| t.tanh().abs() > 0.99).count(), opacity.par_iter().filter(|t| t.tanh().abs() > 0.99).count())
            }
        };
        let n = self.n.max(1) as f32;
        self.saturation = Saturation { depth: counts.0 as f32 / n, opacity: counts.1 as f32 / n };
        self.dz = dz;
        self.logits = logits;
        Ok(passes)
    }

    /// The device path of [`Self::offsets_forward`] (decoders on kiln's kernels): the decoders'
    /// forwards and the select pass in one submission, writing the cloud's positions and
    /// opacity logits on the GPU; only the select pass's counters come back (saturation, and a
    /// non-finite output as an error before anything renders). The host's `dz` and `logits`
    /// are not updated (the paths that read them run [`Self::offsets_forward`] first).
    fn offsets_forward_device(&mut self, mut timer: Option<&mut kiln_gpu::GpuTimer>) -> Result<(), FitError> {
        let t0 = std::time::Instant::now();
        let (Offsets::Decoders { depth, opacity, .. }, Some(device)) = (&self.offsets, &self.device) else {
            return Err(FitError::Invalid("the device path needs decoders on kiln's kernels".into()));
        };
        let (depth, opacity) = (kiln_decoders(depth)?, kiln_decoders(opacity)?);
        let mut enc = self.ctx.encoder("coherent: offsets");
        for d in depth.iter().chain(&opacity) {
            d.record_forward(&mut enc, timer.as_deref_mut());
        }
        device.record_select(&self.ctx, &mut enc, &output_buffers(&depth), &output_buffers(&opacity), &self.cloud.means, &self.cloud.opacity_logits, timer);
        self.ctx.submit(enc);
        let counts = device.read_select(&self.ctx)?;
        if let Some((v, kind, p)) = counts.bad {
            return Err(FitError::Diverged { step: self.step, what: format!("view {v}'s {kind} decoder gave a non-finite value at pixel {p}") });
        }
        let n = self.n.max(1) as f32;
        self.saturation = Saturation { depth: counts.saturated_depth as f32 / n, opacity: counts.saturated_opacity as f32 / n };
        self.times.decoder_forward += t0.elapsed().as_secs_f64();
        Ok(())
    }

    /// Δz(p) = S·tanh(out_layer(p)(p)) and logit α(p) = logit α₀ + G·tanh(outα_layer(p)(p)):
    /// the spec's Σ_c m_c·tanh(out_c)/Σ_c m_c with one-hot layer masks. Returns how many of the
    /// view's pixels have a saturated depth and opacity tanh; a non-finite output is an error
    /// (the decoders diverged) rather than NaN positions handed to the rasterizer.
    fn select(&self, v: usize, depth_out: &[f32], opacity_out: &[f32], dz: &mut [f32], logits: &mut [f32]) -> Result<(usize, usize), FitError> {
        let g = &self.geom[v];
        let hw = g.width * g.height;
        let (s, gain) = (self.offset_scale(), self.config.opacity_gain);
        let at = |p: usize| {
            let c = g.layers[p] as usize;
            (depth_out[c * hw + p], opacity_out[c * hw + p])
        };
        if let Some(p) = (0..hw).into_par_iter().find_first(|&p| {
            let (od, oo) = at(p);
            !(od.is_finite() && oo.is_finite())
        }) {
            let (od, oo) = at(p);
            let what = format!("view {v}'s {} decoder gave {} at pixel {p}", if od.is_finite() { "opacity" } else { "depth" }, if od.is_finite() { oo } else { od });
            return Err(FitError::Diverged { step: self.step, what });
        }
        let range = self.first[v]..self.first[v] + hw;
        let base_logit = &self.base_logit[self.first[v]..self.first[v] + hw];
        let counts = (&mut dz[range.clone()], &mut logits[range])
            .into_par_iter()
            .enumerate()
            .map(|(p, (dz, logit))| {
                let (od, oo) = at(p);
                let (td, to) = (od.tanh(), oo.tanh());
                *dz = s * td;
                *logit = base_logit[p] + gain * to;
                (usize::from(td.abs() > 0.99), usize::from(to.abs() > 0.99))
            })
            .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        Ok(counts)
    }

    /// Log-scales back to the pixel footprint at the current depth: σ = 1.2·tan(FoVy/2)·z/H =
    /// 0.6·z/fy.
    fn reset_scales(&mut self) {
        let mut s = Vec::with_capacity(self.n * 3);
        for (v, g) in self.geom.iter().enumerate() {
            for p in 0..g.rays.len() {
                let z = (g.base_depth[p] + self.dz[self.first[v] + p]).max(1e-6);
                let l = (0.6 * z / g.fy).ln();
                s.extend_from_slice(&[l, l, l]);
            }
        }
        self.ctx.queue.write_buffer(&self.cloud.log_scales, 0, bytemuck::cast_slice(&s));
    }

    fn upload_geometry(&self) {
        let pos = self.positions(&self.dz);
        let flat: Vec<Vec3> = pos.into_iter().flatten().collect();
        self.ctx.queue.write_buffer(&self.cloud.means, 0, bytemuck::cast_slice(&flat));
        self.ctx.queue.write_buffer(&self.cloud.opacity_logits, 0, bytemuck::cast_slice(&self.logits));
    }

    /// The supersampling factor of `step`: 1 before `supersample_from`, then drawn uniformly
    /// in 1..=`supersample_max` (the code's schedule: after step 12000 of 20000).
    fn supersample_factor(&mut self, step: u32) -> u32 {
        let max = self.config.supersample_max.max(1);
        if max == 1 || (step as f32) < self.config.supersample_from * self.config.iterations as f32 {
            return 1;
        }
        self.rng.random_range(1..=max)
    }

    fn settings(&self, step: u32) -> RenderSettings {
        RenderSettings {
            alpha_clamp: 0.999,
            background: self.scene.background.to_array().to_vec(),
            sh_degree: Some(self.config.sh_degree(step)),
            ..Default::default()
        }
    }

    fn record_pack(&self, enc: &mut wgpu::CommandEncoder) {
        let k = self.cloud.sh_coeffs();
        let shape = self.ctx.uniform("sh shape", &ShShape { n: self.n as u32, k, _pad: [0; 2] });
        let mut pass = GpuContext::begin_pass(enc, "pack sh", None);
        let bind = self.pack.bind(&self.ctx, &[&shape, &self.sh_dc, &self.sh_rest, &self.cloud.sh]);
        self.pack.dispatch(&mut pass, &bind, (self.n as u32 * k * 3).div_ceil(256));
    }

    /// One training step; returns the image-loss values of the rendered view.
    pub fn train_step(&mut self) -> Result<LossValues, FitError> {
        self.train_step_timed(None)
    }

    /// [`Self::train_step`] with GPU timestamps of its kiln passes (render, image loss,
    /// rasterizer backward, optimizer, and kiln's decoder passes) written into `timer`; Burn's
    /// decoder kernels are not in it (their share is `times.decoder_*`).
    pub fn train_step_timed(&mut self, mut timer: Option<&mut kiln_gpu::GpuTimer>) -> Result<LossValues, FitError> {
        let ctx = self.ctx.clone();
        let step = self.step;
        // One seeded stream per step, so a resumed run draws what the uninterrupted one would.
        self.rng = step_rng(self.config.seed, step);
        let views = self.geom.len();
        let v = epoch_view(self.config.seed, step, views);
        let reference = self.rng.random_range(0..views);
        let mut clock = std::time::Instant::now();
        let mut lap = || {
            let now = std::time::Instant::now();
            let dt = (now - clock).as_secs_f64();
            clock = now;
            dt
        };

        // 1. Offsets and opacities, with the decoders' graphs kept for their backward (on the
        // device path they go from the decoders' outputs into the cloud on the GPU).
        let on_device = self.device.is_some() && !self.host_chain;
        let passes = if on_device {
            self.offsets_forward_device(timer.as_deref_mut())?;
            Vec::new()
        } else {
            let passes = self.offsets_forward(timer.as_deref_mut())?; // times itself
            self.upload_geometry();
            passes
        };
        lap();

        // 2. Render view v.
        let cam = self.scene.train[v].camera;
        let settings = self.settings(step);
        let mut enc = ctx.encoder("coherent: pack");
        self.record_pack(&mut enc);
        ctx.submit(enc);
        // Late in training the view renders at k× (k drawn in 1..=max) and is box-pooled back
        // to the image's grid — image, depth and alpha — so the losses see an antialiased
        // render; their gradients go back through the pooling's adjoint.
        let k = self.supersample_factor(step);
        let fwd = self.renderer.forward(&self.cloud, &losses::supersampled(&cam, k), &settings, timer.as_deref_mut())?;
        // The image terms, all on the GPU: L1 + SSIM, the pyramid's other levels, the disparity
        // TV; their gradients stay in the view's buffers (spread back to the k× grid after).
        let terms = &self.image_terms;
        let tv = self.config.use_tv.then(|| gpu_image_terms::TvSettings {
            layer_count: self.inputs.layer_count.max(1),
            gamma: self.config.tv_gamma(step),
            weight: self.config.tv_weight,
            unit: self.config.unit,
        });
        let mut enc = ctx.encoder("coherent: image terms");
        let view_terms = &terms.views[v];
        let (color, alpha, depth) = if k > 1 {
            terms.record_pool_render(&ctx, &mut enc, v, &fwd.color, &fwd.alpha, &fwd.depth, k, timer.as_deref_mut());
            (&view_terms.pooled[0], &view_terms.pooled[1], &view_terms.pooled[2])
        } else {
            (&fwd.color, &fwd.alpha, &fwd.depth)
        };
        self.loss.encode(&ctx, &mut enc, color, &self.targets[v], cam.width, cam.height, 3, &self.loss_values, Some(&view_terms.grad_color), timer.as_deref_mut())?;
        terms.record_pyramid(&ctx, &mut enc, v, color, timer.as_deref_mut());
        if let Some(tv) = tv {
            terms.record_tv(&ctx, &mut enc, v, depth, alpha, tv, timer.as_deref_mut());
        }
        let spread = (k > 1).then(|| terms.record_unpool_grads(&ctx, &mut enc, v, k, timer.as_deref_mut()));
        ctx.submit(enc);
        self.times.render += lap();
        let (grad_color, ga, gd) = match &spread {
            Some([c, a, d]) => (c, a, d),
            None => (&view_terms.grad_color, &view_terms.grad_alpha, &view_terms.grad_depth),
        };
        let grads = self.renderer.backward(&self.cloud, &fwd, grad_color, ga, gd, timer.as_deref_mut())?;

        // 4. The flow loss's gradient into the mean gradient (GPU); GPU Adam on SH rest,
        // scales and rotations.
        let mut enc = ctx.encoder("coherent: update");
        if let Some(flow_loss) = &self.flow_loss {
            flow_loss.record(&ctx, &mut enc, reference, &self.cloud.means, &grads.means, timer.as_deref_mut());
        }
        {
            let k = self.cloud.sh_coeffs();
            let shape = ctx.uniform("sh shape", &ShShape { n: self.n as u32, k, _pad: [0; 2] });
            let mut pass = GpuContext::begin_pass(&mut enc, "optimizer", timer.as_deref_mut());
            let bind = self.unpack.bind(&ctx, &[&shape, &grads.sh, &self.grad_dc, &self.grad_rest]);
            self.unpack.dispatch(&mut pass, &bind, (self.n as u32 * k * 3).div_ceil(256));
            if k > 1 {
                self.adam_rest.record_step(&ctx, &mut pass, &self.sh_rest, &self.grad_rest, self.config.lr_sh_rest)?;
            }
            self.adam_scale.record_step(&ctx, &mut pass, &self.cloud.log_scales, &grads.log_scales, self.config.lr_scale)?;
            self.adam_rot.record_step(&ctx, &mut pass, &self.cloud.rotations, &grads.rotations, self.config.lr_rotation)?;
        }
        ctx.submit(enc);

        if on_device {
            // 5–6 on the GPU: the chain rule into the decoders' output gradients, their backward
            // and AdamW; only the image loss's values, the flow loss's sums and the chain's
            // counters come back, in one read-back.
            self.times.losses_backward += lap();
            let (Offsets::Decoders { depth, opacity, depth_lr, opacity_lr }, Some(device)) = (&mut self.offsets, &self.device) else {
                return Err(FitError::Invalid("the device path needs decoders on kiln's kernels".into()));
            };
            let (lr_d, lr_o) = (depth_lr.at(step) as f32, opacity_lr.at(step) as f32);
            let mut enc = ctx.encoder("coherent: decoder step");
            {
                let (d, o) = (kiln_decoders(depth)?, kiln_decoders(opacity)?);
                device.record_chain(&ctx, &mut enc, (&output_buffers(&d), &output_buffers(&o)), (&output_grad_buffers(&d), &output_grad_buffers(&o)), &grads.means, &grads.opacity_logits, timer.as_deref_mut());
            }
            for (decoders, lr) in [(depth, lr_d), (opacity, lr_o)] {
                for d in decoders.iter_mut() {
                    if let Decoder::Kiln(g) = d {
                        g.record_backward_on_device(&mut enc, Some(lr), timer.as_deref_mut()).map_err(nn_err)?;
                    }
                }
            }
            if let Some(t) = timer.as_deref() {
                // After the step's last timed pass (the renderer resolved only its own).
                t.resolve(&mut enc);
            }
            ctx.submit(enc);
            let mut reads = vec![(&self.loss_values, LOSS_VALUE_FLOATS), device.chain_counters()];
            reads.extend(self.image_terms.loss_buffers(v));
            if let Some(flow_loss) = &self.flow_loss {
                reads.extend(flow_loss.loss_buffers(reference));
            }
            let mut read = ctx.read_many::<f32>(&reads)?.into_iter();
            let values = loss_values(&read.next().unwrap_or_default());
            let counters = read.next().unwrap_or_default();
            let (extra, tv) = image_term_losses(&mut read);
            let flow: f32 = read.flatten().sum();
            if let Some((view, pixel)) = device::DeviceChain::bad_gradient(&counters) {
                return Err(FitError::Diverged { step, what: format!("view {view}'s gradient at pixel {pixel} is not finite (rendered view {v})") });
            }
            self.times.decoder_backward += lap();
            return self.finish_step(values, extra, tv, flow);
        }

        // 5. dL/dz per Gaussian: the mean gradient (the flow loss's included) along the pixel ray.
        let mut reads: Vec<(&wgpu::Buffer, usize)> = vec![(&self.loss_values, LOSS_VALUE_FLOATS), (&grads.means, 3 * self.n), (&grads.opacity_logits, self.n)];
        reads.extend(self.image_terms.loss_buffers(v));
        if let Some(flow_loss) = &self.flow_loss {
            reads.extend(flow_loss.loss_buffers(reference));
        }
        let mut read = ctx.read_many::<f32>(&reads)?.into_iter();
        let values = loss_values(&read.next().unwrap_or_default());
        let g_means: Vec<Vec3> = read.next().unwrap_or_default().chunks_exact(3).map(Vec3::from_slice).collect();
        let g_logits: Vec<f32> = read.next().unwrap_or_default();
        let (extra, tv) = image_term_losses(&mut read);
        let flow: f32 = read.flatten().sum();
        if let Some(i) = g_means.iter().position(|g| !g.is_finite()).or_else(|| g_logits.iter().position(|g| !g.is_finite())) {
            return Err(FitError::Diverged { step, what: format!("the rendered view {v}'s gradient of Gaussian {i} is not finite") });
        }
        self.times.losses_backward += lap();
        let mut g_z: Vec<f32> = Vec::with_capacity(self.n);
        for (i, g) in self.geom.iter().enumerate() {
            let gp = &g_means[self.first[i]..self.first[i] + g.rays.len()];
            g_z.par_extend(gp.par_iter().zip(&g.rays).map(|(d, r)| d.dot(*r)));
        }

        self.times.chain_rule += lap();

        // 6. Back into the offset parameters.
        let s = self.offset_scale();
        let gain = self.config.opacity_gain;
        let first = self.first.clone();
        match &mut self.offsets {
            Offsets::Decoders { depth, opacity, depth_lr, opacity_lr } => {
                let (lr_d, lr_o) = (depth_lr.at(step), opacity_lr.at(step));
                let c = self.inputs.layer_count.max(1);
                for (((dp, op), d), o) in passes.into_iter().zip(depth.iter_mut()).zip(opacity.iter_mut()) {
                    let (mut gd_out, mut go_out) = (Vec::new(), Vec::new());
                    for (b, &i) in d.views().iter().enumerate() {
                        let g = &self.geom[i];
                        let hw = g.width * g.height;
                        let (dv, ov) = (dp.view_values(b), op.view_values(b));
                        // Each pixel's gradient goes to its own layer's channel only (one-hot masks).
                        let per_pixel: Vec<(f32, f32)> = (0..hw)
                            .into_par_iter()
                            .map(|p| {
                                let l = g.layers[p] as usize;
                                let td = dv[l * hw + p].tanh();
                                let to = ov[l * hw + p].tanh();
                                (g_z[first[i] + p] * s * (1.0 - td * td), g_logits[first[i] + p] * gain * (1.0 - to * to))
                            })
                            .collect();
                        let base = gd_out.len();
                        gd_out.resize(base + c * hw, 0.0);
                        go_out.resize(base + c * hw, 0.0);
                        for (p, (gd, go)) in per_pixel.into_iter().enumerate() {
                            let l = g.layers[p] as usize;
                            gd_out[base + l * hw + p] = gd;
                            go_out[base + l * hw + p] = go;
                        }
                    }
                    d.step(dp, &gd_out, lr_d, timer.as_deref_mut()).map_err(nn_err)?;
                    o.step(op, &go_out, lr_o, timer.as_deref_mut()).map_err(nn_err)?;
                }
            }
            Offsets::Direct { depth, opacity, adam } => {
                let n = depth.len();
                let mut params: Vec<f32> = depth.iter().chain(opacity.iter()).copied().collect();
                let mut g = vec![0.0f32; 2 * n];
                let (gd, go) = g.split_at_mut(n);
                gd.par_iter_mut().zip(depth.par_iter()).zip(&g_z).for_each(|((g, t), gz)| *g = gz * s * (1.0 - t.tanh() * t.tanh()));
                go.par_iter_mut().zip(opacity.par_iter()).zip(&g_logits).for_each(|((g, t), gl)| *g = gl * gain * (1.0 - t.tanh() * t.tanh()));
                let lrs: Vec<f32> = (0..2 * n).map(|i| if i < n { self.config.direct_depth_lr } else { self.config.direct_opacity_lr }).collect();
                adam.step(&mut params, &g, &lrs);
                depth.copy_from_slice(&params[..n]);
                opacity.copy_from_slice(&params[n..]);
            }
        }

        self.times.decoder_backward += lap();
        if self.sync_parts {
            if let Offsets::Decoders { depth, opacity, .. } = &self.offsets {
                for d in depth.iter().chain(opacity) {
                    d.sync().map_err(nn_err)?;
                }
            }
            self.times.decoder_backward_wait += lap();
        }
        if let Some(t) = timer.as_deref() {
            // After the step's last timed pass (the renderer resolved only its own).
            let mut enc = ctx.encoder("coherent: timer");
            t.resolve(&mut enc);
            ctx.submit(enc);
        }
        self.finish_step(values, extra, tv, flow)
    }


    /// The end of a step: the step counter, the scale reset on its schedule, the loss history.
    fn finish_step(&mut self, values: LossValues, extra: f32, tv: f32, flow: f32) -> Result<LossValues, FitError> {
        self.step += 1;
        let c = &self.config;
        if (self.step as f32) < c.scale_reset_until * c.iterations as f32 && self.step.is_multiple_of(c.scale_reset_interval.max(1)) {
            self.offsets_forward_only()?;
            self.reset_scales();
        }
        let total = values.loss + extra + tv + self.config.flow_weight * flow;
        self.history.push(LogPoint { step: self.step, loss: total, psnr: values.psnr() as f32, gaussians: self.n as u32 });
        Ok(values)
    }

    /// Renders a camera with the current cloud.
    pub fn render(&mut self, camera: &kiln_scene::Camera) -> Result<RenderOutput, FitError> {
        self.offsets_forward_only()?;
        self.upload_geometry();
        let mut enc = self.ctx.encoder("coherent: pack");
        self.record_pack(&mut enc);
        self.ctx.submit(enc);
        let fwd = self.renderer.forward(&self.cloud, camera, &self.settings(self.step), None)?;
        Ok(self.renderer.read_output(&fwd)?)
    }

    /// PSNR and SSIM of renders (clamped to [0, 1]) against the views' images.
    pub fn evaluate(&mut self, views: &[SceneView]) -> Result<(Vec<ViewMetrics>, Vec<RenderOutput>), FitError> {
        crate::trainer::evaluate_views(views, |camera| self.render(camera))
    }

    /// The current cloud on the host (for PLY export and the viewer).
    pub fn cloud(&mut self) -> Result<GaussianCloud, FitError> {
        self.offsets_forward_only()?;
        let ctx = &self.ctx;
        let n = self.n;
        let k = sh_coeffs(self.config.max_sh_degree);
        let dc: Vec<f32> = ctx.read(&self.sh_dc, n * 3)?;
        let rest: Vec<f32> = if k > 1 { ctx.read(&self.sh_rest, n * 3 * (k - 1))? } else { Vec::new() };
        let mut sh = Vec::with_capacity(n * k * 3);
        for i in 0..n {
            sh.extend_from_slice(&dc[i * 3..i * 3 + 3]);
            sh.extend_from_slice(&rest[i * 3 * (k - 1)..(i + 1) * 3 * (k - 1)]);
        }
        let scales: Vec<f32> = ctx.read(&self.cloud.log_scales, n * 3)?;
        let rots: Vec<f32> = ctx.read(&self.cloud.rotations, n * 4)?;
        Ok(GaussianCloud {
            means: self.positions(&self.dz).into_iter().flatten().collect(),
            log_scales: bytemuck::cast_slice(&scales).to_vec(),
            rotations: bytemuck::cast_slice(&rots).to_vec(),
            opacity_logits: self.logits.clone(),
            sh_degree: self.config.max_sh_degree,
            sh,
            feature_channels: 0,
            features: Vec::new(),
        })
    }
}

/// Floats in [`ImageLoss`]'s values buffer.
const LOSS_VALUE_FLOATS: usize = std::mem::size_of::<LossValues>() / 4;

/// The image loss's values from its buffer's floats, read back with the step's other results.
fn loss_values(floats: &[f32]) -> LossValues {
    floats.get(..LOSS_VALUE_FLOATS).map(|f| bytemuck::pod_read_unaligned(bytemuck::cast_slice(f))).unwrap_or_default()
}

/// The kiln-kernel decoders of a list (the device path runs only when all are).
fn kiln_decoders(decoders: &[Decoder]) -> Result<Vec<&kiln_nn::GpuDecoder>, FitError> {
    decoders.iter().map(|d| match d {
        Decoder::Kiln(g) => Ok(g),
        Decoder::Burn(_) => Err(FitError::Invalid("the device path needs decoders on kiln's kernels".into())),
    }).collect()
}

fn output_buffers<'a>(decoders: &[&'a kiln_nn::GpuDecoder]) -> Vec<&'a wgpu::Buffer> {
    decoders.iter().map(|d| d.output().0).collect()
}

fn output_grad_buffers<'a>(decoders: &[&'a kiln_nn::GpuDecoder]) -> Vec<&'a wgpu::Buffer> {
    decoders.iter().map(|d| d.output_grad()).collect()
}

fn nn_err(e: kiln_nn::NnError) -> FitError {
    FitError::Invalid(e.to_string())
}

/// A smooth closed path of `frames` cameras around the training views (for the novel-view
/// video): an ellipse in the image plane of the middle training view, centred on the mean
/// camera centre, spanning the spread of the training centres; orientation of the middle view.
pub fn path_cameras(views: &[SceneView], frames: usize) -> Vec<kiln_scene::Camera> {
    if views.is_empty() {
        return Vec::new();
    }
    let mid = views[views.len() / 2].camera;
    let mean = views.iter().map(|v| v.camera.center()).sum::<Vec3>() / views.len() as f32;
    let r_t = mid.rotation.transpose();
    let (right, down) = (r_t * Vec3::X, r_t * Vec3::Y);
    let spread = views.iter().map(|v| (v.camera.center() - mean).length()).fold(0.0f32, f32::max).max(1e-3);
    (0..frames)
        .map(|i| {
            let a = std::f32::consts::TAU * i as f32 / frames as f32;
            let c = mean + right * (spread * a.cos()) + down * (0.5 * spread * a.sin());
            let mut cam = mid;
            cam.translation = -(mid.rotation * c);
            cam
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::epoch_view;

    /// Every epoch of `views` steps renders each view once; the order changes between epochs
    /// and with the seed, and is the same when drawn again (resume).
    #[test]
    fn each_epoch_renders_every_view_once() {
        for views in [2usize, 3, 4] {
            let mut orders = std::collections::BTreeSet::new();
            for epoch in 0..40u32 {
                let mut order: Vec<usize> = (0..views as u32).map(|i| epoch_view(7, epoch * views as u32 + i, views)).collect();
                orders.insert(order.clone());
                order.sort();
                assert_eq!(order, (0..views).collect::<Vec<_>>(), "{views} views, epoch {epoch}");
            }
            assert!(orders.len() >= 2, "{views} views: the order never changes");
            assert_eq!(epoch_view(7, 5, views), epoch_view(7, 5, views));
        }
        let differs = (0..30u32).any(|s| epoch_view(1, s, 3) != epoch_view(2, s, 3));
        assert!(differs, "the seed does not change the order");
    }
}
