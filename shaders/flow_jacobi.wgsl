// One Jacobi iteration of Horn–Schunck on the linearised data term around u0:
// ū = mean of the 4 neighbours (edges repeat), t = (Ix(ū − u0) + Iy(v̄ − v0) + It) / (α² + Ix² + Iy²),
// u = ū − Ix·t, v = v̄ − Iy·t; then u − u0 is clamped to ±max_step. The clamp keeps a pixel
// whose linearisation is poor (weak gradient, large It) from jumping far within one warp; the
// pyramid leaves only small motions to each level.

#include "flow_common.wgsl"

@group(0) @binding(0) var<uniform> P: FlowParams;
@group(0) @binding(1) var<storage, read> deriv: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> flow0: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> flow_in: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> flow_out: array<vec2<f32>>;

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
    let xl = select(x - 1u, 0u, x == 0u);
    let xr = min(x + 1u, w - 1u);
    let yu = select(y - 1u, 0u, y == 0u);
    let yd = min(y + 1u, h - 1u);
    let mean = 0.25 * ((flow_in[y * w + xl] + flow_in[y * w + xr]) + (flow_in[yu * w + x] + flow_in[yd * w + x]));
    let d = deriv[i];
    let f0 = flow0[i];
    let t = (d.x * (mean.x - f0.x) + d.y * (mean.y - f0.y) + d.z) / (P.alpha2 + d.x * d.x + d.y * d.y);
    let step = clamp(vec2<f32>(mean.x - d.x * t, mean.y - d.y * t) - f0, vec2<f32>(-P.max_step), vec2<f32>(P.max_step));
    flow_out[i] = f0 + step;
}
