// One pyramid level down: each output pixel is the mean of its 2×2 block of the finer level
// (blocks at an odd edge repeat the edge pixel). P.width/height: this level; P.other_*: finer.

#include "flow_common.wgsl"

@group(0) @binding(0) var<uniform> P: FlowParams;
@group(0) @binding(1) var<storage, read> fine: array<f32>;
@group(0) @binding(2) var<storage, read_write> coarse: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = pixel_index(wid, nwg, lid);
    if (i >= P.width * P.height) {
        return;
    }
    let x = i % P.width;
    let y = i / P.width;
    let fw = P.other_width;
    let x0 = min(2u * x, fw - 1u);
    let x1 = min(2u * x + 1u, fw - 1u);
    let y0 = min(2u * y, P.other_height - 1u);
    let y1 = min(2u * y + 1u, P.other_height - 1u);
    coarse[i] = 0.25 * ((fine[y0 * fw + x0] + fine[y0 * fw + x1]) + (fine[y1 * fw + x0] + fine[y1 * fw + x1]));
}
