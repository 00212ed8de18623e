//! The flow loss on the GPU (`shaders/coherent_flow.wgsl`): for the step's reference view i
//! and every other view j, the L1 between view i's Gaussian positions and view j's positions
//! sampled at the flow correspondences, its gradient added (times the loss weight) straight
//! into the rasterizer's position-gradient buffer. [`super::losses::flow_loss`] is the
//! reference the tests compare it with.
//!
//! Why: on the host this term read the positions of all views each step and took ~26 ms of a
//! full-size step on a 16-core host (session 9, H200 machine); here it is one dispatch per
//! pair reading the positions the renderer already has.

use super::losses::FlowField;
use kiln_gpu::{wgpu, GpuContext, GpuError, GpuTimer, Kernel};

const WG: u32 = 256;

struct FlowPair {
    from: usize,
    uniform: wgpu::Buffer,
    /// Per pixel of `from`: flow x, flow y, mask.
    flow: wgpu::Buffer,
    /// One loss sum per workgroup.
    loss_parts: wgpu::Buffer,
    workgroups: u32,
}

pub struct GpuFlowLoss {
    kernel: Kernel,
    pairs: Vec<FlowPair>,
}

impl GpuFlowLoss {
    /// The pairs of `flows`; `first[v]` is the index of view v's first Gaussian (pixel order),
    /// `unit` the scene unit, `weight` the loss weight applied to the gradient.
    pub fn new(ctx: &GpuContext, flows: &[FlowField], first: &[usize], unit: f32, weight: f32) -> Result<Self, GpuError> {
        let kernel = Kernel::new(ctx, "coherent_flow.wgsl", "main", &[])?;
        let mut pairs = Vec::new();
        for f in flows.iter().filter(|f| f.from != f.to) {
            let pixels = f.width as usize * f.height as usize;
            let norm = 1.0 / (3.0 * pixels as f32 * unit);
            let params: [u32; 8] = [f.width, f.height, first[f.from] as u32, first[f.to] as u32, norm.to_bits(), weight.to_bits(), 0, 0];
            let packed: Vec<f32> = f.flow.iter().zip(&f.mask).flat_map(|(d, &m)| [d[0], d[1], m]).collect();
            let workgroups = (pixels as u32).div_ceil(WG);
            pairs.push(FlowPair {
                from: f.from,
                uniform: ctx.uniform("flow loss params", &params),
                flow: ctx.upload("flow loss field", &packed),
                loss_parts: ctx.zeroed("flow loss sums", workgroups as u64 * 4),
                workgroups,
            });
        }
        Ok(GpuFlowLoss { kernel, pairs })
    }

    /// Records the pairs from `reference` (timed as `flow loss`): positions from `means`
    /// (3 floats per Gaussian), weight · dL/dX added into `grad_means`.
    pub fn record(&self, ctx: &GpuContext, encoder: &mut wgpu::CommandEncoder, reference: usize, means: &wgpu::Buffer, grad_means: &wgpu::Buffer, timer: Option<&mut GpuTimer>) {
        let mut pass = GpuContext::begin_pass(encoder, "flow loss", timer);
        for pair in self.pairs.iter().filter(|p| p.from == reference) {
            let bind = self.kernel.bind(ctx, &[&pair.uniform, means, &pair.flow, grad_means, &pair.loss_parts]);
            self.kernel.dispatch(&mut pass, &bind, pair.workgroups);
        }
    }

    /// The buffers holding the recorded pairs' loss sums (for one batched read-back).
    pub fn loss_buffers(&self, reference: usize) -> Vec<(&wgpu::Buffer, usize)> {
        self.pairs.iter().filter(|p| p.from == reference).map(|p| (&p.loss_parts, p.workgroups as usize)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coherent::losses::flow_loss;
    use glam::Vec3;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32) / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    /// Three views of 37×29 (several workgroups), flows that land inside, outside and on the
    /// last row and column, masks with zeros: the GPU loss and gradients equal the reference's
    /// for every reference view, with float atomics and with the CAS loop.
    #[test]
    fn gpu_flow_loss_matches_the_cpu_reference() {
        for float_atomics in [true, false] {
            let mut ctx = GpuContext::new().unwrap();
            if float_atomics && !ctx.float_atomics {
                continue;
            }
            ctx.float_atomics = float_atomics;
            check_against_reference(&ctx);
        }
    }

    fn check_against_reference(ctx: &GpuContext) {
        let (w, h, views) = (37usize, 29usize, 3usize);
        let mut s = 9u64;
        let positions: Vec<Vec<Vec3>> = (0..views).map(|_| (0..w * h).map(|_| Vec3::new(lcg(&mut s), lcg(&mut s), 2.0 + lcg(&mut s)) * 3.0).collect()).collect();
        let mut flows = Vec::new();
        for from in 0..views {
            for to in 0..views {
                if from == to {
                    continue;
                }
                let flow: Vec<[f32; 2]> = (0..w * h).map(|p| {
                    // Mostly small shifts, some far outside, some exactly onto the last column.
                    if p % 17 == 0 { [(w - 1 - p % w) as f32, 0.0] } else { [4.0 * lcg(&mut s), 4.0 * lcg(&mut s)] }
                }).collect();
                let mask: Vec<f32> = (0..w * h).map(|p| if p % 5 == 0 { 0.0 } else { 0.5 + 0.5 * lcg(&mut s).abs() }).collect();
                flows.push(FlowField { from, to, width: w as u32, height: h as u32, flow, mask });
            }
        }
        let first: Vec<usize> = (0..views).map(|v| v * w * h).collect();
        let (unit, weight) = (1.7f32, 0.25f32);
        let gpu = GpuFlowLoss::new(ctx, &flows, &first, unit, weight).unwrap();
        let flat: Vec<f32> = positions.iter().flatten().flat_map(|p| p.to_array()).collect();
        let means = ctx.upload("means", &flat);
        for reference in 0..views {
            let mut grads: Vec<Vec<Vec3>> = (0..views).map(|_| vec![Vec3::ZERO; w * h]).collect();
            let loss = flow_loss(&positions, &flows, reference, unit, &mut grads);
            // The GPU adds into an existing gradient (the rasterizer's): start from ones.
            let grad_buf = ctx.upload("grad", &vec![1.0f32; flat.len()]);
            let mut enc = ctx.encoder("flow test");
            gpu.record(ctx, &mut enc, reference, &means, &grad_buf, None);
            ctx.submit(enc);
            let g: Vec<f32> = ctx.read(&grad_buf, flat.len()).unwrap();
            let parts = ctx.read_many::<f32>(&gpu.loss_buffers(reference)).unwrap();
            let gpu_loss: f32 = parts.iter().flatten().sum();
            assert!((gpu_loss - loss).abs() <= 1e-5 * loss.abs(), "reference {reference}: loss {gpu_loss} vs {loss}");
            let expected: Vec<f32> = grads.iter().flatten().flat_map(|g| (*g * weight + Vec3::ONE).to_array()).collect();
            let worst = g.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst <= 1e-6, "reference {reference}: gradient differs by {worst}");
            let moved = g.iter().filter(|&&x| (x - 1.0).abs() > 1e-7).count();
            assert!(moved > flat.len() / 4, "reference {reference}: only {moved} gradient entries moved");
        }
    }
}
