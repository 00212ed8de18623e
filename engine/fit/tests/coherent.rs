//! CoherentGS trainer on a synthetic scene with known depth: three cameras facing a textured
//! plane. Pixel-aligned Gaussians at the true depth must reproduce the training images and a
//! held-out view; training must lower the loss; bad inputs must be clear errors.

use glam::{Mat3, Vec3};
use kiln_fit::coherent::{CoherentConfig, CoherentInputs, CoherentTrainer, FlowField};
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
    }
}

fn small_config(iterations: u32) -> CoherentConfig {
    CoherentConfig { iterations, depth_ngf: Some(1), opacity_ngf: Some(1), unit: 0.1, ..Default::default() }
}

#[test]
fn pixel_aligned_gaussians_at_true_depth_reproduce_the_views_and_training_lowers_the_loss() {
    let ctx = GpuContext::shared().unwrap();
    let s = scene();
    let mut t = CoherentTrainer::new(ctx.clone(), s.clone(), small_config(40), inputs(&s, 1.0)).unwrap();
    assert_eq!(t.gaussians(), 3 * (W * H) as usize);
    let (train_m, _) = t.evaluate(&s.train).unwrap();
    let (test_m, _) = t.evaluate(&s.test).unwrap();
    eprintln!("initial PSNR: train {:?}, held-out {:.2}", train_m.iter().map(|m| m.psnr).collect::<Vec<_>>(), test_m[0].psnr);
    // Blending three views' footprint-sized Gaussians blurs a little, and the borders see
    // only some of the views; a wrong geometry would misplace the texture by pixels.
    assert!(train_m.iter().all(|m| m.psnr > 20.0), "{train_m:?}");
    assert!(test_m[0].psnr > 20.0, "{test_m:?}");

    // The image loss (L1 + SSIM of the rendered view) must fall; the total also holds the TV
    // term whose layer-masked share ramps up over training, so it is not comparable over time.
    let image: Vec<f32> = (0..40).map(|_| t.train_step().unwrap().loss).collect();
    let hist = &t.history;
    let early: f32 = image[..10].iter().sum::<f32>() / 10.0;
    let late: f32 = image[30..].iter().sum::<f32>() / 10.0;
    eprintln!("image loss early {early:.4}, late {late:.4}");
    assert!(late < early, "the image loss did not go down: {early} → {late}");
    assert!(hist.iter().all(|p| p.loss.is_finite()));
}

#[test]
fn depth_offsets_move_gaussians_back_onto_the_plane() {
    // Depth 10 % too far everywhere: the flow and image losses pull the Gaussians back along
    // their rays; without a decoder (free per-pixel offsets) the mean depth error must shrink.
    let ctx = GpuContext::shared().unwrap();
    let s = scene();
    let mut cfg = small_config(60);
    cfg.use_decoder = false;
    cfg.direct_depth_lr = 2e-2;
    let mut t = CoherentTrainer::new(ctx, s.clone(), cfg, inputs(&s, 1.1)).unwrap();
    let err = |t: &mut CoherentTrainer| {
        let c = t.cloud().unwrap();
        c.means.iter().map(|m| (m.z - PLANE_Z).abs()).sum::<f32>() / c.means.len() as f32
    };
    let before = err(&mut t);
    for _ in 0..60 {
        t.train_step().unwrap();
    }
    let after = err(&mut t);
    eprintln!("mean |z − plane|: {before:.4} → {after:.4}");
    assert!(after < 0.5 * before, "depth error {before} → {after}");
}

#[test]
fn supersampled_steps_move_gaussians_back_onto_the_plane_too() {
    // The same pull-back as above with every step rendered at k× (k ∈ 1..=4) and box-pooled:
    // the pooled losses' gradients go back through the pooling's adjoint, so geometry must
    // still converge and every loss stay finite.
    let ctx = GpuContext::shared().unwrap();
    let s = scene();
    let mut cfg = small_config(60);
    cfg.use_decoder = false;
    cfg.direct_depth_lr = 2e-2;
    cfg.supersample_from = 0.0;
    let mut t = CoherentTrainer::new(ctx, s.clone(), cfg, inputs(&s, 1.1)).unwrap();
    let err = |t: &mut CoherentTrainer| {
        let c = t.cloud().unwrap();
        c.means.iter().map(|m| (m.z - PLANE_Z).abs()).sum::<f32>() / c.means.len() as f32
    };
    let before = err(&mut t);
    let losses: Vec<f32> = (0..60).map(|_| t.train_step().unwrap().loss).collect();
    let after = err(&mut t);
    eprintln!("supersampled: mean |z − plane| {before:.4} → {after:.4}");
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(after < 0.5 * before, "depth error {before} → {after}");
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
