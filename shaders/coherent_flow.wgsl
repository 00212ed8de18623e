// CoherentGS's flow loss for one ordered pair of training views (i → j), on the GPU. Every
// pixel p of view i whose flow mask m is positive compares its Gaussian's world position X_i[p]
// with view j's positions sampled bilinearly at p + F(p):
//
//   d = (bilinear(X_j, p + F(p)) − X_i[p]) · m,     loss_p = (|d.x| + |d.y| + |d.z|) · norm
//
// with norm = 1 / (3·w·h·unit) (PyTorch's L1 mean, in the method's scene unit). It adds
// weight · dL/dX into the position-gradient buffer: −g at X_i[p], +g·t at the four taps of X_j,
// g = sign(d) · m · norm (float atomics, or a CAS loop). A correspondence outside view j counts
// as masked. Each workgroup writes its loss sum to `loss_parts`. CPU reference:
// kiln_fit::coherent::losses::flow_loss (finite-difference tested); the test compares them.

#include "common.wgsl"

struct Params {
    width: u32,
    height: u32,
    first_i: u32,
    first_j: u32,
    norm: f32,
    weight: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> means: array<f32>;
// Per pixel of view i: flow x, flow y, mask.
@group(0) @binding(2) var<storage, read> flow: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss_parts: array<f32>;

#ifdef FLOAT_ATOMICS
@group(0) @binding(3) var<storage, read_write> grad: array<atomic<f32>>;
fn add_grad(i: u32, v: f32) {
    atomicAdd(&grad[i], v);
}
#else
@group(0) @binding(3) var<storage, read_write> grad: array<atomic<u32>>;
fn add_grad(i: u32, v: f32) {
    var old = atomicLoad(&grad[i]);
    loop {
        let r = atomicCompareExchangeWeak(&grad[i], old, bitcast<u32>(bitcast<f32>(old) + v));
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}
#endif

fn position(i: u32) -> vec3<f32> {
    return vec3<f32>(means[3u * i], means[3u * i + 1u], means[3u * i + 2u]);
}

fn add_position_grad(i: u32, g: vec3<f32>) {
    add_grad(3u * i, g.x);
    add_grad(3u * i + 1u, g.y);
    add_grad(3u * i + 2u, g.z);
}

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let wg = linear_workgroup(wid, nwg);
    let p = wg * 256u + lid;
    let w = P.width;
    let h = P.height;
    var loss = 0.0;
    if (p < w * h) {
        let m = flow[3u * p + 2u];
        let sx = f32(p % w) + flow[3u * p];
        let sy = f32(p / w) + flow[3u * p + 1u];
        if (m > 0.0 && sx >= 0.0 && sy >= 0.0 && sx <= f32(w - 1u) && sy <= f32(h - 1u)) {
            // The taps as the reference takes them: the cell's corner clamped so that the last
            // row and column sample with weight 1 on the far tap.
            let x0 = min(u32(floor(sx)), u32(max(i32(w) - 2, 0)));
            let y0 = min(u32(floor(sy)), u32(max(i32(h) - 2, 0)));
            let x1 = min(x0 + 1u, w - 1u);
            let y1 = min(y0 + 1u, h - 1u);
            let fx = sx - f32(x0);
            let fy = sy - f32(y0);
            let t = vec4<f32>((1.0 - fx) * (1.0 - fy), fx * (1.0 - fy), (1.0 - fx) * fy, fx * fy);
            let taps = vec4<u32>(y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1);
            let j = P.first_j;
            let v = position(j + taps.x) * t.x + position(j + taps.y) * t.y + position(j + taps.z) * t.z + position(j + taps.w) * t.w;
            let d = (v - position(P.first_i + p)) * m;
            loss = (abs(d.x) + abs(d.y) + abs(d.z)) * P.norm;
            let g = sign(d) * (m * P.norm * P.weight);
            add_position_grad(P.first_i + p, -g);
            for (var k = 0u; k < 4u; k++) {
                add_position_grad(j + taps[k], g * t[k]);
            }
        }
    }
    partial[lid] = loss;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        loss_parts[wg] = partial[0];
    }
}
