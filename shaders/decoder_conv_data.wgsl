// The decoder convolution's backward to its (padded) input:
//
//   d_in[v, c, Y, X] = Σ_{o, ky, kx} W[v, o, c, ky, kx] · g[v, o, Y − ky, X − kx]
//
// with g the gradient at the convolution's output (LeakyReLU's backward already applied) and
// zero outside it. A matrix product per view with M = padded input pixels, N = input
// channels, K = O·k², tiled as decoder_conv.wgsl (64 × BN per workgroup, 4×4 per thread; BN
// follows the input channels).
// Reference: Burn's autodiff of ConvDecoder in the tests.

struct Params {
    cin: u32,
    cout: u32,
    k: u32,
    _pad0: u32,
    h: u32,
    w: u32,
    hp: u32,
    wp: u32,
    w_off: u32,
    g_stride: u32,
    _pad1: u32,
    _pad2: u32,
}

const BM: u32 = 64u;
const BN: u32 = {{BN}}u;
const BK: u32 = 16u;
const TN: u32 = BN / 4u;
const THREADS: u32 = 16u * TN;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_in: array<f32>;

var<workgroup> a_tile: array<f32, 1024>; // [BK][BM]
var<workgroup> b_tile: array<f32, {{BN}} * 16>; // [BK][BN]

@compute @workgroup_size(16, {{BN}} / 4)
fn main(
    @builtin(local_invocation_id) l: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let v = wid.z;
    let m0 = wid.x * BM;
    let n0 = wid.y * BN;
    let m_count = P.hp * P.wp;
    let out_pixels = P.h * P.w;
    let taps = P.k * P.k;
    let k_count = P.cout * taps;
    let g_base = v * P.g_stride * out_pixels;
    let w_base = P.w_off + v * P.cout * P.cin * taps;
    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < k_count; k0 += BK) {
        for (var q = 0u; q < BM * BK / THREADS; q++) {
            let e = li + THREADS * q;
            let m = m0 + e % BM;
            let ka = k0 + e / BM;
            var a = 0.0;
            if (m < m_count && ka < k_count) {
                let o = ka / taps;
                let r = ka % taps;
                // Output pixel (Y − ky, X − kx), as signed values: taps past the border read 0.
                let y = i32(m / P.wp) - i32(r / P.k);
                let x = i32(m % P.wp) - i32(r % P.k);
                if (y >= 0 && y < i32(P.h) && x >= 0 && x < i32(P.w)) {
                    a = grad_out[g_base + o * out_pixels + u32(y) * P.w + u32(x)];
                }
            }
            a_tile[e] = a;
        }
        for (var q = 0u; q < 4u; q++) {
            // W[v, o, n, tap] for K index (o, tap) and input channel n.
            let e = li + THREADS * q;
            let n = n0 + e / BK;
            let kb = k0 + e % BK;
            var b = 0.0;
            if (n < P.cin && kb < k_count) {
                b = params[w_base + ((kb / taps) * P.cin + n) * taps + kb % taps];
            }
            b_tile[(e % BK) * BN + e / BK] = b;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = a_tile[kk * BM + l.x + 16u * i];
                bv[i] = b_tile[kk * BN + l.y + TN * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] += av[i] * bv[j];
                }
            }
        }
        workgroupBarrier();
    }
    for (var j = 0u; j < 4u; j++) {
        let n = n0 + l.y + TN * j;
        if (n >= P.cin) {
            continue;
        }
        let base = (v * P.cin + n) * m_count;
        for (var i = 0u; i < 4u; i++) {
            let m = m0 + l.x + 16u * i;
            if (m < m_count) {
                grad_in[base + m] = acc[i * 4u + j];
            }
        }
    }
}
