// The decoder convolution's weight and bias gradients, one band of output pixels per
// workgroup layer (split-K: a full-size image has ~190,000 pixels to reduce into a few
// thousand weights, which a GPU only fills when the pixels are cut into bands):
//
//   part_w[v, s, o, c·k² + tap] = Σ_{p in band s} g[v, o, p] · in[v, c, y(p) + ky, x(p) + kx]
//   part_b[v, s, o]             = Σ_{p in band s} g[v, o, p]
//
// decoder_reduce.wgsl then sums the bands into the gradient buffer. A workgroup of BM/4 × 16
// threads computes BM output channels × 64 (c, tap) columns, 4×4 per thread, over 16-pixel
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

var<workgroup> g_tile: array<f32, {{BN}} * 16>; // [BK pixels][BM output channels]
var<workgroup> x_tile: array<f32, 1024>; // [BK pixels][BN columns]

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
    var acc: array<f32, 16>;
    var bias: array<f32, 4>;
    for (var p0 = p_begin; p0 < p_end; p0 += BK) {
        for (var q = 0u; q < 4u; q++) {
            let e = li + THREADS * q;
            // Consecutive threads take consecutive pixels of one channel / one column.
            let p = p0 + e % BK;
            let o = o0 + e / BK;
            var g = 0.0;
            if (p < p_end && o < P.cout) {
                g = grad_out[g_base + o * pixels + p];
            }
            g_tile[(e % BK) * BM + e / BK] = g;
        }
        for (var q = 0u; q < BN * BK / THREADS; q++) {
            let e = li + THREADS * q;
            let p = p0 + e % BK;
            let n = n0 + e / BK;
            var x = 0.0;
            if (p < p_end && n < n_count) {
                let c = n / taps;
                let r = n % taps;
                let y = p / P.w + r / P.k;
                let xx = p % P.w + r % P.k;
                x = input[in_base + (c * P.hp + y) * P.wp + xx];
            }
            x_tile[(e % BK) * BN + e / BK] = x;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var gv: array<f32, 4>;
            var xv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                gv[i] = g_tile[kk * BM + l.x + TM * i];
                xv[i] = x_tile[kk * BN + l.y + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] += gv[i] * xv[j];
                }
            }
            if (sums_bias) {
                for (var i = 0u; i < 4u; i++) {
                    bias[i] += gv[i];
                }
            }
        }
        workgroupBarrier();
    }
    let part = v * P.bands + s;
    for (var i = 0u; i < 4u; i++) {
        let o = o0 + l.x + TM * i;
        if (o >= P.cout) {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let n = n0 + l.y + 16u * j;
            if (n < n_count) {
                part_w[(part * P.cout + o) * n_count + n] = acc[i * 4u + j];
            }
        }
        if (sums_bias) {
            part_b[part * P.cout + o] = bias[i];
        }
    }
}
