// CoherentGS's image terms beside the GPU image loss (kiln_fit::coherent::gpu_image_terms), so
// that a training step reads no image back:
//
// POOL            k×k box average of an interleaved image (`c` channels): the supersampled
//                 render brought back to the training image's grid (k = 2…4), and the 2×2
//                 pooling of the L1 pyramid (odd edges dropped, as PyTorch's avg_pool2d).
// POOL_ADJOINT    the pooling's adjoint: each gradient value spread over its k×k block, / k².
// PYRAMID_LEVEL   one pyramid level l ≥ 1: pools level l − 1 of the render, compares it with
//                 the target's level l, writes the level's L1 slopes (already divided by the
//                 f×f base pixels each level pixel averages) and a loss sum per workgroup.
// PYRAMID_GATHER  every base pixel adds the slopes of the level pixels that average it.
// TV              the multi-view TV on rendered disparity, masked by depth layers: per pixel, the
//                 loss of the pairs it starts and the gradient of its four pairs, carried through
//                 disparity = 1 / (depth / (alpha · unit) + 1) to dL/d(depth) and dL/d(alpha).
//
// CPU references (tested against these): kiln_fit::coherent::losses::{box_pool,
// box_pool_adjoint, pyramid_l1, disparity_tv}.

#include "common.wgsl"

var<workgroup> partial: array<f32, 256>;

// The workgroup's sum of `v` into parts[index] (256 threads, a tree in workgroup memory).
fn workgroup_sum(lid: u32, v: f32) -> f32 {
    partial[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    return partial[0];
}

// The box pooling's and its adjoint's parameters: the pooled grid (out_w × out_h), the source
// row length (out_w·k), k, channels, 1/k².
struct PoolParams {
    out_w: u32,
    out_h: u32,
    src_w: u32,
    k: u32,
    c: u32,
    norm: f32,
    _pad0: u32,
    _pad1: u32,
}

#ifdef POOL
@group(0) @binding(0) var<uniform> P: PoolParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_workgroup(wid, nwg) * 256u + lid;
    if (i >= P.out_w * P.out_h * P.c) {
        return;
    }
    let ch = i % P.c;
    let p = i / P.c;
    let x = p % P.out_w;
    let y = p / P.out_w;
    var sum = 0.0;
    for (var dy = 0u; dy < P.k; dy++) {
        let base = ((y * P.k + dy) * P.src_w + x * P.k) * P.c + ch;
        for (var dx = 0u; dx < P.k; dx++) {
            sum += src[base + dx * P.c];
        }
    }
    dst[i] = sum * P.norm;
}
#endif

#ifdef POOL_ADJOINT
// out_w × out_h is the pooled grid; dst has (out_w·k) × (out_h·k) pixels.
@group(0) @binding(0) var<uniform> P: PoolParams;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_workgroup(wid, nwg) * 256u + lid;
    let wk = P.out_w * P.k;
    if (i >= wk * P.out_h * P.k * P.c) {
        return;
    }
    let ch = i % P.c;
    let p = i / P.c;
    let x = (p % wk) / P.k;
    let y = (p / wk) / P.k;
    dst[i] = grad[(y * P.out_w + x) * P.c + ch] * P.norm;
}
#endif

#ifdef PYRAMID_LEVEL
struct Params {
    out_w: u32,
    out_h: u32,
    src_w: u32,
    c: u32,
    // Offset of this level in the target and slope buffers (floats).
    off: u32,
    // Index of this level's first workgroup sum in `parts`.
    part_off: u32,
    // scale · weight / (level elements): the loss per unit |difference|.
    loss_factor: f32,
    // The same over the f × f base pixels a level pixel averages: the slope per base pixel.
    slope_factor: f32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> target_levels: array<f32>;
@group(0) @binding(4) var<storage, read_write> slopes: array<f32>;
@group(0) @binding(5) var<storage, read_write> parts: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let wg = linear_workgroup(wid, nwg);
    let i = wg * 256u + lid;
    var loss = 0.0;
    if (i < P.out_w * P.out_h * P.c) {
        let ch = i % P.c;
        let p = i / P.c;
        let x = p % P.out_w;
        let y = p / P.out_w;
        let at = (2u * y * P.src_w + 2u * x) * P.c + ch;
        let row = P.src_w * P.c;
        let a = 0.25 * (src[at] + src[at + P.c] + src[at + row] + src[at + row + P.c]);
        dst[i] = a;
        let d = a - target_levels[P.off + i];
        loss = abs(d) * P.loss_factor;
        slopes[P.off + i] = sign(d) * P.slope_factor;
    }
    let sum = workgroup_sum(lid, loss);
    // Past 65,535 workgroups the grid is folded into 2-D and its last row has idle ones: they
    // must not write past this level's sums.
    if (lid == 0u && wg * 256u < P.out_w * P.out_h * P.c) {
        parts[P.part_off + wg] = sum;
    }
}
#endif

#ifdef PYRAMID_GATHER
struct Params {
    w: u32,
    h: u32,
    c: u32,
    levels: u32,
    // Per level l ≥ 1: width, height, offset in `slopes`, log2 of the pixels it averages per side.
    level: array<vec4<u32>, 8>,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> slopes: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = linear_workgroup(wid, nwg) * 256u + lid;
    if (i >= P.w * P.h * P.c) {
        return;
    }
    let ch = i % P.c;
    let p = i / P.c;
    let x = p % P.w;
    let y = p / P.w;
    var g = grad[i];
    for (var l = 0u; l < P.levels; l++) {
        let L = P.level[l];
        let lx = x >> L.w;
        let ly = y >> L.w;
        if (lx < L.x && ly < L.y) {
            g += slopes[L.z + (ly * L.x + lx) * P.c + ch];
        }
    }
    grad[i] = g;
}
#endif

#ifdef TV
struct Params {
    w: u32,
    h: u32,
    // Layers ≥ this count (and every pixel when `masked` is 0) take no part in the layered term.
    layer_count: u32,
    masked: u32,
    unit: f32,
    _pad0: u32,
    // Loss weight per pair of the plain and the layered term, along x and along y.
    plain: vec2<f32>,
    layered: vec2<f32>,
    _pad1: vec2<u32>,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> depth_sum: array<f32>;
@group(0) @binding(2) var<storage, read> alpha: array<f32>;
@group(0) @binding(3) var<storage, read> layers: array<u32>;
@group(0) @binding(4) var<storage, read_write> grad_depth: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad_alpha: array<f32>;
@group(0) @binding(6) var<storage, read_write> parts: array<f32>;

const NO_LAYER: u32 = 0xffffffffu;

fn depth_of(p: u32) -> f32 {
    return depth_sum[p] / ((alpha[p] + 1e-6) * P.unit);
}

fn disparity(p: u32) -> f32 {
    return 1.0 / (depth_of(p) + 1.0);
}

fn layer(p: u32) -> u32 {
    let l = layers[p];
    return select(NO_LAYER, l, P.masked != 0u && l < P.layer_count);
}

// The pair (a, b) along `dir` (0: x, 1: y): its loss and its gradients on the disparities of a
// and b. Within one layer the layered copy differs by the same difference; across layers (or
// where one pixel is in no layer) each pixel of a layer meets zero in its own copy.
fn pair(a: u32, b: u32, dir: u32) -> vec3<f32> {
    let da = disparity(a);
    let db = disparity(b);
    let diff = db - da;
    let s = sign(diff);
    let w = P.plain[dir];
    var r = vec3<f32>(w * abs(diff), -w * s, w * s);
    let c = P.layered[dir];
    let la = layer(a);
    let lb = layer(b);
    if (la != NO_LAYER && la == lb) {
        r += vec3<f32>(c * abs(diff), -c * s, c * s);
    } else {
        if (la != NO_LAYER) {
            r.x += c * abs(da);
            r.y += c * sign(da);
        }
        if (lb != NO_LAYER) {
            r.x += c * abs(db);
            r.z += c * sign(db);
        }
    }
    return r;
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let wg = linear_workgroup(wid, nwg);
    let p = wg * 256u + lid;
    var loss = 0.0;
    if (p < P.w * P.h) {
        let x = p % P.w;
        let y = p / P.w;
        // Pairs where p is the first pixel carry the loss; the others only the gradient.
        var g = 0.0;
        if (x + 1u < P.w) {
            let r = pair(p, p + 1u, 0u);
            loss += r.x;
            g += r.y;
        }
        if (y + 1u < P.h) {
            let r = pair(p, p + P.w, 1u);
            loss += r.x;
            g += r.y;
        }
        if (x > 0u) {
            g += pair(p - 1u, p, 0u).z;
        }
        if (y > 0u) {
            g += pair(p - P.w, p, 1u).z;
        }
        // δ = 1/(d+1), d = D/((A+ε)·unit).
        let d = depth_of(p);
        let g_d = -g / ((d + 1.0) * (d + 1.0));
        let inv = 1.0 / (alpha[p] + 1e-6);
        grad_depth[p] = g_d * inv / P.unit;
        grad_alpha[p] = -(g_d * depth_sum[p] * inv * inv / P.unit);
    }
    let sum = workgroup_sum(lid, loss);
    if (lid == 0u && wg * 256u < P.w * P.h) {
        parts[wg] = sum;
    }
}
#endif
