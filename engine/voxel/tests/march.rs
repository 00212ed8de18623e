//! GPU ray marching vs the CPU reference (forward and backward), and the reference's gradients
//! vs finite differences.

use glam::Vec3;
use kiln_gpu::GpuContext;
use kiln_scene::Camera;
use kiln_voxel::reference::{self, OUT};
use kiln_voxel::rng::Rng;
use kiln_voxel::{GpuGrid, MarchSettings, Marcher, VoxelGrid};

fn test_grid(n: u32, seed: u64) -> VoxelGrid {
    let mut g = VoxelGrid::random([n, n + 1, n - 1], Vec3::splat(-1.0), Vec3::new(1.0, 1.2, 0.9), (-0.06, 0.04), 2.0, seed).unwrap();
    g.density_scale = 20.0;
    g
}

fn cameras() -> Vec<Camera> {
    vec![
        Camera::look_at(12, 10, 14.0, 14.0, Vec3::new(2.5, 1.0, -3.0), Vec3::ZERO, Vec3::Y),
        Camera::look_at(9, 11, 10.0, 12.0, Vec3::new(-1.0, -3.0, 2.0), Vec3::new(0.1, 0.0, 0.0), Vec3::Z),
    ]
}

fn all_rays() -> Vec<f32> {
    cameras().iter().flat_map(kiln_voxel::rays::camera_rays).collect()
}

fn settings(jitter: Option<u32>) -> MarchSettings {
    MarchSettings { step: 0.09, max_samples: 64, background: [0.2, 0.5, 0.9], jitter_seed: jitter, stop_transmittance: 0.0 }
}

fn max_err(a: &[f32], b: &[f64]) -> (f64, f64) {
    let e = a.iter().zip(b).map(|(&x, &y)| (x as f64 - y).abs()).fold(0.0, f64::max);
    let m = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    (e, m)
}

fn ctx() -> std::sync::Arc<GpuContext> {
    GpuContext::shared().expect("GPU context")
}

#[test]
fn forward_matches_reference() {
    let ctx = ctx();
    let marcher = Marcher::new(ctx.clone()).unwrap();
    let grid = test_grid(7, 1);
    let gpu = GpuGrid::upload(&ctx, &grid).unwrap();
    let rays = all_rays();
    for jitter in [None, Some(17)] {
        let s = settings(jitter);
        let got = marcher.render_rays(&gpu, &s, &rays).unwrap();
        let want = reference::forward(&grid, None, &s, &rays, 0);
        let (e, m) = max_err(&got, &want);
        eprintln!("forward jitter {jitter:?}: max error {e:.2e} (max value {m:.3})");
        assert!(e < 2e-4 * m.max(1.0), "forward differs by {e}");
        // Something is actually rendered: alpha spans a range.
        let alphas: Vec<f64> = want.chunks(OUT).map(|o| o[4]).collect();
        assert!(alphas.iter().cloned().fold(0.0, f64::max) > 0.5 && alphas.iter().cloned().fold(1.0, f64::min) < 0.3);
    }
}

#[test]
fn backward_matches_reference() {
    let ctx = ctx();
    let marcher = Marcher::new(ctx.clone()).unwrap();
    let grid = test_grid(7, 2);
    let gpu = GpuGrid::upload(&ctx, &grid).unwrap();
    let rays = all_rays();
    let mut rng = Rng::new(5);
    let d_out: Vec<f32> = (0..rays.len() / 6 * OUT).map(|_| rng.range(-1.0, 1.0)).collect();
    let d64: Vec<f64> = d_out.iter().map(|&v| v as f64).collect();
    for jitter in [None, Some(3)] {
        let s = settings(jitter);
        let (gd, gf) = marcher.backward_rays(&gpu, &s, &rays, &d_out).unwrap();
        let (rd, rf) = reference::backward(&grid, None, &s, &rays, 0, &d64);
        let (ed, md) = max_err(&gd, &rd);
        let (ef, mf) = max_err(&gf, &rf);
        eprintln!("backward jitter {jitter:?}: density {ed:.2e} of {md:.3}, features {ef:.2e} of {mf:.3}");
        assert!(ed < 1e-3 * md && ef < 1e-3 * mf, "backward differs: density {ed} / {md}, features {ef} / {mf}");
        assert!(md > 0.0 && mf > 0.0);
    }
}

#[test]
fn empty_space_skipping_matches_reference() {
    let ctx = ctx();
    let marcher = Marcher::new(ctx.clone()).unwrap();
    let mut grid = test_grid(8, 3);
    // Empty half: very negative raw density for x < 0.
    for k in 0..grid.dims[2] {
        for j in 0..grid.dims[1] {
            for i in 0..grid.dims[0] / 2 {
                let idx = grid.index(i, j, k);
                grid.density[idx] = -2.0;
            }
        }
    }
    let mut gpu = GpuGrid::upload(&ctx, &grid).unwrap();
    let mut enc = ctx.encoder("occ");
    marcher.update_occupancy(&mut enc, &mut gpu, 0.01, None);
    ctx.submit(enc);
    let occ = gpu.read_occupancy(&ctx).unwrap();
    assert_eq!(occ, reference::occupancy(&grid, 0.01));
    let occupied = occ.iter().filter(|&&o| o == 1).count();
    assert!(occupied > 0 && occupied < grid.len() / 2, "{occupied} occupied cells");
    let rays = all_rays();
    let s = settings(Some(9));
    let got = marcher.render_rays(&gpu, &s, &rays).unwrap();
    let want = reference::forward(&grid, Some(&occ), &s, &rays, 0);
    let (e, m) = max_err(&got, &want);
    assert!(e < 2e-4 * m.max(1.0), "forward with skipping differs by {e}");
    // Skipping only drops negligible density: close to the full march.
    let full = reference::forward(&grid, None, &s, &rays, 0);
    let d = got.iter().zip(&full).map(|(&a, &b)| (a as f64 - b).abs()).fold(0.0, f64::max);
    assert!(d < 0.02, "skipping changed the image by {d}");
}

/// Loss of the reference outputs with fixed weights (so dL/dout = weights).
fn weighted(grid: &VoxelGrid, s: &MarchSettings, rays: &[f32], w: &[f64]) -> f64 {
    reference::forward(grid, None, s, rays, 0).iter().zip(w).map(|(a, b)| a * b).sum()
}

#[test]
fn reference_gradients_match_finite_differences() {
    let grid = test_grid(5, 4);
    let rays: Vec<f32> = all_rays();
    let s = MarchSettings { stop_transmittance: 0.0, ..settings(Some(11)) };
    let mut rng = Rng::new(8);
    let w: Vec<f64> = (0..rays.len() / 6 * OUT).map(|_| rng.range(-1.0, 1.0) as f64).collect();
    let (gd, gf) = reference::backward(&grid, None, &s, &rays, 0, &w);
    let h = 1e-3f32;
    let mut checked = 0;
    let mut worst: f64 = 0.0;
    // The largest gradients (robustly away from zero) in each group.
    let mut order: Vec<usize> = (0..grid.len()).collect();
    order.sort_by(|&a, &b| gd[b].abs().partial_cmp(&gd[a].abs()).unwrap());
    for &i in order.iter().take(12) {
        let mut p = grid.clone();
        p.density[i] += h;
        let mut m = grid.clone();
        m.density[i] -= h;
        let fd = (weighted(&p, &s, &rays, &w) - weighted(&m, &s, &rays, &w)) / (2.0 * h as f64);
        let rel = (fd - gd[i]).abs() / gd[i].abs().max(1e-3);
        worst = worst.max(rel);
        checked += 1;
    }
    let mut order: Vec<usize> = (0..3 * grid.len()).collect();
    order.sort_by(|&a, &b| gf[b].abs().partial_cmp(&gf[a].abs()).unwrap());
    for &i in order.iter().take(12) {
        let mut p = grid.clone();
        p.features[i] += h;
        let mut m = grid.clone();
        m.features[i] -= h;
        let fd = (weighted(&p, &s, &rays, &w) - weighted(&m, &s, &rays, &w)) / (2.0 * h as f64);
        let rel = (fd - gf[i]).abs() / gf[i].abs().max(1e-3);
        worst = worst.max(rel);
        checked += 1;
    }
    eprintln!("finite differences: {checked} entries, worst relative error {worst:.2e}");
    assert!(worst < 2e-2, "reference gradient vs finite differences: relative error {worst}");
}

#[test]
fn grid_file_round_trip_and_resampling() {
    let grid = test_grid(6, 5);
    let dir = std::env::temp_dir().join(format!("kiln_voxel_grid_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("g.kvox");
    grid.save(&path).unwrap();
    assert_eq!(VoxelGrid::load(&path).unwrap(), grid);
    std::fs::write(&path, b"garbage").unwrap();
    let err = VoxelGrid::load(&path).unwrap_err().to_string();
    assert!(err.contains("g.kvox"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
    // Resampling reproduces the field at the new points (trilinear is exact on linear fields).
    let mut lin = grid.clone();
    for k in 0..lin.dims[2] {
        for j in 0..lin.dims[1] {
            for i in 0..lin.dims[0] {
                let p = lin.point(i, j, k);
                let idx = lin.index(i, j, k);
                lin.density[idx] = 0.3 * p.x - 0.2 * p.y + 0.1 * p.z;
            }
        }
    }
    let up = lin.resampled([11, 9, 13]).unwrap();
    for k in 0..13 {
        for j in 0..9 {
            for i in 0..11 {
                let p = up.point(i, j, k);
                let want = 0.3 * p.x - 0.2 * p.y + 0.1 * p.z;
                assert!((up.density[up.index(i, j, k)] - want).abs() < 1e-5);
            }
        }
    }
}
