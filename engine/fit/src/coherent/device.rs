//! The per-Gaussian legs of a CoherentGS step on the GPU, when the decoders run on kiln's
//! kernels (their outputs and output gradients are kiln buffers):
//! - `coherent_select.wgsl`: decoder outputs → Δz, positions and opacity logits, straight into
//!   the cloud the renderer draws (no read-back of the outputs, no upload of the positions);
//! - `coherent_chain.wgsl`: the rasterizer's position and opacity gradients (the flow loss's
//!   included) → dL/d(decoder outputs), straight into the decoders' output-gradient buffers.
//!
//! The host path of `CoherentTrainer` (`select`, `positions`, step 6) is their reference: the
//! trainer test runs both and compares them.

use super::ViewGeom;
use kiln_gpu::{wgpu, GpuContext, GpuError, GpuTimer, Kernel};

const SELECT_COUNTERS: usize = 8;
const CHAIN_COUNTERS: usize = 4;

/// One view: which decoder batch holds it and where its output starts there.
struct ViewSlot {
    batch: usize,
    pixels: u32,
    select: wgpu::Buffer,
    chain: wgpu::Buffer,
}

/// What the select pass counted, per view.
pub(super) struct SelectCounts {
    pub saturated_depth: u64,
    pub saturated_opacity: u64,
    /// The first view with a non-finite output: (view, "depth" or "opacity", first pixel).
    pub bad: Option<(usize, &'static str, u32)>,
}

pub(super) struct DeviceChain {
    select: Kernel,
    chain: Kernel,
    layers: wgpu::Buffer,
    base_depth: wgpu::Buffer,
    base_logit: wgpu::Buffer,
    rays: wgpu::Buffer,
    select_counters: wgpu::Buffer,
    chain_counters: wgpu::Buffer,
    views: Vec<ViewSlot>,
}

impl DeviceChain {
    /// `batches[b]` lists the views of decoder batch b (the depth and opacity decoders are
    /// batched alike); `scale` is S (world units), `gain` G, `base_logit` logit α₀ per Gaussian.
    #[allow(clippy::too_many_arguments)]
    pub fn new(ctx: &GpuContext, geom: &[ViewGeom], first: &[usize], batches: &[Vec<usize>], channels: usize, scale: f32, gain: f32, base_logit: &[f32]) -> Result<Self, GpuError> {
        let layers: Vec<u32> = geom.iter().flat_map(|g| g.layers.iter().map(|&l| l as u32)).collect();
        let base: Vec<f32> = geom.iter().flat_map(|g| g.base_depth.iter().copied()).collect();
        let rays: Vec<f32> = geom.iter().flat_map(|g| g.rays.iter().flat_map(|r| r.to_array())).collect();
        let mut views: Vec<Option<ViewSlot>> = (0..geom.len()).map(|_| None).collect();
        for (b, batch) in batches.iter().enumerate() {
            for (i, &v) in batch.iter().enumerate() {
                let g = &geom[v];
                let pixels = (g.width * g.height) as u32;
                let out_offset = (i * channels) as u32 * pixels;
                let c = g.center;
                let select: [u32; 12] = [pixels, first[v] as u32, channels as u32, out_offset, c.x.to_bits(), c.y.to_bits(), c.z.to_bits(), scale.to_bits(), gain.to_bits(), v as u32, 0, 0];
                let chain: [u32; 8] = [pixels, first[v] as u32, channels as u32, out_offset, scale.to_bits(), gain.to_bits(), v as u32, 0];
                views[v] = Some(ViewSlot { batch: b, pixels, select: ctx.uniform("coherent select", &select), chain: ctx.uniform("coherent chain", &chain) });
            }
        }
        let views = views.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| GpuError::Runtime("a view is in no decoder batch".into()))?;
        Ok(DeviceChain {
            select: Kernel::new(ctx, "coherent_select.wgsl", "main", &[])?,
            chain: Kernel::new(ctx, "coherent_chain.wgsl", "main", &[])?,
            layers: ctx.upload("coherent layers", &layers),
            base_depth: ctx.upload("coherent base depth", &base),
            base_logit: ctx.upload("coherent base logit", base_logit),
            rays: ctx.upload("coherent rays", &rays),
            select_counters: ctx.zeroed("coherent select counters", (geom.len() * SELECT_COUNTERS * 4) as u64),
            chain_counters: ctx.zeroed("coherent chain counters", (geom.len() * CHAIN_COUNTERS * 4) as u64),
            views,
        })
    }

    /// Counters start at 0, the "first bad pixel" slots at u32::MAX (atomicMin).
    fn reset(ctx: &GpuContext, buffer: &wgpu::Buffer, views: usize, per_view: usize, min_slots: &[usize]) {
        let init: Vec<u32> = (0..views * per_view).map(|i| if min_slots.contains(&(i % per_view)) { u32::MAX } else { 0 }).collect();
        ctx.queue.write_buffer(buffer, 0, bytemuck::cast_slice(&init));
    }

    /// Records the select pass (timed as `offsets`) after the decoders' forwards: `depth[b]`
    /// and `opacity[b]` are the output buffers of decoder batch b.
    #[allow(clippy::too_many_arguments)]
    pub fn record_select(&self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, depth: &[&wgpu::Buffer], opacity: &[&wgpu::Buffer], means: &wgpu::Buffer, logits: &wgpu::Buffer, timer: Option<&mut GpuTimer>) {
        Self::reset(ctx, &self.select_counters, self.views.len(), SELECT_COUNTERS, &[4, 5]);
        let mut pass = GpuContext::begin_pass(encoder, "offsets", timer);
        for s in &self.views {
            let bind = self.select.bind(ctx, &[&s.select, depth[s.batch], opacity[s.batch], &self.layers, &self.base_depth, &self.base_logit, &self.rays, means, logits, &self.select_counters]);
            self.select.dispatch(&mut pass, &bind, s.pixels.div_ceil(256));
        }
    }

    /// Reads the select pass's counters (waits for the GPU).
    pub fn read_select(&self, ctx: &GpuContext) -> Result<SelectCounts, GpuError> {
        let c: Vec<u32> = ctx.read(&self.select_counters, self.views.len() * SELECT_COUNTERS)?;
        let mut counts = SelectCounts { saturated_depth: 0, saturated_opacity: 0, bad: None };
        for (v, c) in c.chunks_exact(SELECT_COUNTERS).enumerate() {
            counts.saturated_depth += c[0] as u64;
            counts.saturated_opacity += c[1] as u64;
            if counts.bad.is_none() {
                if c[2] > 0 {
                    counts.bad = Some((v, "depth", c[4]));
                } else if c[3] > 0 {
                    counts.bad = Some((v, "opacity", c[5]));
                }
            }
        }
        Ok(counts)
    }

    /// Records the chain pass (timed as `offset gradients`): from the rasterizer's position and
    /// opacity-logit gradients into each batch's output-gradient buffers (`*_grad[b]`), read
    /// with its outputs (`*_out[b]`), before the decoders' backward.
    #[allow(clippy::too_many_arguments)]
    pub fn record_chain(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        outputs: (&[&wgpu::Buffer], &[&wgpu::Buffer]),
        output_grads: (&[&wgpu::Buffer], &[&wgpu::Buffer]),
        grad_means: &wgpu::Buffer,
        grad_logits: &wgpu::Buffer,
        timer: Option<&mut GpuTimer>,
    ) {
        Self::reset(ctx, &self.chain_counters, self.views.len(), CHAIN_COUNTERS, &[1]);
        let mut pass = GpuContext::begin_pass(encoder, "offset gradients", timer);
        for s in &self.views {
            let b = s.batch;
            let bind = self.chain.bind(ctx, &[&s.chain, outputs.0[b], outputs.1[b], &self.layers, &self.rays, grad_means, grad_logits, output_grads.0[b], output_grads.1[b], &self.chain_counters]);
            self.chain.dispatch(&mut pass, &bind, s.pixels.div_ceil(256));
        }
    }

    /// The chain pass's counters, for one batched read-back with the step's other scalars.
    pub fn chain_counters(&self) -> (&wgpu::Buffer, usize) {
        (&self.chain_counters, self.views.len() * CHAIN_COUNTERS)
    }

    /// The first view with a non-finite rasterizer gradient and its first pixel, from the
    /// chain counters read back.
    pub fn bad_gradient(counters: &[f32]) -> Option<(usize, u32)> {
        let c: &[u32] = bytemuck::cast_slice(counters);
        c.chunks_exact(CHAIN_COUNTERS).enumerate().find(|(_, c)| c[0] > 0).map(|(v, c)| (v, c[1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec3;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32) / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    fn refs(v: &[wgpu::Buffer]) -> Vec<&wgpu::Buffer> {
        v.iter().collect()
    }

    fn view(width: usize, height: usize, channels: usize, s: &mut u64) -> ViewGeom {
        let n = width * height;
        ViewGeom {
            width,
            height,
            center: Vec3::new(lcg(s), lcg(s), lcg(s)),
            fy: 1.0,
            rays: (0..n).map(|_| Vec3::new(0.3 * lcg(s), 0.3 * lcg(s), 1.0)).collect(),
            layers: (0..n).map(|p| (p * 7 % channels) as u8).collect(),
            base_depth: (0..n).map(|_| 3.0 + lcg(s)).collect(),
        }
    }

    /// The select and chain kernels against the host path's formulas (`CoherentTrainer::select`,
    /// `positions` and step 6), for one batch of two views and for two batches of one, with
    /// saturated outputs; and a non-finite output reported with its view, decoder and pixel.
    #[test]
    fn select_and_chain_match_the_host_formulas() {
        let ctx = GpuContext::shared().unwrap();
        let (w, h, c) = (13usize, 23usize, 3usize);
        let hw = w * h;
        let mut s = 5u64;
        let geom = vec![view(w, h, c, &mut s), view(w, h, c, &mut s)];
        let first = [0usize, hw];
        let (scale, gain) = (2.5f32, 4.0f32);
        // Per-Gaussian starting logits (the free-space prior's form), not one constant.
        let base_logit: Vec<f32> = (0..2 * hw).map(|_| 0.3 + 2.0 * lcg(&mut s)).collect();
        for batches in [vec![vec![0usize, 1]], vec![vec![1], vec![0]]] {
            // Per batch: [views in batch, channels, h, w]; some values far into saturation.
            let out = |s: &mut u64, len: usize| (0..len).map(|i| if i % 11 == 0 { 8.0 * lcg(s) } else { 1.5 * lcg(s) }).collect::<Vec<f32>>();
            let depth_out: Vec<Vec<f32>> = batches.iter().map(|b| out(&mut s, b.len() * c * hw)).collect();
            let opacity_out: Vec<Vec<f32>> = batches.iter().map(|b| out(&mut s, b.len() * c * hw)).collect();
            let up = |v: &Vec<Vec<f32>>| v.iter().map(|x| ctx.upload("out", x)).collect::<Vec<_>>();
            let (depth_buf, opacity_buf) = (up(&depth_out), up(&opacity_out));
            let chain = DeviceChain::new(&ctx, &geom, &first, &batches, c, scale, gain, &base_logit).unwrap();
            let means = ctx.zeroed("means", (2 * hw * 12) as u64);
            let logits = ctx.zeroed("logits", (2 * hw * 4) as u64);
            let mut enc = ctx.encoder("select test");
            chain.record_select(&ctx, &mut enc, &refs(&depth_buf), &refs(&opacity_buf), &means, &logits, None);
            ctx.submit(enc);
            let counts = chain.read_select(&ctx).unwrap();
            let (gm, gl): (Vec<f32>, Vec<f32>) = (ctx.read(&means, 6 * hw).unwrap(), ctx.read(&logits, 2 * hw).unwrap());

            // Upstream gradients of the positions and logits; the chain's outputs.
            let grad_means: Vec<f32> = (0..6 * hw).map(|_| lcg(&mut s)).collect();
            let grad_logits: Vec<f32> = (0..2 * hw).map(|_| lcg(&mut s)).collect();
            let (gm_buf, gl_buf) = (ctx.upload("grad means", &grad_means), ctx.upload("grad logits", &grad_logits));
            let zeros = |v: &Vec<Vec<f32>>| v.iter().map(|x| ctx.upload("grad out", &vec![7.0f32; x.len()])).collect::<Vec<_>>();
            let (dg_buf, og_buf) = (zeros(&depth_out), zeros(&opacity_out));
            let mut enc = ctx.encoder("chain test");
            chain.record_chain(&ctx, &mut enc, (&refs(&depth_buf), &refs(&opacity_buf)), (&refs(&dg_buf), &refs(&og_buf)), &gm_buf, &gl_buf, None);
            ctx.submit(enc);
            let counters: Vec<f32> = ctx.read(chain.chain_counters().0, chain.chain_counters().1).unwrap();
            assert_eq!(DeviceChain::bad_gradient(&counters), None);

            let (mut sat_d, mut sat_o) = (0, 0);
            for (b, batch) in batches.iter().enumerate() {
                let dg: Vec<f32> = ctx.read(&dg_buf[b], depth_out[b].len()).unwrap();
                let og: Vec<f32> = ctx.read(&og_buf[b], opacity_out[b].len()).unwrap();
                for (i, &v) in batch.iter().enumerate() {
                    let g = &geom[v];
                    for p in 0..hw {
                        let l = g.layers[p] as usize;
                        let at = (i * c + l) * hw + p;
                        let (td, to) = (depth_out[b][at].tanh(), opacity_out[b][at].tanh());
                        sat_d += usize::from(td.abs() > 0.99);
                        sat_o += usize::from(to.abs() > 0.99);
                        let x = g.center + g.rays[p] * (g.base_depth[p] + scale * td);
                        let k = first[v] + p;
                        let got = Vec3::new(gm[3 * k], gm[3 * k + 1], gm[3 * k + 2]);
                        assert!((got - x).length() < 2e-5 * (1.0 + x.length()), "view {v} pixel {p}: position {got} vs {x}");
                        let logit = base_logit[k] + gain * to;
                        assert!((gl[k] - logit).abs() < 2e-5 * (1.0 + logit.abs()), "view {v} pixel {p}: logit {} vs {logit}", gl[k]);
                        let gz = Vec3::new(grad_means[3 * k], grad_means[3 * k + 1], grad_means[3 * k + 2]).dot(g.rays[p]);
                        for ch in 0..c {
                            let at = (i * c + ch) * hw + p;
                            let (ed, eo) = if ch == l { (gz * scale * (1.0 - td * td), grad_logits[k] * gain * (1.0 - to * to)) } else { (0.0, 0.0) };
                            assert!((dg[at] - ed).abs() < 1e-5 * (1.0 + ed.abs()), "view {v} pixel {p} channel {ch}: depth gradient {} vs {ed}", dg[at]);
                            assert!((og[at] - eo).abs() < 1e-5 * (1.0 + eo.abs()), "view {v} pixel {p} channel {ch}: opacity gradient {} vs {eo}", og[at]);
                        }
                    }
                }
            }
            assert!(sat_d > 0 && sat_o > 0);
            assert_eq!((counts.saturated_depth, counts.saturated_opacity), (sat_d as u64, sat_o as u64));
            assert!(counts.bad.is_none());

            // A NaN in view 1's opacity output, at two pixels: reported with the first.
            let (b, i) = batches.iter().enumerate().find_map(|(b, batch)| batch.iter().position(|&v| v == 1).map(|i| (b, i))).unwrap();
            let mut bad = opacity_out[b].clone();
            for p in [17usize, 9] {
                bad[(i * c + geom[1].layers[p] as usize) * hw + p] = f32::NAN;
            }
            ctx.queue.write_buffer(&opacity_buf[b], 0, bytemuck::cast_slice(&bad));
            let mut enc = ctx.encoder("select test");
            chain.record_select(&ctx, &mut enc, &refs(&depth_buf), &refs(&opacity_buf), &means, &logits, None);
            ctx.submit(enc);
            assert_eq!(chain.read_select(&ctx).unwrap().bad, Some((1, "opacity", 9)));
        }
    }
}
