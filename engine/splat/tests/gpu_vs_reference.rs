//! The GPU rasterizer against the CPU reference (f64) on random clouds, and against the gsplat
//! golden renders. Runs on whatever adapter kiln picks (lavapipe in CI).
//!
//! Tolerances:
//! - forward colour/alpha/depth: |gpu − cpu| ≤ 2e-4 + 2e-3·|cpu| per value (f32 vs f64 math);
//! - gradients: |gpu − cpu| ≤ 2e-3·max|cpu of the group| + 1e-2·|cpu| per value (f32, and
//!   float atomics sum in any order). Log-scale and rotation gradients of needle-like splats
//!   (blurred 2D covariance with condition number > 1e4) are left out: in f32 they are a small
//!   difference of large per-pixel sums and change with the atomics' order (seen: ±0.009 against
//!   0.004 in f64). At most 2 % of the splats may be left out.
//! - golden renders: ≤ 1e-5 + 1 %·|ref| per value (Brush's own acceptance test).

use glam::{Mat3, Vec3};
use kiln_gpu::GpuContext;
use kiln_scene::Camera;
use kiln_splat::testing::{compare, kiln_data_or_skip, load_golden, random_cloud, random_output_grads, RandomCloudSpec};
use kiln_splat::{reference, CloudGrads, ColorSource, GaussianCloud, RenderSettings, SplatRenderer};
use std::sync::{Arc, OnceLock};

fn renderer() -> &'static SplatRenderer {
    static R: OnceLock<SplatRenderer> = OnceLock::new();
    R.get_or_init(|| {
        let ctx = GpuContext::shared().expect("a Vulkan adapter (lavapipe in CI)");
        eprintln!("adapter: {}", ctx.describe());
        SplatRenderer::new(ctx).unwrap()
    })
}

/// A renderer on the compare-and-swap path (no float atomics), with and without the
/// subgroup reduction.
fn cas_renderer(subgroups: bool) -> SplatRenderer {
    let mut ctx = GpuContext::new().unwrap();
    ctx.float_atomics = false;
    let mut r = SplatRenderer::new(Arc::new(ctx)).unwrap();
    r.set_subgroup_reduce(subgroups);
    r
}

/// The shared context's renderer with the subgroup reduction forced on or off.
fn renderer_with_subgroup_reduce(on: bool) -> SplatRenderer {
    let mut r = SplatRenderer::new(GpuContext::shared().unwrap()).unwrap();
    r.set_subgroup_reduce(on);
    r
}

fn check_forward(r: &SplatRenderer, cloud: &GaussianCloud, cam: &Camera, s: &RenderSettings) {
    let gpu = r.render(cloud, cam, s).unwrap();
    let cpu = reference::render(cloud, cam, s);
    compare("colour", &gpu.color, &cpu.color, 2e-4, 2e-3).unwrap();
    compare("alpha", &gpu.alpha, &cpu.alpha, 2e-4, 2e-3).unwrap();
    compare("depth", &gpu.depth, &cpu.depth, 2e-4, 2e-3).unwrap();
}

fn compare_grads(what: &str, gpu: &[f32], cpu: &[f32]) {
    let scale = cpu.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    compare(what, gpu, cpu, 2e-3 * scale + 1e-7, 1e-2).unwrap();
}

fn check_backward(r: &SplatRenderer, cloud: &GaussianCloud, cam: &Camera, s: &RenderSettings, seed: u64) -> CloudGrads {
    let channels = s.channels(cloud);
    let grads = random_output_grads(seed, cam.width, cam.height, channels);
    let (_, gpu) = r.render_backward(cloud, cam, s, &grads).unwrap();
    let cpu = reference::backward(cloud, cam, s, &grads);
    let flat3 = |v: &[Vec3]| v.iter().flat_map(|x| x.to_array()).collect::<Vec<f32>>();
    compare_grads("d means", &flat3(&gpu.means), &flat3(&cpu.means));
    let needles = ill_conditioned(cloud, cam, s);
    assert!(needles.len() * 50 <= cloud.len().max(50), "{} of {} splats ill-conditioned", needles.len(), cloud.len());
    let keep = |i: usize| !needles.contains(&i);
    let (mut gl, mut cl, mut gr, mut cr) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in (0..cloud.len()).filter(|&i| keep(i)) {
        gl.extend(gpu.log_scales[i].to_array());
        cl.extend(cpu.log_scales[i].to_array());
        gr.extend(gpu.rotations[i]);
        cr.extend(cpu.rotations[i]);
    }
    compare_grads("d log_scales", &gl, &cl);
    compare_grads("d rotations", &gr, &cr);
    compare_grads("d opacity", &gpu.opacity_logits, &cpu.opacity_logits);
    compare_grads("d sh", &gpu.sh, &cpu.sh);
    compare_grads("d features", &gpu.features, &cpu.features);
    compare_grads("mean2d grad norm", &gpu.mean2d_grad_norm, &cpu.mean2d_grad_norm);
    for g in [&gpu.opacity_logits, &gpu.sh, &gpu.mean2d_grad_norm] {
        assert!(g.iter().all(|v| v.is_finite()));
    }
    gpu
}

/// Visible splats whose blurred 2D covariance has a condition number above 1e4.
fn ill_conditioned(cloud: &GaussianCloud, cam: &Camera, s: &RenderSettings) -> Vec<usize> {
    reference::project_cloud(cloud, cam, s)
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            let (a, b, c) = (p.cov2d[0] + s.eps2d as f64, p.cov2d[1], p.cov2d[2] + s.eps2d as f64);
            let mean = 0.5 * (a + c);
            let r = (0.25 * (a - c) * (a - c) + b * b).sqrt();
            p.visible && (mean + r) > 1e4 * (mean - r).max(1e-300)
        })
        .map(|(i, _)| i)
        .collect()
}

/// A tilted camera so that world and camera axes differ.
fn tilted_camera(width: u32, height: u32) -> Camera {
    Camera::look_at(width, height, 60.0, 55.0, Vec3::new(0.4, -0.3, -6.0), Vec3::new(0.1, 0.2, 0.0), Vec3::NEG_Y)
}

/// Random clouds with the awkward cases mixed in: behind the camera, straddling the near plane,
/// tiny and huge scales, zero opacity, zero and NaN quaternions, far off-screen.
fn hard_cloud(seed: u64, cam: Camera, count: usize, sh_degree: u32, features: usize) -> GaussianCloud {
    let mut cloud = random_cloud(&RandomCloudSpec {
        seed,
        count,
        sh_degree,
        feature_channels: features,
        camera: cam,
        depth_range: (0.5, 12.0),
        screen_margin: 0.5,
        log_scale_range: (-7.0, 0.5),
        opacity_range: (0.02, 0.99),
        behind_fraction: 0.15,
        ..Default::default()
    });
    let n = cloud.len();
    let c = cam.center();
    let fwd = cam.rotation.transpose() * Vec3::Z;
    // Straddling the near plane: centre just in front of / behind it, large extent.
    cloud.means[0] = c + fwd * (cam.near * 0.5);
    cloud.log_scales[0] = Vec3::splat(0.3);
    cloud.means[1] = c + fwd * (cam.near * 2.0);
    cloud.log_scales[1] = Vec3::splat(-1.0);
    cloud.opacity_logits[2] = -40.0; // zero opacity
    cloud.rotations[3] = [0.0; 4]; // zero quaternion
    cloud.rotations[4] = [f32::NAN, 0.0, 0.0, 1.0];
    cloud.means[5] = c + fwd * 3.0 + cam.rotation.transpose() * Vec3::new(1e4, 0.0, 0.0); // far off-screen
    cloud.log_scales[6] = Vec3::new(2.5, -6.0, 0.0); // huge and flat
    cloud.log_scales[7] = Vec3::splat(-12.0); // tiny: the 0.3 px² blur dominates
    assert!(n > 8);
    cloud
}

#[test]
fn forward_matches_reference_sh_degrees_and_odd_sizes() {
    for (seed, (w, h), degree) in [(1u64, (70u32, 45u32), 3u32), (2, (33, 17), 0), (3, (16, 16), 1), (4, (50, 81), 2)] {
        let cam = tilted_camera(w, h);
        let cloud = hard_cloud(seed, cam, 300, degree, 0);
        let s = RenderSettings { background: vec![0.2, 0.5, 0.9], ..Default::default() };
        check_forward(renderer(), &cloud, &cam, &s);
        let s = RenderSettings { alpha_clamp: 0.99, antialiased: true, sh_degree: Some(degree.min(1)), ..Default::default() };
        check_forward(renderer(), &cloud, &cam, &s);
    }
}

/// The batched forward (one wait for every render's pair count, one for every image) renders
/// what one `render` per cloud renders, clouds and camera sizes differing, an empty cloud and
/// a fully culled one among them.
#[test]
fn batched_forward_equals_one_render_at_a_time() {
    let r = renderer();
    let ctx = r.context();
    let s = RenderSettings { background: vec![0.1, 0.6, 0.3], ..Default::default() };
    let cams = [tilted_camera(40, 30), tilted_camera(33, 17), Camera::identity(20, 10, 20.0, 20.0), tilted_camera(16, 16)];
    let mut behind = hard_cloud(51, cams[2], 20, 0, 0);
    behind.means.iter_mut().for_each(|m| m.z = -m.z.abs() - 1.0);
    let clouds = [hard_cloud(11, cams[0], 200, 1, 0), hard_cloud(12, cams[1], 80, 0, 0), behind, GaussianCloud { sh_degree: 0, ..Default::default() }];
    let gpu: Vec<_> = clouds.iter().map(|c| kiln_splat::GpuCloud::upload(ctx, c).unwrap()).collect();
    let jobs: Vec<_> = gpu.iter().zip(&cams).collect();
    let states = r.forward_many(&jobs, &s).unwrap();
    let batched = r.read_outputs(&states).unwrap();
    assert_eq!(batched.len(), clouds.len());
    for (i, ((cloud, cam), out)) in clouds.iter().zip(&cams).zip(&batched).enumerate() {
        let single = r.render(cloud, cam, &s).unwrap();
        assert_eq!((out.width, out.height, out.channels), (single.width, single.height, single.channels), "render {i}: size");
        assert_eq!(out.color, single.color, "render {i}: colour");
        assert_eq!(out.alpha, single.alpha, "render {i}: alpha");
        assert_eq!(out.depth, single.depth, "render {i}: depth");
    }
}

#[test]
fn backward_matches_reference() {
    let cam = tilted_camera(70, 45);
    let cloud = hard_cloud(11, cam, 250, 3, 0);
    let s = RenderSettings { background: vec![0.3, 0.1, 0.6], ..Default::default() };
    let g = check_backward(renderer(), &cloud, &cam, &s, 5);
    // Culled Gaussians get exactly zero.
    for i in [2usize, 3, 4, 5] {
        assert_eq!(g.means[i], Vec3::ZERO, "gaussian {i}");
        assert_eq!(g.opacity_logits[i], 0.0, "gaussian {i}");
    }
    let s = RenderSettings { antialiased: true, alpha_clamp: 0.99, ..Default::default() };
    check_backward(renderer(), &cloud, &cam, &s, 6);
    // Both reduction strategies, whatever the adapter's default.
    for on in [true, false] {
        check_backward(&renderer_with_subgroup_reduce(on), &cloud, &cam, &s, 12);
    }
}

#[test]
fn feature_channels_beyond_32() {
    let cam = tilted_camera(40, 37);
    let cloud = hard_cloud(21, cam, 150, 0, 40);
    let s = RenderSettings { color_source: ColorSource::Features, ..Default::default() };
    check_forward(renderer(), &cloud, &cam, &s);
    check_backward(renderer(), &cloud, &cam, &s, 7);
}

#[test]
fn more_than_10000_gaussians_on_one_tile() {
    let cam = Camera::identity(40, 40, 40.0, 40.0);
    let mut cloud = random_cloud(&RandomCloudSpec {
        seed: 31,
        count: 12_000,
        sh_degree: 1,
        camera: cam,
        depth_range: (1.0, 9.0),
        screen_margin: -0.42, // means within pixels 16.8..23.2: all on tile (1, 1)
        log_scale_range: (-4.0, -3.0),
        opacity_range: (0.004, 0.01),
        ..Default::default()
    });
    cloud.opacity_logits.iter_mut().take(10).for_each(|l| *l = 4.0);
    let s = RenderSettings::default();
    check_forward(renderer(), &cloud, &cam, &s);
    check_backward(renderer(), &cloud, &cam, &s, 8);
}

#[test]
fn compare_and_swap_path_matches_reference() {
    let cam = tilted_camera(37, 29);
    let cloud = hard_cloud(41, cam, 120, 2, 0);
    let s = RenderSettings::default();
    for subgroups in [true, false] {
        check_backward(&cas_renderer(subgroups), &cloud, &cam, &s, 9);
    }
}

#[test]
fn empty_and_fully_culled_clouds_render_the_background() {
    let cam = Camera::identity(20, 10, 20.0, 20.0);
    let s = RenderSettings { background: vec![0.25, 0.5, 0.75], ..Default::default() };
    let empty = GaussianCloud { sh_degree: 0, ..Default::default() };
    let out = renderer().render(&empty, &cam, &s).unwrap();
    assert!(out.color.chunks(3).all(|c| c == [0.25, 0.5, 0.75]));
    assert!(out.alpha.iter().all(|&a| a == 0.0));
    let mut behind = hard_cloud(51, cam, 20, 0, 0);
    behind.means.iter_mut().for_each(|m| m.z = -m.z.abs() - 1.0);
    let out = renderer().render(&behind, &cam, &s).unwrap();
    assert!(out.alpha.iter().all(|&a| a == 0.0));
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let cam = Camera::identity(20, 10, 20.0, 20.0);
    let mut cloud = hard_cloud(61, cam, 20, 1, 0);
    cloud.sh.pop();
    assert!(renderer().render(&cloud, &cam, &RenderSettings::default()).is_err());
    let cloud = hard_cloud(61, cam, 20, 1, 0);
    let bad_cam = Camera { fx: f32::NAN, ..cam };
    assert!(renderer().render(&cloud, &bad_cam, &RenderSettings::default()).is_err());
    let s = RenderSettings { color_source: ColorSource::Features, ..Default::default() };
    assert!(renderer().render(&cloud, &cam, &s).is_err());
    let s = RenderSettings { alpha_clamp: 1.5, ..Default::default() };
    assert!(renderer().render(&cloud, &cam, &s).is_err());
}

#[test]
fn golden_renders_match_gsplat() {
    let Some(data) = kiln_data_or_skip("golden_renders_match_gsplat") else { return };
    for case in ["tiny_case", "basic_case"] {
        let g = load_golden(&data.join(format!("golden/brush/{case}.safetensors"))).unwrap();
        let out = renderer().render(&g.cloud, &g.camera, &g.settings).unwrap();
        let rgba: Vec<f32> = (0..(g.width * g.height) as usize)
            .flat_map(|i| [out.color[3 * i], out.color[3 * i + 1], out.color[3 * i + 2], out.alpha[i]])
            .collect();
        let max_err = rgba.iter().zip(&g.image).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        eprintln!("{case}: GPU max |error| {max_err:.2e}");
        compare(case, &rgba, &g.image, 1e-5, 0.01).unwrap();
    }
}

#[test]
fn rotation_of_the_world_and_camera_together_changes_nothing() {
    // Rotating every Gaussian and the camera by the same rotation gives the same image
    // (up to SH, which is world-anchored: use degree 0).
    let cam = tilted_camera(48, 32);
    let cloud = hard_cloud(71, cam, 200, 0, 0);
    let rot = Mat3::from_axis_angle(Vec3::new(1.0, 2.0, 3.0).normalize(), 0.7);
    let mut turned = cloud.clone();
    let q = glam::Quat::from_mat3(&rot);
    for (m, r) in turned.means.iter_mut().zip(turned.rotations.iter_mut()) {
        *m = rot * *m;
        let g = glam::Quat::from_xyzw(r[1], r[2], r[3], r[0]);
        let n = q * g;
        *r = [n.w, n.x, n.y, n.z];
    }
    let cam2 = Camera { rotation: cam.rotation * rot.transpose(), ..cam };
    let s = RenderSettings::default();
    let a = renderer().render(&cloud, &cam, &s).unwrap();
    let b = renderer().render(&turned, &cam2, &s).unwrap();
    compare("colour", &b.color, &a.color, 2e-3, 1e-2).unwrap();
}

#[test]
fn clouds_split_across_several_bindings_match_reference() {
    // Clouds whose SH exceed one storage binding (1M Gaussians on lavapipe's 128 MiB) are
    // projected in pieces; force 256-Gaussian pieces on a small cloud to cover that path.
    let mut r = SplatRenderer::new(GpuContext::shared().unwrap()).unwrap();
    r.set_max_chunk(256);
    let cam = tilted_camera(45, 33);
    let cloud = hard_cloud(81, cam, 1000, 3, 0);
    let s = RenderSettings::default();
    check_forward(&r, &cloud, &cam, &s);
    check_backward(&r, &cloud, &cam, &s, 10);
    let cloud = hard_cloud(82, cam, 700, 0, 20);
    let s = RenderSettings { color_source: ColorSource::Features, ..Default::default() };
    check_forward(&r, &cloud, &cam, &s);
    check_backward(&r, &cloud, &cam, &s, 11);
}
