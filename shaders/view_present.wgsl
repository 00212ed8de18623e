// The viewer's display pass: turns a render (colour, alpha, depth buffers of
// kiln_splat::SplatRenderer, or the interleaved per-ray outputs of kiln_voxel's marcher) into an
// 8-bit RGBA texture that egui shows. The host reference is
// kiln_viewer::present::present_reference; keep the two in step.
//
// Layout: pixel i's colour starts at color[i * color_stride], its alpha is
// alpha[i * alpha_stride + alpha_offset] and its depth depth[i * depth_stride + depth_offset];
// splats use separate planar buffers (strides channels, 1, 1), voxels bind one buffer three
// times (stride 5: rgb, depth, alpha).
//
// Modes: 0 colour (the render's first three channels, background already composited),
//        1 depth (expected depth / alpha, near bright → far dark, over `range`; black where
//          alpha < 1e-3), 2 alpha (grey level = alpha).
#include "common.wgsl"

struct Present {
    width: u32,
    height: u32,
    channels: u32,      // colour channels present (≥ 1)
    mode: u32,
    range: vec2<f32>,   // depth shown as [near, far]
    color_stride: u32,
    alpha_stride: u32,
    alpha_offset: u32,
    depth_stride: u32,
    depth_offset: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Present;
@group(0) @binding(1) var<storage, read> color: array<f32>;
@group(0) @binding(2) var<storage, read> alpha: array<f32>;
@group(0) @binding(3) var<storage, read> depth: array<f32>;
@group(0) @binding(4) var out_tex: texture_storage_2d<rgba8unorm, write>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_workgroup(wid, nwg) * 256u + lid;
    if (i >= p.width * p.height) {
        return;
    }
    var rgb = vec3<f32>(0.0);
    if (p.mode == 0u) {
        let c = i * p.color_stride;
        let g = select(color[c], color[c + 1u], p.channels > 1u);
        let b = select(color[c], color[c + 2u], p.channels > 2u);
        rgb = vec3<f32>(color[c], g, b);
    } else if (p.mode == 1u) {
        let a = alpha[i * p.alpha_stride + p.alpha_offset];
        if (a >= 1e-3) {
            let z = depth[i * p.depth_stride + p.depth_offset] / a;
            let t = clamp((z - p.range.x) / max(p.range.y - p.range.x, 1e-12), 0.0, 1.0);
            rgb = vec3<f32>(1.0 - t);
        }
    } else {
        rgb = vec3<f32>(alpha[i * p.alpha_stride + p.alpha_offset]);
    }
    // Quantize exactly as the host reference (and `kiln render`'s PNG writer) do: ⌊255 v + ½⌋.
    let q = floor(clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0)) * 255.0 + 0.5) / 255.0;
    textureStore(out_tex, vec2<i32>(i32(i % p.width), i32(i / p.width)), vec4<f32>(q, 1.0));
}
