// Image loss L = (1 − λ)·L1 + λ·(1 − SSIM) and its gradient. Driven by kiln_splat::loss::ImageLoss,
// which documents the math; the CPU reference (f64) is kiln_splat::loss::reference.
//
// Images are H×W×C f32, interleaved, row-major. SSIM per channel with a separable Gaussian
// window (TAPS = 2R + 1 taps, zero padding "same", as F.conv2d with padding = R), mean over all
// pixels and channels. One 16×16 workgroup per 16×16 tile of pixels, channels in turn:
//
// forward:  load the (16 + 2R)² halo of image and target into workgroup memory, filter the rows
//           (5 quantities: μx, μy, E[x²], E[y²], E[xy]), then the columns; per pixel the SSIM
//           map S and, with GRAD, the three partial derivatives of S with respect to μx, E[x²]
//           and E[xy], written as planes of `dmap`. Per tile: Σ(1 − S), Σ|x − y|, Σ(x − y)²
//           into `partials` (a workgroup tree reduction; no atomics).
// reduce:   one workgroup sums the per-tile partials in a fixed order and writes
//           values = [loss, L1, SSIM, MSE].
// backward: the adjoint of the window is the same window (symmetric, zero padding), so
//           dL/dx = (1 − λ)/N·sign(x − y) − λ/N·(G∗Dμ + 2x·G∗Dxx + y·G∗Dxy), filtering the three
//           dmap planes with the same halo scheme.
//
// Defines: RADIUS, TAPS (= 2·RADIUS + 1; the weights are in the uniform), and FORWARD (+ GRAD), REDUCE or
// BACKWARD to pick the entry point's bindings.

#include "common.wgsl"

const TS: u32 = 16u;
const R: u32 = {{RADIUS}}u;
const TAPS: u32 = {{TAPS}}u;
const HS: u32 = TS + 2u * R;
const HALO: u32 = HS * HS;
const ROWS: u32 = HS * TS;

struct Params {
    width: u32,
    height: u32,
    channels: u32,
    tiles_x: u32,
    num_tiles: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    // 1 / (width · height · channels)
    inv_n: f32,
    // λ, the weight of the SSIM term
    ssim_weight: f32,
    c1: f32,
    c2: f32,
    // The normalized 1-D window, TAPS ≤ 31 weights packed in vec4s. A uniform rather than a
    // const array: dynamically indexed const arrays may become per-thread local-memory copies,
    // whereas uniform reads are constant-cache reads (immediates once the tap loop unrolls).
    window: array<vec4<f32>, 8>,
}

// Halo element i of the tile at (tx0, ty0): the image pixel it reads, clamped into the image,
// and whether it lies inside (z = 1; outside, the halo holds zero — "same" zero padding). The
// load is unconditional at the clamped pixel and selected: a load under the bounds branch with
// signed coordinates made Mesa 22.3's lavapipe keep ~31 KB per workgroup on every dispatch
// (long CPU fits ran out of memory; session 12).
fn halo_pixel(tx0: u32, ty0: u32, i: u32) -> vec3<u32> {
    let hx = tx0 + i % HS;
    let hy = ty0 + i / HS;
    let inside = hx >= R && hy >= R && hx - R < P.width && hy - R < P.height;
    let gx = min(max(hx, R) - R, P.width - 1u);
    let gy = min(max(hy, R) - R, P.height - 1u);
    return vec3<u32>(gx, gy, select(0u, 1u, inside));
}

fn gw(k: u32) -> f32 {
    return P.window[k >> 2u][k & 3u];
}

@group(0) @binding(0) var<uniform> P: Params;

#ifdef FORWARD
@group(0) @binding(1) var<storage, read> img: array<f32>;
@group(0) @binding(2) var<storage, read> tgt: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<vec4<f32>>;
#ifdef GRAD
// Planes (c·3 + q)·H·W + pixel, q: ∂S/∂μx, ∂S/∂E[x²], ∂S/∂E[xy].
@group(0) @binding(4) var<storage, read_write> dmap: array<f32>;
#endif

var<workgroup> sx: array<f32, HALO>;
var<workgroup> sy: array<f32, HALO>;
// Row-filtered quantities, 5 × (HS rows × TS columns); reused for the tile reduction.
var<workgroup> hb: array<f32, 5u * ROWS>;

@compute @workgroup_size(16, 16)
fn forward(
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let tile = linear_workgroup(wid, nwg);
    if (tile >= P.num_tiles) {
        return;
    }
    let tx0 = (tile % P.tiles_x) * TS;
    let ty0 = (tile / P.tiles_x) * TS;
    let px = tx0 + lid3.x;
    let py = ty0 + lid3.y;
    let inside = px < P.width && py < P.height;
    let pix = py * P.width + px;
    let hw = P.width * P.height;
    var acc = vec3<f32>(0.0);
    for (var c = 0u; c < P.channels; c++) {
        // Halo of image and target, zero outside the image.
        for (var i = lid; i < HALO; i += 256u) {
            let h = halo_pixel(tx0, ty0, i);
            let j = (h.y * P.width + h.x) * P.channels + c;
            sx[i] = select(0.0, img[j], h.z != 0u);
            sy[i] = select(0.0, tgt[j], h.z != 0u);
        }
        workgroupBarrier();
        // Filter along rows: HS rows × TS output columns.
        for (var i = lid; i < ROWS; i += 256u) {
            let base = (i / TS) * HS + i % TS;
            var s = vec4<f32>(0.0);
            var sxy = 0.0;
            for (var k = 0u; k < TAPS; k++) {
                let w = gw(k);
                let a = sx[base + k];
                let b = sy[base + k];
                s += w * vec4<f32>(a, b, a * a, b * b);
                sxy += w * (a * b);
            }
            hb[i] = s.x;
            hb[ROWS + i] = s.y;
            hb[2u * ROWS + i] = s.z;
            hb[3u * ROWS + i] = s.w;
            hb[4u * ROWS + i] = sxy;
        }
        workgroupBarrier();
        if (inside) {
            // Filter along columns.
            var s = vec4<f32>(0.0);
            var exy = 0.0;
            for (var k = 0u; k < TAPS; k++) {
                let w = gw(k);
                let j = (lid3.y + k) * TS + lid3.x;
                s += w * vec4<f32>(hb[j], hb[ROWS + j], hb[2u * ROWS + j], hb[3u * ROWS + j]);
                exy += w * hb[4u * ROWS + j];
            }
            let mx = s.x;
            let my = s.y;
            let vxx = s.z - mx * mx;
            let vyy = s.w - my * my;
            let vxy = exy - mx * my;
            let a1 = 2.0 * mx * my + P.c1;
            let a2 = 2.0 * vxy + P.c2;
            let b1 = mx * mx + my * my + P.c1;
            let b2 = vxx + vyy + P.c2;
            let ssim = (a1 * a2) / (b1 * b2);
            let ctr = (lid3.y + R) * HS + lid3.x + R;
            let d = sx[ctr] - sy[ctr];
            acc += vec3<f32>(1.0 - ssim, abs(d), d * d);
#ifdef GRAD
            // log S = log A1 + log A2 − log B1 − log B2, with A2 and B2 depending on μx through
            // the variances: ∂S/∂μx, ∂S/∂E[x²], ∂S/∂E[xy].
            let d_mu = 2.0 * ssim * (my * (1.0 / a1 - 1.0 / a2) + mx * (1.0 / b2 - 1.0 / b1));
            let d_xx = -ssim / b2;
            let d_xy = 2.0 * ssim / a2;
            let plane = c * 3u * hw + pix;
            dmap[plane] = d_mu;
            dmap[plane + hw] = d_xx;
            dmap[plane + 2u * hw] = d_xy;
#endif
        }
        workgroupBarrier();
    }
    // Tile sums: a tree over the 256 threads in workgroup memory (fixed order, deterministic).
    hb[lid] = acc.x;
    hb[256u + lid] = acc.y;
    hb[512u + lid] = acc.z;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            hb[lid] += hb[lid + s];
            hb[256u + lid] += hb[256u + lid + s];
            hb[512u + lid] += hb[512u + lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partials[tile] = vec4<f32>(hb[0], hb[256], hb[512], 0.0);
    }
}
#endif

#ifdef REDUCE
@group(0) @binding(1) var<storage, read> partials: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> values: array<f32>;

var<workgroup> red: array<vec4<f32>, 256>;

@compute @workgroup_size(256)
fn reduce(@builtin(local_invocation_index) lid: u32) {
    var s = vec4<f32>(0.0);
    for (var i = lid; i < P.num_tiles; i += 256u) {
        s += partials[i];
    }
    red[lid] = s;
    workgroupBarrier();
    for (var k = 128u; k > 0u; k = k >> 1u) {
        if (lid < k) {
            red[lid] += red[lid + k];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let t = red[0];
        let dssim = t.x * P.inv_n;
        let l1 = t.y * P.inv_n;
        values[0] = (1.0 - P.ssim_weight) * l1 + P.ssim_weight * dssim;
        values[1] = l1;
        values[2] = 1.0 - dssim;
        values[3] = t.z * P.inv_n;
    }
}
#endif

#ifdef BACKWARD
@group(0) @binding(1) var<storage, read> img: array<f32>;
@group(0) @binding(2) var<storage, read> tgt: array<f32>;
@group(0) @binding(3) var<storage, read> dmap: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

var<workgroup> sd: array<f32, 3u * HALO>;
var<workgroup> hd: array<f32, 3u * ROWS>;

@compute @workgroup_size(16, 16)
fn backward(
    @builtin(local_invocation_id) lid3: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let tile = linear_workgroup(wid, nwg);
    if (tile >= P.num_tiles) {
        return;
    }
    let tx0 = (tile % P.tiles_x) * TS;
    let ty0 = (tile / P.tiles_x) * TS;
    let px = tx0 + lid3.x;
    let py = ty0 + lid3.y;
    let inside = px < P.width && py < P.height;
    let hw = P.width * P.height;
    let l1_w = (1.0 - P.ssim_weight) * P.inv_n;
    let ssim_w = -P.ssim_weight * P.inv_n;
    for (var c = 0u; c < P.channels; c++) {
        let base_plane = c * 3u * hw;
        for (var i = lid; i < HALO; i += 256u) {
            let h = halo_pixel(tx0, ty0, i);
            let j = base_plane + h.y * P.width + h.x;
            let v = select(vec3<f32>(0.0), vec3<f32>(dmap[j], dmap[j + hw], dmap[j + 2u * hw]), h.z != 0u);
            sd[i] = v.x;
            sd[HALO + i] = v.y;
            sd[2u * HALO + i] = v.z;
        }
        workgroupBarrier();
        for (var i = lid; i < ROWS; i += 256u) {
            let base = (i / TS) * HS + i % TS;
            var s = vec3<f32>(0.0);
            for (var k = 0u; k < TAPS; k++) {
                let j = base + k;
                s += gw(k) * vec3<f32>(sd[j], sd[HALO + j], sd[2u * HALO + j]);
            }
            hd[i] = s.x;
            hd[ROWS + i] = s.y;
            hd[2u * ROWS + i] = s.z;
        }
        workgroupBarrier();
        if (inside) {
            var s = vec3<f32>(0.0);
            for (var k = 0u; k < TAPS; k++) {
                let j = (lid3.y + k) * TS + lid3.x;
                s += gw(k) * vec3<f32>(hd[j], hd[ROWS + j], hd[2u * ROWS + j]);
            }
            let e = (py * P.width + px) * P.channels + c;
            let a = img[e];
            let b = tgt[e];
            grad[e] = l1_w * sign(a - b) + ssim_w * (s.x + 2.0 * a * s.y + b * s.z);
        }
        workgroupBarrier();
    }
}
#endif
