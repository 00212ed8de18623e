// The CoherentGS decoder's convolution, forward: a stride-1 "valid" convolution of an already
// padded input, per view (the batch), plus bias, then LeakyReLU(0.2) when asked:
//
//   out[v, o, y, x] = act(b[v, o] + Σ_{c, ky, kx} W[v, o, c, ky, kx] · in[v, c, y + ky, x + kx])
//
// As a matrix product per view (implicit im2col: the column matrix is never stored):
// M = output pixels, N = output channels, K = C·k². A workgroup of 16 × BN/4 threads computes a
// 64 × BN tile of (pixels × channels), 4×4 per thread, staging 16-deep slices of both operands
// in workgroup memory. BN (16, 32 or 64, a define) follows the channel count, so a narrow stage
// does not compute a 64-wide tile of zeros. Weights and biases are read from the network's flat parameter buffer at
// the stage's offsets; the output has `out_stride` channels per view (the first stage leaves
// two for the coordinate grid). Reference: Burn's conv2d (kiln_nn::ConvDecoder) in the tests.

struct Params {
    cin: u32,
    cout: u32,
    k: u32,
    leaky: u32,
    h: u32,
    w: u32,
    hp: u32,
    wp: u32,
    w_off: u32,
    b_off: u32,
    out_stride: u32,
    _pad: u32,
}

const BM: u32 = 64u;
const BN: u32 = {{BN}}u;
const BK: u32 = 16u;
const TN: u32 = BN / 4u;
const THREADS: u32 = 16u * TN;

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> output: array<f32>;

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
    let m_count = P.h * P.w;
    let taps = P.k * P.k;
    let k_count = P.cin * taps;
    let in_base = v * P.cin * P.hp * P.wp;
    let w_base = P.w_off + v * P.cout * k_count;
    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < k_count; k0 += BK) {
        for (var q = 0u; q < BM * BK / THREADS; q++) {
            let e = li + THREADS * q;
            // Input slice: consecutive threads take consecutive pixels (coalesced rows).
            let m = m0 + e % BM;
            let ka = k0 + e / BM;
            var a = 0.0;
            if (m < m_count && ka < k_count) {
                let c = ka / taps;
                let r = ka % taps;
                let y = m / P.w + r / P.k;
                let x = m % P.w + r % P.k;
                a = input[in_base + (c * P.hp + y) * P.wp + x];
            }
            a_tile[e] = a;
        }
        for (var q = 0u; q < 4u; q++) {
            // Weight slice: consecutive threads take consecutive taps of one output channel.
            let e = li + THREADS * q;
            let n = n0 + e / BK;
            let kb = k0 + e % BK;
            var b = 0.0;
            if (n < P.cout && kb < k_count) {
                b = params[w_base + n * k_count + kb];
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
        if (n >= P.cout) {
            continue;
        }
        let bias = params[P.b_off + v * P.cout + n];
        let out_base = (v * P.out_stride + n) * m_count;
        for (var i = 0u; i < 4u; i++) {
            let m = m0 + l.x + 16u * i;
            if (m < m_count) {
                var y = acc[i * 4u + j] + bias;
                if (P.leaky != 0u && y < 0.0) {
                    y = 0.2 * y;
                }
                output[out_base + m] = y;
            }
        }
    }
}
