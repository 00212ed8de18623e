// The inverse of fit_sh_pack.wgsl for gradients: splits dL/dSH (n × K × 3) into the DC and
// higher-band gradient buffers. One thread per float.
#include "common.wgsl"

struct Shape {
    n: u32,
    k: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> g_sh: array<f32>;
@group(0) @binding(2) var<storage, read_write> g_dc: array<f32>;
@group(0) @binding(3) var<storage, read_write> g_rest: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = linear_workgroup(wid, nwg) * 256u + lid;
    let row = shape.k * 3u;
    if (e >= shape.n * row) {
        return;
    }
    let i = e / row;
    let kc = e % row;
    if (kc < 3u) {
        g_dc[i * 3u + kc] = g_sh[e];
    } else {
        g_rest[i * (row - 3u) + kc - 3u] = g_sh[e];
    }
}
