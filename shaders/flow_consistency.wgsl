// Forward–backward check (spec): e = ‖F_ab(p) + F_ba(p + F_ab(p))‖₁ with F_ba sampled
// bilinearly; valid (1) where p + F_ab(p) is inside the image and exp(−e/2) ≥ 0.5, else 0.

#include "flow_common.wgsl"

@group(0) @binding(0) var<uniform> P: FlowParams;
@group(0) @binding(1) var<storage, read> fwd: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> bwd: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> mask: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = pixel_index(wid, nwg, lid);
    let w = P.width;
    let h = P.height;
    if (i >= w * h) {
        return;
    }
    let f = fwd[i];
    let qx = f32(i % w) + f.x;
    let qy = f32(i / w) + f.y;
    if (qx < 0.0 || qy < 0.0 || qx > f32(w - 1u) || qy > f32(h - 1u)) {
        mask[i] = 0.0;
        return;
    }
    let t = bilinear_taps(qx, qy, w, h);
    let bu = lerp2(bwd[t.i00].x, bwd[t.i10].x, bwd[t.i01].x, bwd[t.i11].x, t);
    let bv = lerp2(bwd[t.i00].y, bwd[t.i10].y, bwd[t.i01].y, bwd[t.i11].y, t);
    let e = abs(f.x + bu) + abs(f.y + bv);
    mask[i] = select(0.0, 1.0, exp(-0.5 * e) >= 0.5);
}
