//! Drives the flow kernels (`shaders/flow_*.wgsl`): one command encoder for the pyramid, both
//! flow directions and the masks, then one read-back.

use super::{Flow, FlowParams};
use crate::DepthError;
use kiln_gpu::{wgpu, GpuContext, Kernel};

const WG: u32 = 256;

/// Mirrors `FlowParams` in flow_common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Uniform {
    width: u32,
    height: u32,
    other_width: u32,
    other_height: u32,
    alpha2: f32,
    radius: u32,
    max_step: f32,
    _pad: u32,
}

struct Kernels {
    downsample: Kernel,
    upsample: Kernel,
    derivatives: Kernel,
    jacobi: Kernel,
    consistency: Kernel,
    erode: Kernel,
}

impl Kernels {
    fn new(ctx: &GpuContext) -> Result<Self, DepthError> {
        let k = |file: &str| Kernel::new(ctx, file, "main", &[]);
        Ok(Kernels {
            downsample: k("flow_downsample.wgsl")?,
            upsample: k("flow_upsample.wgsl")?,
            derivatives: k("flow_derivatives.wgsl")?,
            jacobi: k("flow_jacobi.wgsl")?,
            consistency: k("flow_consistency.wgsl")?,
            erode: k("flow_erode.wgsl")?,
        })
    }
}

/// Per-level uniforms: `same` (other = this level), `down` (other = the finer level),
/// `up` (other = the coarser level).
struct Level {
    size: (u32, u32),
    same: wgpu::Buffer,
    down: Option<wgpu::Buffer>,
    up: Option<wgpu::Buffer>,
}

fn groups(n: u32) -> u32 {
    n.div_ceil(WG)
}

pub(super) fn estimate_pair(
    ctx: &GpuContext,
    g1: &[f32],
    g2: &[f32],
    width: u32,
    height: u32,
    params: &FlowParams,
) -> Result<(Flow, Flow), DepthError> {
    let n = width as u64 * height as u64;
    ctx.check_binding("flow derivatives", n * 16)?;
    let kernels = Kernels::new(ctx)?;
    let sizes = params.levels(width, height);
    let alpha2 = params.alpha * params.alpha;
    let uniform = |size: (u32, u32), other: (u32, u32)| {
        let u = Uniform {
            width: size.0,
            height: size.1,
            other_width: other.0,
            other_height: other.1,
            alpha2,
            radius: params.erode_radius,
            max_step: params.max_step,
            _pad: 0,
        };
        ctx.uniform("flow params", &u)
    };
    let levels: Vec<Level> = (0..sizes.len())
        .map(|l| Level {
            size: sizes[l],
            same: uniform(sizes[l], sizes[l]),
            down: (l > 0).then(|| uniform(sizes[l], sizes[l - 1])),
            up: (l + 1 < sizes.len()).then(|| uniform(sizes[l], sizes[l + 1])),
        })
        .collect();
    let pixels = |l: usize| levels[l].size.0 * levels[l].size.1;

    let mut encoder = ctx.encoder("flow");
    // Pyramids of both images.
    let mut pyr1 = vec![ctx.upload("flow image 1", g1)];
    let mut pyr2 = vec![ctx.upload("flow image 2", g2)];
    {
        for l in 1..levels.len() {
            let down = levels[l].down.as_ref().unwrap();
            pyr1.push(ctx.zeroed("flow pyramid 1", pixels(l) as u64 * 4));
            pyr2.push(ctx.zeroed("flow pyramid 2", pixels(l) as u64 * 4));
            let b1 = kernels.downsample.bind(ctx, &[down, &pyr1[l - 1], &pyr1[l]]);
            let b2 = kernels.downsample.bind(ctx, &[down, &pyr2[l - 1], &pyr2[l]]);
            let mut pass = GpuContext::begin_pass(&mut encoder, "flow pyramid", None);
            kernels.downsample.dispatch(&mut pass, &b1, groups(pixels(l)));
            kernels.downsample.dispatch(&mut pass, &b2, groups(pixels(l)));
        }
    }
    let fwd = one_way(ctx, &kernels, &mut encoder, &levels, &pyr1, &pyr2, params);
    let bwd = one_way(ctx, &kernels, &mut encoder, &levels, &pyr2, &pyr1, params);

    let mut masks = Vec::new();
    for (a, b) in [(&fwd, &bwd), (&bwd, &fwd)] {
        let raw = ctx.zeroed("flow consistency", n * 4);
        let eroded = ctx.zeroed("flow mask", n * 4);
        let bc = kernels.consistency.bind(ctx, &[&levels[0].same, a, b, &raw]);
        let be = kernels.erode.bind(ctx, &[&levels[0].same, &raw, &eroded]);
        let mut pass = GpuContext::begin_pass(&mut encoder, "flow mask", None);
        kernels.consistency.dispatch(&mut pass, &bc, groups(n as u32));
        kernels.erode.dispatch(&mut pass, &be, groups(n as u32));
        drop(pass);
        masks.push(eroded);
    }
    ctx.submit(encoder);

    let read_flow = |buf: &wgpu::Buffer, mask: &wgpu::Buffer| -> Result<Flow, DepthError> {
        let uv: Vec<[f32; 2]> = ctx.read(buf, n as usize)?;
        let valid: Vec<f32> = ctx.read(mask, n as usize)?;
        Ok(Flow { width, height, u: uv.iter().map(|p| p[0]).collect(), v: uv.iter().map(|p| p[1]).collect(), valid })
    };
    Ok((read_flow(&fwd, &masks[0])?, read_flow(&bwd, &masks[1])?))
}

/// Records the coarse-to-fine solve from pyramid `p1` to `p2`; returns the finest flow buffer.
fn one_way(
    ctx: &GpuContext,
    k: &Kernels,
    encoder: &mut wgpu::CommandEncoder,
    levels: &[Level],
    p1: &[wgpu::Buffer],
    p2: &[wgpu::Buffer],
    params: &FlowParams,
) -> wgpu::Buffer {
    let coarsest = levels.len() - 1;
    let mut prev: Option<wgpu::Buffer> = None;
    for l in (0..levels.len()).rev() {
        let px = levels[l].size.0 * levels[l].size.1;
        let bytes = px as u64 * 8;
        let flow = ctx.zeroed("flow", bytes);
        let other = ctx.zeroed("flow ping-pong", bytes);
        let flow0 = ctx.zeroed("flow at warp start", bytes);
        let deriv = ctx.zeroed("flow derivatives", px as u64 * 16);
        let same = &levels[l].same;
        if l < coarsest {
            let up = levels[l].up.as_ref().unwrap();
            let b = k.upsample.bind(ctx, &[up, prev.as_ref().unwrap(), &flow]);
            let mut pass = GpuContext::begin_pass(encoder, "flow upsample", None);
            k.upsample.dispatch(&mut pass, &b, groups(px));
        }
        let bd = k.derivatives.bind(ctx, &[same, &p1[l], &p2[l], &flow, &deriv]);
        let forward = k.jacobi.bind(ctx, &[same, &deriv, &flow0, &flow, &other]);
        let backward = k.jacobi.bind(ctx, &[same, &deriv, &flow0, &other, &flow]);
        for _ in 0..params.warps {
            {
                let mut pass = GpuContext::begin_pass(encoder, "flow derivatives", None);
                k.derivatives.dispatch(&mut pass, &bd, groups(px));
            }
            encoder.copy_buffer_to_buffer(&flow, 0, &flow0, 0, bytes);
            let mut pass = GpuContext::begin_pass(encoder, "flow solve", None);
            for it in 0..params.iterations {
                let b = if it % 2 == 0 { &forward } else { &backward };
                k.jacobi.dispatch(&mut pass, b, groups(px));
            }
            drop(pass);
            if params.iterations % 2 == 1 {
                encoder.copy_buffer_to_buffer(&other, 0, &flow, 0, bytes);
            }
        }
        prev = Some(flow);
    }
    prev.unwrap()
}
