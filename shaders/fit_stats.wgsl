// Densification statistics, accumulated after every backward pass (3DGS / gsplat's default
// strategy): per Gaussian seen in this view, the norm of dL/d(mean2d) in NDC units
// (pixel gradient × half the image size per axis), a view count, and the largest screen
// radius (3σ of the blurred 2D covariance, pixels).
#include "common.wgsl"

struct Stats {
    n: u32,
    _pad: u32,
    half_size: vec2<f32>, // width / 2, height / 2
}

@group(0) @binding(0) var<uniform> st: Stats;
@group(0) @binding(1) var<storage, read> splat_grads: array<f32>;   // 8 per splat
@group(0) @binding(2) var<storage, read> tile_counts: array<u32>;
@group(0) @binding(3) var<storage, read> splats: array<vec4<f32>>;  // 2 per splat
@group(0) @binding(4) var<storage, read_write> grad_accum: array<f32>;
@group(0) @binding(5) var<storage, read_write> view_count: array<f32>;
@group(0) @binding(6) var<storage, read_write> max_radius: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_workgroup(wid, nwg) * 256u + lid;
    if (i >= st.n || tile_counts[i] == 0u) {
        return;
    }
    let g = vec2<f32>(splat_grads[8u * i], splat_grads[8u * i + 1u]) * st.half_size;
    grad_accum[i] += length(g);
    view_count[i] += 1.0;
    // Conic (A, B, C) → covariance eigenvalues: λ = 1 / eigenvalues of the conic.
    let A = splats[2u * i].z;
    let B = splats[2u * i].w;
    let C = splats[2u * i + 1u].x;
    let mid = 0.5 * (A + C);
    let disc = sqrt(max(0.0, mid * mid - (A * C - B * B)));
    let conic_min = max(mid - disc, 1e-12);
    max_radius[i] = max(max_radius[i], 3.0 * sqrt(1.0 / conic_min));
}
