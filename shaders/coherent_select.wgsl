// CoherentGS: the decoders' outputs of one view into its Gaussians, on the GPU. For pixel p
// with depth layer l (one-hot masks: the pixel's own channel):
//
//   Δz = S · tanh(depth_out[l, p]),   X = centre + ray · (z_base + Δz),
//   logit α = logit α₀(p) + G · tanh(opacity_out[l, p])
//
// written into the cloud's means (3 floats per Gaussian) and opacity logits. Per view it
// counts the saturated outputs (|tanh| > 0.99) and the non-finite ones, with the first such
// pixel, in `counters` (8 per view: saturated depth, saturated opacity, bad depth, bad opacity,
// first bad depth pixel, first bad opacity pixel, 2 spare); a non-finite output leaves its
// Gaussian as it was. CPU reference: CoherentTrainer's host path (`select` + positions), which
// the trainer test compares with.

#include "common.wgsl"

struct Params {
    pixels: u32,
    first: u32,
    channels: u32,
    out_offset: u32,
    center: vec3<f32>,
    scale: f32,
    gain: f32,
    view: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> depth_out: array<f32>;
@group(0) @binding(2) var<storage, read> opacity_out: array<f32>;
@group(0) @binding(3) var<storage, read> layers: array<u32>;
@group(0) @binding(4) var<storage, read> base_depth: array<f32>;
@group(0) @binding(5) var<storage, read> base_logit: array<f32>;
@group(0) @binding(6) var<storage, read> rays: array<f32>;
@group(0) @binding(7) var<storage, read_write> means: array<f32>;
@group(0) @binding(8) var<storage, read_write> logits: array<f32>;
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
    if (l >= P.channels) {
        return;
    }
    let at = P.out_offset + l * P.pixels + p;
    let od = depth_out[at];
    let oo = opacity_out[at];
    let c = 8u * P.view;
    if (!is_finite_bits(od)) {
        atomicAdd(&counters[c + 2u], 1u);
        atomicMin(&counters[c + 4u], p);
        return;
    }
    if (!is_finite_bits(oo)) {
        atomicAdd(&counters[c + 3u], 1u);
        atomicMin(&counters[c + 5u], p);
        return;
    }
    let td = tanh(od);
    let to = tanh(oo);
    if (abs(td) > 0.99) {
        atomicAdd(&counters[c], 1u);
    }
    if (abs(to) > 0.99) {
        atomicAdd(&counters[c + 1u], 1u);
    }
    let z = base_depth[g] + P.scale * td;
    let ray = vec3<f32>(rays[3u * g], rays[3u * g + 1u], rays[3u * g + 2u]);
    let x = P.center + ray * z;
    means[3u * g] = x.x;
    means[3u * g + 1u] = x.y;
    means[3u * g + 2u] = x.z;
    logits[g] = base_logit[g] + P.gain * to;
}
