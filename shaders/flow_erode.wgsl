// Erosion of a 0/1 mask: the minimum over the (2r+1)² window (pixels outside the image are
// left out). The spec erodes the consistency mask with a 5×5 window (r = 2).

#include "flow_common.wgsl"

@group(0) @binding(0) var<uniform> P: FlowParams;
@group(0) @binding(1) var<storage, read> mask_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> mask_out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = pixel_index(wid, nwg, lid);
    let w = i32(P.width);
    let h = i32(P.height);
    if (i >= P.width * P.height) {
        return;
    }
    let x = i32(i % P.width);
    let y = i32(i / P.width);
    let r = i32(P.radius);
    var m = 1.0;
    for (var dy = -r; dy <= r; dy++) {
        let yy = y + dy;
        if (yy < 0 || yy >= h) {
            continue;
        }
        for (var dx = -r; dx <= r; dx++) {
            let xx = x + dx;
            if (xx < 0 || xx >= w) {
                continue;
            }
            m = min(m, mask_in[u32(yy * w + xx)]);
        }
    }
    mask_out[i] = m;
}
