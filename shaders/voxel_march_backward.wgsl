// Ray-marching backward: one thread per ray, re-marching front to back. With per-sample value
// v_i = g_rgb·c_i + g_depth·t_i and the ray's total Σ w_i v_i + T_N (g_rgb·bg − g_alpha)
// (recovered from the forward outputs), the suffix S_i = total − Σ_{j≤i} w_j v_j gives
//   ∂L/∂σ_i = Δ (T_{i+1} v_i − S_i)        (no division by 1 − α)
//   ∂L/∂feature_i = g_rgb · w_i · c_i (1 − c_i)
// scattered to the eight corners with the trilinear weights (float atomics, or a CAS loop).
// Inputs: forward outputs (5 floats per ray) and their gradients (5 floats per ray).
// Defines: WG.

#include "voxel_common.wgsl"

@group(0) @binding(0) var<uniform> P: MarchParams;
@group(0) @binding(1) var<storage, read> rays: array<f32>;
@group(0) @binding(2) var<storage, read> density: array<f32>;
@group(0) @binding(3) var<storage, read> features: array<f32>;
@group(0) @binding(4) var<storage, read> occupancy: array<u32>;
@group(0) @binding(5) var<storage, read> out: array<f32>;
@group(0) @binding(6) var<storage, read> d_out: array<f32>;

#ifdef FLOAT_ATOMICS
@group(0) @binding(7) var<storage, read_write> g_density: array<atomic<f32>>;
@group(0) @binding(8) var<storage, read_write> g_features: array<atomic<f32>>;
fn add_density(i: u32, v: f32) {
    atomicAdd(&g_density[i], v);
}
fn add_feature(i: u32, v: f32) {
    atomicAdd(&g_features[i], v);
}
#else
@group(0) @binding(7) var<storage, read_write> g_density: array<atomic<u32>>;
@group(0) @binding(8) var<storage, read_write> g_features: array<atomic<u32>>;
fn add_density(i: u32, v: f32) {
    var old = atomicLoad(&g_density[i]);
    loop {
        let r = atomicCompareExchangeWeak(&g_density[i], old, bitcast<u32>(bitcast<f32>(old) + v));
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}
fn add_feature(i: u32, v: f32) {
    var old = atomicLoad(&g_features[i]);
    loop {
        let r = atomicCompareExchangeWeak(&g_features[i], old, bitcast<u32>(bitcast<f32>(old) + v));
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}
#endif

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
    let g_rgb = vec3<f32>(d_out[5u * r], d_out[5u * r + 1u], d_out[5u * r + 2u]);
    let g_depth = d_out[5u * r + 3u];
    let g_alpha = d_out[5u * r + 4u];
    if (all(g_rgb == vec3<f32>(0.0)) && g_depth == 0.0 && g_alpha == 0.0) {
        return;
    }
    let seg = box_segment(P, o, d);
    if (seg.y <= seg.x) {
        return;
    }
    let color = vec3<f32>(out[5u * r], out[5u * r + 1u], out[5u * r + 2u]);
    let depth = out[5u * r + 3u];
    let t_final = 1.0 - out[5u * r + 4u];
    let total = dot(g_rgb, color) + g_depth * depth - g_alpha * t_final;
    var prefix = 0.0;
    var T = 1.0;
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
        let x = raw * scale;
        let sigma = softplus(x);
        let alpha = 1.0 - exp(-sigma * delta);
        let rgb = vec3<f32>(sigmoid(feat.x), sigmoid(feat.y), sigmoid(feat.z));
        let w = T * alpha;
        let v = dot(g_rgb, rgb) + g_depth * t;
        prefix += w * v;
        let T_next = T * (1.0 - alpha);
        let d_sigma = delta * (T_next * v - (total - prefix));
        let d_raw = d_sigma * sigmoid(x) * scale;
        let d_feat = g_rgb * w * rgb * (vec3<f32>(1.0) - rgb);
        for (var k = 0u; k < 8u; k++) {
            let j = c.idx[k];
            let wk = c.w[k];
            if (wk == 0.0) {
                continue;
            }
            if (d_raw != 0.0) {
                add_density(j, wk * d_raw);
            }
            if (any(d_feat != vec3<f32>(0.0))) {
                add_feature(3u * j, wk * d_feat.x);
                add_feature(3u * j + 1u, wk * d_feat.y);
                add_feature(3u * j + 2u, wk * d_feat.z);
            }
        }
        T = T_next;
        if (T < P.background.w) {
            break;
        }
    }
}
