//! CoherentGS's image terms on the GPU (`shaders/coherent_image_terms.wgsl`), beside kiln's
//! GPU L1 + SSIM (the pyramid's level 0): the pyramid L1 levels ≥ 1, the layer-masked disparity
//! TV, and the box pooling (and its adjoint) of the supersampled render late in training. Their
//! losses come back as per-workgroup sums in the step's one read-back; their gradients stay in
//! GPU buffers the rasterizer's backward reads.
//!
//! Why: on the host these terms needed the render read back every step (colour, alpha and
//! depth; at 4× supersampling 16× that) and took ~20 ms of a full-size step on a 16-core host
//! (session 9, H200 machine) — with the decoders and the flow loss on the GPU, the last host
//! legs of the step. The host forms in [`super::losses`] (`pyramid_l1`, `disparity_tv`,
//! `box_pool`, `box_pool_adjoint`) are the references the tests compare these with.

use super::losses::{pool2, TvPairWeights};
use kiln_gpu::{wgpu, GpuContext, GpuError, GpuTimer, Kernel};

const WG: u32 = 256;
/// Pyramid levels past level 0 the gather kernel's uniform has room for.
const MAX_LEVELS: usize = 8;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PoolParams {
    out_w: u32,
    out_h: u32,
    src_w: u32,
    k: u32,
    c: u32,
    norm: f32,
    _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LevelParams {
    out_w: u32,
    out_h: u32,
    src_w: u32,
    c: u32,
    off: u32,
    part_off: u32,
    loss_factor: f32,
    slope_factor: f32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherParams {
    w: u32,
    h: u32,
    c: u32,
    levels: u32,
    /// Per level: width, height, offset in the slopes, log2 of its pooling per side.
    level: [[u32; 4]; MAX_LEVELS],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TvParams {
    w: u32,
    h: u32,
    layer_count: u32,
    masked: u32,
    unit: f32,
    _pad0: u32,
    plain: [f32; 2],
    layered: [f32; 2],
    _pad1: [u32; 2],
}

/// One pyramid level ≥ 1 of one view: its pooled render and its dispatch's uniform (grid,
/// offsets and factors).
struct Level {
    image: wgpu::Buffer,
    uniform: wgpu::Buffer,
    workgroups: u32,
}

/// One training view's buffers.
pub struct ViewTerms {
    pub width: u32,
    pub height: u32,
    levels: Vec<Level>,
    target_levels: wgpu::Buffer,
    slopes: wgpu::Buffer,
    gather_uniform: wgpu::Buffer,
    pyramid_parts: wgpu::Buffer,
    pyramid_part_count: usize,
    /// The view's depth layer per pixel (u32).
    layers: wgpu::Buffer,
    tv_parts: wgpu::Buffer,
    /// dL/d(colour) (interleaved RGB), dL/d(depth), dL/d(alpha) at the image's grid: the image
    /// loss writes the first, the pyramid adds to it, the TV writes the other two (zero
    /// without it).
    pub grad_color: wgpu::Buffer,
    pub grad_depth: wgpu::Buffer,
    pub grad_alpha: wgpu::Buffer,
    /// The supersampled render pooled to the image's grid: colour, alpha, depth.
    pub pooled: [wgpu::Buffer; 3],
}

impl ViewTerms {
    fn pixels(&self) -> u32 {
        self.width * self.height
    }
}

/// The settings of the TV for one step.
#[derive(Clone, Copy, Debug)]
pub struct TvSettings {
    pub layer_count: usize,
    pub gamma: f32,
    pub weight: f32,
    pub unit: f32,
}

pub struct GpuImageTerms {
    pool: Kernel,
    pool_adjoint: Kernel,
    level: Kernel,
    gather: Kernel,
    tv: Kernel,
    pub views: Vec<ViewTerms>,
}

impl GpuImageTerms {
    /// For training views of `width × height` pixels with RGB `targets` and depth `layers`:
    /// the pyramid's `weights` (level 0 first; level 0 is the image loss's) and `scale`, the
    /// L1's share of the image loss.
    pub fn new(ctx: &GpuContext, views: &[(u32, u32, &[f32], &[u8])], weights: &[f32], scale: f32) -> Result<Self, GpuError> {
        if weights.len() > MAX_LEVELS + 1 {
            return Err(GpuError::Runtime(format!("image terms: {} pyramid weights, at most {} (level 0 and {MAX_LEVELS} more)", weights.len(), MAX_LEVELS + 1)));
        }
        let kernel = |define: &'static str| Kernel::new(ctx, "coherent_image_terms.wgsl", "main", &[(define, String::new())]);
        let mut out = GpuImageTerms {
            pool: kernel("POOL")?,
            pool_adjoint: kernel("POOL_ADJOINT")?,
            level: kernel("PYRAMID_LEVEL")?,
            gather: kernel("PYRAMID_GATHER")?,
            tv: kernel("TV")?,
            views: Vec::new(),
        };
        for &(width, height, target, layers) in views {
            out.views.push(Self::view(ctx, width, height, target, layers, weights, scale)?);
        }
        Ok(out)
    }

    fn view(ctx: &GpuContext, width: u32, height: u32, target: &[f32], layers: &[u8], weights: &[f32], scale: f32) -> Result<ViewTerms, GpuError> {
        let (w, h, c) = (width as usize, height as usize, 3usize);
        if target.len() != w * h * c || layers.len() != w * h {
            return Err(GpuError::Runtime(format!("image terms: {} target floats and {} layers for a {w}×{h} RGB view", target.len(), layers.len())));
        }
        // The target's pyramid (fixed): pooled on the host once, levels concatenated.
        let (mut tgt, mut lw, mut lh) = (target.to_vec(), w, h);
        let mut target_levels: Vec<f32> = Vec::new();
        let mut dims: Vec<(usize, usize, usize, f32)> = Vec::new(); // (w, h, offset, weight)
        for &weight in weights.iter().skip(1) {
            let (t, w2, h2) = pool2(&tgt, lw, lh, c);
            (tgt, lw, lh) = (t, w2, h2);
            if lw == 0 || lh == 0 {
                break;
            }
            dims.push((lw, lh, target_levels.len(), weight));
            target_levels.extend_from_slice(&tgt);
        }
        let mut levels = Vec::new();
        let mut part_off = 0u32;
        let mut src_w = width;
        let mut gather = GatherParams { w: width, h: height, c: c as u32, levels: dims.len() as u32, level: [[0; 4]; MAX_LEVELS] };
        for (l, &(lw, lh, offset, weight)) in dims.iter().enumerate() {
            let elements = (lw * lh * c) as u32;
            let workgroups = elements.div_ceil(WG);
            let norm = 1.0 / elements as f32;
            let f = (1usize << (l + 1)) as f32;
            // As the reference: loss scale·Σ weight·|a−b|·norm, slope scale·weight·sign·norm/f².
            let params = LevelParams {
                out_w: lw as u32,
                out_h: lh as u32,
                src_w,
                c: c as u32,
                off: offset as u32,
                part_off,
                loss_factor: scale * weight * norm,
                slope_factor: scale * weight * norm / (f * f),
            };
            gather.level[l] = [lw as u32, lh as u32, offset as u32, l as u32 + 1];
            levels.push(Level {
                image: ctx.zeroed("pyramid level", (lw * lh * c * 4) as u64),
                uniform: ctx.uniform("pyramid level params", &params),
                workgroups,
            });
            part_off += workgroups;
            src_w = lw as u32;
        }
        let pixels = (w * h) as u64;
        let layers_u32: Vec<u32> = layers.iter().map(|&l| l as u32).collect();
        Ok(ViewTerms {
            width,
            height,
            slopes: ctx.zeroed("pyramid slopes", (target_levels.len().max(1) * 4) as u64),
            target_levels: ctx.upload("pyramid target", if target_levels.is_empty() { &[0.0f32][..] } else { &target_levels }),
            gather_uniform: ctx.uniform("pyramid gather params", &gather),
            pyramid_parts: ctx.zeroed("pyramid loss sums", part_off.max(1) as u64 * 4),
            pyramid_part_count: part_off as usize,
            levels,
            layers: ctx.upload("depth layers", &layers_u32),
            tv_parts: ctx.zeroed("tv loss sums", (pixels as u32).div_ceil(WG) as u64 * 4),
            grad_color: ctx.zeroed("grad colour", pixels * 12),
            grad_depth: ctx.zeroed("grad depth", pixels * 4),
            grad_alpha: ctx.zeroed("grad alpha", pixels * 4),
            pooled: [ctx.zeroed("pooled colour", pixels * 12), ctx.zeroed("pooled alpha", pixels * 4), ctx.zeroed("pooled depth", pixels * 4)],
        })
    }

    /// Records the box pooling by `k` of a (w·k)×(h·k) image of `c` channels in `src` into the
    /// w×h image `dst`.
    #[allow(clippy::too_many_arguments)]
    pub fn record_box_pool(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>, src: &wgpu::Buffer, dst: &wgpu::Buffer, w: u32, h: u32, c: u32, k: u32) {
        let params = PoolParams { out_w: w, out_h: h, src_w: w * k, k, c, norm: 1.0 / (k * k) as f32, _pad: [0; 2] };
        let bind = self.pool.bind(ctx, &[&ctx.uniform("box pool params", &params), src, dst]);
        self.pool.dispatch(pass, &bind, (w * h * c).div_ceil(WG));
    }

    /// Records the adjoint of [`Self::record_box_pool`]: the w×h gradient `grad` spread into
    /// the (w·k)×(h·k) `dst` (every element written).
    #[allow(clippy::too_many_arguments)]
    pub fn record_box_pool_adjoint(&self, ctx: &GpuContext, pass: &mut wgpu::ComputePass<'_>, grad: &wgpu::Buffer, dst: &wgpu::Buffer, w: u32, h: u32, c: u32, k: u32) {
        let params = PoolParams { out_w: w, out_h: h, src_w: w * k, k, c, norm: 1.0 / (k * k) as f32, _pad: [0; 2] };
        let bind = self.pool_adjoint.bind(ctx, &[&ctx.uniform("box pool adjoint params", &params), grad, dst]);
        self.pool_adjoint.dispatch(pass, &bind, (w * k * h * k * c).div_ceil(WG));
    }

    /// View `v`'s render at k× (`color`, `alpha`, `depth` of the renderer's forward) pooled into
    /// the view's `pooled` buffers (timed as "box pool").
    #[allow(clippy::too_many_arguments)]
    pub fn record_pool_render(&self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, v: usize, color: &wgpu::Buffer, alpha: &wgpu::Buffer, depth: &wgpu::Buffer, k: u32, timer: Option<&mut GpuTimer>) {
        let t = &self.views[v];
        let mut pass = GpuContext::begin_pass(encoder, "box pool", timer);
        for (src, dst, c) in [(color, &t.pooled[0], 3), (alpha, &t.pooled[1], 1), (depth, &t.pooled[2], 1)] {
            self.record_box_pool(ctx, &mut pass, src, dst, t.width, t.height, c, k);
        }
    }

    /// View `v`'s output gradients (`grad_color`, `grad_alpha`, `grad_depth`) spread to the
    /// k× render's grid, in new buffers for the rasterizer's backward (timed as "box pool
    /// adjoint").
    pub fn record_unpool_grads(&self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, v: usize, k: u32, timer: Option<&mut GpuTimer>) -> [wgpu::Buffer; 3] {
        let t = &self.views[v];
        let big = t.pixels() as u64 * (k * k) as u64;
        let out = [ctx.zeroed("grad colour k×", big * 12), ctx.zeroed("grad alpha k×", big * 4), ctx.zeroed("grad depth k×", big * 4)];
        let mut pass = GpuContext::begin_pass(encoder, "box pool adjoint", timer);
        for (src, dst, c) in [(&t.grad_color, &out[0], 3), (&t.grad_alpha, &out[1], 1), (&t.grad_depth, &out[2], 1)] {
            self.record_box_pool_adjoint(ctx, &mut pass, src, dst, t.width, t.height, c, k);
        }
        out
    }

    /// The pyramid L1 levels ≥ 1 of view `v`'s render `color` (interleaved RGB at the image's
    /// grid): their gradient added into the view's `grad_color`, their loss into its sums
    /// (timed as "pyramid l1").
    pub fn record_pyramid(&self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, v: usize, color: &wgpu::Buffer, timer: Option<&mut GpuTimer>) {
        let t = &self.views[v];
        if t.levels.is_empty() {
            return;
        }
        let mut pass = GpuContext::begin_pass(encoder, "pyramid l1", timer);
        for (l, level) in t.levels.iter().enumerate() {
            let src = if l == 0 { color } else { &t.levels[l - 1].image };
            let bind = self.level.bind(ctx, &[&level.uniform, src, &level.image, &t.target_levels, &t.slopes, &t.pyramid_parts]);
            self.level.dispatch(&mut pass, &bind, level.workgroups);
        }
        let bind = self.gather.bind(ctx, &[&t.gather_uniform, &t.slopes, &t.grad_color]);
        self.gather.dispatch(&mut pass, &bind, (t.pixels() * 3).div_ceil(WG));
    }

    /// The disparity TV of view `v`'s rendered `depth` (alpha-weighted sum) and `alpha`: its
    /// gradients written into the view's `grad_depth` and `grad_alpha`, its loss into its sums
    /// (timed as "disparity tv").
    #[allow(clippy::too_many_arguments)]
    pub fn record_tv(&self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, v: usize, depth: &wgpu::Buffer, alpha: &wgpu::Buffer, tv: TvSettings, timer: Option<&mut GpuTimer>) {
        let t = &self.views[v];
        let weights = TvPairWeights::new(t.width as usize, t.height as usize, tv.layer_count, tv.gamma, tv.weight);
        let params = TvParams {
            w: t.width,
            h: t.height,
            layer_count: tv.layer_count as u32,
            masked: weights.masked as u32,
            unit: tv.unit,
            _pad0: 0,
            plain: weights.plain,
            layered: weights.layered,
            _pad1: [0; 2],
        };
        let uniform = ctx.uniform("tv params", &params);
        let mut pass = GpuContext::begin_pass(encoder, "disparity tv", timer);
        let bind = self.tv.bind(ctx, &[&uniform, depth, alpha, &t.layers, &t.grad_depth, &t.grad_alpha, &t.tv_parts]);
        self.tv.dispatch(&mut pass, &bind, t.pixels().div_ceil(WG));
    }

    /// View `v`'s loss sums, pyramid then TV, for one batched read-back.
    pub fn loss_buffers(&self, v: usize) -> [(&wgpu::Buffer, usize); 2] {
        let t = &self.views[v];
        [(&t.pyramid_parts, t.pyramid_part_count), (&t.tv_parts, t.pixels().div_ceil(WG) as usize)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coherent::losses::{box_pool, box_pool_adjoint, disparity_tv, pyramid_l1};

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32) / (1u64 << 24) as f32
    }

    fn worst(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    fn scale_of(v: &[f32]) -> f32 {
        v.iter().fold(0.0f32, |m, x| m.max(x.abs()))
    }

    /// A 37×29 view (odd sides, so levels drop edges; several workgroups): the GPU pyramid's
    /// loss and the gradient it adds equal `pyramid_l1`'s, level weights and scale as the
    /// trainer's; a 3-pixel-wide view stops the pyramid where a side reaches zero.
    #[test]
    fn gpu_pyramid_matches_the_cpu_reference() {
        let ctx = GpuContext::new().unwrap();
        let weights = [1.0, 0.25, 0.125, 1.0 / 16.0, 1.0 / 32.0];
        for (w, h) in [(37usize, 29usize), (3, 40)] {
            let mut s = 3u64 + w as u64;
            let image: Vec<f32> = (0..w * h * 3).map(|_| lcg(&mut s)).collect();
            let target: Vec<f32> = (0..w * h * 3).map(|_| lcg(&mut s)).collect();
            let layers = vec![0u8; w * h];
            let scale = 0.8;
            let terms = GpuImageTerms::new(&ctx, &[(w as u32, h as u32, &target, &layers)], &weights, scale).unwrap();
            let start: Vec<f32> = (0..w * h * 3).map(|_| lcg(&mut s) - 0.5).collect();
            let mut expected = start.clone();
            let loss = pyramid_l1(&image, &target, w, h, 3, &weights, scale, &mut expected);
            ctx.queue.write_buffer(&terms.views[0].grad_color, 0, bytemuck::cast_slice(&start));
            let img = ctx.upload("image", &image);
            let mut enc = ctx.encoder("pyramid test");
            terms.record_pyramid(&ctx, &mut enc, 0, &img, None);
            ctx.submit(enc);
            let got: Vec<f32> = ctx.read(&terms.views[0].grad_color, w * h * 3).unwrap();
            let parts = ctx.read_many::<f32>(&terms.loss_buffers(0)[..1]).unwrap();
            let gpu_loss: f32 = parts.iter().flatten().sum();
            assert!(loss > 0.0 && (gpu_loss - loss).abs() <= 1e-5 * loss, "{w}×{h}: loss {gpu_loss} vs {loss}");
            let moved = worst(&expected, &start);
            assert!(moved > 0.0, "{w}×{h}: the reference's gradient is zero");
            assert!(worst(&got, &expected) <= 1e-6 * moved.max(1.0), "{w}×{h}: gradient differs by {}", worst(&got, &expected));
        }
        let too_many = [0.5f32; MAX_LEVELS + 2];
        let (target, layers) = (vec![0.0f32; 16 * 16 * 3], vec![0u8; 16 * 16]);
        let err = GpuImageTerms::new(&ctx, &[(16, 16, &target, &layers)], &too_many, 1.0).err().expect("too many pyramid levels accepted");
        assert!(err.to_string().contains("pyramid weights"), "{err}");
    }

    /// Random depths and alphas on a 41×23 view with three layers (and pixels past the layer
    /// count): the GPU TV's loss and gradients equal
    /// `disparity_tv`'s, masked (γ = 0.6) and plain (γ = 0).
    #[test]
    fn gpu_tv_matches_the_cpu_reference() {
        let ctx = GpuContext::new().unwrap();
        let (w, h) = (41usize, 23usize);
        let mut s = 11u64;
        let alpha: Vec<f32> = (0..w * h).map(|_| 0.05 + 0.95 * lcg(&mut s)).collect();
        let depth: Vec<f32> = (0..w * h).map(|p| alpha[p] * (1.0 + 20.0 * lcg(&mut s))).collect();
        let layers: Vec<u8> = (0..w * h).map(|_| (lcg(&mut s) * 4.0) as u8).collect(); // 0..=3, 3 unmasked
        let target = vec![0.0f32; w * h * 3];
        let terms = GpuImageTerms::new(&ctx, &[(w as u32, h as u32, &target, &layers)], &[1.0], 0.8).unwrap();
        let (d_buf, a_buf) = (ctx.upload("depth", &depth), ctx.upload("alpha", &alpha));
        for gamma in [0.6f32, 0.0] {
            let tv = TvSettings { layer_count: 3, gamma, weight: 5.0, unit: 1.7 };
            let (mut gd, mut ga) = (vec![0.0f32; w * h], vec![0.0f32; w * h]);
            let loss = disparity_tv(&depth, &alpha, &layers, tv.layer_count, gamma, w, h, tv.weight, tv.unit, &mut gd, &mut ga);
            let mut enc = ctx.encoder("tv test");
            terms.record_tv(&ctx, &mut enc, 0, &d_buf, &a_buf, tv, None);
            ctx.submit(enc);
            let got_d: Vec<f32> = ctx.read(&terms.views[0].grad_depth, w * h).unwrap();
            let got_a: Vec<f32> = ctx.read(&terms.views[0].grad_alpha, w * h).unwrap();
            let parts = ctx.read_many::<f32>(&terms.loss_buffers(0)[1..]).unwrap();
            let gpu_loss: f32 = parts.iter().flatten().sum();
            assert!(loss > 0.0 && (gpu_loss - loss).abs() <= 1e-5 * loss, "γ {gamma}: loss {gpu_loss} vs {loss}");
            for (what, got, want) in [("depth", &got_d, &gd), ("alpha", &got_a, &ga)] {
                let s = scale_of(want);
                assert!(s > 0.0, "γ {gamma}: the reference's {what} gradient is zero");
                assert!(worst(got, want) <= 1e-5 * s, "γ {gamma}: {what} gradient differs by {} (scale {s})", worst(got, want));
            }
        }
    }

    /// Box pooling by k = 3 (1 and 3 channels) and its adjoint equal the host's.
    #[test]
    fn gpu_box_pool_matches_the_cpu_reference() {
        let ctx = GpuContext::new().unwrap();
        let terms = GpuImageTerms::new(&ctx, &[] as &[(u32, u32, &[f32], &[u8])], &[1.0], 1.0).unwrap();
        let (w, h, k) = (13usize, 7usize, 3usize);
        let mut s = 5u64;
        for c in [1usize, 3] {
            let src: Vec<f32> = (0..w * k * h * k * c).map(|_| lcg(&mut s)).collect();
            let grad: Vec<f32> = (0..w * h * c).map(|_| lcg(&mut s) - 0.5).collect();
            let (src_b, grad_b) = (ctx.upload("src", &src), ctx.upload("grad", &grad));
            let (pooled_b, spread_b) = (ctx.zeroed("pooled", (w * h * c * 4) as u64), ctx.zeroed("spread", (src.len() * 4) as u64));
            let mut enc = ctx.encoder("pool test");
            {
                let mut pass = GpuContext::begin_pass(&mut enc, "pool", None);
                terms.record_box_pool(&ctx, &mut pass, &src_b, &pooled_b, w as u32, h as u32, c as u32, k as u32);
                terms.record_box_pool_adjoint(&ctx, &mut pass, &grad_b, &spread_b, w as u32, h as u32, c as u32, k as u32);
            }
            ctx.submit(enc);
            let pooled: Vec<f32> = ctx.read(&pooled_b, w * h * c).unwrap();
            let spread: Vec<f32> = ctx.read(&spread_b, src.len()).unwrap();
            assert!(worst(&pooled, &box_pool(&src, w, h, c, k)) <= 1e-6, "{c} channels: pooling");
            assert_eq!(spread, box_pool_adjoint(&grad, w, h, c, k), "{c} channels: adjoint");
        }
    }
}
