//! The 3DGS image loss on the GPU ([`ImageLoss`]), its CPU reference ([`reference()`]) and the
//! evaluation metrics ([`psnr`], [`ssim`]).
//!
//! Images are f32, `height × width × channels` interleaved, row-major (`(y·w + x)·c + k`), the
//! rasterizer's colour layout; the target has the same shape. With N = w·h·c:
//!
//! ```text
//! L    = (1 − λ)·L1 + λ·(1 − SSIM),     λ = 0.2
//! L1   = (1/N) Σ |x − y|
//! SSIM = (1/N) Σ S,   S = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))
//! ```
//!
//! μ, σ are local statistics under an 11-tap Gaussian window (σ = 1.5, normalized, separable),
//! per channel, with zero padding at the border ("same" size, window not renormalized) — the 3DGS
//! reference's `ssim()` (F.conv2d with padding = 5), mean over every pixel and channel.
//! C1 = 0.01², C2 = 0.03².
//!
//! Gradient: with A1, A2, B1, B2 the four factors of S and the filtered moments
//! μx = G∗x, Exx = G∗x², Exy = G∗(xy),
//!
//! ```text
//! ∂S/∂μx  = 2S·(μy(1/A1 − 1/A2) + μx(1/B2 − 1/B1)),  ∂S/∂Exx = −S/B2,  ∂S/∂Exy = 2S/A2
//! dL/dx   = (1 − λ)/N·sign(x − y) − λ/N·(G∗∂S/∂μx + 2x·G∗∂S/∂Exx + y·G∗∂S/∂Exy)
//! ```
//!
//! (the window's adjoint under zero padding is the window itself; sign(0) = 0, as PyTorch's
//! `abs` backward).
//!
//! GPU pipeline ([`ImageLoss::encode`]), all recorded into the caller's encoder with no read-back:
//! `loss forward` (per 16×16 tile: halo in workgroup memory, separable filtering, S and the
//! three derivative maps, tile sums of 1 − S, |x − y|, (x − y)²), `loss reduce` (one workgroup
//! sums the tile partials in a fixed order: deterministic, no float atomics; writes
//! [`LossValues`]), `loss backward` (filters the derivative maps, writes dL/dx). The backward
//! does not depend on the reduced value, so the gradient is ready without waiting for it.

use std::sync::Mutex;

use kiln_gpu::{GpuContext, GpuError, GpuTimer, Kernel};
use rayon::prelude::*;

/// Loss and SSIM constants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossConfig {
    /// λ, the weight of (1 − SSIM); L1 gets 1 − λ.
    pub ssim_weight: f32,
    /// Taps of the Gaussian window (odd).
    pub window: u32,
    /// Standard deviation of the window, in pixels.
    pub sigma: f64,
    pub c1: f32,
    pub c2: f32,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig { ssim_weight: 0.2, window: 11, sigma: 1.5, c1: 0.01 * 0.01, c2: 0.03 * 0.03 }
    }
}

/// What [`ImageLoss::encode`] writes into its values buffer (4 f32).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LossValues {
    /// (1 − λ)·L1 + λ·(1 − SSIM).
    pub loss: f32,
    pub l1: f32,
    pub ssim: f32,
    /// Mean squared error (for a PSNR in logs).
    pub mse: f32,
}

impl LossValues {
    /// PSNR of the MSE for data range 1: −10·log10(MSE) (infinite for identical images).
    pub fn psnr(&self) -> f64 {
        -10.0 * (self.mse as f64).log10()
    }
}

/// The 1-D Gaussian window: `taps` weights exp(−(i − r)²/(2σ²)), normalized to sum 1.
pub fn gaussian_window(taps: usize, sigma: f64) -> Vec<f64> {
    let r = (taps / 2) as f64;
    let w: Vec<f64> = (0..taps).map(|i| (-(i as f64 - r).powi(2) / (2.0 * sigma * sigma)).exp()).collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|x| x / s).collect()
}

/// Uniform of the loss kernels; mirrors `Params` in image_loss.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct LossParams {
    width: u32,
    height: u32,
    channels: u32,
    tiles_x: u32,
    num_tiles: u32,
    _pad: [u32; 3],
    inv_n: f32,
    ssim_weight: f32,
    c1: f32,
    c2: f32,
    window: [f32; 32],
}

const TILE: u32 = 16;

#[derive(Default)]
struct Scratch {
    dmap: Option<wgpu::Buffer>,
    partials: Option<wgpu::Buffer>,
}

/// The image loss on the GPU: value (reduced on the GPU) and gradient, recorded into the
/// caller's encoder. Scratch buffers (derivative maps, 3·N floats; tile partials) are owned by
/// the loss and grow on demand; calls recorded one after another share them safely (the GPU
/// orders them).
pub struct ImageLoss {
    config: LossConfig,
    window: [f32; 32],
    forward: Kernel,
    forward_grad: Kernel,
    reduce: Kernel,
    backward: Kernel,
    scratch: Mutex<Scratch>,
}

fn shape_error(msg: String) -> GpuError {
    GpuError::Runtime(format!("image loss: {msg}"))
}

impl ImageLoss {
    pub fn new(ctx: &GpuContext, config: LossConfig) -> Result<ImageLoss, GpuError> {
        if config.window.is_multiple_of(2) || config.window > 31 || config.sigma <= 0.0 {
            return Err(shape_error(format!("window of {} taps, σ = {}: need odd taps ≤ 31 and σ > 0", config.window, config.sigma)));
        }
        let defines = |which: &[&'static str]| {
            let mut d = vec![
                ("RADIUS", (config.window / 2).to_string()),
                ("TAPS", config.window.to_string()),
            ];
            d.extend(which.iter().map(|w| (*w, String::new())));
            d
        };
        let mut window = [0.0f32; 32];
        for (w, g) in window.iter_mut().zip(gaussian_window(config.window as usize, config.sigma)) {
            *w = g as f32;
        }
        Ok(ImageLoss {
            config,
            window,
            forward: Kernel::new(ctx, "image_loss.wgsl", "forward", &defines(&["FORWARD"]))?,
            forward_grad: Kernel::new(ctx, "image_loss.wgsl", "forward", &defines(&["FORWARD", "GRAD"]))?,
            reduce: Kernel::new(ctx, "image_loss.wgsl", "reduce", &defines(&["REDUCE"]))?,
            backward: Kernel::new(ctx, "image_loss.wgsl", "backward", &defines(&["BACKWARD"]))?,
            scratch: Mutex::new(Scratch::default()),
        })
    }

    pub fn config(&self) -> &LossConfig {
        &self.config
    }

    /// A buffer for [`LossValues`] (16 bytes, readable with [`ImageLoss::read_values`]).
    pub fn values_buffer(ctx: &GpuContext) -> wgpu::Buffer {
        ctx.zeroed("loss values", std::mem::size_of::<LossValues>() as u64)
    }

    /// Reads the values written by [`ImageLoss::encode`] (waits for the GPU).
    pub fn read_values(ctx: &GpuContext, values: &wgpu::Buffer) -> Result<LossValues, GpuError> {
        Ok(ctx.read::<LossValues>(values, 1)?[0])
    }

    /// Records the loss of `image` against `target` (`width × height × channels` f32 each):
    /// [`LossValues`] into `values` (16 bytes) and, with `grad`, dL/dimage (same layout) into
    /// `grad` (every element is written). Nothing is read back. With a timer: stages
    /// "loss forward", "loss reduce", "loss backward".
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        image: &wgpu::Buffer,
        target: &wgpu::Buffer,
        width: u32,
        height: u32,
        channels: u32,
        values: &wgpu::Buffer,
        grad: Option<&wgpu::Buffer>,
        mut timer: Option<&mut GpuTimer>,
    ) -> Result<(), GpuError> {
        let n = width as u64 * height as u64 * channels as u64;
        if n == 0 {
            return Err(shape_error(format!("empty image {width}×{height}×{channels}")));
        }
        if n >= u32::MAX as u64 / 3 {
            return Err(shape_error(format!("{width}×{height}×{channels} image too large")));
        }
        let bytes = n * 4;
        if image.size() < bytes || target.size() < bytes || grad.is_some_and(|g| g.size() < bytes) {
            return Err(shape_error(format!("{width}×{height}×{channels} f32 images need {bytes} bytes per buffer")));
        }
        if values.size() < 16 {
            return Err(shape_error("the values buffer needs 16 bytes".into()));
        }
        let tiles_x = width.div_ceil(TILE);
        let num_tiles = tiles_x * height.div_ceil(TILE);
        let params = LossParams {
            width,
            height,
            channels,
            tiles_x,
            num_tiles,
            _pad: [0; 3],
            inv_n: (1.0 / n as f64) as f32,
            ssim_weight: self.config.ssim_weight,
            c1: self.config.c1,
            c2: self.config.c2,
            window: self.window,
        };
        let uniform = ctx.uniform("loss params", &params);
        let (partials, dmap) = {
            let mut s = self.scratch.lock().unwrap();
            let need = num_tiles as u64 * 16;
            if s.partials.as_ref().is_none_or(|b| b.size() < need) {
                ctx.check_binding("loss tile partials", need)?;
                s.partials = Some(ctx.zeroed("loss partials", need));
            }
            if grad.is_some() && s.dmap.as_ref().is_none_or(|b| b.size() < 3 * bytes) {
                ctx.check_binding("loss derivative maps", 3 * bytes)?;
                s.dmap = Some(ctx.zeroed("loss derivative maps", 3 * bytes));
            }
            (s.partials.clone().unwrap(), s.dmap.clone())
        };
        {
            let mut pass = GpuContext::begin_pass(encoder, "loss forward", timer.as_deref_mut());
            match (grad, &dmap) {
                (Some(_), Some(dmap)) => {
                    let bind = self.forward_grad.bind(ctx, &[&uniform, image, target, &partials, dmap]);
                    self.forward_grad.dispatch(&mut pass, &bind, num_tiles);
                }
                _ => {
                    let bind = self.forward.bind(ctx, &[&uniform, image, target, &partials]);
                    self.forward.dispatch(&mut pass, &bind, num_tiles);
                }
            }
        }
        {
            let mut pass = GpuContext::begin_pass(encoder, "loss reduce", timer.as_deref_mut());
            let bind = self.reduce.bind(ctx, &[&uniform, &partials, values]);
            self.reduce.dispatch(&mut pass, &bind, 1);
        }
        if let (Some(grad), Some(dmap)) = (grad, &dmap) {
            let mut pass = GpuContext::begin_pass(encoder, "loss backward", timer);
            let bind = self.backward.bind(ctx, &[&uniform, image, target, dmap, grad]);
            self.backward.dispatch(&mut pass, &bind, num_tiles);
        }
        Ok(())
    }

    /// Host convenience (tests, tools): uploads, runs, reads back the values and, with
    /// `with_grad`, the gradient.
    #[allow(clippy::too_many_arguments)]
    pub fn compute_host(
        &self,
        ctx: &GpuContext,
        image: &[f32],
        target: &[f32],
        width: u32,
        height: u32,
        channels: u32,
        with_grad: bool,
    ) -> Result<(LossValues, Option<Vec<f32>>), GpuError> {
        let n = width as usize * height as usize * channels as usize;
        if image.len() != n || target.len() != n {
            return Err(shape_error(format!("{} and {} floats for a {width}×{height}×{channels} image", image.len(), target.len())));
        }
        let img = ctx.upload("loss image", image);
        let tgt = ctx.upload("loss target", target);
        let values = Self::values_buffer(ctx);
        let grad = with_grad.then(|| ctx.zeroed("loss grad", n as u64 * 4));
        let mut enc = ctx.encoder("image loss");
        self.encode(ctx, &mut enc, &img, &tgt, width, height, channels, &values, grad.as_ref(), None)?;
        ctx.submit(enc);
        let v = Self::read_values(ctx, &values)?;
        let g = match grad {
            Some(g) => Some(ctx.read::<f32>(&g, n)?),
            None => None,
        };
        Ok((v, g))
    }
}

/// The loss terms in f64.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossTerms {
    pub loss: f64,
    pub l1: f64,
    pub ssim: f64,
    pub mse: f64,
}

/// Zero-padded "same" filtering of one `w × h` plane with the separable window `g`.
fn blur(src: &[f64], w: usize, h: usize, g: &[f64]) -> Vec<f64> {
    let r = g.len() / 2;
    let mut tmp = vec![0.0; w * h];
    tmp.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let s = &src[y * w..(y + 1) * w];
        for (x, out) in row.iter_mut().enumerate() {
            let lo = x.saturating_sub(r);
            let hi = (x + r).min(w - 1);
            *out = (lo..=hi).map(|xx| g[xx + r - x] * s[xx]).sum();
        }
    });
    let mut out = vec![0.0; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let lo = y.saturating_sub(r);
        let hi = (y + r).min(h - 1);
        for yy in lo..=hi {
            let wk = g[yy + r - y];
            for (o, t) in row.iter_mut().zip(&tmp[yy * w..(yy + 1) * w]) {
                *o += wk * t;
            }
        }
    });
    out
}

/// The CPU reference in f64: the loss terms and, with `with_grad`, dL/dimage (same layout).
/// Inputs are f64 so that finite differences can perturb them finely.
pub fn reference(
    image: &[f64],
    target: &[f64],
    width: usize,
    height: usize,
    channels: usize,
    config: &LossConfig,
    with_grad: bool,
) -> (LossTerms, Option<Vec<f64>>) {
    let (w, h, c) = (width, height, channels);
    let n = w * h * c;
    assert!(n > 0 && image.len() == n && target.len() == n, "reference: shape");
    let g = gaussian_window(config.window as usize, config.sigma);
    let (c1, c2) = (config.c1 as f64, config.c2 as f64);
    let lam = config.ssim_weight as f64;
    let inv_n = 1.0 / n as f64;
    let (mut l1, mut mse) = (0.0, 0.0);
    for (a, b) in image.iter().zip(target) {
        l1 += (a - b).abs();
        mse += (a - b) * (a - b);
    }
    let mut ssim_sum = 0.0;
    let mut grad = with_grad.then(|| vec![0.0; n]);
    for ch in 0..c {
        let x: Vec<f64> = (0..w * h).map(|p| image[p * c + ch]).collect();
        let y: Vec<f64> = (0..w * h).map(|p| target[p * c + ch]).collect();
        let prod = |f: &dyn Fn(f64, f64) -> f64| -> Vec<f64> { x.iter().zip(&y).map(|(&a, &b)| f(a, b)).collect() };
        let mx = blur(&x, w, h, &g);
        let my = blur(&y, w, h, &g);
        let exx = blur(&prod(&|a, _| a * a), w, h, &g);
        let eyy = blur(&prod(&|_, b| b * b), w, h, &g);
        let exy = blur(&prod(&|a, b| a * b), w, h, &g);
        let mut d_mu = vec![0.0; w * h];
        let mut d_xx = vec![0.0; w * h];
        let mut d_xy = vec![0.0; w * h];
        for p in 0..w * h {
            let a1 = 2.0 * mx[p] * my[p] + c1;
            let a2 = 2.0 * (exy[p] - mx[p] * my[p]) + c2;
            let b1 = mx[p] * mx[p] + my[p] * my[p] + c1;
            let b2 = (exx[p] - mx[p] * mx[p]) + (eyy[p] - my[p] * my[p]) + c2;
            let s = a1 * a2 / (b1 * b2);
            ssim_sum += s;
            d_mu[p] = 2.0 * s * (my[p] * (1.0 / a1 - 1.0 / a2) + mx[p] * (1.0 / b2 - 1.0 / b1));
            d_xx[p] = -s / b2;
            d_xy[p] = 2.0 * s / a2;
        }
        if let Some(grad) = grad.as_mut() {
            let (gm, gxx, gxy) = (blur(&d_mu, w, h, &g), blur(&d_xx, w, h, &g), blur(&d_xy, w, h, &g));
            for p in 0..w * h {
                let e = p * c + ch;
                let sign = if image[e] > target[e] { 1.0 } else if image[e] < target[e] { -1.0 } else { 0.0 };
                grad[e] = (1.0 - lam) * inv_n * sign - lam * inv_n * (gm[p] + 2.0 * x[p] * gxx[p] + y[p] * gxy[p]);
            }
        }
    }
    let ssim = ssim_sum * inv_n;
    let l1 = l1 * inv_n;
    (LossTerms { loss: (1.0 - lam) * l1 + lam * (1.0 - ssim), l1, ssim, mse: mse * inv_n }, grad)
}

/// [`reference()`] on f32 images.
pub fn reference_f32(
    image: &[f32],
    target: &[f32],
    width: usize,
    height: usize,
    channels: usize,
    config: &LossConfig,
    with_grad: bool,
) -> (LossTerms, Option<Vec<f64>>) {
    let a: Vec<f64> = image.iter().map(|&v| v as f64).collect();
    let b: Vec<f64> = target.iter().map(|&v| v as f64).collect();
    reference(&a, &b, width, height, channels, config, with_grad)
}

/// SSIM for evaluation (host, f64): the loss's SSIM (11-tap σ = 1.5 window, zero padding, mean
/// over pixels and channels). 3DGS evaluates on renders clamped to [0, 1]; clamp before calling.
pub fn ssim(image: &[f32], target: &[f32], width: usize, height: usize, channels: usize) -> f64 {
    reference_f32(image, target, width, height, channels, &LossConfig::default(), false).0.ssim
}

/// PSNR for data range 1 (host, f64): −10·log10(mean (x − y)²); infinite for identical images.
pub fn psnr(image: &[f32], target: &[f32]) -> f64 {
    assert_eq!(image.len(), target.len(), "psnr: shape");
    let mse = image.iter().zip(target).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum::<f64>() / image.len().max(1) as f64;
    -10.0 * mse.log10()
}

#[cfg(test)]
mod tests {
    //! The CPU reference: finite differences, identities, a closed form.
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    fn images(w: usize, h: usize, c: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let t: Vec<f64> = (0..w * h * c).map(|_| rng.random_range(0.0..1.0)).collect();
        let x = t.iter().map(|&v| (0.6 * v + 0.4 * rng.random_range(0.0..1.0f64)).clamp(0.0, 1.0)).collect();
        (x, t)
    }

    /// Central differences (h = 1e-6) at 60 random entries, for λ = 0.2 and λ = 1 (pure SSIM,
    /// where no L1 term hides errors): |analytic − numeric| ≤ 1e-6·max|grad| + 1e-9·|grad|.
    #[test]
    fn loss_reference_gradient_matches_finite_differences() {
        for (w, h, c, lam) in [(13usize, 9usize, 3usize, 0.2f32), (13, 9, 3, 1.0), (24, 17, 1, 1.0), (1, 1, 3, 1.0), (40, 3, 2, 0.2)] {
            let config = LossConfig { ssim_weight: lam, ..Default::default() };
            let (x, t) = images(w, h, c, (w * h * c) as u64 + lam as u64);
            let (_, g) = reference(&x, &t, w, h, c, &config, true);
            let g = g.unwrap();
            let gmax = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let mut rng = StdRng::seed_from_u64(7);
            let step = 1e-6;
            let mut worst = 0.0f64;
            for _ in 0..60 {
                let e = rng.random_range(0..x.len());
                if (x[e] - t[e]).abs() < 10.0 * step {
                    continue; // the L1 kink
                }
                let mut xp = x.clone();
                xp[e] += step;
                let lp = reference(&xp, &t, w, h, c, &config, false).0.loss;
                xp[e] -= 2.0 * step;
                let lm = reference(&xp, &t, w, h, c, &config, false).0.loss;
                let num = (lp - lm) / (2.0 * step);
                let tol = 1e-6 * gmax + 1e-9 * g[e].abs();
                assert!((num - g[e]).abs() <= tol, "{w}×{h}×{c} λ {lam} entry {e}: analytic {:e} numeric {num:e}", g[e]);
                worst = worst.max((num - g[e]).abs() / gmax);
            }
            eprintln!("{w}×{h}×{c} λ {lam}: worst |analytic − numeric| / max|g| = {worst:.1e}");
        }
    }

    /// Identical images: SSIM = 1 exactly in f64 up to rounding, loss 0, gradient 0 (a minimum).
    #[test]
    fn loss_reference_identical_images() {
        let (x, _) = images(31, 20, 3, 3);
        let (terms, g) = reference(&x, &x, 31, 20, 3, &LossConfig::default(), true);
        assert!((terms.ssim - 1.0).abs() < 1e-12, "{terms:?}");
        assert!(terms.loss.abs() < 1e-12 && terms.l1 == 0.0 && terms.mse == 0.0, "{terms:?}");
        assert!(g.unwrap().iter().all(|v| v.abs() < 1e-12));
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        assert!((ssim(&xf, &xf, 31, 20, 3) - 1.0).abs() < 1e-12);
        assert!(psnr(&xf, &xf).is_infinite());
    }

    /// A 1×1 image sees only the window's centre tap w0 = g[5]²: μx = w0·a, σx² = w0(1 − w0)·a²,
    /// σxy = w0(1 − w0)·ab, so S has a closed form per channel.
    #[test]
    fn loss_reference_one_pixel_closed_form() {
        let g = gaussian_window(11, 1.5);
        let w0 = g[5] * g[5];
        // The config's C1, C2 are f32 (0.01² rounds); the closed form uses the same values.
        let config = LossConfig::default();
        let (c1, c2) = (config.c1 as f64, config.c2 as f64);
        assert!((c1 - 1e-4).abs() < 1e-11 && (c2 - 9e-4).abs() < 1e-10);
        let x = [0.9, 0.2, 0.5];
        let y = [0.3, 0.25, 0.5];
        let mut s_sum = 0.0;
        let mut l1 = 0.0;
        for k in 0..3 {
            let (a, b) = (x[k], y[k]);
            let v = w0 * (1.0 - w0);
            let s = (2.0 * w0 * w0 * a * b + c1) * (2.0 * v * a * b + c2) / ((w0 * w0 * (a * a + b * b) + c1) * (v * (a * a + b * b) + c2));
            s_sum += s;
            l1 += (a - b).abs();
        }
        let expect_ssim = s_sum / 3.0;
        let lam = config.ssim_weight as f64; // 0.2 as f32
        let expect_loss = (1.0 - lam) * l1 / 3.0 + lam * (1.0 - expect_ssim);
        // Sanity of the constants behind the closed form: g[5] = 1/Σ exp(−k²/4.5).
        let centre = 1.0 / (-5..=5).map(|k: i32| (-(k * k) as f64 / 4.5).exp()).sum::<f64>();
        assert!((g[5] - centre).abs() < 1e-15);
        let (terms, _) = reference(&x, &y, 1, 1, 3, &config, false);
        assert!((terms.ssim - expect_ssim).abs() < 1e-14, "{} vs {expect_ssim}", terms.ssim);
        assert!((terms.loss - expect_loss).abs() < 1e-14, "{} vs {expect_loss}", terms.loss);
    }

    /// The separable zero-padded filter equals the direct 2-D sum with the outer-product window.
    #[test]
    fn loss_reference_blur_is_the_2d_window() {
        let (w, h) = (17usize, 12usize);
        let (x, _) = images(w, h, 1, 9);
        let g = gaussian_window(11, 1.5);
        let b = blur(&x, w, h, &g);
        for py in 0..h {
            for px in 0..w {
                let mut s = 0.0;
                for dy in -5i64..=5 {
                    for dx in -5i64..=5 {
                        let (xx, yy) = (px as i64 + dx, py as i64 + dy);
                        if xx >= 0 && yy >= 0 && (xx as usize) < w && (yy as usize) < h {
                            s += g[(dx + 5) as usize] * g[(dy + 5) as usize] * x[yy as usize * w + xx as usize];
                        }
                    }
                }
                assert!((s - b[py * w + px]).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn loss_psnr_known_value() {
        // MSE 0.01 → 20 dB.
        let a = vec![0.5f32; 300];
        let b = vec![0.6f32; 300];
        assert!((psnr(&a, &b) - 20.0).abs() < 1e-5);
    }
}
