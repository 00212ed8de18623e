// Occupancy mask for empty-space skipping: one thread per cell (indexed by its first grid
// point). A cell is occupied when the largest σ = softplus(raw · scale) of its eight corners is
// at least `threshold`; trilinear interpolation never exceeds the largest corner, so a skipped
// cell's samples have σ below the threshold. Defines: WG.

#include "common.wgsl"

struct OccParams {
    dims: vec4<u32>,
    // x: density scale, y: σ threshold
    values: vec4<f32>,
}

@group(0) @binding(0) var<uniform> P: OccParams;
@group(0) @binding(1) var<storage, read> density: array<f32>;
@group(0) @binding(2) var<storage, read_write> occupancy: array<u32>;

fn softplus(x: f32) -> f32 {
    if (x > 20.0) {
        return x;
    }
    return log(1.0 + exp(x));
}

@compute @workgroup_size({{WG}})
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = P.dims.xyz;
    let total = n.x * n.y * n.z;
    let i = linear_workgroup(wid, nwg) * {{WG}}u + lid;
    if (i >= total) {
        return;
    }
    let x = i % n.x;
    let y = (i / n.x) % n.y;
    let z = i / (n.x * n.y);
    if (x + 1u >= n.x || y + 1u >= n.y || z + 1u >= n.z) {
        occupancy[i] = 0u;
        return;
    }
    var m = -1e30;
    for (var k = 0u; k < 8u; k++) {
        let j = i + (k & 1u) + ((k >> 1u) & 1u) * n.x + ((k >> 2u) & 1u) * n.x * n.y;
        m = max(m, density[j]);
    }
    occupancy[i] = select(0u, 1u, softplus(m * P.values.x) >= P.values.y);
}
