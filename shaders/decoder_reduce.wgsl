// Sums the bands of decoder_conv_weight.wgsl into the network's gradient buffer:
//   dst[dst_off + v·n + j] = Σ_s src[(v·bands + s)·n + j],  j < n (per-view length).

#include "common.wgsl"

struct Params {
    views: u32,
    bands: u32,
    n: u32,
    dst_off: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let e = linear_workgroup(wid, nwg) * 256u + lid;
    if (e >= P.views * P.n) {
        return;
    }
    let v = e / P.n;
    let j = e % P.n;
    var sum = 0.0;
    for (var s = 0u; s < P.bands; s++) {
        sum += src[(v * P.bands + s) * P.n + j];
    }
    dst[P.dst_off + e] = sum;
}
