// The decoder convolution's weight and bias gradients, one band of output pixels per
// workgroup layer (split-K: a full-size image has ~190,000 pixels to reduce into a few
// thousand weights, which a GPU only fills when the pixels are cut into bands):
//
//   part_w[v, s, o, c·k² + tap] = Σ_{p in band s} g[v, o, p] · in[v, c, y(p) + ky, x(p) + kx]
//   part_b[v, s, o]             = Σ_{p in band s} g[v, o, p]
//
// decoder_reduce.wgsl then sums the bands into the gradient buffer. A workgroup of BM/4 × 16
// threads computes BM output channels × 64 (c, tap) columns, 4×4 per thread (adjacent channels
// × adjacent columns, one vec4 read each from workgroup memory), over 16-pixel
// slices; BM (16, 32 or 64, a define) follows the output channels. The bias sums come from
// the workgroups of the first column tile.
// Reference: Burn's autodiff of ConvDecoder in the tests.

struct Params {
    cin: u32,
    cout: u32,
    k: u32,
    bands: u32,
    h: u32,
    w: u32,
    hp: u32,
    wp: u32,
    band_pixels: u32,
    g_stride: u32,
    _pad0: u32,
    _pad1: u32,
}

const BM: u32 = {{BN}}u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const TM: u32 = BM / 4u;
const THREADS: u32 = 16u * TM;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read> input: array<f32>;
@group(0) @binding(3) var<storage, read_write> part_w: array<f32>;
@group(0) @binding(4) var<storage, read_write> part_b: array<f32>;

var<workgroup> g_tile: array<vec4<f32>, {{BN}} * 4>; // [BK pixels][BM / 4 output channels]
var<workgroup> x_tile: array<vec4<f32>, 256>; // [BK pixels][BN / 4 columns]
// Input offsets of the tile's columns (c·hp·wp + ky·wp + kx) and of the slice's pixels
// (y·wp + x), computed once each so that the loads do no integer division. NONE marks a
// column or pixel past the end.
var<workgroup> n_off: array<u32, 64>;
var<workgroup> p_off: array<u32, 16>;
const NONE: u32 = 0xffffffffu;

@compute @workgroup_size({{BN}} / 4, 16)
fn main(
    @builtin(local_invocation_id) l: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let v = wid.z / P.bands;
    let s = wid.z % P.bands;
    let o0 = wid.x * BM;
    let n0 = wid.y * BN;
    let pixels = P.h * P.w;
    let p_begin = s * P.band_pixels;
    let p_end = min(p_begin + P.band_pixels, pixels);
    let taps = P.k * P.k;
    let n_count = P.cin * taps;
    let g_base = v * P.g_stride * pixels;
    let in_base = v * P.cin * P.hp * P.wp;
    let sums_bias = wid.y == 0u && l.y == 0u;
    let li = l.x + TM * l.y;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    // Σ g over the band for this thread's four output channels (kept by the first column tile).
    var bias = vec4<f32>(0.0);
    if (li < BN) {
        let n = n0 + li;
        let r = n % taps;
        n_off[li] = select(NONE, (n / taps) * P.hp * P.wp + (r / P.k) * P.wp + r % P.k, n < n_count);
    }
    for (var p0 = p_begin; p0 < p_end; p0 += BK) {
        if (li < BK) {
            let p = p0 + li;
            p_off[li] = select(NONE, (p / P.w) * P.wp + p % P.w, p < p_end);
        }
        workgroupBarrier();
        for (var q = 0u; q < 4u; q++) {
            let e = li + THREADS * q;
            // Consecutive threads take consecutive pixels of one channel / one column.
            let p = p0 + e % BK;
            let o = o0 + e / BK;
            var g = 0.0;
            if (p < p_end && o < P.cout) {
                g = grad_out[g_base + o * pixels + p];
            }
            let ol = e / BK;
            g_tile[(e % BK) * TM + ol / 4u][ol % 4u] = g;
        }
        for (var q = 0u; q < BN * BK / THREADS; q++) {
            let e = li + THREADS * q;
            let po = p_off[e % BK];
            let no = n_off[e / BK];
            var x = 0.0;
            if (po != NONE && no != NONE) {
                x = input[in_base + no + po];
            }
            let nl = e / BK;
            x_tile[(e % BK) * 16u + nl / 4u][nl % 4u] = x;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            // Four output channels × four columns per thread, as four vec4 rows in registers.
            let x = x_tile[kk * 16u + l.y];
            let g = g_tile[kk * TM + l.x];
            acc0 += g.x * x;
            acc1 += g.y * x;
            acc2 += g.z * x;
            acc3 += g.w * x;
            bias += g;
        }
        workgroupBarrier();
    }
    let part = v * P.bands + s;
    let o = o0 + 4u * l.x;
    let n = n0 + 4u * l.y;
    store(part, o, n, acc0);
    store(part, o + 1u, n, acc1);
    store(part, o + 2u, n, acc2);
    store(part, o + 3u, n, acc3);
    if (sums_bias) {
        for (var i = 0u; i < 4u; i++) {
            if (o + i < P.cout) {
                part_b[part * P.cout + o + i] = bias[i];
            }
        }
    }
}

// Band `part`, output channel o, columns n … n + 3.
fn store(part: u32, o: u32, n: u32, row: vec4<f32>) {
    let n_count = P.cin * P.k * P.k;
    if (o >= P.cout) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        let c = n + j;
        if (c < n_count) {
            part_w[(part * P.cout + o) * n_count + c] = row[j];
        }
    }
}
