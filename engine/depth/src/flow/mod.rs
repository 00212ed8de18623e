//! Dense optical flow between two views, on the GPU: coarse-to-fine Horn–Schunck with
//! warping (a classical method; no learned flow model is available offline), and the spec's
//! forward–backward consistency mask (5×5 eroded).
//!
//! Per pyramid level, coarsest first: upsample the flow of the level above, then `warps` times
//! linearise brightness constancy around the current flow (`flow_derivatives.wgsl`) and run
//! `iterations` Jacobi steps of Horn–Schunck (`flow_jacobi.wgsl`). The pyramid is built by 2×2
//! averaging (`flow_downsample.wgsl`). [`cpu`] is the same math on the host (rayon), the
//! reference the GPU is tested against.
//!
//! Conventions: flow (u, v) at pixel p of image A means p corresponds to p + (u, v) in image B,
//! in pixels. Images are reduced to grey (Rec. 601 luma) first.

pub mod cpu;
mod gpu;

use crate::DepthError;
use kiln_gpu::GpuContext;
use kiln_scene::dataset::Image;

/// A dense flow field from one view to another, with a validity mask.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    pub width: u32,
    pub height: u32,
    /// Horizontal and vertical displacement in pixels, row-major.
    pub u: Vec<f32>,
    pub v: Vec<f32>,
    /// 1.0 where the vector is trusted (consistency check passed, or the file gave one), 0.0
    /// elsewhere; row-major. Ready to multiply into a loss as the spec's mask M.
    pub valid: Vec<f32>,
}

impl Flow {
    pub fn len(&self) -> usize {
        self.u.len()
    }

    pub fn is_empty(&self) -> bool {
        self.u.is_empty()
    }

    /// Fraction of valid pixels.
    pub fn valid_fraction(&self) -> f32 {
        if self.valid.is_empty() {
            return 0.0;
        }
        self.valid.iter().sum::<f32>() / self.valid.len() as f32
    }

    /// Interleaved (u, v) pairs, as the GPU stores them.
    pub fn interleaved(&self) -> Vec<[f32; 2]> {
        self.u.iter().zip(&self.v).map(|(&u, &v)| [u, v]).collect()
    }

    /// Mean end-point error against a reference (u, v) over pixels where `weight` > 0 (e.g. the
    /// valid mask times a ground-truth mask); `None` when no pixel counts.
    pub fn endpoint_error(&self, ref_u: &[f32], ref_v: &[f32], weight: &[f32]) -> Option<f64> {
        let (mut sum, mut n) = (0.0f64, 0usize);
        for i in 0..self.len() {
            if weight[i] > 0.0 {
                sum += (((self.u[i] - ref_u[i]).powi(2) + (self.v[i] - ref_v[i]).powi(2)) as f64).sqrt();
                n += 1;
            }
        }
        (n > 0).then(|| sum / n as f64)
    }
}

/// Parameters of the flow estimator. Intensities are grey values in [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct FlowParams {
    /// Horn–Schunck smoothness weight α (on [0, 1] intensities): larger is smoother.
    pub alpha: f32,
    /// Most pyramid levels (including full resolution).
    pub max_levels: u32,
    /// Levels stop before either side drops below this many pixels.
    pub min_size: u32,
    /// Re-linearisations (warps) per level.
    pub warps: u32,
    /// Jacobi iterations per warp.
    pub iterations: u32,
    /// Erosion radius of the consistency mask (the spec's 5×5 window: 2).
    pub erode_radius: u32,
    /// Largest change of each flow component within one warp, in pixels: a pixel with a weak
    /// gradient and a large brightness difference cannot jump far on a poor linearisation.
    pub max_step: f32,
}

impl Default for FlowParams {
    fn default() -> Self {
        FlowParams { alpha: 0.3, max_levels: 6, min_size: 16, warps: 4, iterations: 100, erode_radius: 2, max_step: 1.0 }
    }
}

impl FlowParams {
    pub(crate) fn check(&self) -> Result<(), DepthError> {
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(DepthError::Input(format!("flow: alpha {} must be positive", self.alpha)));
        }
        if !(self.max_step > 0.0) {
            return Err(DepthError::Input(format!("flow: max_step {} must be positive", self.max_step)));
        }
        if self.max_levels == 0 || self.warps == 0 || self.min_size < 2 {
            return Err(DepthError::Input("flow: max_levels and warps must be ≥ 1, min_size ≥ 2".into()));
        }
        Ok(())
    }

    /// Sizes of the pyramid levels, finest first.
    pub fn levels(&self, width: u32, height: u32) -> Vec<(u32, u32)> {
        let mut out = vec![(width, height)];
        while (out.len() as u32) < self.max_levels {
            let (w, h) = *out.last().unwrap();
            let next = (w.div_ceil(2), h.div_ceil(2));
            if next.0 < self.min_size || next.1 < self.min_size {
                break;
            }
            out.push(next);
        }
        out
    }
}

/// Grey values (Rec. 601 luma) of an RGB image.
pub fn to_gray(image: &Image) -> Vec<f32> {
    image.rgb.chunks_exact(3).map(|c| 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]).collect()
}

fn check_pair(a: &Image, b: &Image) -> Result<(), DepthError> {
    if (a.width, a.height) != (b.width, b.height) {
        return Err(DepthError::Input(format!(
            "flow needs two images of the same size, got {}×{} and {}×{}",
            a.width, a.height, b.width, b.height
        )));
    }
    if a.width < 2 || a.height < 2 {
        return Err(DepthError::Input(format!("flow needs images of at least 2×2 pixels, got {}×{}", a.width, a.height)));
    }
    for img in [a, b] {
        if img.rgb.len() != 3 * img.width as usize * img.height as usize {
            return Err(DepthError::Input("image RGB data does not match its size".into()));
        }
    }
    Ok(())
}

/// Flow from `a` to `b` and from `b` to `a`, each with its forward–backward consistency mask,
/// computed on the GPU.
pub fn estimate_pair(ctx: &GpuContext, a: &Image, b: &Image, params: &FlowParams) -> Result<(Flow, Flow), DepthError> {
    check_pair(a, b)?;
    params.check()?;
    gpu::estimate_pair(ctx, &to_gray(a), &to_gray(b), a.width, a.height, params)
}

/// Flow from `a` to `b` with its consistency mask, on the GPU (the backward flow is computed
/// for the mask and dropped; use [`estimate_pair`] to keep both).
pub fn estimate(ctx: &GpuContext, a: &Image, b: &Image, params: &FlowParams) -> Result<Flow, DepthError> {
    Ok(estimate_pair(ctx, a, b, params)?.0)
}

/// [`estimate_pair`] on the CPU (the reference implementation; slower).
pub fn estimate_pair_cpu(a: &Image, b: &Image, params: &FlowParams) -> Result<(Flow, Flow), DepthError> {
    check_pair(a, b)?;
    params.check()?;
    Ok(cpu::estimate_pair(&to_gray(a), &to_gray(b), a.width, a.height, params))
}

/// Flow for every ordered pair of views (i, j), i ≠ j, with consistency masks: the input the
/// alignment and the flow loss need. Returns `(i, j, flow i→j)` triples.
pub fn all_pairs(ctx: &GpuContext, images: &[&Image], params: &FlowParams) -> Result<Vec<(usize, usize, Flow)>, DepthError> {
    let mut out = Vec::new();
    for i in 0..images.len() {
        for j in i + 1..images.len() {
            let (fij, fji) = estimate_pair(ctx, images[i], images[j], params)?;
            out.push((i, j, fij));
            out.push((j, i, fji));
        }
    }
    Ok(out)
}
