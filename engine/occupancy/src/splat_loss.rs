//! VoxelSplat's 2-D losses: voxels → semantic Gaussians → renders → soft CE, depth L1, flow L1.
//!
//! Per sampled voxel one predicted Gaussian: centre = voxel centre (+ v·τ when moved to a frame
//! τ seconds away), opacity σ(−ℓ_free), isotropic scale, identity rotation, features = the
//! non-free logits ‖ (vx, vy). Per sampled *occupied* voxel one GT Gaussian with one-hot
//! semantics and GT flow. Both sets are rendered into every view: once with static centres
//! (all views), and — when the flow term is on — moved by their flow into the views whose
//! timestamp is not the key frame. Per render:
//!
//! ```text
//! L_sem   = softCE(softmax(rendered logits), rendered one-hot / its sum)   pixels with GT depth > 0.1
//! L_depth = mean |Σwz(pred) − Σwz(GT)|                                   all pixels
//! L_flow2 = Σ_p w_p |flow_p(pred) − flow_p(GT)|₁ / Σ_p w_p,  w_p = ‖flow_p(GT)‖ + 0.1
//! L       = 0.5·L_sem + 1·L_depth + w_flow·L_flow2,   averaged over renders
//! ```
//!
//! Flow is a velocity in m/s (mAVE is a velocity error), so a frame τ seconds away sees the
//! centre moved by v·τ — the reference adds the flow directly, which is the same for τ = 1.

use crate::backend::{Render, RenderGrads, SplatBackend, SplatGrads};
use crate::grid::{ClassSet, VoxelGrid};
use crate::OccError;
use kiln_scene::Camera;
use kiln_splat::reference::Params64;
use kiln_splat::{ColorSource, RenderSettings};

/// Opacity logit of a GT Gaussian (opacity 1 in the reference; the rasterizer clamps α at
/// 0.999 anyway).
const GT_OPACITY_LOGIT: f64 = 12.0;

#[derive(Clone, Debug, PartialEq)]
pub struct SplatLossConfig {
    /// Standard deviation of every Gaussian in metres (0.12 m for 0.4 m voxels).
    pub scale: f32,
    pub sem_weight: f64,
    pub depth_weight: f64,
    /// Weight of L_flow2 (the rendered-flow L1): 0 during warm-up, 0.5 after.
    pub flow_weight: f64,
    /// Also render the Gaussians moved by their flow into the views whose timestamp is not the
    /// key frame (the spec's temporal renders; on together with L_flow2 after the warm-up).
    /// Separate from `flow_weight` so the moved renders' own pull on the flow (through the
    /// moved centres) can be checked without L_flow2.
    pub temporal: bool,
    /// Pixels whose GT depth (Σwz) is below this are not supervised by L_sem.
    pub min_gt_depth: f64,
    /// Rasterizer settings (the colour source is forced to the feature channels).
    pub render: RenderSettings,
}

impl SplatLossConfig {
    /// The reference's weights for a grid of `voxel_size` (scale 0.3 voxels = 0.12 m at 0.4 m).
    pub fn paper(voxel_size: f32, flow_on: bool) -> Self {
        SplatLossConfig {
            scale: 0.3 * voxel_size,
            sem_weight: 0.5,
            depth_weight: 1.0,
            flow_weight: if flow_on { 0.5 } else { 0.0 },
            temporal: flow_on,
            min_gt_depth: 0.1,
            render: RenderSettings { color_source: ColorSource::Features, ..RenderSettings::default() },
        }
    }
}

/// A camera and its timestamp relative to the key frame (seconds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossView {
    pub camera: Camera,
    pub time: f32,
}

/// Full-grid predictions: `logits[i·C + c]` (C classes, free last) and `flow[i·2 + d]` (m/s).
#[derive(Clone, Copy, Debug)]
pub struct VoxelPrediction<'a> {
    pub logits: &'a [f32],
    pub flow: &'a [f32],
}

/// Full-grid ground truth: labels (255 = unobserved) and flow (vx, vy) per voxel.
#[derive(Clone, Copy, Debug)]
pub struct VoxelTargets<'a> {
    pub labels: &'a [u8],
    pub flow: &'a [f32],
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SplatLossOutput {
    pub total: f64,
    /// The unweighted terms, averaged over renders (`total` applies the weights).
    pub sem: f64,
    pub depth: f64,
    pub flow: f64,
    /// dL/d logits and dL/d flow, laid out like the inputs of the call.
    pub grad_logits: Vec<f64>,
    pub grad_flow: Vec<f64>,
    pub renders: usize,
}

/// The VoxelSplat loss for one grid and class set.
pub struct SplatLoss {
    pub grid: VoxelGrid,
    pub classes: ClassSet,
    pub config: SplatLossConfig,
}

struct Pass {
    view: usize,
    /// Seconds the centres are moved by their flow (0 for the static pass).
    shift: f64,
}

impl SplatLoss {
    pub fn new(grid: VoxelGrid, classes: ClassSet, config: SplatLossConfig) -> Result<Self, OccError> {
        if classes.len() < 2 {
            return Err(OccError::Invalid("the class set needs at least one occupied class and free".into()));
        }
        if !(config.scale > 0.0 && config.scale.is_finite()) {
            return Err(OccError::Invalid(format!("Gaussian scale {} must be finite and > 0", config.scale)));
        }
        Ok(SplatLoss { grid, classes, config })
    }

    fn channels(&self) -> usize {
        self.classes.len() - 1 + 2
    }

    /// Checks that every view's camera sits inside the grid's horizontal extent (a camera
    /// outside the grid means mismatched poses or grid, not a usable view).
    pub fn check_views(&self, views: &[LossView]) -> Result<(), OccError> {
        let (lo, hi) = self.grid.bounds();
        for (k, v) in views.iter().enumerate() {
            v.camera.validate().map_err(|e| OccError::Invalid(format!("view {k}: invalid camera: {e}")))?;
            let c = v.camera.center();
            if c.x < lo.x || c.y < lo.y || c.x > hi.x || c.y > hi.y {
                return Err(OccError::Invalid(format!(
                    "view {k}: camera at ({:.2}, {:.2}, {:.2}) is outside the voxel grid [{:.1}, {:.1}] × [{:.1}, {:.1}]",
                    c.x, c.y, c.z, lo.x, hi.x, lo.y, hi.y
                )));
            }
            if !v.time.is_finite() {
                return Err(OccError::Invalid(format!("view {k}: timestamp is not finite")));
            }
        }
        Ok(())
    }

    fn decode(&self, sampled: &[u32], logits: &[f64], flow: &[f64], shift: f64) -> Params64 {
        let c = self.classes.len();
        let k = c - 1;
        let ch = self.channels();
        let n = sampled.len();
        let ls = (self.config.scale as f64).ln();
        let mut p = Params64 {
            means: Vec::with_capacity(n),
            log_scales: vec![[ls; 3]; n],
            rotations: vec![[1.0, 0.0, 0.0, 0.0]; n],
            opacity_logits: Vec::with_capacity(n),
            sh_degree: 0,
            sh: vec![0.0; n * 3],
            feature_channels: ch,
            features: Vec::with_capacity(n * ch),
        };
        for (j, &v) in sampled.iter().enumerate() {
            let centre = self.grid.centre(v as usize);
            let (vx, vy) = (flow[2 * j], flow[2 * j + 1]);
            p.means.push([centre.x as f64 + vx * shift, centre.y as f64 + vy * shift, centre.z as f64]);
            p.opacity_logits.push(-logits[j * c + k]);
            p.features.extend_from_slice(&logits[j * c..j * c + k]);
            p.features.extend_from_slice(&[vx, vy]);
        }
        p
    }

    fn decode_gt(&self, sampled: &[u32], targets: &VoxelTargets, shift: f64) -> Params64 {
        let k = self.classes.len() - 1;
        let ch = self.channels();
        let occupied: Vec<u32> = sampled.iter().copied().filter(|&v| self.classes.is_occupied(targets.labels[v as usize])).collect();
        let n = occupied.len();
        let ls = (self.config.scale as f64).ln();
        let mut p = Params64 {
            means: Vec::with_capacity(n),
            log_scales: vec![[ls; 3]; n],
            rotations: vec![[1.0, 0.0, 0.0, 0.0]; n],
            opacity_logits: vec![GT_OPACITY_LOGIT; n],
            sh_degree: 0,
            sh: vec![0.0; n * 3],
            feature_channels: ch,
            features: vec![0.0; n * ch],
        };
        for (j, &v) in occupied.iter().enumerate() {
            let v = v as usize;
            let centre = self.grid.centre(v);
            let (vx, vy) = (targets.flow[2 * v] as f64, targets.flow[2 * v + 1] as f64);
            p.means.push([centre.x as f64 + vx * shift, centre.y as f64 + vy * shift, centre.z as f64]);
            p.features[j * ch + targets.labels[v] as usize] = 1.0;
            p.features[j * ch + k] = vx;
            p.features[j * ch + k + 1] = vy;
        }
        p
    }

    /// The loss and its gradients for predictions of the `sampled` voxels only:
    /// `logits[j·C + c]`, `flow[j·2 + d]` for the j-th sampled voxel (f64, so finite
    /// differences can be taken on it). Gradients come back in the same layout.
    pub fn evaluate_sampled(
        &self,
        backend: &dyn SplatBackend,
        sampled: &[u32],
        logits: &[f64],
        flow: &[f64],
        targets: &VoxelTargets,
        views: &[LossView],
    ) -> Result<SplatLossOutput, OccError> {
        let c = self.classes.len();
        let m = sampled.len();
        if logits.len() != m * c {
            return Err(OccError::shape("sampled logits", format!("has {} values, expected {} ({m} voxels × {c} classes)", logits.len(), m * c)));
        }
        if flow.len() != m * 2 {
            return Err(OccError::shape("sampled flow", format!("has {} values, expected {}", flow.len(), m * 2)));
        }
        self.grid.check_len("GT labels", targets.labels.len(), 1)?;
        self.grid.check_len("GT flow", targets.flow.len(), 2)?;
        if let Some(&v) = sampled.iter().find(|&&v| v as usize >= self.grid.len()) {
            return Err(OccError::Invalid(format!("sampled voxel {v} is outside the grid of {} voxels", self.grid.len())));
        }
        self.check_views(views)?;
        let mut passes: Vec<Pass> = (0..views.len()).map(|view| Pass { view, shift: 0.0 }).collect();
        if self.config.temporal {
            passes.extend(views.iter().enumerate().filter(|(_, v)| v.time != 0.0).map(|(view, v)| Pass { view, shift: v.time as f64 }));
        }
        let mut out = SplatLossOutput { grad_logits: vec![0.0; m * c], grad_flow: vec![0.0; m * 2], renders: passes.len(), ..Default::default() };
        if m == 0 || passes.is_empty() {
            return Ok(out);
        }
        let mut settings = self.config.render.clone();
        settings.color_source = ColorSource::Features;
        let per_render = 1.0 / passes.len() as f64;
        // Every pass's ground truth renders in one batch, then every prediction renders and
        // back-propagates in another: the GPU backend waits a handful of times per step
        // instead of about ten times per render.
        let gt_params: Vec<Params64> = passes.iter().map(|p| self.decode_gt(sampled, targets, p.shift)).collect();
        let gt_jobs: Vec<(&Params64, &Camera)> =
            passes.iter().zip(&gt_params).filter(|(_, g)| !g.is_empty()).map(|(p, g)| (g, &views[p.view].camera)).collect();
        let mut gt_renders = backend.render_many(&gt_jobs, &settings)?.into_iter();
        let gts = passes
            .iter()
            .zip(&gt_params)
            .map(|(p, g)| match g.is_empty() {
                true => Ok(empty_render(&views[p.view].camera, self.channels())),
                false => gt_renders.next().ok_or_else(|| OccError::Invalid("the renderer returned fewer ground-truth renders than asked".into())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let params: Vec<Params64> = passes.iter().map(|p| self.decode(sampled, logits, flow, p.shift)).collect();
        let jobs: Vec<(&Params64, &Camera)> = passes.iter().zip(&params).map(|(p, q)| (q, &views[p.view].camera)).collect();
        let mut terms = vec![(0.0, 0.0, 0.0); passes.len()];
        let grads = backend.render_backward_many(&jobs, &settings, &mut |i: usize, pred: &Render| {
            let (sem, depth, fl, g) = self.image_loss(pred, &gts[i], per_render);
            terms[i] = (sem, depth, fl);
            g
        })?;
        for ((pass, t), g) in passes.iter().zip(&terms).zip(&grads) {
            out.sem += t.0 * per_render;
            out.depth += t.1 * per_render;
            out.flow += t.2 * per_render;
            self.decode_backward(g, pass.shift, &mut out);
        }
        let cfg = &self.config;
        out.total = cfg.sem_weight * out.sem + cfg.depth_weight * out.depth + cfg.flow_weight * out.flow;
        Ok(out)
    }

    /// [`Self::evaluate_sampled`] from full-grid f32 predictions; gradients come back for the
    /// full grid (zero outside the sample).
    pub fn evaluate(
        &self,
        backend: &dyn SplatBackend,
        sampled: &[u32],
        pred: &VoxelPrediction,
        targets: &VoxelTargets,
        views: &[LossView],
    ) -> Result<SplatLossOutput, OccError> {
        let c = self.classes.len();
        self.grid.check_len("predicted logits", pred.logits.len(), c)?;
        self.grid.check_len("predicted flow", pred.flow.len(), 2)?;
        if let Some(&v) = sampled.iter().find(|&&v| v as usize >= self.grid.len()) {
            return Err(OccError::Invalid(format!("sampled voxel {v} is outside the grid of {} voxels", self.grid.len())));
        }
        let logits: Vec<f64> = sampled.iter().flat_map(|&v| pred.logits[v as usize * c..(v as usize + 1) * c].iter().map(|&x| x as f64)).collect();
        let flow: Vec<f64> = sampled.iter().flat_map(|&v| [pred.flow[2 * v as usize] as f64, pred.flow[2 * v as usize + 1] as f64]).collect();
        let s = self.evaluate_sampled(backend, sampled, &logits, &flow, targets, views)?;
        let mut grad_logits = vec![0.0; self.grid.len() * c];
        let mut grad_flow = vec![0.0; self.grid.len() * 2];
        for (j, &v) in sampled.iter().enumerate() {
            let v = v as usize;
            grad_logits[v * c..(v + 1) * c].copy_from_slice(&s.grad_logits[j * c..(j + 1) * c]);
            grad_flow[2 * v..2 * v + 2].copy_from_slice(&s.grad_flow[2 * j..2 * j + 2]);
        }
        Ok(SplatLossOutput { grad_logits, grad_flow, ..s })
    }

    /// The three image terms of one render and dL/d(render) for `scale`·(weighted sum).
    fn image_loss(&self, pred: &Render, gt: &Render, scale: f64) -> (f64, f64, f64, RenderGrads) {
        let cfg = &self.config;
        let k = self.classes.len() - 1;
        let ch = self.channels();
        let npix = pred.alpha.len();
        let mut g = RenderGrads { color: vec![0.0; npix * ch], depth: vec![0.0; npix] };

        // Soft-label cross-entropy on pixels the GT covers.
        let masked: Vec<usize> = (0..npix).filter(|&p| gt.depth[p] > cfg.min_gt_depth).collect();
        let mut sem = 0.0;
        if !masked.is_empty() {
            let norm = 1.0 / masked.len() as f64;
            let mut probs = vec![0.0; k];
            for &p in &masked {
                let t = &gt.color[p * ch..p * ch + k];
                let tsum: f64 = t.iter().sum();
                if tsum <= 1e-12 {
                    continue;
                }
                let z = &pred.color[p * ch..p * ch + k];
                let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let esum: f64 = z.iter().map(|&v| (v - zmax).exp()).sum();
                let lse = zmax + esum.ln();
                for c in 0..k {
                    probs[c] = (z[c] - lse).exp();
                    let tc = t[c] / tsum;
                    sem -= norm * tc * (z[c] - lse);
                    g.color[p * ch + c] += scale * cfg.sem_weight * norm * (probs[c] - tc);
                }
            }
        }

        // Depth L1 on every pixel.
        let dnorm = 1.0 / npix as f64;
        let mut depth = 0.0;
        for p in 0..npix {
            let d = pred.depth[p] - gt.depth[p];
            depth += dnorm * d.abs();
            g.depth[p] = scale * cfg.depth_weight * dnorm * sign(d);
        }

        // Rendered-flow L1, weighted by the GT flow's magnitude.
        let mut flow = 0.0;
        if cfg.flow_weight > 0.0 {
            let w: Vec<f64> = (0..npix).map(|p| gt.color[p * ch + k].hypot(gt.color[p * ch + k + 1]) + 0.1).collect();
            let wsum: f64 = w.iter().sum();
            for p in 0..npix {
                for d in 0..2 {
                    let i = p * ch + k + d;
                    let e = pred.color[i] - gt.color[i];
                    flow += w[p] / wsum * e.abs();
                    g.color[i] += scale * cfg.flow_weight * w[p] / wsum * sign(e);
                }
            }
        }
        (sem, depth, flow, g)
    }

    /// Chain rule through the decode: features → logits and flow, opacity → −ℓ_free, moved
    /// centres → flow·τ.
    fn decode_backward(&self, g: &SplatGrads, shift: f64, out: &mut SplatLossOutput) {
        let c = self.classes.len();
        let k = c - 1;
        let ch = self.channels();
        for j in 0..g.opacity_logits.len() {
            let f = &g.features[j * ch..(j + 1) * ch];
            for (cls, &v) in f[..k].iter().enumerate() {
                out.grad_logits[j * c + cls] += v;
            }
            out.grad_logits[j * c + k] -= g.opacity_logits[j];
            out.grad_flow[2 * j] += f[k] + shift * g.means[j][0];
            out.grad_flow[2 * j + 1] += f[k + 1] + shift * g.means[j][1];
        }
    }
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

fn empty_render(cam: &Camera, channels: usize) -> Render {
    let npix = (cam.width * cam.height) as usize;
    Render { width: cam.width, height: cam.height, channels, color: vec![0.0; npix * channels], alpha: vec![0.0; npix], depth: vec![0.0; npix] }
}
