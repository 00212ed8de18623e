//! Seeded synthetic scenes: the standard rasterizer benchmark scene of `BENCHMARKS.md`.

use crate::{sh_coeffs, GaussianCloud};
use glam::Vec3;
use kiln_scene::Camera;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};

/// The benchmark scene: `n` Gaussians in view of an identity camera of `width`×`height` with
/// fx = fy = 1000 and the principal point at the centre.
///
/// Means: z uniform in [2, 10], x and y uniform within the field of view at that depth;
/// log-scales uniform in [ln 0.005, ln 0.03]; rotations normalized Gaussian quaternions;
/// opacity logits N(`opacity_mean`, 1) (0 "opaque", −4 "translucent"); SH degree 3 with DC
/// N(0, 1) and the rest N(0, 0.2).
pub fn benchmark_scene(n: usize, width: u32, height: u32, opacity_mean: f32, seed: u64) -> (GaussianCloud, Camera) {
    let camera = Camera::identity(width, height, 1000.0, 1000.0);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let unit = Normal::new(0.0f32, 1.0).unwrap();
    let rest = Normal::new(0.0f32, 0.2).unwrap();
    let k = sh_coeffs(3);
    let half_w = 0.5 * width as f32 / camera.fx;
    let half_h = 0.5 * height as f32 / camera.fy;
    let mut cloud = GaussianCloud {
        sh_degree: 3,
        means: Vec::with_capacity(n),
        log_scales: Vec::with_capacity(n),
        rotations: Vec::with_capacity(n),
        opacity_logits: Vec::with_capacity(n),
        sh: Vec::with_capacity(n * k * 3),
        ..Default::default()
    };
    let (lo, hi) = (0.005f32.ln(), 0.03f32.ln());
    for _ in 0..n {
        let z = rng.random_range(2.0f32..10.0);
        let x = rng.random_range(-half_w..half_w) * z;
        let y = rng.random_range(-half_h..half_h) * z;
        cloud.means.push(Vec3::new(x, y, z));
        cloud.log_scales.push(Vec3::new(
            rng.random_range(lo..hi),
            rng.random_range(lo..hi),
            rng.random_range(lo..hi),
        ));
        let q = [unit.sample(&mut rng), unit.sample(&mut rng), unit.sample(&mut rng), unit.sample(&mut rng)];
        let len = q.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        cloud.rotations.push(q.map(|v| v / len));
        cloud.opacity_logits.push(opacity_mean + unit.sample(&mut rng));
        for c in 0..k * 3 {
            cloud.sh.push(if c < 3 { unit.sample(&mut rng) } else { rest.sample(&mut rng) });
        }
    }
    (cloud, camera)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benchmark_scene_is_seeded_and_in_view() {
        let (a, cam) = benchmark_scene(500, 1920, 1080, 0.0, 7);
        let (b, _) = benchmark_scene(500, 1920, 1080, 0.0, 7);
        assert_eq!(a, b);
        a.validate().unwrap();
        for m in &a.means {
            assert!(m.z >= 2.0 && m.z <= 10.0);
            let u = cam.fx * m.x / m.z + cam.cx;
            let v = cam.fy * m.y / m.z + cam.cy;
            assert!((0.0..=1920.0).contains(&u) && (0.0..=1080.0).contains(&v));
        }
        let (c, _) = benchmark_scene(500, 1920, 1080, 0.0, 8);
        assert_ne!(a.means, c.means);
    }
}
