// LeakyReLU(0.2)'s backward in place: grad[v, o, p] *= (out[v, o, p] > 0 ? 1 : 0.2) for the
// stage's `cout` channels of each view's `stride` (the coordinate channels are left alone).
// `out` is the activation after LeakyReLU, whose sign is the pre-activation's.

#include "common.wgsl"

struct Params {
    views: u32,
    cout: u32,
    stride: u32,
    pixels: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let e = linear_workgroup(wid, nwg) * 256u + lid;
    let per_view = P.cout * P.pixels;
    if (e >= P.views * per_view) {
        return;
    }
    let v = e / per_view;
    let i = v * P.stride * P.pixels + e % per_view;
    if (out[i] <= 0.0) {
        grad[i] = 0.2 * grad[i];
    }
}
