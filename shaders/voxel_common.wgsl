// Shared by the voxel ray-marching kernels (kiln-voxel, docs/VOXE.md has the math).
//
// A dense grid of values at grid points spanning the box [bbox_min, bbox_max]; point (i, j, k)
// sits at bbox_min + (i, j, k) / (dims − 1) · extent. Per point: one raw density and three
// colour features (SH degree 0). A sample at p interpolates trilinearly; σ = softplus(raw · scale),
// colour = sigmoid(features). Samples outside the box contribute nothing.
// The CPU reference is kiln_voxel::reference, which follows this file step by step.

#include "common.wgsl"

struct MarchParams {
    // grid points per axis (x, y, z), number of rays in this dispatch
    dims: vec4<u32>,
    // xyz: box minimum, w: density scale
    bbox_min: vec4<f32>,
    // xyz: box maximum, w: world-space step between samples
    bbox_max: vec4<f32>,
    // rgb: background colour, w: transmittance below which a ray stops
    background: vec4<f32>,
    // x: seed, y: jitter on (1) or sample at segment centres (0), z: most samples per ray,
    // w: skip cells the occupancy mask marks empty (1)
    misc: vec4<u32>,
    // x: index of this dispatch's first ray (jitter hashes use the global index)
    misc2: vec4<u32>,
}

fn pcg_hash(v: u32) -> u32 {
    let s = v * 747796405u + 2891336453u;
    let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}

// Jitter in [0, 1) of sample `i` of ray `ray` (identical on the CPU, see reference::jitter).
fn jitter01(seed: u32, ray: u32, i: u32) -> f32 {
    let h = pcg_hash(pcg_hash(pcg_hash(seed) ^ ray) ^ i);
    return f32(h >> 8u) / 16777216.0;
}

fn softplus(x: f32) -> f32 {
    if (x > 20.0) {
        return x;
    }
    return log(1.0 + exp(x));
}

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// Ray segment inside the box (t ≥ 0); empty when .y ≤ .x.
fn box_segment(P: MarchParams, o: vec3<f32>, d: vec3<f32>) -> vec2<f32> {
    let inv = 1.0 / d;
    let a = (P.bbox_min.xyz - o) * inv;
    let b = (P.bbox_max.xyz - o) * inv;
    let lo = min(a, b);
    let hi = max(a, b);
    let t0 = max(max(max(lo.x, lo.y), lo.z), 0.0);
    let t1 = min(min(hi.x, hi.y), hi.z);
    return vec2<f32>(t0, t1);
}

// Where a point falls: the cell's first grid point, the eight corner indices and weights.
struct Cell {
    inside: bool,
    base: u32,
    idx: array<u32, 8>,
    w: array<f32, 8>,
}

fn locate(P: MarchParams, p: vec3<f32>) -> Cell {
    var c: Cell;
    let n = P.dims.xyz;
    let u = (p - P.bbox_min.xyz) / (P.bbox_max.xyz - P.bbox_min.xyz) * vec3<f32>(n - vec3<u32>(1u));
    let nm1 = vec3<f32>(n - vec3<u32>(1u));
    c.inside = all(u >= vec3<f32>(0.0)) && all(u <= nm1);
    if (!c.inside) {
        return c;
    }
    let i0 = min(vec3<u32>(floor(u)), n - vec3<u32>(2u));
    let f = u - vec3<f32>(i0);
    c.base = i0.x + n.x * (i0.y + n.y * i0.z);
    let sx = 1u;
    let sy = n.x;
    let sz = n.x * n.y;
    for (var k = 0u; k < 8u; k++) {
        let bx = k & 1u;
        let by = (k >> 1u) & 1u;
        let bz = (k >> 2u) & 1u;
        c.idx[k] = c.base + bx * sx + by * sy + bz * sz;
        let wx = select(1.0 - f.x, f.x, bx == 1u);
        let wy = select(1.0 - f.y, f.y, by == 1u);
        let wz = select(1.0 - f.z, f.z, bz == 1u);
        c.w[k] = wx * wy * wz;
    }
    return c;
}
