// Flow from the coarser level to this one: bilinear at the matching position (pixel centres
// aligned), vectors scaled by the size ratio. P.width/height: this level; P.other_*: coarser.

#include "flow_common.wgsl"

@group(0) @binding(0) var<uniform> P: FlowParams;
@group(0) @binding(1) var<storage, read> coarse: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> fine: array<vec2<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = pixel_index(wid, nwg, lid);
    if (i >= P.width * P.height) {
        return;
    }
    let sx = f32(P.other_width) / f32(P.width);
    let sy = f32(P.other_height) / f32(P.height);
    let cx = (f32(i % P.width) + 0.5) * sx - 0.5;
    let cy = (f32(i / P.width) + 0.5) * sy - 0.5;
    let t = bilinear_taps(cx, cy, P.other_width, P.other_height);
    let u = lerp2(coarse[t.i00].x, coarse[t.i10].x, coarse[t.i01].x, coarse[t.i11].x, t);
    let v = lerp2(coarse[t.i00].y, coarse[t.i10].y, coarse[t.i01].y, coarse[t.i11].y, t);
    fine[i] = vec2<f32>(u / sx, v / sy);
}
