//! CoherentGS trainer on a synthetic scene with known depth: three cameras facing a textured
//! plane. Pixel-aligned Gaussians at the true depth must reproduce the training images and a
//! held-out view; training must lower the loss; bad inputs must be clear errors.

use glam::{Mat3, Vec3};
use kiln_fit::coherent::{CoherentConfig, CoherentInputs, CoherentTrainer, FlowField, Saturation};
use kiln_fit::{Scene, SceneView};
use kiln_gpu::GpuContext;
use kiln_scene::dataset::Image;
use kiln_scene::Camera;
use std::sync::Arc;

const W: u32 = 48;
const H: u32 = 36;
const PLANE_Z: f32 = 4.0;

fn texture(x: f32, y: f32) -> [f32; 3] {
    [0.5 + 0.4 * (1.3 * x).sin(), 0.5 + 0.4 * (1.7 * y + 0.5).cos(), 0.5 + 0.3 * (0.9 * (x + y)).sin()]
}

/// A camera at (cx, cy, 0) looking down +z (OpenCV axes: identity rotation).
fn camera(cx: f32, cy: f32) -> Camera {
    let mut c = Camera::identity(W, H, 40.0, 40.0);
    c.rotation = Mat3::IDENTITY;
    c.translation = -Vec3::new(cx, cy, 0.0);
    c
}

fn view(name: &str, cam: Camera) -> SceneView {
    let mut rgb = Vec::with_capacity((W * H * 3) as usize);
    for p in 0..W * H {
        let (u, v) = ((p % W) as f32 + 0.5, (p / W) as f32 + 0.5);
        let c = cam.center();
        let hit = c + Vec3::new((u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, 1.0) * PLANE_Z;
        rgb.extend_from_slice(&texture(hit.x, hit.y));
    }
    SceneView { name: name.into(), camera: cam, image: Arc::new(Image { width: W, height: H, rgb, alpha: None }) }
}

fn scene() -> Scene {
    let train = vec![view("a", camera(-0.4, 0.0)), view("b", camera(0.0, 0.1)), view("c", camera(0.4, 0.0))];
    let test = vec![view("t", camera(0.2, 0.05))];
    let (extent, center) = Scene::camera_extent(&train);
    Scene { train, test, points: None, extent, background: Vec3::ONE, center }
}

/// Exact flow between two of the fronto-parallel cameras: a constant shift of f·Δc/z.
fn flows(s: &Scene) -> Vec<FlowField> {
    let mut out = Vec::new();
    for i in 0..s.train.len() {
        for j in 0..s.train.len() {
            if i != j {
                let d = s.train[i].camera.center() - s.train[j].camera.center();
                let shift = [40.0 * d.x / PLANE_Z, 40.0 * d.y / PLANE_Z];
                let n = (W * H) as usize;
                out.push(FlowField { from: i, to: j, width: W, height: H, flow: vec![shift; n], mask: vec![1.0; n] });
            }
        }
    }
    out
}

fn inputs(s: &Scene, depth_factor: f32) -> CoherentInputs {
    let n = (W * H) as usize;
    CoherentInputs {
        depth: (0..s.train.len()).map(|_| vec![PLANE_Z * depth_factor; n]).collect(),
        layers: (0..s.train.len()).map(|_| (0..n).map(|p| ((p % W as usize) * 5 / W as usize) as u8).collect()).collect(),
        layer_count: 5,
        flows: flows(s),
        start_opacity: Vec::new(),
    }
}

fn small_config(iterations: u32) -> CoherentConfig {
    CoherentConfig { iterations, depth_ngf: Some(1), opacity_ngf: Some(1), unit: 0.1, ..Default::default() }
}

#[test]
fn pixel_aligned_gaussians_at_true_depth_reproduce_the_views_and_training_lowers_the_loss() {
    let ctx = GpuContext::shared().unwrap();
    let s = scene();
    // One loss definition throughout: supersampled steps (k drawn per step, late in training)
    // score a differently filtered render, so they are off here and tested on their own below.
    // The scene unit by LLFF's rule (0.75 × the nearest depth), as `kiln fit` sets it: the flow
    // and TV terms are taken in it, and a unit far from the scene's scale (0.1 here, 40 units
    // deep) makes the flow term outweigh the images ten times over.
    let cfg = CoherentConfig { supersample_max: 1, unit: 0.75 * PLANE_Z, ..small_config(40) };
    let mut t = CoherentTrainer::new(ctx.clone(), s.clone(), cfg, inputs(&s, 1.0)).unwrap();
    assert_eq!(t.gaussians(), 3 * (W * H) as usize);
    let (train_m, _) = t.evaluate(&s.train).unwrap();
    let (test_m, _) = t.evaluate(&s.test).unwrap();
    eprintln!("initial PSNR: train {:?}, held-out {:.2}", train_m.iter().map(|m| m.psnr).collect::<Vec<_>>(), test_m[0].psnr);
    // Blending three views' footprint-sized Gaussians blurs a little, and the borders see
    // only some of the views; a wrong geometry would misplace the texture by pixels.
    assert!(train_m.iter().all(|m| m.psnr > 20.0), "{train_m:?}");
    assert!(test_m[0].psnr > 20.0, "{test_m:?}");

    // Training must improve the fit of the training views, measured the same way before and
    // after on every view (each step draws one random view, so per-step losses are too noisy
    // to compare over 40 steps).
    let mean = |m: &[kiln_fit::ViewMetrics]| m.iter().map(|m| m.psnr).sum::<f64>() / m.len() as f64;
    let before = mean(&train_m);
    for _ in 0..40 {
        t.train_step().unwrap();
    }
    let after = mean(&t.evaluate(&s.train).unwrap().0);
    eprintln!("mean training-view PSNR {before:.2} → {after:.2} dB");
    assert!(after > before, "training did not improve the training views: {before:.2} → {after:.2} dB");
    assert!(t.history.iter().all(|p| p.loss.is_finite()));
}

/// Depth 10 % too far everywhere, free per-pixel offsets (no decoder), 60 steps from the given
/// supersampling start: the mean |z − plane| before and after, and every step's loss.
fn pull_back_onto_the_plane(supersample_from: f32) -> (f32, f32, Vec<f32>) {
    let ctx = GpuContext::shared().unwrap();
    let s = scene();
    let cfg = CoherentConfig { use_decoder: false, direct_depth_lr: 2e-2, supersample_from, ..small_config(60) };
    let mut t = CoherentTrainer::new(ctx, s.clone(), cfg, inputs(&s, 1.1)).unwrap();
    let err = |t: &mut CoherentTrainer| {
        let c = t.cloud().unwrap();
        c.means.iter().map(|m| (m.z - PLANE_Z).abs()).sum::<f32>() / c.means.len() as f32
    };
    let before = err(&mut t);
    assert_eq!(t.saturation, Saturation::default(), "free offsets start at 0");
    let losses: Vec<f32> = (0..60).map(|_| t.train_step().unwrap().loss).collect();
    // A 10 % depth error needs offsets far inside the ±50-unit range.
    assert!(t.saturation.depth < 0.01, "{:?}", t.saturation);
    (before, err(&mut t), losses)
}

#[test]
fn depth_offsets_move_gaussians_back_onto_the_plane() {
    // The flow and image losses pull the Gaussians back along their rays: the mean depth error
    // must shrink (the default schedule: supersampling from 5000/13000 of the run).
    let (before, after, _) = pull_back_onto_the_plane(CoherentConfig::default().supersample_from);
    eprintln!("mean |z − plane|: {before:.4} → {after:.4}");
    assert!(after < 0.5 * before, "depth error {before} → {after}");
}

#[test]
fn supersampled_steps_move_gaussians_back_onto_the_plane_too() {
    // The same pull-back with every step rendered at k× (k ∈ 1..=4) and box-pooled: the pooled
    // losses' gradients go back through the pooling's adjoint, so geometry must still converge
    // and every loss stay finite.
    let (before, after, losses) = pull_back_onto_the_plane(0.0);
    eprintln!("supersampled: mean |z − plane| {before:.4} → {after:.4}");
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(after < 0.5 * before, "depth error {before} → {after}");
}

#[test]
fn checkpoints_resume_where_the_run_left_off() {
    // Free offsets (their Adam state is checkpointed too): a run stopped at step 6 and resumed
    // in a fresh trainer must follow the uninterrupted run.
    let ctx = GpuContext::shared().unwrap();
    let s = scene();
    let mut cfg = small_config(12);
    cfg.use_decoder = false;
    cfg.direct_depth_lr = 2e-2;
    let mut a = CoherentTrainer::new(ctx.clone(), s.clone(), cfg.clone(), inputs(&s, 1.1)).unwrap();
    for _ in 0..6 {
        a.train_step().unwrap();
    }
    let ck = a.checkpoint().unwrap();
    for _ in 0..6 {
        a.train_step().unwrap();
    }
    let mut b = CoherentTrainer::new(ctx.clone(), s.clone(), cfg, inputs(&s, 1.1)).unwrap();
    b.restore(&ck).unwrap();
    assert_eq!((b.step, b.history.len()), (6, a.history.len() - 6));
    for _ in 0..6 {
        b.train_step().unwrap();
    }
    let (ca, cb) = (a.cloud().unwrap(), b.cloud().unwrap());
    let diff = ca.means.iter().zip(&cb.means).map(|(p, q)| (*p - *q).abs().max_element()).fold(0f32, f32::max);
    eprintln!("resumed vs uninterrupted: max mean difference {diff:.2e}");
    assert!(diff < 1e-3, "{diff}");
    // With decoders: their weights come back exactly; a checkpoint of the other kind is refused.
    let mut d = CoherentTrainer::new(ctx.clone(), s.clone(), small_config(12), inputs(&s, 1.0)).unwrap();
    d.train_step().unwrap();
    let before = d.cloud().unwrap();
    let ck = d.checkpoint().unwrap();
    let mut e = CoherentTrainer::new(ctx.clone(), s.clone(), small_config(12), inputs(&s, 1.0)).unwrap();
    e.restore(&ck).unwrap();
    assert_eq!(e.cloud().unwrap().means, before.means);
    // kiln's decoders checkpoint their AdamW moments: resumed, they take the uninterrupted
    // run's steps; with the moments stripped (a restart, as Burn's decoders get) they do not.
    let mut restarted = CoherentTrainer::new(ctx.clone(), s.clone(), small_config(12), inputs(&s, 1.0)).unwrap();
    let mut stripped = ck.clone();
    stripped.tensors.retain(|(name, _)| !(name.starts_with("decoder.") && (name.ends_with(".m") || name.ends_with(".v"))));
    restarted.restore(&stripped).unwrap();
    for _ in 0..5 {
        d.train_step().unwrap();
        e.train_step().unwrap();
        restarted.train_step().unwrap();
    }
    let (md, me, mr) = (d.cloud().unwrap().means, e.cloud().unwrap().means, restarted.cloud().unwrap().means);
    let gap = |a: &[glam::Vec3], b: &[glam::Vec3]| a.iter().zip(b).map(|(p, q)| (*p - *q).length()).fold(0f32, f32::max);
    let (exact, restart) = (gap(&md, &me), gap(&md, &mr));
    eprintln!("decoders resumed: moved {:.2e}; gap to the uninterrupted run {exact:.2e} with the moments, {restart:.2e} restarted", gap(&md, &before.means));
    assert!(exact < 0.05 * restart, "resumed with moments: gap {exact:.2e}; restarted {restart:.2e}");
    let e2 = b.restore(&ck).err().expect("decoder checkpoint into a no-decoder run").to_string();
    assert!(e2.contains("decoders"), "{e2}");

    // A diverged state is an error that says so, never NaN positions handed to the rasterizer:
    // a NaN decoder weight, and a NaN free offset.
    let mut nan_ck = ck.clone();
    let w0 = nan_ck.tensors.iter_mut().find(|(name, _)| name == "decoder.depth.1.0").expect("view 1's first depth weight");
    w0.1[0] = f32::NAN;
    let err = e.restore(&nan_ck).err().expect("a NaN decoder weight").to_string();
    assert!(err.contains("diverged") && err.contains("view 1's depth decoder"), "{err}");
    let mut nan_ck = b.checkpoint().unwrap();
    nan_ck.tensors.iter_mut().find(|(name, _)| name == "direct.opacity").unwrap().1[5] = f32::INFINITY;
    let err = b.restore(&nan_ck).err().expect("an infinite free offset").to_string();
    assert!(err.contains("diverged") && err.contains("opacity offset of Gaussian 5"), "{err}");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let ctx = GpuContext::shared().unwrap();
    let s = scene();
    // One view.
    let mut one = s.clone();
    one.train.truncate(1);
    let mut inp = inputs(&s, 1.0);
    inp.depth.truncate(1);
    inp.layers.truncate(1);
    inp.flows.clear();
    let e = CoherentTrainer::new(ctx.clone(), one, small_config(1), inp).err().unwrap().to_string();
    assert!(e.contains("2 to 4 training views"), "{e}");
    // A depth map of the wrong size.
    let mut inp = inputs(&s, 1.0);
    inp.depth[1].truncate(100);
    let e = CoherentTrainer::new(ctx.clone(), s.clone(), small_config(1), inp).err().unwrap().to_string();
    assert!(e.contains("depth map of view b") && e.contains("48x36"), "{e}");
    // Non-positive depth, a layer out of range, a flow to a missing view.
    let mut inp = inputs(&s, 1.0);
    inp.depth[0][3] = -1.0;
    assert!(CoherentTrainer::new(ctx.clone(), s.clone(), small_config(1), inp).is_err());
    let mut inp = inputs(&s, 1.0);
    inp.layers[2][0] = 9;
    assert!(CoherentTrainer::new(ctx.clone(), s.clone(), small_config(1), inp).is_err());
    let mut inp = inputs(&s, 1.0);
    inp.flows[0].to = 7;
    let e = CoherentTrainer::new(ctx, s, small_config(1), inp).err().unwrap().to_string();
    assert!(e.contains("does not exist"), "{e}");
}

/// With the decoders on kiln's kernels a step keeps its per-Gaussian legs on the GPU (the
/// decoder outputs into the cloud, the rasterizer's gradients into the decoders' output
/// gradients; their kernels are tested exactly against the host formulas in
/// `coherent::device`). Here both paths train from the same start for 8 steps, scale resets
/// included. They cannot agree to rounding: this scene's Gaussians lie on one fronto-parallel
/// plane, so their depths tie, and tanh's last bits on the GPU flip some blending orders
/// (step 0's losses already differ by 1 %). Measured: the paths differ by 8 % of the mean
/// distance training moved the Gaussians, and the losses by at most 4 %. The kernels are not
/// the cause: with the host's positions uploaded over the select pass's, the device path gives
/// the host path's result (the test above: 36.08 dB against 35.81–35.83 on the GPU's
/// positions, 36.07–36.08 on the host path).
#[test]
fn device_path_trains_as_the_host_path() {
    let ctx = GpuContext::shared().unwrap();
    let s = scene();
    let cfg = CoherentConfig { supersample_max: 1, unit: 0.75 * PLANE_Z, scale_reset_interval: 3, ..small_config(8) };
    let run = |host: bool| {
        let mut t = CoherentTrainer::new(ctx.clone(), s.clone(), cfg.clone(), inputs(&s, 1.1)).unwrap();
        t.host_chain = host;
        let start = t.cloud().unwrap();
        for _ in 0..8 {
            t.train_step().unwrap();
        }
        let losses: Vec<f32> = t.history.iter().map(|p| p.loss).collect();
        let flat = |c: &kiln_splat::GaussianCloud| c.means.iter().flat_map(|m| m.to_array()).collect::<Vec<f32>>();
        (flat(&start), flat(&t.cloud().unwrap()), losses)
    };
    let (start_d, device, loss_d) = run(false);
    let (start_h, host, loss_h) = run(true);
    assert_eq!(start_d, start_h);
    let mean = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
    let (moved, differ) = (mean(&host, &start_h), mean(&device, &host));
    eprintln!("mean movement {moved}, paths differ by {differ}; losses {loss_d:?} vs {loss_h:?}");
    assert!(moved > 1e-3, "training did not move the Gaussians ({moved})");
    assert!(differ < 0.25 * moved, "the paths differ by {differ}, training moved the Gaussians by {moved}");
    for (a, b) in loss_d.iter().zip(&loss_h) {
        assert!((a - b).abs() <= 0.1 * b.abs(), "losses {loss_d:?} vs {loss_h:?}");
    }
}
