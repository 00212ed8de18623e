// Shared by the optical-flow kernels (flow_*.wgsl, driven by kiln_depth::flow). Images are
// row-major f32 grey maps, flow fields row-major vec2 (u, v) in pixels: pixel p of the first
// image corresponds to p + flow(p) in the second. Pixel (x, y) sits at coordinates (x, y).
// The CPU reference (engine/depth/src/flow/cpu.rs) mirrors every function here.

#include "common.wgsl"

struct FlowParams {
    // Size of the map this dispatch writes.
    width: u32,
    height: u32,
    // Size of the other map it reads (downsample: the finer level; upsample: the coarser).
    other_width: u32,
    other_height: u32,
    // Horn–Schunck smoothness weight α².
    alpha2: f32,
    // Erosion radius (flow_erode).
    radius: u32,
    // Largest change of each flow component within one warp (flow_jacobi), in pixels.
    max_step: f32,
    _pad1: u32,
}

const WG: u32 = 256u;

fn pixel_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return linear_workgroup(wid, nwg) * WG + lid;
}

// The four taps and weights of a bilinear sample at (x, y) on a w×h map, coordinates clamped
// to the map (edge pixels repeat). WGSL cannot pass storage arrays to functions, so each
// kernel reads the taps from its own binding: top = a00 + (a10 − a00)·tx, bottom likewise,
// value = top + (bottom − top)·ty.
struct Taps {
    i00: u32,
    i10: u32,
    i01: u32,
    i11: u32,
    tx: f32,
    ty: f32,
}

fn bilinear_taps(x_in: f32, y_in: f32, w: u32, h: u32) -> Taps {
    let x = clamp(x_in, 0.0, f32(w - 1u));
    let y = clamp(y_in, 0.0, f32(h - 1u));
    let x0 = min(u32(floor(x)), w - 1u);
    let y0 = min(u32(floor(y)), h - 1u);
    let x1 = min(x0 + 1u, w - 1u);
    let y1 = min(y0 + 1u, h - 1u);
    return Taps(y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1, x - f32(x0), y - f32(y0));
}

fn lerp2(a00: f32, a10: f32, a01: f32, a11: f32, t: Taps) -> f32 {
    let top = a00 + (a10 - a00) * t.tx;
    let bottom = a01 + (a11 - a01) * t.tx;
    return top + (bottom - top) * t.ty;
}
