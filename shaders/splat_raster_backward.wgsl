// Backward rasterization: one 16×16 workgroup per tile, one thread per pixel, walking each
// pixel's contributors back to front from its last one (T_i = T_{i+1} / (1 − α_i)), with the
// colour behind each splat accumulated on the way. Per-splat gradients are summed across the
// subgroup first (SUBGROUP_REDUCE: where subgroups exist, on by default on hardware GPUs), then
// added to global memory with float atomics (or a
// compare-and-swap loop on adapters without them).
#include "splat_common.wgsl"

const CH: u32 = {{CH}}u;
// Per-splat accumulator layout in g_splat: mean.x, mean.y, A, B, C, opacity', depth, unused.
const GS: u32 = 8u;

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> splats: array<Splat2D>;
@group(0) @binding(2) var<storage, read> ranges: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read> pair_ids: array<u32>;
@group(0) @binding(4) var<storage, read> colors: array<f32>;
@group(0) @binding(5) var<storage, read> background: array<f32>;
@group(0) @binding(6) var<storage, read> grad_color: array<f32>;
@group(0) @binding(7) var<storage, read> grad_alpha: array<f32>;
@group(0) @binding(8) var<storage, read> grad_depth: array<f32>;
@group(0) @binding(9) var<storage, read> state: array<vec2<f32>>;
#ifdef FLOAT_ATOMICS
@group(0) @binding(10) var<storage, read_write> g_splat: array<atomic<f32>>;
@group(0) @binding(11) var<storage, read_write> g_color: array<atomic<f32>>;
fn add_splat(i: u32, v: f32) {
    atomicAdd(&g_splat[i], v);
}
fn add_color(i: u32, v: f32) {
    atomicAdd(&g_color[i], v);
}
#else
@group(0) @binding(10) var<storage, read_write> g_splat: array<atomic<u32>>;
@group(0) @binding(11) var<storage, read_write> g_color: array<atomic<u32>>;
fn add_splat(i: u32, v: f32) {
    var old = atomicLoad(&g_splat[i]);
    loop {
        let r = atomicCompareExchangeWeak(&g_splat[i], old, bitcast<u32>(bitcast<f32>(old) + v));
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}
fn add_color(i: u32, v: f32) {
    var old = atomicLoad(&g_color[i]);
    loop {
        let r = atomicCompareExchangeWeak(&g_color[i], old, bitcast<u32>(bitcast<f32>(old) + v));
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}
#endif

var<workgroup> batch_ids: array<u32, 256>;
var<workgroup> batch_xy_ab: array<vec4<f32>, 256>;
var<workgroup> batch_c_o_z: array<vec4<f32>, 256>;
var<workgroup> max_last: atomic<u32>;
var<workgroup> max_last_copy: u32;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32
#ifdef SUBGROUP_REDUCE
        , @builtin(subgroup_invocation_id) lane: u32
#endif
) {
    let tile = linear_workgroup(wid, nwg);
    if (tile >= u.img.z * u.img.w) {
        return;
    }
    let tx = tile % u.img.z;
    let ty = tile / u.img.z;
    let px = tx * TILE + lid % TILE;
    let py = ty * TILE + lid / TILE;
    let inside = px < u.img.x && py < u.img.y;
    let pix = vec2<f32>(f32(px) + 0.5, f32(py) + 0.5);
    let p = py * u.img.x + px;
    let range = ranges[tile];
    let stride = u.chan.x;
    let first = u.chan.y;
    let with_geometry_outputs = first == 0u; // depth and alpha terms once, with the first chunk

    var t_final = 1.0;
    var last = 0u;
    var g_c: array<f32, CH>;
    var behind: array<f32, CH>;
    var g_a = 0.0;
    var g_d = 0.0;
    if (inside) {
        let st = state[p];
        t_final = st.x;
        last = bitcast<u32>(st.y);
        for (var c = 0u; c < CH; c++) {
            g_c[c] = grad_color[p * stride + first + c];
            behind[c] = t_final * background[first + c];
        }
        if (with_geometry_outputs) {
            g_a = grad_alpha[p];
            g_d = grad_depth[p];
        }
    }
    if (lid == 0u) {
        atomicStore(&max_last, 0u);
    }
    workgroupBarrier();
    atomicMax(&max_last, last);
    workgroupBarrier();
    if (lid == 0u) {
        max_last_copy = atomicLoad(&max_last);
    }
    let n = workgroupUniformLoad(&max_last_copy);

    var T = t_final;
    var behind_depth = 0.0;
    let alpha_clamp = u.clip.w;
    var end = n;
    while (end > 0u) {
        let start = select(0u, end - 256u, end > 256u);
        workgroupBarrier();
        if (start + lid < end) {
            let g = pair_ids[range.x + start + lid];
            let s = splats[g];
            batch_ids[lid] = g;
            batch_xy_ab[lid] = s.xy_ab;
            batch_c_o_z[lid] = s.c_o_z;
        }
        workgroupBarrier();
        for (var j = end; j > start; j--) {
            let k = j - 1u - start;
            let xy_ab = batch_xy_ab[k];
            let coz = batch_c_o_z[k];
            let g = batch_ids[k];
            let d = pix - xy_ab.xy;
            let sigma = 0.5 * (xy_ab.z * d.x * d.x + coz.x * d.y * d.y) + xy_ab.w * d.x * d.y;
            // As in the forward: a cheap test (with margin) before the exact one.
            let near = inside && (j - 1u) < last && sigma >= 0.0 && sigma <= coz.w + 1e-3;
            var raw = 0.0;
            if (near) {
                raw = coz.y * exp(-sigma);
            }
            let alpha = min(alpha_clamp, raw);
            let contrib = near && alpha >= MIN_ALPHA;

            var gm = vec2<f32>(0.0);
            var gq = vec3<f32>(0.0);
            var go = 0.0;
            var gz = 0.0;
            var gcol: array<f32, CH>;
            if (contrib) {
                let one_minus = 1.0 - alpha;
                T = T / one_minus;
                let w = alpha * T;
                var g_alpha = 0.0;
                let base = g * stride + first;
                for (var c = 0u; c < CH; c++) {
                    let col = colors[base + c];
                    gcol[c] = w * g_c[c];
                    g_alpha += g_c[c] * (T * col - behind[c] / one_minus);
                    behind[c] += col * w;
                }
                gz = w * g_d;
                g_alpha += g_d * (T * coz.z - behind_depth / one_minus) + g_a * t_final / one_minus;
                behind_depth += coz.z * w;
                if (raw <= alpha_clamp) {
                    go = g_alpha * exp(-sigma);
                    let g_sigma = -g_alpha * alpha;
                    let qd = vec2<f32>(xy_ab.z * d.x + xy_ab.w * d.y, xy_ab.w * d.x + coz.x * d.y);
                    gm = -g_sigma * qd;
                    gq = g_sigma * vec3<f32>(0.5 * d.x * d.x, d.x * d.y, 0.5 * d.y * d.y);
                }
            }
#ifdef SUBGROUP_REDUCE
            if (subgroupAny(contrib)) {
                gm = subgroupAdd(gm);
                gq = subgroupAdd(gq);
                go = subgroupAdd(go);
                gz = subgroupAdd(gz);
                for (var c = 0u; c < CH; c++) {
                    gcol[c] = subgroupAdd(gcol[c]);
                }
                if (lane == 0u) {
                    add_splat(g * GS, gm.x);
                    add_splat(g * GS + 1u, gm.y);
                    add_splat(g * GS + 2u, gq.x);
                    add_splat(g * GS + 3u, gq.y);
                    add_splat(g * GS + 4u, gq.z);
                    add_splat(g * GS + 5u, go);
                    add_splat(g * GS + 6u, gz);
                    for (var c = 0u; c < CH; c++) {
                        add_color(g * stride + first + c, gcol[c]);
                    }
                }
            }
#else
            if (contrib) {
                add_splat(g * GS, gm.x);
                add_splat(g * GS + 1u, gm.y);
                add_splat(g * GS + 2u, gq.x);
                add_splat(g * GS + 3u, gq.y);
                add_splat(g * GS + 4u, gq.z);
                add_splat(g * GS + 5u, go);
                add_splat(g * GS + 6u, gz);
                for (var c = 0u; c < CH; c++) {
                    add_color(g * stride + first + c, gcol[c]);
                }
            }
#endif
        }
        end = start;
    }
}
