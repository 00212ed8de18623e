// Shared helpers for every kiln kernel.

// Linear workgroup index of a 1-D grid folded into 2-D (see kiln_gpu::dispatch_size).
fn linear_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}
