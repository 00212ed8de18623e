// Gradient of the mean squared colour error over a ray batch: d_out = 2 (rgb − target) / B for
// the colour, 0 for depth and alpha. One thread per ray. Defines: WG.

#include "common.wgsl"

struct LossParams {
    // x: rays in the batch
    counts: vec4<u32>,
}

@group(0) @binding(0) var<uniform> P: LossParams;
@group(0) @binding(1) var<storage, read> out: array<f32>;
@group(0) @binding(2) var<storage, read> target_rgb: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_out: array<f32>;

@compute @workgroup_size({{WG}})
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let r = linear_workgroup(wid, nwg) * {{WG}}u + lid;
    let n = P.counts.x;
    if (r >= n) {
        return;
    }
    let k = 2.0 / f32(n);
    for (var c = 0u; c < 3u; c++) {
        d_out[5u * r + c] = k * (out[5u * r + c] - target_rgb[3u * r + c]);
    }
    d_out[5u * r + 3u] = 0.0;
    d_out[5u * r + 4u] = 0.0;
}
