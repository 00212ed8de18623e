// Interleaves the trainer's SH parameter buffers — DC (n × 3) and the higher bands
// (n × (K−1) × 3), kept apart because they learn at different rates — into the renderer's
// layout (n × K × 3). One thread per float.
#include "common.wgsl"

struct Shape {
    n: u32,
    k: u32,   // coefficients per channel (1, 4, 9, 16)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> dc: array<f32>;
@group(0) @binding(2) var<storage, read> rest: array<f32>;
@group(0) @binding(3) var<storage, read_write> sh: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let e = linear_workgroup(wid, nwg) * 256u + lid;
    let row = shape.k * 3u;
    if (e >= shape.n * row) {
        return;
    }
    let i = e / row;
    let kc = e % row; // k * 3 + c
    if (kc < 3u) {
        sh[e] = dc[i * 3u + kc];
    } else {
        sh[e] = rest[i * (row - 3u) + kc - 3u];
    }
}
