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

#include "decoder_tile.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> grad_out: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_in: array<f32>;

// Per tile pixel its (Y, X) as Y·65536 + X; per K index of the slice its output channel's
// gradient offset, its (ky, kx) as ky·65536 + kx, and its weight offset: computed once each,
// so that the loads do no integer division. NONE marks a row or column past the end.
var<workgroup> m_pos: array<u32, 64>;
var<workgroup> k_grad: array<u32, 16>;
var<workgroup> k_tap: array<u32, 16>;
var<workgroup> k_weight: array<u32, 16>;

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
    var acc = Block(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    if (li < BM) {
        let m = m0 + li;
        m_pos[li] = select(NONE, (m / P.wp) * 65536u + m % P.wp, m < m_count);
    }
    for (var k0 = 0u; k0 < k_count; k0 += BK) {
        if (li < BK) {
            let ka = k0 + li;
            let o = ka / taps;
            let r = ka % taps;
            let valid = ka < k_count;
            k_grad[li] = select(NONE, o * out_pixels, valid);
            k_tap[li] = (r / P.k) * 65536u + r % P.k;
            k_weight[li] = o * P.cin * taps + r;
        }
        workgroupBarrier();
        for (var q = 0u; q < BM * BK / THREADS; q++) {
            let e = li + THREADS * q;
            let pos = m_pos[e % BM];
            let kl = e / BM;
            let go = k_grad[kl];
            var a = 0.0;
            if (pos != NONE && go != NONE) {
                // Output pixel (Y − ky, X − kx), as signed values: taps past the border read 0.
                let tap = k_tap[kl];
                let y = i32(pos >> 16u) - i32(tap >> 16u);
                let x = i32(pos & 0xffffu) - i32(tap & 0xffffu);
                if (y >= 0 && y < i32(P.h) && x >= 0 && x < i32(P.w)) {
                    a = grad_out[g_base + go + u32(y) * P.w + u32(x)];
                }
            }
            put_a(e, a);
        }
        for (var q = 0u; q < 4u; q++) {
            // W[v, o, n, tap] for K index (o, tap) and input channel n.
            let e = li + THREADS * q;
            let n = n0 + e / BK;
            let kl = e % BK;
            var b = 0.0;
            if (n < P.cin && k_grad[kl] != NONE) {
                b = params[w_base + k_weight[kl] + n * taps];
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

// Padded input pixel m, channels n … n + 3.
fn store(v: u32, m: u32, n: u32, row: vec4<f32>) {
    let m_count = P.hp * P.wp;
    if (m >= m_count) {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        let c = n + j;
        if (c < P.cin) {
            grad_in[(v * P.cin + c) * m_count + m] = row[j];
        }
    }
}
