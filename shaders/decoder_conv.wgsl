// The CoherentGS decoder's convolution, forward: a stride-1 "valid" convolution of an already
// padded input, per view (the batch), plus bias, then LeakyReLU(0.2) when asked:
//
//   out[v, o, y, x] = act(b[v, o] + Σ_{c, ky, kx} W[v, o, c, ky, kx] · in[v, c, y + ky, x + kx])
//
// As a matrix product per view (implicit im2col: the column matrix is never stored):
// M = output pixels, N = output channels, K = C·k². A workgroup of 16 × BN/4 threads computes a
// 64 × BN tile of (pixels × channels), 4×4 per thread (four adjacent pixels × four adjacent
// channels, read from workgroup memory as one vec4 each), staging 16-deep slices of both operands
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

#include "decoder_tile.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> output: array<f32>;

// Input offsets of the tile's pixels (y·wp + x) and of the slice's K indices (c·hp·wp +
// ky·wp + kx), computed once each so that the loads do no integer division (scalarized and
// slow on CPU drivers, a dozen instructions each on a GPU). NONE marks a row or column past
// the end.
var<workgroup> m_off: array<u32, 64>;
var<workgroup> k_off: array<u32, 16>;

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
    var acc = Block(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    if (li < BM) {
        let m = m0 + li;
        m_off[li] = select(NONE, (m / P.w) * P.wp + m % P.w, m < m_count);
    }
    for (var k0 = 0u; k0 < k_count; k0 += BK) {
        if (li < BK) {
            let ka = k0 + li;
            let r = ka % taps;
            k_off[li] = select(NONE, (ka / taps) * P.hp * P.wp + (r / P.k) * P.wp + r % P.k, ka < k_count);
        }
        workgroupBarrier();
        for (var q = 0u; q < BM * BK / THREADS; q++) {
            let e = li + THREADS * q;
            // Input slice: consecutive threads take consecutive pixels (coalesced rows).
            let mo = m_off[e % BM];
            let ko = k_off[e / BM];
            var a = 0.0;
            if (mo != NONE && ko != NONE) {
                a = input[in_base + mo + ko];
            }
            put_a(e, a);
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
            put_b(e, b);
        }
        workgroupBarrier();
        acc = multiply_slices(l.x, l.y, acc);
        workgroupBarrier();
    }
    let m = m0 + 4u * l.x;
    let n = n0 + 4u * l.y;
    store(v, m, n, acc.r0);
    store(v, m + 1u, n, acc.r1);
    store(v, m + 2u, n, acc.r2);
    store(v, m + 3u, n, acc.r3);
}

// Output pixel m, channels n … n + 3: bias, activation, store.
fn store(v: u32, m: u32, n: u32, row: vec4<f32>) {
    let m_count = P.h * P.w;
    if (m >= m_count) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        let c = n + j;
        if (c < P.cout) {
            var y = row[j] + params[P.b_off + v * P.cout + c];
            if (P.leaky != 0u && y < 0.0) {
                y = 0.2 * y;
            }
            output[(v * P.out_stride + c) * m_count + m] = y;
        }
    }
}
