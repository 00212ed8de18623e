// Writes each visible splat's (tile, splat) pairs at its scanned offset, in depth order. The
// tile test is the same function the count used, and writes stop at the recorded count.
#include "splat_common.wgsl"

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> splats: array<Splat2D>;
@group(0) @binding(2) var<storage, read> depth_ids: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read> tile_counts: array<u32>;
@group(0) @binding(5) var<storage, read_write> tile_keys: array<u32>;
@group(0) @binding(6) var<storage, read_write> pair_ids: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let r = linear_workgroup(wid, nwg) * 256u + lid;
    if (r >= u.cfg.x) {
        return;
    }
    let g = depth_ids[r];
    let count = tile_counts[g];
    if (count == 0u) {
        return;
    }
    let s = splats[g];
    let tau2 = splat_tau2(s);
    let box = splat_tile_box(u, s);
    var slot = offsets[r];
    let end = slot + count;
    for (var ty = box.y; ty <= box.w; ty++) {
        for (var tx = box.x; tx <= box.z; tx++) {
            if (slot < end && tile_touches(u, s, tau2, u32(tx), u32(ty))) {
                tile_keys[slot] = u32(ty) * u.img.z + u32(tx);
                pair_ids[slot] = g;
                slot += 1u;
            }
        }
    }
}
