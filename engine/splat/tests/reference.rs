//! Tests of the CPU reference rasterizer (`kiln_splat::reference`): golden renders, finite
//! differences of every parameter group, hand-computed values, and edge cases.

use glam::{Mat3, Vec3};
use kiln_scene::camera::Camera;
use kiln_splat::reference::{
    self, backward64, project64, render64, trace_image, Camera64, Grads64, Output64, OutputGrads64, ParamGroup,
    Params64, Settings64,
};
use kiln_splat::testing::{self, random_cloud, random_output_grads, RandomCloudSpec};
use kiln_splat::{ColorSource, GaussianCloud, RenderSettings};

// ---------------------------------------------------------------------------------------------
// Golden renders

/// gsplat's classic-mode renders of `golden/brush/` (RGB and alpha), within Brush's own
/// acceptance tolerance |ours − ref| ≤ 1e-5 + 0.01·|ref| per element.
fn golden(name: &str) {
    let Some(data) = testing::kiln_data_or_skip(name) else { return };
    let path = data.join("golden/brush").join(format!("{name}.safetensors"));
    let case = testing::load_golden(&path).unwrap();
    assert_eq!((case.width, case.height), (123, 82));
    let out = reference::render(&case.cloud, &case.camera, &case.settings);
    let mut ours = Vec::with_capacity(case.image.len());
    for p in 0..(case.width * case.height) as usize {
        ours.extend_from_slice(&out.color[p * 3..p * 3 + 3]);
        ours.push(out.alpha[p]);
    }
    testing::compare(name, &ours, &case.image, 1e-5, 0.01).unwrap();
    // The tolerance is loose next to the f64 agreement the data README reports (~1e-6); keep
    // an eye on the real error so that a regression inside the tolerance is still visible.
    let max_err = ours.iter().zip(&case.image).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    eprintln!("{name}: max |ours − ref| = {max_err:e}");
    assert!(max_err <= 1e-5, "{name}: max error {max_err:e}; the f64 reference reproduces these to ~1e-6");
    assert!(case.image.iter().any(|&v| v > 0.1), "{name}: the golden image should not be empty");
}

#[test]
fn golden_tiny_case() {
    golden("tiny_case");
}

#[test]
fn golden_basic_case() {
    golden("basic_case");
}

// ---------------------------------------------------------------------------------------------
// Finite differences

/// L = Σ g_C·C + g_A·A + g_D·D, the linear loss whose gradient `backward64` returns.
fn loss(out: &Output64, g: &OutputGrads64) -> f64 {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    dot(&out.color, &g.color) + dot(&out.alpha, &g.alpha) + dot(&out.depth, &g.depth)
}

fn grads64(seed: u64, cam: &Camera, channels: usize) -> OutputGrads64 {
    (&random_output_grads(seed, cam.width, cam.height, channels)).into()
}

/// Central differences with step `H` in f64. Truncation error is O(H²·L‴) and rounding
/// O(1e-16·Σ|terms of L|/H); with H = 1e-5 both stay below 3 % of the tolerance in these scenes
/// (at H = 1e-7 rounding alone exceeds it in the dense scene, whose L sums large depth terms).
const H: f64 = 1e-5;
/// A parameter passes when |fd − analytic| ≤ FD_ATOL·scale + FD_RTOL·max(|fd|, |analytic|),
/// with `scale` the largest |analytic| of its group (so near-zero entries of a group are
/// judged against the group's magnitude, not against rounding noise).
const FD_ATOL: f64 = 1e-6;
const FD_RTOL: f64 = 1e-5;

struct FdStats {
    checked: usize,
    skipped: usize,
    worst: f64,
}

/// Checks every parameter of `groups` against central differences. A perturbation that changes
/// the render's discrete structure (`Output64::structure`: a Gaussian crossing the 1/255 cutoff,
/// the alpha clamp, the T stop, a Jacobian or SH clamp) is skipped, since the render is not
/// differentiable across it; at most 10 % may be skipped, so the checks cannot silently vanish.
fn fd_check(
    label: &str,
    params: &Params64,
    cam: &Camera64,
    st: &Settings64,
    g: &OutputGrads64,
    groups: &[ParamGroup],
) -> FdStats {
    let base = render64(params, cam, st);
    let an = backward64(params, cam, st, g);
    let mut stats = FdStats { checked: 0, skipped: 0, worst: 0.0 };
    let mut failures = Vec::new();
    for &group in groups {
        let n = params.group(group).len();
        let scale = an.group(group).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for j in 0..n {
            let eval = |delta: f64| {
                let mut p = params.clone();
                p.group_mut(group)[j] += delta;
                render64(&p, cam, st)
            };
            let (up, down) = (eval(H), eval(-H));
            if up.structure != base.structure || down.structure != base.structure {
                stats.skipped += 1;
                continue;
            }
            stats.checked += 1;
            let fd = (loss(&up, g) - loss(&down, g)) / (2.0 * H);
            let a = an.group(group)[j];
            let err = (fd - a).abs();
            let tol = FD_ATOL * scale + FD_RTOL * fd.abs().max(a.abs());
            stats.worst = stats.worst.max(err / tol);
            // Negated so that a NaN fails.
            #[allow(clippy::neg_cmp_op_on_partial_ord)]
            if !(err <= tol) {
                let per = params.per_splat(group).max(1);
                failures.push(format!("{group:?}[{}][{}]: fd {fd:.9e} analytic {a:.9e}", j / per, j % per));
            }
        }
    }
    eprintln!(
        "{label}: {} checked, {} skipped, worst error {:.3} of tolerance",
        stats.checked, stats.skipped, stats.worst
    );
    assert!(
        failures.is_empty(),
        "{label}: {} of {} gradients disagree with finite differences:\n{}",
        failures.len(),
        stats.checked,
        failures.join("\n")
    );
    assert!(
        stats.skipped * 10 <= stats.checked + stats.skipped,
        "{label}: {} of {} perturbations crossed a discontinuity",
        stats.skipped,
        stats.checked + stats.skipped
    );
    stats
}

/// A tilted camera (so R is not the identity) on an image that is not a multiple of 16.
fn fd_camera() -> Camera {
    Camera::look_at(45, 35, 40.0, 38.0, Vec3::new(0.6, -0.4, -5.0), Vec3::new(0.1, 0.05, 0.0), Vec3::NEG_Y)
}

/// Appends one Gaussian at pixel (px, py) and camera depth z.
#[allow(clippy::too_many_arguments)]
fn push_gaussian(
    cloud: &mut GaussianCloud,
    cam: &Camera,
    px: f32,
    py: f32,
    z: f32,
    log_scale: [f32; 3],
    q: [f32; 4],
    opacity: f32,
    dc_rgb: [f32; 3],
) {
    let p_cam = Vec3::new((px - cam.cx) * z / cam.fx, (py - cam.cy) * z / cam.fy, z);
    cloud.means.push(cam.rotation.transpose() * (p_cam - cam.translation));
    cloud.log_scales.push(log_scale.into());
    cloud.rotations.push(q);
    cloud.opacity_logits.push((opacity / (1.0 - opacity)).ln());
    let k = kiln_splat::sh_coeffs(cloud.sh_degree);
    for kk in 0..k {
        for (c, dc) in dc_rgb.iter().enumerate() {
            cloud.sh.push(if kk == 0 {
                (dc - 0.5) / reference::sh::SH_C0 as f32
            } else {
                0.05 * ((kk * 3 + c) as f32).sin()
            });
        }
    }
    for f in 0..cloud.feature_channels {
        cloud.features.push(((f * 7 + cloud.means.len()) as f32 * 0.37).sin());
    }
}

/// Eight random Gaussians of moderate opacity, plus one whose Jacobian is clamped in x (it sits
/// right of the image but is large enough to reach into it) and one with a clamped red channel.
fn smooth_scene(sh_degree: u32, feature_channels: usize, seed: u64) -> (GaussianCloud, Camera) {
    let cam = fd_camera();
    let mut cloud = random_cloud(&RandomCloudSpec {
        seed,
        count: 8,
        sh_degree,
        feature_channels,
        camera: cam,
        depth_range: (3.5, 6.0),
        screen_margin: 0.0,
        log_scale_range: (-2.2, -1.0),
        opacity_range: (0.2, 0.8),
        sh_rest_std: 0.3,
        ..RandomCloudSpec::default()
    });
    push_gaussian(
        &mut cloud,
        &cam,
        1.3 * cam.width as f32,
        0.4 * cam.height as f32,
        4.0,
        [0.3, 0.1, -0.2],
        [0.9, 0.2, -0.3, 0.1],
        0.7,
        [0.8, 0.3, 0.5],
    );
    push_gaussian(
        &mut cloud,
        &cam,
        0.3 * cam.width as f32,
        0.6 * cam.height as f32,
        4.5,
        [-1.5, -1.2, -1.8],
        [0.5, 0.5, 0.1, -0.4],
        0.6,
        [-0.4, 0.6, 0.9],
    );
    (cloud, cam)
}

/// Ten nearly opaque Gaussians piled up in the middle, half of them centred on a pixel centre
/// with o' > alpha_clamp: α clamps there and T drops below 1e-4, so the clamp and stop
/// branches of the backward are exercised.
fn dense_scene() -> (GaussianCloud, Camera) {
    let cam = fd_camera();
    let mut cloud = GaussianCloud { sh_degree: 1, ..GaussianCloud::default() };
    for i in 0..10 {
        let t = i as f32;
        let opacity = if i % 2 == 0 { 0.99995 } else { 0.95 + 0.004 * t };
        push_gaussian(
            &mut cloud,
            &cam,
            (20.0 + 4.0 * (t * 1.3).sin()).round() + 0.5,
            (17.0 + 4.0 * (t * 0.7).cos()).round() + 0.5,
            3.8 + 0.23 * t,
            [-0.6 + 0.05 * t, -0.7 + 0.07 * (t * 2.0).sin(), -0.9],
            [1.0, 0.1 * t, -0.2, 0.3],
            opacity,
            [0.2 + 0.07 * t, 0.9 - 0.05 * t, 0.5],
        );
    }
    (cloud, cam)
}

fn settings(antialiased: bool) -> RenderSettings {
    RenderSettings { antialiased, background: vec![0.2, 0.5, 0.9], ..RenderSettings::default() }
}

const SH_GROUPS: [ParamGroup; 5] =
    [ParamGroup::Means, ParamGroup::LogScales, ParamGroup::Rotations, ParamGroup::OpacityLogits, ParamGroup::Sh];

fn fd_sh(antialiased: bool) {
    let (cloud, cam) = smooth_scene(3, 0, 11);
    let params = Params64::from_cloud(&cloud);
    let cam64 = Camera64::from(&cam);
    let st = Settings64::new(&settings(antialiased), &params);
    let projected = project64(&params, &cam64, &st);
    assert!(projected.iter().all(|s| s.visible), "every Gaussian of the FD scene should be visible");
    fd_check(
        &format!("smooth SH-3 scene, antialiased={antialiased}"),
        &params,
        &cam64,
        &st,
        &grads64(5, &cam, 3),
        &SH_GROUPS,
    );
}

#[test]
fn finite_differences_sh_classic() {
    fd_sh(false);
}

#[test]
fn finite_differences_sh_antialiased() {
    fd_sh(true);
}

fn fd_dense(antialiased: bool) {
    let (cloud, cam) = dense_scene();
    let params = Params64::from_cloud(&cloud);
    let cam64 = Camera64::from(&cam);
    // The compensation (≈ 0.98 here) keeps o' below 0.999 in antialiased mode, so that mode
    // gets a lower clamp; the clamp is a setting and any value must work.
    let alpha_clamp = if antialiased { 0.97 } else { 0.999 };
    let st = Settings64::new(&RenderSettings { alpha_clamp, ..settings(antialiased) }, &params);
    let traces = trace_image(&params, &cam64, &st);
    let clamped = traces.iter().flat_map(|t| &t.blends).filter(|b| b.clamped).count();
    let stopped = traces.iter().filter(|t| t.stopped).count();
    assert!(clamped > 0 && stopped > 0, "dense scene: {clamped} clamped blends, {stopped} stopped pixels");
    fd_check(
        &format!("dense scene, antialiased={antialiased}"),
        &params,
        &cam64,
        &st,
        &grads64(6, &cam, 3),
        &SH_GROUPS,
    );
}

#[test]
fn finite_differences_dense_classic() {
    fd_dense(false);
}

#[test]
fn finite_differences_dense_antialiased() {
    fd_dense(true);
}

/// 40 feature channels instead of SH colour, both modes; the SH coefficients get no gradient.
fn fd_features(antialiased: bool) {
    let (cloud, cam) = smooth_scene(0, 40, 12);
    let params = Params64::from_cloud(&cloud);
    let cam64 = Camera64::from(&cam);
    let st = Settings64::new(&RenderSettings { color_source: ColorSource::Features, ..settings(antialiased) }, &params);
    assert_eq!(st.channels, 40);
    let g = grads64(7, &cam, 40);
    fd_check(
        &format!("40 features, antialiased={antialiased}"),
        &params,
        &cam64,
        &st,
        &g,
        &[
            ParamGroup::Means,
            ParamGroup::LogScales,
            ParamGroup::Rotations,
            ParamGroup::OpacityLogits,
            ParamGroup::Features,
        ],
    );
    assert!(backward64(&params, &cam64, &st, &g).sh.iter().all(|&v| v == 0.0));
}

#[test]
fn finite_differences_features_classic() {
    fd_features(false);
}

#[test]
fn finite_differences_features_antialiased() {
    fd_features(true);
}

/// A degree-3 cloud rendered at degree 1: coefficients above the active degree get exactly zero
/// gradient (and finite differences agree, since the render ignores them).
#[test]
fn finite_differences_lower_active_sh_degree() {
    let (cloud, cam) = smooth_scene(3, 0, 13);
    let params = Params64::from_cloud(&cloud);
    let cam64 = Camera64::from(&cam);
    let st = Settings64::new(&RenderSettings { sh_degree: Some(1), ..settings(false) }, &params);
    assert_eq!(st.sh_degree, 1);
    let g = grads64(8, &cam, 3);
    fd_check("SH-3 cloud at degree 1", &params, &cam64, &st, &g, &[ParamGroup::Means, ParamGroup::Sh]);
    let an = backward64(&params, &cam64, &st, &g);
    for (i, chunk) in an.sh.chunks(48).enumerate() {
        assert!(chunk[12..].iter().all(|&v| v == 0.0), "Gaussian {i}: inactive SH coefficients got a gradient");
        assert!(chunk[..12].iter().any(|&v| v != 0.0), "Gaussian {i}: active SH coefficients got none");
    }
}

/// mean2d_grad_norm is ‖dL/d mean2d‖: shifting the principal point moves every mean2d by the
/// same amount and changes nothing else, so for a one-Gaussian scene (dL/dcx, dL/dcy) is
/// exactly dL/d mean2d.
#[test]
fn mean2d_grad_norm_is_the_screen_space_gradient() {
    let (cloud, cam) = smooth_scene(2, 0, 14);
    for i in [0, 3, 5, 9] {
        let mut one = GaussianCloud { sh_degree: 2, ..GaussianCloud::default() };
        one.means.push(cloud.means[i]);
        one.log_scales.push(cloud.log_scales[i]);
        one.rotations.push(cloud.rotations[i]);
        one.opacity_logits.push(cloud.opacity_logits[i]);
        one.sh.extend_from_slice(&cloud.sh[i * 27..(i + 1) * 27]);
        let params = Params64::from_cloud(&one);
        let cam64 = Camera64::from(&cam);
        for antialiased in [false, true] {
            let st = Settings64::new(&settings(antialiased), &params);
            let g = grads64(9 + i as u64, &cam, 3);
            let an = backward64(&params, &cam64, &st, &g).mean2d_grad_norm[0];
            let shifted = |dx: f64, dy: f64| {
                let c = Camera64 { cx: cam64.cx + dx, cy: cam64.cy + dy, ..cam64 };
                loss(&render64(&params, &c, &st), &g)
            };
            let gx = (shifted(H, 0.0) - shifted(-H, 0.0)) / (2.0 * H);
            let gy = (shifted(0.0, H) - shifted(0.0, -H)) / (2.0 * H);
            let fd = (gx * gx + gy * gy).sqrt();
            assert!(an > 0.0, "Gaussian {i} should be on screen");
            assert!(
                (fd - an).abs() <= 1e-5 * an + 1e-8,
                "Gaussian {i}, antialiased={antialiased}: fd {fd} analytic {an}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-computed values

/// An isotropic Gaussian on the optical axis: every quantity of the contract has a closed form.
#[test]
fn single_gaussian_matches_hand_computation() {
    let cam = Camera::identity(33, 33, 30.0, 30.0); // principal point 16.5: a pixel centre
    let o = 1.0 / (1.0 + (-0.5f64).exp());
    let dc = 0.7f32;
    let cloud = GaussianCloud {
        means: vec![Vec3::new(0.0, 0.0, 5.0)],
        log_scales: vec![Vec3::splat(0.5f32.ln())],
        rotations: vec![[2.0, 0.0, 0.0, 0.0]],
        opacity_logits: vec![0.5],
        sh_degree: 0,
        sh: vec![dc; 3],
        feature_channels: 0,
        features: vec![],
    };
    // Σ₂ = (f/z)²·s²·I = 36·0.25·I = 9·I; blurred 9.3·I.
    let rgb = reference::sh::SH_C0 * dc as f64 + 0.5;
    for antialiased in [false, true] {
        let s = RenderSettings { antialiased, background: vec![0.1, 0.2, 0.3], ..RenderSettings::default() };
        let proj = &reference::project_cloud(&cloud, &cam, &s)[0];
        let op = if antialiased { o * (81.0f64 / (9.3 * 9.3)).sqrt() } else { o };
        let close = |a: f64, b: f64, what: &str| assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{what}: {a} vs {b}");
        assert!(proj.visible);
        close(proj.mean2d[0], 16.5, "mean2d x");
        close(proj.mean2d[1], 16.5, "mean2d y");
        close(proj.cov2d[0], 9.3, "cov a");
        close(proj.cov2d[1], 0.0, "cov b");
        close(proj.cov2d[2], 9.3, "cov c");
        close(proj.conic[0], 1.0 / 9.3, "conic A");
        close(proj.conic[2], 1.0 / 9.3, "conic C");
        close(proj.opacity, op, "opacity");
        close(proj.depth, 5.0, "depth");
        close(proj.tau, (255.0 * op).ln(), "tau");
        close(proj.color[0], rgb, "colour");
        // Search radius √(2τ·9.3) ≈ 9.7 px around 16.5: pixels 7..=25, tiles 0..2 both ways.
        assert_eq!(proj.tile_rect, [0, 0, 2, 2]);
        assert_eq!(proj.tiles_touched, 4);

        let out = reference::render(&cloud, &cam, &s);
        for (x, y) in [(16u32, 16u32), (19, 16), (16, 12), (20, 19)] {
            let (dx, dy) = (x as f64 + 0.5 - 16.5, y as f64 + 0.5 - 16.5);
            let alpha = op * (-0.5 * (dx * dx + dy * dy) / 9.3).exp();
            let p = (y * 33 + x) as usize;
            let close32 =
                |a: f32, b: f64, what: &str| assert!((a as f64 - b).abs() <= 1e-6, "{what} at {x},{y}: {a} vs {b}");
            close32(out.alpha[p], alpha, "alpha");
            close32(out.depth[p], 5.0 * alpha, "depth");
            close32(out.color[p * 3], rgb * alpha + 0.1 * (1.0 - alpha), "red");
            close32(out.color[p * 3 + 2], rgb * alpha + 0.3 * (1.0 - alpha), "blue");
        }
        // Far corner: nothing, only the background.
        assert_eq!(out.alpha[0], 0.0);
        assert_eq!(out.color[..3], [0.1, 0.2, 0.3]);
    }
}

/// Colour from features equals colour from SH when the features are the SH colour.
#[test]
fn features_composite_like_sh_colour() {
    let cam = fd_camera();
    let mut cloud =
        random_cloud(&RandomCloudSpec { seed: 21, count: 60, sh_degree: 0, camera: cam, ..RandomCloudSpec::default() });
    cloud.feature_channels = 3;
    cloud.features = cloud.sh.iter().map(|&v| (reference::sh::SH_C0 * v as f64 + 0.5) as f32).collect();
    assert!(cloud.features.iter().all(|&v| v >= 0.0));
    let sh = reference::render(&cloud, &cam, &RenderSettings::default());
    let feat =
        reference::render(&cloud, &cam, &RenderSettings { color_source: ColorSource::Features, ..Default::default() });
    testing::compare("features vs SH", &feat.color, &sh.color, 1e-6, 0.0).unwrap();
    assert_eq!(feat.alpha, sh.alpha);
}

// ---------------------------------------------------------------------------------------------
// Edge cases, scale, determinism

/// What the edge-case test requires of a pathological Gaussian.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    Culled,
    Visible,
    /// Visible in classic mode; culled in antialiased mode, whose compensation √(det₀/det)
    /// vanishes for a degenerate (tiny or needle-like) 2D footprint.
    ClassicOnly,
    /// Only finiteness: f32 and f64 legitimately disagree (a quaternion whose |q|² under- or
    /// overflows f32), so neither the reference nor the kernels are held to a choice.
    Either,
}

/// Appends the pathological Gaussians of the contract; returns what is expected of each index.
/// Non-finite colour inputs cull only when the render reads them (SH in SH mode, features in
/// feature mode).
fn add_pathological(cloud: &mut GaussianCloud, cam: &Camera, source: ColorSource) -> Vec<(usize, Expect)> {
    use Expect::*;
    let mut expect = Vec::new();
    let w = cam.width as f32;
    let h = cam.height as f32;
    let mut add =
        |cloud: &mut GaussianCloud, px: f32, py: f32, z: f32, ls: [f32; 3], q: [f32; 4], o: f32, e: Expect| {
            expect.push((cloud.len(), e));
            push_gaussian(cloud, cam, px, py, z, ls, q, o, [0.3, 0.6, 0.9]);
        };
    let q = [1.0, 0.2, -0.1, 0.3];
    add(cloud, 0.5 * w, 0.5 * h, -3.0, [-1.0; 3], q, 0.8, Culled); // behind the camera
    add(cloud, 0.5 * w, 0.5 * h, 0.005, [-1.0; 3], q, 0.8, Culled); // in front, before near
    add(cloud, 0.4 * w, 0.6 * h, 0.02, [0.5; 3], q, 0.8, Visible); // just past near: straddles it
    add(cloud, 0.5 * w, 0.5 * h, 2e10, [-1.0; 3], q, 0.8, Culled); // beyond far
    add(cloud, 0.5 * w, 0.5 * h, 4.0, [-1.0; 3], q, 1e-7, Culled); // opacity below 1/255
    add(cloud, -20.0 * w, 0.5 * h, 4.0, [-2.0; 3], q, 0.8, Culled); // far off-screen
    add(cloud, 0.3 * w, 0.3 * h, 4.0, [-30.0; 3], q, 0.8, ClassicOnly); // tiny: only the blur remains
    add(cloud, 0.3 * w, 0.3 * h, 4.0, [-30.0, -30.0, 2.0], q, 0.8, ClassicOnly); // a needle
    add(cloud, 0.6 * w, 0.4 * h, 4.0, [8.0; 3], q, 0.3, Visible); // huge: covers everything
    add(cloud, 0.6 * w, 0.4 * h, 4.0, [-1.0; 3], [0.0; 4], 0.8, Culled); // zero quaternion
    add(cloud, 0.6 * w, 0.4 * h, 4.0, [-1.0; 3], [1e-30, 0.0, 0.0, 0.0], 0.8, Either); // |q|² underflows f32
    add(cloud, 0.6 * w, 0.4 * h, 4.0, [-1.0; 3], [3e25, 1e25, 0.0, 0.0], 0.8, Either); // |q|² overflows f32
                                                                                       // Non-finite parameters, one group at a time.
    for g in 0..6 {
        let n = cloud.len();
        let read = match g {
            4 => source == ColorSource::Sh,
            5 => source == ColorSource::Features,
            _ => true,
        };
        add(cloud, 0.5 * w, 0.5 * h, 4.0, [-1.0; 3], q, 0.8, if read { Culled } else { Visible });
        match g {
            0 => cloud.means[n].x = f32::NAN,
            1 => cloud.log_scales[n].y = f32::INFINITY,
            2 => cloud.rotations[n][2] = f32::NAN,
            3 => cloud.opacity_logits[n] = f32::NEG_INFINITY,
            4 => {
                let k = cloud.sh_per_splat();
                cloud.sh[n * k] = f32::NAN;
            }
            _ => cloud.features[n * cloud.feature_channels + 1] = f32::NAN,
        }
    }
    expect
}

#[test]
fn edge_cases_give_finite_outputs_and_culled_gaussians_zero_gradient() {
    let cam = Camera::look_at(37, 23, 30.0, 30.0, Vec3::new(0.3, -0.2, -4.0), Vec3::ZERO, Vec3::NEG_Y);
    for color_source in [ColorSource::Sh, ColorSource::Features] {
        let mut cloud = random_cloud(&RandomCloudSpec {
            seed: 31,
            count: 40,
            sh_degree: 2,
            feature_channels: 41,
            camera: cam,
            behind_fraction: 0.3,
            ..RandomCloudSpec::default()
        });
        let expect = add_pathological(&mut cloud, &cam, color_source);
        for antialiased in [false, true] {
            let s =
                RenderSettings { antialiased, color_source, background: vec![0.5; 41], ..RenderSettings::default() };
            let label = format!("{color_source:?}, antialiased={antialiased}");
            let out = reference::render(&cloud, &cam, &s);
            let channels = if color_source == ColorSource::Sh { 3 } else { 41 };
            assert_eq!(out.color.len(), 37 * 23 * channels);
            assert!(
                out.color.iter().chain(&out.alpha).chain(&out.depth).all(|v| v.is_finite()),
                "{label}: non-finite output"
            );
            assert!(out.alpha.iter().all(|&a| (0.0..1.0).contains(&a)), "{label}: alpha outside [0, 1)");
            let proj = reference::project_cloud(&cloud, &cam, &s);
            let g = random_output_grads(3, cam.width, cam.height, channels);
            let grads = reference::backward(&cloud, &cam, &s, &g);
            let flat = |v: &[Vec3]| v.iter().flat_map(|x| x.to_array()).collect::<Vec<f32>>();
            let all: Vec<f32> = flat(&grads.means)
                .into_iter()
                .chain(flat(&grads.log_scales))
                .chain(grads.rotations.iter().flatten().copied())
                .chain(grads.opacity_logits.iter().copied())
                .chain(grads.sh.iter().copied())
                .chain(grads.features.iter().copied())
                .chain(grads.mean2d_grad_norm.iter().copied())
                .collect();
            assert!(all.iter().all(|v| v.is_finite()), "{label}: non-finite gradient");
            for &(i, e) in &expect {
                match e {
                    Expect::Culled => assert!(!proj[i].visible, "{label}: Gaussian {i} should be culled"),
                    Expect::Visible => assert!(proj[i].visible, "{label}: Gaussian {i} should be visible"),
                    Expect::ClassicOnly => assert_eq!(proj[i].visible, !antialiased, "{label}: Gaussian {i}"),
                    Expect::Either => {}
                }
            }
            for (i, p) in proj.iter().enumerate() {
                if p.visible {
                    continue;
                }
                let k = cloud.sh_per_splat();
                let f = cloud.feature_channels;
                let zero = grads.means[i] == Vec3::ZERO
                    && grads.log_scales[i] == Vec3::ZERO
                    && grads.rotations[i] == [0.0; 4]
                    && grads.opacity_logits[i] == 0.0
                    && grads.mean2d_grad_norm[i] == 0.0
                    && grads.sh[i * k..(i + 1) * k].iter().all(|&v| v == 0.0)
                    && grads.features[i * f..(i + 1) * f].iter().all(|&v| v == 0.0);
                assert!(zero, "{label}: invisible Gaussian {i} has a nonzero gradient");
            }
            let behind = cloud.means.iter().filter(|m| cam.world_to_camera(**m).z < 0.0).count();
            assert!(behind > 4, "{label}: the random part should put some Gaussians behind the camera");
        }
    }
}

/// An empty cloud renders the background; every pixel is untouched.
#[test]
fn empty_cloud_renders_background() {
    let cam = Camera::identity(17, 9, 10.0, 10.0);
    let cloud = GaussianCloud { sh_degree: 1, ..GaussianCloud::default() };
    let s = RenderSettings { background: vec![0.25, 0.5, 0.75], ..RenderSettings::default() };
    let out = reference::render(&cloud, &cam, &s);
    assert!(out.color.chunks(3).all(|c| c == [0.25, 0.5, 0.75]));
    assert!(out.alpha.iter().chain(&out.depth).all(|&v| v == 0.0));
    let grads = reference::backward(&cloud, &cam, &s, &random_output_grads(1, 17, 9, 3));
    assert!(grads.means.is_empty());
}

/// 12 000 faint Gaussians inside the first tile of a 40×20 image. Also checks that the order
/// is (depth, index) and nothing else: a permuted cloud renders bit-identically and its
/// gradients are permuted the same way.
#[test]
fn many_gaussians_on_one_tile_and_order_independence() {
    let cam = Camera::identity(40, 20, 30.0, 30.0);
    let mut cloud = random_cloud(&RandomCloudSpec {
        seed: 41,
        count: 12_000,
        sh_degree: 1,
        camera: Camera { width: 16, height: 16, ..cam },
        screen_margin: -0.25, // centres in pixels 4..12 of the tile
        depth_range: (3.0, 9.0),
        log_scale_range: (-4.0, -2.5),
        opacity_range: (0.004, 0.02),
        ..RandomCloudSpec::default()
    });
    // Keep them inside the tile so that it really is one tile.
    cloud.log_scales.iter_mut().for_each(|s| *s = s.min(Vec3::splat(-2.5)));
    let s = RenderSettings::default();
    let proj = reference::project_cloud(&cloud, &cam, &s);
    let on_tile = proj.iter().filter(|p| p.visible && p.tile_rect == [0, 0, 1, 1]).count();
    assert!(on_tile >= 10_000, "only {on_tile} Gaussians on the tile");
    let out = reference::render(&cloud, &cam, &s);
    let g = random_output_grads(2, cam.width, cam.height, 3);
    let grads = reference::backward(&cloud, &cam, &s, &g);
    assert!(out.color.iter().chain(&out.alpha).all(|v| v.is_finite()));
    assert!(out.alpha.iter().any(|&a| a > 0.9), "the tile should be nearly opaque");
    assert!(grads.means.iter().all(|m| m.is_finite()));

    // Reverse the cloud: same depths, so the same blending order.
    let n = cloud.len();
    let rev = GaussianCloud {
        means: cloud.means.iter().rev().copied().collect(),
        log_scales: cloud.log_scales.iter().rev().copied().collect(),
        rotations: cloud.rotations.iter().rev().copied().collect(),
        opacity_logits: cloud.opacity_logits.iter().rev().copied().collect(),
        sh: cloud.sh.chunks(12).rev().flatten().copied().collect(),
        ..cloud.clone()
    };
    let out_rev = reference::render(&rev, &cam, &s);
    assert_eq!(out_rev, out);
    let grads_rev = reference::backward(&rev, &cam, &s, &g);
    for i in 0..n {
        assert_eq!(grads_rev.means[n - 1 - i], grads.means[i]);
        assert_eq!(grads_rev.opacity_logits[n - 1 - i], grads.opacity_logits[i]);
    }
}

/// The results do not depend on the thread count (tiles are reduced in a fixed order), and the
/// f32 API is the f64 core rounded.
#[test]
fn deterministic_and_f32_api_matches_core() {
    let cam = fd_camera();
    let cloud = random_cloud(&RandomCloudSpec { seed: 51, count: 300, camera: cam, ..RandomCloudSpec::default() });
    let s = settings(true);
    let g = random_output_grads(4, cam.width, cam.height, 3);
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    let a = one.install(|| (reference::render(&cloud, &cam, &s), reference::backward(&cloud, &cam, &s, &g)));
    let b = three.install(|| (reference::render(&cloud, &cam, &s), reference::backward(&cloud, &cam, &s, &g)));
    assert_eq!(a, b);

    let params = Params64::from_cloud(&cloud);
    let cam64 = Camera64::from(&cam);
    let st = Settings64::new(&s, &params);
    let out64 = render64(&params, &cam64, &st);
    assert_eq!(a.0.color, out64.color.iter().map(|&v| v as f32).collect::<Vec<_>>());
    let g64: Grads64 = backward64(&params, &cam64, &st, &(&g).into());
    assert_eq!(a.1, g64.to_f32());
}

#[test]
fn load_golden_reports_bad_files() {
    let dir = std::env::temp_dir().join(format!("kiln-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("broken.safetensors");
    std::fs::write(&p, [200u8, 0, 0, 0, 0, 0, 0, 0, b'{']).unwrap();
    let e = testing::load_golden(&p).unwrap_err();
    assert!(e.contains("broken.safetensors") && e.contains("header"), "{e}");
    let header = br#"{"means":{"dtype":"F32","shape":[1,3],"data_offsets":[0,12]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0u8; 12]);
    std::fs::write(&p, &bytes).unwrap();
    let e = testing::load_golden(&p).unwrap_err();
    assert!(e.contains("quats"), "{e}");
    assert!(testing::load_golden(&dir.join("missing.safetensors")).unwrap_err().contains("missing.safetensors"));
}

#[test]
fn golden_camera_matches_the_data_readme() {
    let c = testing::golden_camera(123, 82);
    assert_eq!((c.fx, c.fy, c.cx, c.cy), (61.5, 61.5, 61.5, 41.0));
    assert_eq!(c.rotation, Mat3::IDENTITY);
    assert!((c.center() - Vec3::new(0.123, 0.456, -8.0)).length() < 1e-6);
    assert_eq!((c.near, c.far), (0.01, 1e12));
}
