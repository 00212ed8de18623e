// Ray-marching forward: one thread per ray. Stratified samples over the ray's segment inside
// the box, α = 1 − exp(−σΔ), front-to-back compositing, background behind, stop when the
// transmittance falls below background.w. Output per ray (5 floats): rgb, depth (expected
// distance along the unit ray direction, background excluded), alpha (1 − final transmittance).
// Defines: WG.

#include "voxel_common.wgsl"

@group(0) @binding(0) var<uniform> P: MarchParams;
@group(0) @binding(1) var<storage, read> rays: array<f32>;
@group(0) @binding(2) var<storage, read> density: array<f32>;
@group(0) @binding(3) var<storage, read> features: array<f32>;
@group(0) @binding(4) var<storage, read> occupancy: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size({{WG}})
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let r = linear_workgroup(wid, nwg) * {{WG}}u + lid;
    if (r >= P.dims.w) {
        return;
    }
    let o = vec3<f32>(rays[6u * r], rays[6u * r + 1u], rays[6u * r + 2u]);
    let d = vec3<f32>(rays[6u * r + 3u], rays[6u * r + 4u], rays[6u * r + 5u]);
    var color = vec3<f32>(0.0);
    var depth = 0.0;
    var T = 1.0;
    let seg = box_segment(P, o, d);
    if (seg.y > seg.x) {
        let len = seg.y - seg.x;
        let n = max(1u, min(u32(ceil(len / P.bbox_max.w)), P.misc.z));
        let delta = len / f32(n);
        let scale = P.bbox_min.w;
        for (var i = 0u; i < n; i++) {
            var u = 0.5;
            if (P.misc.y == 1u) {
                u = jitter01(P.misc.x, P.misc2.x + r, i);
            }
            let t = seg.x + (f32(i) + u) * delta;
            var c = locate(P, o + t * d);
            if (!c.inside) {
                continue;
            }
            if (P.misc.w == 1u && occupancy[c.base] == 0u) {
                continue;
            }
            var raw = 0.0;
            var feat = vec3<f32>(0.0);
            for (var k = 0u; k < 8u; k++) {
                let j = c.idx[k];
                raw += c.w[k] * density[j];
                feat += c.w[k] * vec3<f32>(features[3u * j], features[3u * j + 1u], features[3u * j + 2u]);
            }
            let sigma = softplus(raw * scale);
            let alpha = 1.0 - exp(-sigma * delta);
            let rgb = vec3<f32>(sigmoid(feat.x), sigmoid(feat.y), sigmoid(feat.z));
            let w = T * alpha;
            color += w * rgb;
            depth += w * t;
            T *= 1.0 - alpha;
            if (T < P.background.w) {
                break;
            }
        }
    }
    color += T * P.background.xyz;
    out[5u * r] = color.x;
    out[5u * r + 1u] = color.y;
    out[5u * r + 2u] = color.z;
    out[5u * r + 3u] = depth;
    out[5u * r + 4u] = 1.0 - T;
}
