// Shared helpers for every kiln kernel.

// Linear workgroup index of a 1-D grid folded into 2-D (see kiln_gpu::dispatch_size).
fn linear_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// NaN and ±Inf by their exponent bits: WGSL has no isnan, and compilers may assume that
// floating-point values are finite, so a float comparison could be optimized away.
fn is_finite_bits(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}
