// Linearisation of brightness constancy around the current flow u0 (one warp):
// It = I2(p + u0) − I1(p); Ix, Iy = mean of I1's and the warped I2's central differences.
// Where p + u0 leaves the second image the data term is switched off (all zero) and the
// smoothness term fills the flow in. Output vec4 (Ix, Iy, It, 0) per pixel.

#include "flow_common.wgsl"

@group(0) @binding(0) var<uniform> P: FlowParams;
@group(0) @binding(1) var<storage, read> i1: array<f32>;
@group(0) @binding(2) var<storage, read> i2: array<f32>;
@group(0) @binding(3) var<storage, read> flow: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> deriv: array<vec4<f32>>;

fn sample_i2(x: f32, y: f32) -> f32 {
    let t = bilinear_taps(x, y, P.width, P.height);
    return lerp2(i2[t.i00], i2[t.i10], i2[t.i01], i2[t.i11], t);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = pixel_index(wid, nwg, lid);
    let w = P.width;
    let h = P.height;
    if (i >= w * h) {
        return;
    }
    let x = i % w;
    let y = i / w;
    let qx = f32(x) + flow[i].x;
    let qy = f32(y) + flow[i].y;
    if (qx < 0.0 || qy < 0.0 || qx > f32(w - 1u) || qy > f32(h - 1u)) {
        deriv[i] = vec4<f32>(0.0);
        return;
    }
    let xl = select(x - 1u, 0u, x == 0u);
    let xr = min(x + 1u, w - 1u);
    let yu = select(y - 1u, 0u, y == 0u);
    let yd = min(y + 1u, h - 1u);
    let gx1 = 0.5 * (i1[y * w + xr] - i1[y * w + xl]);
    let gy1 = 0.5 * (i1[yd * w + x] - i1[yu * w + x]);
    let gx2 = 0.5 * (sample_i2(qx + 1.0, qy) - sample_i2(qx - 1.0, qy));
    let gy2 = 0.5 * (sample_i2(qx, qy + 1.0) - sample_i2(qx, qy - 1.0));
    let it = sample_i2(qx, qy) - i1[i];
    deriv[i] = vec4<f32>(0.5 * (gx1 + gx2), 0.5 * (gy1 + gy2), it, 0.0);
}
