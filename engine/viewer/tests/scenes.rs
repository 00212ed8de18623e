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
        presenter.encode(&ctx, &mut enc, &fwd, mode, range, &target, None);
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
