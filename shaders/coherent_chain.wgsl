// CoherentGS: the rasterizer's gradients of one view's Gaussians (the flow loss's included)
// into the upstream gradient of its decoders' outputs, on the GPU:
//
//   dL/dz = dL/dX · ray,   dL/d depth_out[l, p] = dL/dz · S · (1 − tanh²),
//   dL/d opacity_out[l, p] = dL/d logit · G · (1 − tanh²),   0 for the other channels
//
// (l the pixel's depth layer). A non-finite gradient is counted per view (`counters`, 4 per
// view: count, first pixel, 2 spare) and sent on as 0. CPU reference: CoherentTrainer's host
// path, which the trainer test compares with.

#include "common.wgsl"

struct Params {
    pixels: u32,
    first: u32,
    channels: u32,
    out_offset: u32,
    scale: f32,
    gain: f32,
    view: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> depth_out: array<f32>;
@group(0) @binding(2) var<storage, read> opacity_out: array<f32>;
@group(0) @binding(3) var<storage, read> layers: array<u32>;
@group(0) @binding(4) var<storage, read> rays: array<f32>;
@group(0) @binding(5) var<storage, read> grad_means: array<f32>;
@group(0) @binding(6) var<storage, read> grad_logits: array<f32>;
@group(0) @binding(7) var<storage, read_write> depth_grad: array<f32>;
@group(0) @binding(8) var<storage, read_write> opacity_grad: array<f32>;
@group(0) @binding(9) var<storage, read_write> counters: array<atomic<u32>>;

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let p = linear_workgroup(wid, nwg) * 256u + lid;
    if (p >= P.pixels) {
        return;
    }
    let g = P.first + p;
    let l = layers[g];
    let gm = vec3<f32>(grad_means[3u * g], grad_means[3u * g + 1u], grad_means[3u * g + 2u]);
    let gl = grad_logits[g];
    var gd = 0.0;
    var go = 0.0;
    if (!(is_finite_bits(gm.x) && is_finite_bits(gm.y) && is_finite_bits(gm.z) && is_finite_bits(gl))) {
        atomicAdd(&counters[4u * P.view], 1u);
        atomicMin(&counters[4u * P.view + 1u], p);
    } else if (l < P.channels) {
        let ray = vec3<f32>(rays[3u * g], rays[3u * g + 1u], rays[3u * g + 2u]);
        let at = P.out_offset + l * P.pixels + p;
        let td = tanh(depth_out[at]);
        let to = tanh(opacity_out[at]);
        gd = dot(gm, ray) * P.scale * (1.0 - td * td);
        go = gl * P.gain * (1.0 - to * to);
    }
    for (var c = 0u; c < P.channels; c++) {
        let at = P.out_offset + c * P.pixels + p;
        depth_grad[at] = select(0.0, gd, c == l);
        opacity_grad[at] = select(0.0, go, c == l);
    }
}
