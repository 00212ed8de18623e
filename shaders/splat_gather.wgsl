// Tile counts gathered into depth order, ready for the exclusive scan that gives each splat's
// first slot among the (tile, splat) pairs.
#include "splat_common.wgsl"

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> depth_ids: array<u32>;
@group(0) @binding(2) var<storage, read> tile_counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> sorted_counts: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let r = linear_workgroup(wid, nwg) * 256u + lid;
    if (r >= u.cfg.x) {
        return;
    }
    sorted_counts[r] = tile_counts[depth_ids[r]];
}
