//! Editing: the correlation regularizer's gradient, max-flow and the seeded cut, an edit driven
//! by target images inside a box, external guidance and bad input, mesh export.

use glam::Vec3;
use kiln_gpu::GpuContext;
use kiln_scene::dataset::Image;
use kiln_scene::Camera;
use kiln_voxel::correlation::{pearson, pearson_grad, regularizer};
use kiln_voxel::edit::{edit, BoxAttention, EditConfig, EditView, ImageMasks};
use kiln_voxel::graphcut::{seeded_cut, CutConfig, FlowGraph};
use kiln_voxel::guidance::{ExternalGuidance, TargetImages};
use kiln_voxel::rng::Rng;
use kiln_voxel::{GpuGrid, MarchSettings, Marcher, VoxelError, VoxelGrid};

const A_CENTER: Vec3 = Vec3::new(-0.45, 0.0, 0.0);
const B_CENTER: Vec3 = Vec3::new(0.45, 0.0, 0.0);
const RADIUS: f32 = 0.4;

/// Two touching spheres: A red, B blue (raw density 0.3 inside, −0.3 outside; scale 20).
fn two_spheres(n: u32, a_color: [f32; 3]) -> VoxelGrid {
    let mut g = VoxelGrid::constant([n; 3], Vec3::splat(-1.0), Vec3::splat(1.0), -0.3, 0.0).unwrap();
    g.density_scale = 20.0;
    let logit = |c: f32| (c.clamp(0.02, 0.98) / (1.0 - c.clamp(0.02, 0.98))).ln();
    for k in 0..n {
        for j in 0..n {
            for i in 0..n {
                let p = g.point(i, j, k);
                let idx = g.index(i, j, k);
                let (da, db) = ((p - A_CENTER).length(), (p - B_CENTER).length());
                if da < RADIUS {
                    g.density[idx] = 0.3;
                    g.features[3 * idx..3 * idx + 3].copy_from_slice(&a_color.map(logit));
                } else if db < RADIUS {
                    g.density[idx] = 0.3;
                    g.features[3 * idx..3 * idx + 3].copy_from_slice(&[0.1, 0.1, 0.9].map(logit));
                } else {
                    // Colour of empty space: the nearer sphere's, so the field is smooth.
                    let c = if da < db { a_color } else { [0.1, 0.1, 0.9] };
                    g.features[3 * idx..3 * idx + 3].copy_from_slice(&c.map(logit));
                }
            }
        }
    }
    g
}

fn views(size: u32) -> Vec<EditView> {
    let eyes = [
        Vec3::new(0.0, -3.0, 0.8),
        Vec3::new(0.0, 3.0, 0.8),
        Vec3::new(-1.5, -2.5, 1.5),
        Vec3::new(1.5, -2.5, -1.0),
        Vec3::new(0.3, -0.5, 3.0),
        Vec3::new(-2.8, 0.5, 0.5),
    ];
    eyes.iter()
        .enumerate()
        .map(|(i, &e)| EditView { name: format!("v{i}"), camera: Camera::look_at(size, size, size as f32 * 1.1, size as f32 * 1.1, e, Vec3::ZERO, Vec3::Z) })
        .collect()
}

fn ctx() -> std::sync::Arc<GpuContext> {
    GpuContext::shared().expect("GPU context")
}

#[test]
fn correlation_gradient_matches_finite_differences() {
    let mut rng = Rng::new(1);
    let y: Vec<f32> = (0..500).map(|_| rng.range(-1.0, 1.0)).collect();
    let x: Vec<f32> = y.iter().map(|v| 0.7 * v + rng.range(-0.5, 0.5)).collect();
    assert!((pearson(&y, &y) - 1.0).abs() < 1e-6);
    let (rho, g) = pearson_grad(&x, &y);
    assert!(rho > 0.5 && rho < 0.99, "ρ = {rho}");
    let h = 1e-2f32;
    let mut worst: f64 = 0.0;
    for i in (0..500).step_by(37) {
        let mut p = x.clone();
        p[i] += h;
        let mut m = x.clone();
        m[i] -= h;
        let fd = (pearson(&p, &y) - pearson(&m, &y)) / (2.0 * h as f64);
        worst = worst.max((fd - g[i]).abs() / g[i].abs().max(1e-4));
    }
    eprintln!("correlation gradient vs finite differences: worst relative error {worst:.2e}");
    assert!(worst < 1e-3, "relative error {worst}");
    // The regularizer is λ(1 − ρ) with gradient −λ ∂ρ.
    let (l, rg) = regularizer(&x, &y, 200.0);
    assert!((l - 200.0 * (1.0 - rho)).abs() < 1e-9);
    assert!((rg[3] as f64 + 200.0 * g[3]).abs() < 1e-4);
}

#[test]
fn max_flow_on_a_known_graph() {
    // CLRS's example network: max flow 23.
    let mut g = FlowGraph::new(6);
    for (u, v, c) in [(0, 1, 16.0), (0, 2, 13.0), (1, 3, 12.0), (2, 1, 4.0), (2, 4, 14.0), (3, 2, 9.0), (3, 5, 20.0), (4, 3, 7.0), (4, 5, 4.0)] {
        g.add_edge(u, v, c, 0.0);
    }
    assert_eq!(g.max_flow(0, 5), 23.0);
    let side = g.source_side(0);
    assert_eq!(side, vec![true, true, true, false, true, false]);
}

#[test]
fn graph_cut_recovers_a_planted_region() {
    // Planted region: the red sphere A among the occupied voxels (dilated, so A and the blue
    // sphere B touch through their shells). The attention is blurred and biased: its edit blob
    // sits 0.2 towards B, so thresholding it would cut into B; the colour edges must not.
    let grid = two_spheres(28, [0.9, 0.1, 0.1]);
    let n = grid.len();
    let [nx, ny, _] = grid.dims;
    let pos = |i: usize| grid.point(i as u32 % nx, (i as u32 / nx) % ny, i as u32 / (nx * ny));
    let candidates = kiln_voxel::graphcut::occupied_dilated(&grid, 1.0);
    let mut rng = Rng::new(3);
    let edit_center = A_CENTER + Vec3::new(0.2, 0.0, 0.0);
    let edit: Vec<f32> = (0..n).map(|i| 3.0 * (1.0 - (pos(i) - edit_center).length() / 0.6) + rng.range(-0.3, 0.3)).collect();
    let object: Vec<f32> = (0..n).map(|i| 3.0 * (1.0 - (pos(i) - B_CENTER).length() / 0.6) + rng.range(-0.3, 0.3)).collect();
    let planted: Vec<bool> = (0..n).map(|i| candidates[i] && (pos(i) - A_CENTER).length() < (pos(i) - B_CENTER).length()).collect();
    let iou = |mask: &[bool]| {
        let inter = (0..n).filter(|&i| mask[i] && planted[i]).count();
        let union = (0..n).filter(|&i| mask[i] || planted[i]).count();
        inter as f64 / union as f64
    };
    let attention_only: Vec<bool> = (0..n).map(|i| candidates[i] && edit[i] > object[i]).collect();
    let cut = seeded_cut(&grid, &candidates, &edit, &object, &CutConfig { min_source: 50, ..Default::default() });
    eprintln!(
        "planted region: {} voxels, cut {} ({} candidates, {} / {} seeds, flow {:.3}), IoU {:.3} (attention alone {:.3})",
        planted.iter().filter(|&&b| b).count(),
        cut.mask.iter().filter(|&&b| b).count(),
        cut.candidates,
        cut.source_seeds,
        cut.sink_seeds,
        cut.flow,
        iou(&cut.mask),
        iou(&attention_only)
    );
    assert!(iou(&cut.mask) > 0.95, "IoU {}", iou(&cut.mask));
}

fn render_all(marcher: &Marcher, grid: &VoxelGrid, views: &[EditView]) -> Vec<Image> {
    let gpu = GpuGrid::upload(&marcher.ctx, grid).unwrap();
    let s = MarchSettings { step: 0.5 * grid.voxel_size(), ..MarchSettings::for_grid(grid) };
    views
        .iter()
        .map(|v| {
            let r = marcher.render(&gpu, &s, &v.camera).unwrap();
            Image { width: r.width, height: r.height, rgb: r.rgb, alpha: None }
        })
        .collect()
}

fn quick_config() -> EditConfig {
    EditConfig { steps: 120, lr: 0.05, lambda: 5.0, attention_steps: 150, attention_rays: 2048, cut: CutConfig { min_source: 50, ..Default::default() }, ..Default::default() }
}

#[test]
fn edit_by_target_images_inside_a_box() {
    let ctx = ctx();
    let marcher = Marcher::new(ctx.clone()).unwrap();
    let original = two_spheres(24, [0.9, 0.1, 0.1]);
    let keep = original.clone();
    let vs = views(32);
    // Targets: the same scene with sphere A green.
    let targets = render_all(&marcher, &two_spheres(24, [0.1, 0.9, 0.1]), &vs);
    let mut guidance = TargetImages { targets };
    let mut attention = BoxAttention::new(A_CENTER - Vec3::splat(0.5), A_CENTER + Vec3::new(0.42, 0.5, 0.5));
    let out = edit(ctx.clone(), &original, &vs, &mut guidance, &mut attention, &quick_config(), &mut |_, _| {}).unwrap();
    let r = &out.report;
    eprintln!(
        "edit: loss {:.5} → {:.5} (edited {:.5}), ρ edited {:.4} result {:.4}, {} edit voxels of {} candidates",
        r.loss_before, r.loss_after, r.loss_edited, r.correlation_edited, r.correlation_after, r.edit_voxels, r.candidates
    );
    assert_eq!(original, keep, "the original grid changed");
    // Outside the cut: bit-identical.
    for i in 0..original.len() {
        if !out.mask[i] {
            assert_eq!(out.grid.density[i].to_bits(), original.density[i].to_bits());
            for c in 0..3 {
                assert_eq!(out.grid.features[3 * i + c].to_bits(), original.features[3 * i + c].to_bits());
            }
        }
    }
    // The cut holds A and not B.
    let [nx, ny, _] = original.dims;
    let pos = |i: usize| original.point(i as u32 % nx, (i as u32 / nx) % ny, i as u32 / (nx * ny));
    let in_b = (0..original.len()).filter(|&i| out.mask[i] && (pos(i) - B_CENTER).length() < RADIUS - 0.1).count();
    let a_core = (0..original.len()).filter(|&i| (pos(i) - A_CENTER).length() < RADIUS - 0.1).count();
    let a_cut = (0..original.len()).filter(|&i| out.mask[i] && (pos(i) - A_CENTER).length() < RADIUS - 0.1).count();
    eprintln!("cut: {a_cut} of {a_core} voxels of A's core, {in_b} of B's");
    assert_eq!(in_b, 0, "the cut reaches into sphere B");
    assert!(a_cut as f64 > 0.9 * a_core as f64);
    assert!(r.loss_after < 0.3 * r.loss_before, "image loss {} → {}", r.loss_before, r.loss_after);
    assert!(r.correlation_after > 0.9, "correlation with the original {}", r.correlation_after);
}

#[test]
fn bad_guidance_and_masks_fail_cleanly() {
    let ctx = ctx();
    let original = two_spheres(12, [0.9, 0.1, 0.1]);
    let keep = original.clone();
    let vs = views(16);
    let cfg = EditConfig { steps: 3, attention_steps: 5, ..Default::default() };
    let exe = env!("CARGO_BIN_EXE_voxel_guidance_example");
    // A working process: the edit runs and the image moves towards the colour.
    let mut good = ExternalGuidance::spawn(exe, &["0".into(), "1".into(), "0".into()]).unwrap();
    let out = edit(ctx.clone(), &original, &vs, &mut good, &mut BoxAttention::new(Vec3::splat(-1.0), Vec3::ZERO), &EditConfig { steps: 10, no_refine: true, ..cfg.clone() }, &mut |_, _| {}).unwrap();
    assert!(out.report.loss_edited < out.report.loss_before, "{} → {}", out.report.loss_before, out.report.loss_edited);
    for (mode, expect) in [("die", "exited"), ("garbage", "garbage")] {
        let mut g = ExternalGuidance::spawn(exe, &[mode.into()]).unwrap();
        let err = edit(ctx.clone(), &original, &vs, &mut g, &mut BoxAttention::new(Vec3::splat(-1.0), Vec3::ZERO), &cfg, &mut |_, _| {}).err().expect("an error");
        let msg = err.to_string();
        eprintln!("{mode}: {msg}");
        assert!(matches!(err, VoxelError::Guidance(_)) && msg.contains(expect), "{msg}");
    }
    let err = ExternalGuidance::spawn("/nonexistent/guide", &[]).err().unwrap().to_string();
    assert!(err.contains("/nonexistent/guide"), "{err}");
    // A mask of the wrong size.
    let mut masks = ImageMasks { masks: vec![Image { width: 8, height: 8, rgb: vec![1.0; 192], alpha: None }; vs.len()], names: vec!["mask0.png".into(); vs.len()] };
    let marcher = Marcher::new(ctx.clone()).unwrap();
    let targets = render_all(&marcher, &original, &vs);
    let err = edit(ctx.clone(), &original, &vs, &mut TargetImages { targets }, &mut masks, &cfg, &mut |_, _| {}).err().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, VoxelError::Mask { .. }) && msg.contains("mask0.png") && msg.contains("8x8"), "{msg}");
    assert_eq!(original, keep);
}

#[test]
fn mesh_of_a_sphere_is_closed() {
    let grid = two_spheres(20, [0.9, 0.1, 0.1]);
    let mesh = kiln_voxel::mesh::extract(&grid, 1.0);
    assert!(mesh.faces.len() > 500, "{} faces", mesh.faces.len());
    let mut edges = std::collections::HashMap::new();
    for f in &mesh.faces {
        for k in 0..3 {
            let (a, b) = (f[k].min(f[(k + 1) % 3]), f[k].max(f[(k + 1) % 3]));
            *edges.entry((a, b)).or_insert(0) += 1;
        }
    }
    assert!(edges.values().all(|&c| c == 2), "open or non-manifold edges");
    // Vertices near the spheres' surfaces (within a voxel).
    let h = grid.voxel_size();
    for p in &mesh.positions {
        let p = Vec3::from(*p);
        let d = ((p - A_CENTER).length() - RADIUS).abs().min(((p - B_CENTER).length() - RADIUS).abs());
        assert!(d < 1.5 * h, "vertex {p} is {d} from the surfaces");
    }
    let dir = std::env::temp_dir().join(format!("kiln_voxel_mesh_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    mesh.write(&dir.join("m.obj")).unwrap();
    mesh.write(&dir.join("m.ply")).unwrap();
    assert!(mesh.write(&dir.join("m.stl")).is_err());
    std::fs::remove_dir_all(&dir).ok();
}
