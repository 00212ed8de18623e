//! Hash-based random numbers shared with the WGSL kernels (`voxel_common.wgsl`), so that the
//! CPU reference draws the same sample jitter as the GPU, and a small seeded generator for
//! host-side choices (initialization, ray batches, seeds of the graph cut).

/// PCG hash (the same 32-bit function as `pcg_hash` in voxel_common.wgsl).
pub fn pcg_hash(v: u32) -> u32 {
    let s = v.wrapping_mul(747796405).wrapping_add(2891336453);
    let w = ((s >> ((s >> 28) + 4)) ^ s).wrapping_mul(277803737);
    (w >> 22) ^ w
}

/// Jitter in [0, 1) of sample `i` of ray `ray` (bit-identical to `jitter01` on the GPU).
pub fn jitter01(seed: u32, ray: u32, i: u32) -> f32 {
    let h = pcg_hash(pcg_hash(pcg_hash(seed) ^ ray) ^ i);
    (h >> 8) as f32 / 16777216.0
}

/// SplitMix64: a small, well-mixed seeded generator for host-side randomness.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }
    /// Uniform integer in [0, n) (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}
