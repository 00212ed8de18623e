//! Initial clouds: from SfM points (3DGS's init) or random points in a box.

use glam::Vec3;
use kiln_scene::dataset::Points;
use kiln_splat::{sh_coeffs, GaussianCloud};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::collections::HashMap;

const SH_C0: f32 = 0.282_094_8;

/// 3DGS initialization: DC colour from the point colour, higher bands 0, opacity 0.1, isotropic
/// scale √(mean squared distance to the 3 nearest neighbours), identity rotation.
pub fn cloud_from_points(points: &Points, sh_degree: u32) -> GaussianCloud {
    let n = points.len();
    let k = sh_coeffs(sh_degree);
    let d2 = mean_sq_dist_3nn(&points.positions);
    let logit = (0.1f32 / 0.9).ln();
    let mut sh = vec![0.0f32; n * k * 3];
    for (i, c) in points.colors.iter().enumerate() {
        for ch in 0..3 {
            sh[i * k * 3 + ch] = (c[ch] - 0.5) / SH_C0;
        }
    }
    GaussianCloud {
        means: points.positions.clone(),
        log_scales: d2.iter().map(|&d| Vec3::splat(0.5 * d.max(1e-7).ln())).collect(),
        rotations: vec![[1.0, 0.0, 0.0, 0.0]; n],
        opacity_logits: vec![logit; n],
        sh_degree,
        sh,
        feature_channels: 0,
        features: Vec::new(),
    }
}

/// `n` points uniform in the axis-aligned box `center ± half_size`, with random colours
/// (3DGS's init for scenes without SfM points).
pub fn random_points(n: usize, center: Vec3, half_size: f32, seed: u64) -> Points {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut p = Points::default();
    for _ in 0..n {
        let u = Vec3::new(rng.random::<f32>(), rng.random::<f32>(), rng.random::<f32>());
        p.positions.push(center + (u * 2.0 - 1.0) * half_size);
        p.colors.push(Vec3::new(rng.random::<f32>(), rng.random::<f32>(), rng.random::<f32>()));
    }
    p
}

/// Mean squared distance to the 3 nearest other points, per point, with a uniform grid
/// (cells of about 2 points, searched in growing shells until 3 neighbours are certain).
pub fn mean_sq_dist_3nn(points: &[Vec3]) -> Vec<f32> {
    use rayon::prelude::*;
    let n = points.len();
    if n < 2 {
        return vec![1e-2; n];
    }
    let (lo, _) = points.iter().fold((Vec3::splat(f32::MAX), Vec3::splat(f32::MIN)), |(a, b), p| (a.min(*p), b.max(*p)));
    // Cell size from the 1st–99th percentile box: SfM outliers far away would otherwise make
    // every cell hold the whole core of the cloud.
    let pct = |axis: usize| {
        let mut v: Vec<f32> = points.iter().map(|p| p[axis]).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        (v[n / 100], v[(n * 99 / 100).min(n - 1)])
    };
    let (x, y, z) = (pct(0), pct(1), pct(2));
    let extent = Vec3::new(x.1 - x.0, y.1 - y.0, z.1 - z.0).max(Vec3::splat(1e-6));
    let cell = ((extent.x * extent.y * extent.z) / n as f32 * 2.0).cbrt().max(extent.max_element() / 1024.0);
    let key = |p: Vec3| ((p - lo) / cell).floor().as_ivec3();
    let mut grid: HashMap<glam::IVec3, Vec<u32>> = HashMap::new();
    for (i, p) in points.iter().enumerate() {
        grid.entry(key(*p)).or_default().push(i as u32);
    }
    points
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let c = key(*p);
            let mut best = [f32::MAX; 3];
            let mut r = 0i32;
            loop {
                // Visit the shell at Chebyshev distance r.
                for dz in -r..=r {
                    for dy in -r..=r {
                        for dx in -r..=r {
                            if dx.abs().max(dy.abs()).max(dz.abs()) != r {
                                continue;
                            }
                            let Some(ids) = grid.get(&(c + glam::IVec3::new(dx, dy, dz))) else { continue };
                            for &j in ids {
                                if j as usize == i {
                                    continue;
                                }
                                let d = points[j as usize].distance_squared(*p);
                                if d < best[2] {
                                    best[2] = d;
                                    best.sort_by(|a, b| a.total_cmp(b));
                                }
                            }
                        }
                    }
                }
                // Points beyond shell r are at least r·cell away.
                let reach = (r as f32 * cell).powi(2);
                if best[2] <= reach && best[2] < f32::MAX {
                    break;
                }
                if r >= 16 {
                    // An outlier far from the rest: shells grow as r³, a scan is cheaper.
                    best = [f32::MAX; 3];
                    for (j, q) in points.iter().enumerate() {
                        let d = q.distance_squared(*p);
                        if j != i && d < best[2] {
                            best[2] = d;
                            best.sort_by(|a, b| a.total_cmp(b));
                        }
                    }
                    break;
                }
                r += 1;
            }
            let found: Vec<f32> = best.into_iter().filter(|d| *d < f32::MAX).collect();
            found.iter().sum::<f32>() / found.len().max(1) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knn_matches_brute_force() {
        let pts = random_points(800, Vec3::new(1.0, -2.0, 0.5), 3.0, 5).positions;
        let fast = mean_sq_dist_3nn(&pts);
        for (i, p) in pts.iter().enumerate().step_by(37) {
            let mut d: Vec<f32> = pts.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, q)| q.distance_squared(*p)).collect();
            d.sort_by(|a, b| a.total_cmp(b));
            let want = (d[0] + d[1] + d[2]) / 3.0;
            assert!((fast[i] - want).abs() <= 1e-5 * want.max(1e-6), "{i}: {} vs {want}", fast[i]);
        }
    }

    #[test]
    fn knn_with_far_outliers_is_exact_and_quick() {
        let mut pts = random_points(3000, Vec3::ZERO, 1.0, 9).positions;
        pts.extend([Vec3::splat(300.0), Vec3::new(-500.0, 2.0, 0.0), Vec3::new(0.0, 900.0, 1.0)]);
        let t = std::time::Instant::now();
        let fast = mean_sq_dist_3nn(&pts);
        assert!(t.elapsed().as_secs_f64() < 5.0);
        let i = pts.len() - 1;
        let mut d: Vec<f32> = pts.iter().take(i).map(|q| q.distance_squared(pts[i])).collect();
        d.sort_by(|a, b| a.total_cmp(b));
        assert!((fast[i] - (d[0] + d[1] + d[2]) / 3.0).abs() <= 1e-3 * fast[i]);
    }

    #[test]
    fn point_init_follows_3dgs() {
        let pts = Points { positions: vec![Vec3::ZERO, Vec3::X, Vec3::Y, Vec3::Z], colors: vec![Vec3::splat(0.5), Vec3::ONE, Vec3::ZERO, Vec3::X], observers: None };
        let c = cloud_from_points(&pts, 2);
        c.validate().unwrap();
        assert_eq!(c.sh[0], 0.0);
        assert!((c.sh[9 * 3] * SH_C0 + 0.5 - 1.0).abs() < 1e-6);
        assert!((1.0 / (1.0 + (-c.opacity_logits[0]).exp()) - 0.1).abs() < 1e-6);
        // Point 0's 3 neighbours are at distance 1.
        assert!(c.log_scales[0].x.abs() < 1e-6);
    }
}
