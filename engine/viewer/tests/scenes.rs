//! The viewer's render path on lavapipe: the present kernel against its host reference, the
//! viewport image against `kiln render`'s path, the Gaussian scale factor, and opening files.

use glam::Vec3;
use kiln_gpu::GpuContext;
use kiln_splat::{GpuCloud, SplatRenderer};
use kiln_viewer::present::{present_reference, to_u8, DisplayMode, Presenter, Target};
use kiln_viewer::scenes::{self, splats::render_settings, splats::SplatScene, SceneKind, ViewStyle};
use std::sync::Arc;

fn ctx() -> Arc<GpuContext> {
    GpuContext::shared().expect("a GPU adapter (lavapipe in CI)")
}

fn max_diff(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-viewer-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn present_kernel_matches_its_host_reference_in_every_mode() {
    let ctx = ctx();
    let (cloud, cam) = kiln_splat::synthetic::benchmark_scene(150, 96, 64, -1.0, 5);
    let renderer = SplatRenderer::new(ctx.clone()).unwrap();
    let presenter = Presenter::new(&ctx).unwrap();
    let gpu = GpuCloud::upload(&ctx, &cloud).unwrap();
    let settings = kiln_splat::RenderSettings { background: vec![0.2, 0.4, 0.9], ..Default::default() };
    let fwd = renderer.forward(&gpu, &cam, &settings, None).unwrap();
    let out = renderer.read_output(&fwd).unwrap();
    assert!(out.alpha.iter().any(|a| *a > 0.5) && out.alpha.iter().any(|a| *a < 0.5), "the scene must cover part of the image");
    let target = Target::new(&ctx, 96, 64).unwrap();
    for mode in DisplayMode::ALL {
        let range = (3.0, 9.0);
        let mut enc = ctx.encoder("test present");
        presenter.encode(&ctx, &mut enc, &kiln_viewer::present::PresentInput::splats(&fwd), mode, range, &target, None);
        ctx.submit(enc);
        let gpu_rgba = target.read_rgba(&ctx).unwrap();
        let host = present_reference(&out, mode, range);
        assert!(max_diff(&gpu_rgba, &host) <= 1, "{mode:?}: max difference {}", max_diff(&gpu_rgba, &host));
        // Not a constant image.
        let first = &host[..4];
        assert!(host.chunks(4).any(|p| p != first), "{mode:?} image is flat");
    }
}

#[test]
fn viewport_image_is_the_render_command_image() {
    // The viewer's splat path and `kiln render` (SplatRenderer::render + 8-bit quantization)
    // give the same bytes for the same camera and settings.
    let ctx = ctx();
    let (cloud, cam) = kiln_splat::synthetic::benchmark_scene(4000, 80, 60, 0.0, 9);
    let mut scene = SplatScene::new(&ctx, cloud.clone(), "t".into(), "test".into()).unwrap();
    let style = ViewStyle { background: [1.0, 1.0, 1.0], sh_degree: 1, ..Default::default() };
    let target = Target::new(&ctx, 80, 60).unwrap();
    scene.draw(&ctx, &cam, &style, &target, None).unwrap();
    let shown = target.read_rgba(&ctx).unwrap();
    let offscreen = SplatRenderer::new(ctx.clone()).unwrap().render(&cloud, &cam, &render_settings(&style)).unwrap();
    let expected: Vec<u8> = offscreen.color.chunks(3).flat_map(|c| [to_u8(c[0]), to_u8(c[1]), to_u8(c[2]), 255]).collect();
    assert!(max_diff(&shown, &expected) <= 1, "max difference {}", max_diff(&shown, &expected));

    // The Gaussian scale factor is the cloud rendered with scaled Gaussians.
    let scaled_style = ViewStyle { splat_scale: 2.0, ..style.clone() };
    scene.draw(&ctx, &cam, &scaled_style, &target, None).unwrap();
    let shown_scaled = target.read_rgba(&ctx).unwrap();
    let mut big = cloud.clone();
    big.log_scales.iter_mut().for_each(|s| *s += Vec3::splat(2f32.ln()));
    let off = SplatRenderer::new(ctx.clone()).unwrap().render(&big, &cam, &render_settings(&style)).unwrap();
    let expected_scaled: Vec<u8> = off.color.chunks(3).flat_map(|c| [to_u8(c[0]), to_u8(c[1]), to_u8(c[2]), 255]).collect();
    assert!(max_diff(&shown_scaled, &expected_scaled) <= 1);
    assert!(max_diff(&shown_scaled, &shown) > 10, "scaling must change the image");
}

#[test]
fn opening_bad_inputs_gives_errors_that_name_the_file() {
    let ctx = ctx();
    let dir = tmp("bad");
    let missing = dir.join("missing.ply");
    let e = scenes::open(&ctx, &missing).err().expect("missing file").to_string();
    assert!(e.contains("missing.ply") && e.contains("no such file"), "{e}");
    let garbage = dir.join("garbage.ply");
    std::fs::write(&garbage, b"this is not a ply file").unwrap();
    let e = scenes::open(&ctx, &garbage).err().expect("garbage").to_string();
    assert!(e.contains("garbage.ply"), "{e}");
    let other = dir.join("points.xyz");
    std::fs::write(&other, b"1 2 3").unwrap();
    let e = scenes::open(&ctx, &other).err().expect("unknown type").to_string();
    assert!(e.contains("points.xyz") && e.contains("unknown file type"), "{e}");
    let e = scenes::open(&ctx, &dir).err().expect("folder without a fit").to_string();
    assert!(e.contains("point_cloud.ply"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn run_folder_opens_splats_with_the_dataset_cameras() {
    let ctx = ctx();
    let dir = tmp("run");
    // A two-view NeRF-style dataset with tiny images.
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("train")).unwrap();
    let mut frames = Vec::new();
    for k in 0..2 {
        image::RgbImage::from_pixel(16, 12, image::Rgb([40 * k as u8, 90, 200])).save(data.join(format!("train/r_{k}.png"))).unwrap();
        let x = if k == 0 { 4.0 } else { -4.0 };
        // Camera-to-world, OpenGL axes: looking at the origin along ∓x, y up.
        let m = if k == 0 {
            [[0.0, 0.0, 1.0, x], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
        } else {
            [[0.0, 0.0, -1.0, x], [-1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
        };
        frames.push(serde_json::json!({ "file_path": format!("./train/r_{k}"), "transform_matrix": m }));
    }
    let transforms = serde_json::json!({ "camera_angle_x": 0.69, "frames": frames });
    std::fs::write(data.join("transforms_train.json"), transforms.to_string()).unwrap();
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let (cloud, _) = kiln_splat::synthetic::benchmark_scene(500, 64, 48, 0.0, 1);
    kiln_splat::write_gaussians(&run.join("point_cloud.ply"), &cloud).unwrap();
    std::fs::write(run.join("config.json"), serde_json::json!({ "dataset": data, "resolution": null, "views": null, "background": null, "train": {} }).to_string()).unwrap();

    let scene = scenes::open(&ctx, &run).unwrap();
    let ds = kiln_scene::Dataset::load(&data).unwrap();
    let cams = scene.cameras();
    assert_eq!(cams.len(), 2);
    for (c, v) in cams.iter().zip(&ds.train) {
        assert_eq!(c.camera, v.camera);
        assert_eq!(c.image.as_deref(), Some(v.image_path.as_path()));
        assert_eq!(c.split, "train");
    }
    // World up from the cameras: the NeRF world is z-up.
    assert!(scene.bounds().up.abs_diff_eq(Vec3::Z, 1e-4), "{}", scene.bounds().up);
    assert_eq!(scene.stats().iter().find(|(k, _)| k == "Gaussians").unwrap().1, "500");

    // A run folder whose dataset moved still shows its splats, and says why there are no cameras.
    std::fs::write(run.join("config.json"), serde_json::json!({ "dataset": dir.join("gone") }).to_string()).unwrap();
    let scene = scenes::open(&ctx, &run).unwrap();
    assert!(scene.cameras().is_empty());
    let source = scene.stats().into_iter().find(|(k, _)| k == "source").unwrap().1;
    assert!(source.contains("no cameras") && source.contains("gone"), "{source}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn frusta_project_and_clip_at_the_near_plane() {
    use kiln_viewer::viewer::{frustum_segments, project_segment};
    let view = kiln_scene::Camera::look_at(200, 100, 100.0, 100.0, Vec3::new(0.0, 0.0, -5.0), Vec3::ZERO, Vec3::NEG_Y);
    let cam = kiln_scene::Camera::look_at(40, 30, 40.0, 40.0, Vec3::ZERO, Vec3::new(0.0, 0.0, 5.0), Vec3::NEG_Y);
    let segs = frustum_segments(&cam, 1.0);
    assert_eq!(segs.len(), 9);
    // The apex is the camera centre, projected to the view's image centre.
    let (p, _) = project_segment(&view, segs[1].0, segs[1].1).unwrap();
    assert!((p - glam::Vec2::new(100.0, 50.0)).length() < 1e-3, "{p}");
    // A segment crossing behind the view is cut at its near plane; one fully behind is dropped.
    let (a, b) = (Vec3::new(1.0, 0.0, -10.0), Vec3::new(1.0, 0.0, 0.0));
    let (pa, pb) = project_segment(&view, a, b).unwrap();
    assert!(pa.x.is_finite() && pb.x.is_finite());
    assert!(project_segment(&view, Vec3::new(0.0, 0.0, -6.0), Vec3::new(1.0, 0.0, -7.0)).is_none());
}

/// A 20³ grid holding a ball with colours that vary across it; the "edit" turns the ball's +x
/// half red.
fn ball_grids() -> (kiln_voxel::VoxelGrid, kiln_voxel::VoxelGrid) {
    let mut g = kiln_voxel::VoxelGrid::constant([20; 3], Vec3::splat(-1.0), Vec3::splat(1.0), 0.0, 0.0).unwrap();
    let scale = g.density_scale;
    for k in 0..20 {
        for j in 0..20 {
            for i in 0..20 {
                let p = g.point(i, j, k);
                let idx = g.index(i, j, k);
                g.density[idx] = if p.length() < 0.6 { 40.0 / scale } else { -20.0 / scale };
                g.features[3 * idx..3 * idx + 3].copy_from_slice(&[2.0 * p.x, 2.0 * p.y, -2.0 * p.z]);
            }
        }
    }
    let mut edited = g.clone();
    for idx in 0..edited.len() {
        let (i, j, k) = (idx % 20, (idx / 20) % 20, idx / 400);
        if edited.point(i as u32, j as u32, k as u32).x > 0.1 {
            edited.features[3 * idx..3 * idx + 3].copy_from_slice(&[4.0, -4.0, -4.0]);
        }
    }
    (g, edited)
}

#[test]
fn voxel_scene_is_the_marcher_reference_and_splits_before_after() {
    use kiln_viewer::present::{present_reference_layout, Layout};
    use kiln_viewer::scenes::voxels::{changed_voxels, Compare, VoxelScene};
    let ctx = ctx();
    let (original, edited) = ball_grids();
    let mut scene = VoxelScene::from_grids(&ctx, &edited, Some(&original), "ball").unwrap();
    assert!(changed_voxels(&original, &edited) > 0);
    let cam = kiln_scene::Camera::look_at(64, 48, 60.0, 60.0, Vec3::new(0.3, -0.4, -3.0), Vec3::ZERO, Vec3::NEG_Y);
    let style = ViewStyle { background: [1.0, 1.0, 1.0], depth_range: (2.0, 4.0), ..Default::default() };
    let target = Target::new(&ctx, 64, 48).unwrap();
    let rays = kiln_voxel::rays::camera_rays(&cam);
    let mut shown = std::collections::HashMap::new();
    for (compare, grid) in [(Compare::Edited, &edited), (Compare::Original, &original)] {
        for mode in DisplayMode::ALL {
            scene.compare = compare;
            let style = ViewStyle { mode, ..style.clone() };
            scene.draw(&ctx, &cam, &style, &target, None).unwrap();
            let gpu = target.read_rgba(&ctx).unwrap();
            // The CPU reference of the march (without empty-space skipping, which drops only
            // cells whose opacity is below 1e-3), then the present kernel's host reference.
            let out: Vec<f32> = kiln_voxel::reference::forward(grid, None, &VoxelScene::settings(grid, &style), &rays, 0).into_iter().map(|v| v as f32).collect();
            let host = present_reference_layout(64 * 48, Layout::voxel_rays(), &out, &out, &out, mode, style.depth_range);
            let d = max_diff(&gpu, &host);
            assert!(d <= 2, "{compare:?} {mode:?}: max difference {d}");
            let first = &host[..4];
            assert!(host.chunks(4).any(|p| p != first), "{compare:?} {mode:?}: flat image");
            shown.insert((compare, mode.name()), gpu);
        }
    }
    assert!(max_diff(&shown[&(Compare::Edited, "colour")], &shown[&(Compare::Original, "colour")]) > 100, "the edit must show");
    // Split: the original left of the line, the edit right of it, column for column.
    scene.compare = Compare::Split;
    scene.split = 0.25;
    scene.draw(&ctx, &cam, &style, &target, None).unwrap();
    let split = target.read_rgba(&ctx).unwrap();
    for (i, px) in split.chunks(4).enumerate() {
        let from = if i % 64 < 16 { &shown[&(Compare::Original, "colour")] } else { &shown[&(Compare::Edited, "colour")] };
        assert_eq!(px, &from[4 * i..4 * i + 4], "pixel {i}");
    }
}

/// A wavy 9×9 height field facing the camera, coloured by position, and a triangle in front of
/// part of it (depth test), as one mesh.
fn test_mesh() -> kiln_scene::mesh::Mesh {
    let n = 9;
    let mut positions = Vec::new();
    let mut colors = Vec::new();
    for j in 0..n {
        for i in 0..n {
            let (x, y) = (-1.0 + 2.0 * i as f64 / (n - 1) as f64, -1.0 + 2.0 * j as f64 / (n - 1) as f64);
            positions.push([x, y, 0.3 * (2.0 * x).sin() * (1.5 * y).cos()]);
            colors.push([(0.5 + 0.5 * x) as f32, (0.5 + 0.5 * y) as f32, 0.3]);
        }
    }
    let mut faces = Vec::new();
    for j in 0..n - 1 {
        for i in 0..n - 1 {
            let v = (j * n + i) as u32;
            faces.push([v, v + 1, v + n as u32 + 1]);
            faces.push([v, v + n as u32 + 1, v + n as u32]);
        }
    }
    let base = positions.len() as u32;
    positions.extend([[-0.8, -0.8, -0.6], [0.5, -0.6, -0.5], [-0.2, 0.6, -0.7]]);
    colors.extend([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1], [0.1, 0.1, 0.9]]);
    faces.push([base, base + 1, base + 2]);
    kiln_scene::mesh::Mesh::from_parts("test mesh", positions, faces, Some(colors)).unwrap()
}

#[test]
fn mesh_pass_matches_the_cpu_rasterizer() {
    use kiln_viewer::scenes::mesh::{reference_render, Coloring, MeshPart, MeshScene};
    let ctx = ctx();
    let part = MeshPart { name: "m".into(), mesh: test_mesh(), offset: Vec3::ZERO, fields: Vec::new() };
    let mut scene = MeshScene::new(&ctx, vec![part], None, Coloring::Colors, "m".into(), "test".into()).unwrap();
    let cam = kiln_scene::Camera::look_at(80, 60, 70.0, 70.0, Vec3::new(0.4, -0.3, -3.0), Vec3::ZERO, Vec3::NEG_Y);
    let target = Target::new(&ctx, 80, 60).unwrap();
    for mode in DisplayMode::ALL {
        let style = ViewStyle { mode, background: [0.1, 0.2, 0.3], depth_range: (2.0, 4.0), ..Default::default() };
        scene.draw(&ctx, &cam, &style, &target, None).unwrap();
        let gpu = target.read_rgba(&ctx).unwrap();
        let host = reference_render(scene.geometry(), &cam, &style);
        // Pixels whose centre lies on a triangle edge may go either way (fill rules); the rest
        // agree to rounding.
        let pixels = gpu.len() / 4;
        let differing = gpu.chunks(4).zip(host.chunks(4)).filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| x.abs_diff(*y) > 2)).count();
        assert!(differing * 100 <= pixels, "{mode:?}: {differing} of {pixels} pixels differ");
        let first = &host[..4];
        assert!(host.chunks(4).any(|p| p != first), "{mode:?}: flat image");
    }
    // The triangle in front hides the surface behind it: its red corner region is red.
    let style = ViewStyle { background: [0.1, 0.2, 0.3], ..Default::default() };
    let host = reference_render(scene.geometry(), &cam, &style);
    assert!(host.chunks(4).any(|p| p[0] > 150 && p[1] < 80 && p[2] < 80), "the front triangle must be visible");
}

#[test]
fn mesh_files_pairs_and_fields_open_with_clear_errors() {
    use kiln_viewer::scenes::mesh::{read_fields, MeshScene};
    let ctx = ctx();
    let dir = tmp("mesh");
    let mesh = test_mesh();
    let a = dir.join("a.off");
    mesh.write(&a).unwrap();
    let ply = dir.join("a.ply");
    mesh.write(&ply).unwrap();
    // Files open as the right kind (a PLY with faces is a mesh, not splats).
    for p in [&a, &ply] {
        let scene = scenes::open(&ctx, p).unwrap();
        assert!(scene.stats().iter().any(|(_, v)| v.contains("84 vertices")), "{p:?}: {:?}", scene.stats());
    }
    // A matched pair: the second mesh is the first with its vertices reversed; the map sends
    // each vertex of the second to the same point on the first, so colours follow positions.
    let n = mesh.num_vertices();
    let rev: Vec<usize> = (0..n).rev().collect();
    let positions: Vec<[f64; 3]> = rev.iter().map(|&i| mesh.positions[i]).collect();
    let faces: Vec<[u32; 3]> = mesh.faces.iter().map(|f| f.map(|i| (n - 1 - i as usize) as u32)).collect();
    let b = dir.join("b.off");
    kiln_scene::mesh::Mesh::from_parts("b", positions.clone(), faces, None).unwrap().write(&b).unwrap();
    let map = dir.join("map.txt");
    std::fs::write(&map, rev.iter().map(|i| format!("{i}\n")).collect::<String>()).unwrap();
    let pair = MeshScene::open_pair(&ctx, &a, &b, &map).unwrap();
    let g = pair.geometry();
    assert_eq!(g.positions.len(), 2 * n);
    for j in 0..n {
        assert_eq!(g.colors[n + j], g.colors[rev[j]], "vertex {j} of the second mesh");
    }
    assert!(pair.stats().iter().any(|(k, v)| k == "map" && v.contains("100.0 %")), "{:?}", pair.stats());
    // A map of the wrong length, or indices out of range, is refused naming the file.
    std::fs::write(&map, "0\n1\n").unwrap();
    let e = MeshScene::open_pair(&ctx, &a, &b, &map).err().expect("short map").to_string();
    assert!(e.contains("map.txt"), "{e}");
    // Fields: one row per vertex; a wrong row count or a bad number names the file and line.
    let fields = dir.join("fields.txt");
    std::fs::write(&fields, (0..n).map(|i| format!("{i} {}\n", (i as f32).sin())).collect::<String>()).unwrap();
    assert_eq!(read_fields(&fields, n).unwrap().len(), 2);
    let scene = MeshScene::open(&ctx, &a, Some(&fields)).unwrap();
    assert!(matches!(scene.coloring, kiln_viewer::scenes::mesh::Coloring::Field(0)));
    let e = read_fields(&fields, n + 1).err().unwrap().to_string();
    assert!(e.contains("fields.txt") && e.contains("rows"), "{e}");
    std::fs::write(&fields, "1 2\n3 x\n").unwrap();
    let e = read_fields(&fields, 2).err().unwrap().to_string();
    assert!(e.contains("line 2") && e.contains("\"x\""), "{e}");
    // A face index out of range in an OFF file is the mesh reader's clear error.
    let bad = dir.join("bad.off");
    std::fs::write(&bad, "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n").unwrap();
    let e = scenes::open(&ctx, &bad).err().unwrap().to_string();
    assert!(e.contains("bad.off") && e.contains("vertex 7"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn voxel_grid_files_open_as_voxel_scenes() {
    let ctx = ctx();
    let dir = tmp("kvox");
    let (original, edited) = ball_grids();
    // A fit run and an edit run of it, as `kiln voxel fit` and `kiln voxel edit` lay them out.
    let fit = dir.join("fit");
    std::fs::create_dir_all(&fit).unwrap();
    original.save(&fit.join("grid.kvox")).unwrap();
    let edit = dir.join("edit");
    std::fs::create_dir_all(&edit).unwrap();
    edited.save(&edit.join("grid.kvox")).unwrap();
    std::fs::write(edit.join("config.json"), serde_json::json!({ "source_run": fit }).to_string()).unwrap();
    let scene = scenes::open(&ctx, &fit.join("grid.kvox")).unwrap();
    assert!(scene.stats().iter().any(|(k, v)| k == "grid" && v == "20×20×20"), "{:?}", scene.stats());
    let scene = scenes::open(&ctx, &edit).unwrap();
    let changed = scene.stats().into_iter().find(|(k, _)| k == "edited voxels").expect("an edit run shows its changed voxels").1;
    let expected = kiln_viewer::scenes::splats::group_thousands(kiln_viewer::scenes::voxels::changed_voxels(&original, &edited));
    assert!(changed.starts_with(&format!("{expected} (")), "{changed} vs {expected}");
    // An edit run whose original is missing names the file it looked for.
    std::fs::remove_file(fit.join("grid.kvox")).unwrap();
    let e = scenes::open(&ctx, &edit).err().expect("missing original").to_string();
    assert!(e.contains("grid.kvox"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn occupancy_run_folders_open_their_first_prediction_mesh() {
    let ctx = ctx();
    let run = tmp("occ-run");
    let predictions = run.join("predictions");
    std::fs::create_dir_all(&predictions).unwrap();
    // A run that has not finished: a clear error naming the folder.
    let e = scenes::open(&ctx, &run).err().expect("empty predictions").to_string();
    assert!(e.contains("predictions") && e.contains("scene_"), "{e}");
    let mut mesh = test_mesh();
    mesh.colors = Some(vec![[1.0, 0.62, 0.0]; mesh.num_vertices()]);
    mesh.write(predictions.join("scene_7.ply")).unwrap();
    mesh.write(predictions.join("scene_3.ply")).unwrap();
    let scene = scenes::open(&ctx, &run).unwrap();
    assert!(scene.title().contains("scene_3"), "{}", scene.title());
    assert!(scene.stats().iter().any(|(_, v)| v.contains("84 vertices")), "{:?}", scene.stats());
    // Street scenes are z-up.
    assert_eq!(scene.bounds().up, Vec3::Z);
    std::fs::remove_dir_all(&run).ok();
}
