// [start, end) of each tile's run in the tile-sorted pairs (ranges start zeroed).
#include "common.wgsl"

@group(0) @binding(0) var<storage, read> tile_keys: array<u32>;
@group(0) @binding(1) var<storage, read> pair_count: array<u32>;
@group(0) @binding(2) var<storage, read_write> ranges: array<vec2<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_workgroup(wid, nwg) * 256u + lid;
    let n = pair_count[0];
    if (i >= n) {
        return;
    }
    let t = tile_keys[i];
    if (i == 0u || tile_keys[i - 1u] != t) {
        ranges[t].x = i;
    }
    if (i + 1u == n || tile_keys[i + 1u] != t) {
        ranges[t].y = i + 1u;
    }
}
