//! CPU reference of the ray marcher, forward and backward, in f64 with rayon: the same math,
//! sample positions (jitter from the same hash) and stopping rule as `voxel_march.wgsl` and
//! `voxel_march_backward.wgsl`. Tests compare the GPU against it, and check its gradients by
//! finite differences of [`forward`].

use crate::grid::{sigmoid, softplus, VoxelGrid};
use crate::rng::jitter01;
use rayon::prelude::*;

/// How rays are marched (shared by the GPU marcher and the reference).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MarchSettings {
    /// World-space distance between samples (the count is ⌈segment / step⌉, capped).
    pub step: f32,
    pub max_samples: u32,
    pub background: [f32; 3],
    /// Stratified jitter with this seed; None samples at segment centres (evaluation).
    pub jitter_seed: Option<u32>,
    /// A ray stops once its transmittance falls below this (0 marches to the end).
    pub stop_transmittance: f32,
}

impl MarchSettings {
    /// Half a voxel between samples, enough samples to cross the box's diagonal, white
    /// background, no jitter, stop at transmittance 1e-4.
    pub fn for_grid(grid: &VoxelGrid) -> MarchSettings {
        let step = 0.5 * grid.voxel_size();
        let diag = (grid.bbox_max - grid.bbox_min).length();
        MarchSettings {
            step,
            max_samples: (diag / step).ceil() as u32 + 1,
            background: [1.0; 3],
            jitter_seed: None,
            stop_transmittance: 1e-4,
        }
    }
}

/// Per-ray outputs: rgb, depth (expected distance, background excluded), alpha.
pub const OUT: usize = 5;

struct Sample {
    t: f64,
    idx: [usize; 8],
    w: [f64; 8],
    x: f64,
    rgb: [f64; 3],
    alpha: f64,
}

/// The samples of one ray that contribute (inside the box and, with a mask, in occupied cells),
/// up to where the ray stops; `delta` is the segment length.
fn march<'a>(grid: &'a VoxelGrid, occupancy: Option<&'a [u32]>, s: &'a MarchSettings, ray: &[f32], r: u32) -> (f64, Vec<Sample>, f64) {
    let o = [ray[0], ray[1], ray[2]];
    let d = [ray[3], ray[4], ray[5]];
    // Box segment in f32 like the kernel, so both take the same sample count.
    let mut t0 = 0f32;
    let mut t1 = f32::INFINITY;
    for a in 0..3 {
        let inv = 1.0 / d[a];
        let ta = (grid.bbox_min[a] - o[a]) * inv;
        let tb = (grid.bbox_max[a] - o[a]) * inv;
        t0 = t0.max(ta.min(tb));
        t1 = t1.min(ta.max(tb));
    }
    let mut samples = Vec::new();
    let mut transmittance = 1.0f64;
    if t1 <= t0 {
        return (0.0, samples, transmittance);
    }
    let len = t1 - t0;
    let n = ((len / s.step).ceil() as u32).min(s.max_samples).max(1);
    let delta = len as f64 / n as f64;
    let scale = grid.density_scale as f64;
    for i in 0..n {
        let u = s.jitter_seed.map_or(0.5, |seed| jitter01(seed, r, i) as f64);
        let t = t0 as f64 + (i as f64 + u) * delta;
        let p = [o[0] as f64 + t * d[0] as f64, o[1] as f64 + t * d[1] as f64, o[2] as f64 + t * d[2] as f64];
        let Some(c) = grid.corners(p) else { continue };
        if let Some(occ) = occupancy {
            if occ[c.base] == 0 {
                continue;
            }
        }
        let mut raw = 0.0;
        let mut feat = [0.0; 3];
        for k in 0..8 {
            raw += c.w[k] * grid.density[c.idx[k]] as f64;
            for ch in 0..3 {
                feat[ch] += c.w[k] * grid.features[3 * c.idx[k] + ch] as f64;
            }
        }
        let x = raw * scale;
        let alpha = 1.0 - (-softplus(x) * delta).exp();
        samples.push(Sample { t, idx: c.idx, w: c.w, x, rgb: feat.map(sigmoid), alpha });
        transmittance *= 1.0 - alpha;
        if transmittance < s.stop_transmittance as f64 {
            break;
        }
    }
    (delta, samples, transmittance)
}

/// Renders `rays` (6 floats each); `first_ray` is the global index of the first (jitter hash).
pub fn forward(grid: &VoxelGrid, occupancy: Option<&[u32]>, s: &MarchSettings, rays: &[f32], first_ray: u32) -> Vec<f64> {
    rays.par_chunks(6)
        .enumerate()
        .flat_map_iter(|(r, ray)| {
            let (_, samples, t_final) = march(grid, occupancy, s, ray, first_ray + r as u32);
            let mut out = [0.0f64; OUT];
            let mut tr = 1.0;
            for smp in &samples {
                let w = tr * smp.alpha;
                for ch in 0..3 {
                    out[ch] += w * smp.rgb[ch];
                }
                out[3] += w * smp.t;
                tr *= 1.0 - smp.alpha;
            }
            for ch in 0..3 {
                out[ch] += t_final * s.background[ch] as f64;
            }
            out[4] = 1.0 - t_final;
            out
        })
        .collect()
}

/// Gradients (density, features) of L given dL/d(outputs) (5 per ray), by the kernel's rule.
pub fn backward(grid: &VoxelGrid, occupancy: Option<&[u32]>, s: &MarchSettings, rays: &[f32], first_ray: u32, d_out: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = grid.len();
    let scale = grid.density_scale as f64;
    rays.par_chunks(6)
        .enumerate()
        .fold(
            || (vec![0.0f64; n], vec![0.0f64; 3 * n]),
            |(mut gd, mut gf), (r, ray)| {
                let g = &d_out[OUT * r..OUT * r + OUT];
                let (delta, samples, t_final) = march(grid, occupancy, s, ray, first_ray + r as u32);
                // Recompute the outputs (the kernel reads them from the forward pass).
                let mut tr = 1.0;
                let mut total = 0.0;
                for smp in &samples {
                    let w = tr * smp.alpha;
                    total += w * (g[0] * smp.rgb[0] + g[1] * smp.rgb[1] + g[2] * smp.rgb[2] + g[3] * smp.t);
                    tr *= 1.0 - smp.alpha;
                }
                total += t_final * (g[0] * s.background[0] as f64 + g[1] * s.background[1] as f64 + g[2] * s.background[2] as f64 - g[4]);
                let mut prefix = 0.0;
                let mut tr = 1.0;
                for smp in &samples {
                    let w = tr * smp.alpha;
                    let v = g[0] * smp.rgb[0] + g[1] * smp.rgb[1] + g[2] * smp.rgb[2] + g[3] * smp.t;
                    prefix += w * v;
                    let t_next = tr * (1.0 - smp.alpha);
                    let d_sigma = delta * (t_next * v - (total - prefix));
                    let d_raw = d_sigma * sigmoid(smp.x) * scale;
                    for k in 0..8 {
                        gd[smp.idx[k]] += smp.w[k] * d_raw;
                        for ch in 0..3 {
                            gf[3 * smp.idx[k] + ch] += smp.w[k] * g[ch] * w * smp.rgb[ch] * (1.0 - smp.rgb[ch]);
                        }
                    }
                    tr = t_next;
                }
                (gd, gf)
            },
        )
        .reduce(
            || (vec![0.0f64; n], vec![0.0f64; 3 * n]),
            |(mut a, mut b), (c, d)| {
                a.iter_mut().zip(&c).for_each(|(x, y)| *x += y);
                b.iter_mut().zip(&d).for_each(|(x, y)| *x += y);
                (a, b)
            },
        )
}

/// The occupancy mask of `voxel_occupancy.wgsl`: cell (by its first grid point) occupied when
/// the largest corner σ reaches `threshold`.
pub fn occupancy(grid: &VoxelGrid, threshold: f32) -> Vec<u32> {
    let [nx, ny, nz] = grid.dims.map(|d| d as usize);
    (0..grid.len())
        .into_par_iter()
        .map(|i| {
            let (x, y, z) = (i % nx, (i / nx) % ny, i / (nx * ny));
            if x + 1 >= nx || y + 1 >= ny || z + 1 >= nz {
                return 0;
            }
            let mut m = f32::NEG_INFINITY;
            for k in 0..8 {
                let j = i + (k & 1) + ((k >> 1) & 1) * nx + ((k >> 2) & 1) * nx * ny;
                m = m.max(grid.density[j]);
            }
            (softplus(m as f64 * grid.density_scale as f64) >= threshold as f64) as u32
        })
        .collect()
}
