//! Scale/shift alignment: a synthetic scene with known depth and known per-view scale and
//! shift; flow from the known poses; alignment must recover them.

mod common;

use glam::Vec3;
use kiln_depth::align::{align_depths, world_points, AlignParams, AlignView, FlowPair};
use kiln_depth::{DepthError, DepthMap, Flow, MapKind};
use kiln_scene::Camera;

const W: u32 = 160;
const H: u32 = 120;

/// Three forward-facing cameras looking at a sphere in front of a tilted plane.
fn cameras() -> Vec<Camera> {
    (0..3)
        .map(|i| {
            let eye = Vec3::new(-0.5 + 0.5 * i as f32, 0.08 * i as f32, 0.1 * i as f32);
            let target = Vec3::new(0.2 * i as f32 - 0.2, 0.0, 5.0);
            Camera::look_at(W, H, 140.0, 140.0, eye, target, Vec3::new(0.0, -1.0, 0.0))
        })
        .collect()
}

/// Ray parameter (= camera-space depth, the ray has unit camera z) of the first hit.
fn true_depth(cam: &Camera) -> DepthMap {
    let r_c2w = cam.rotation.transpose();
    let c = cam.center();
    let sphere = (Vec3::new(0.1, 0.1, 4.0), 0.8f32);
    let mut values = Vec::new();
    for y in 0..H {
        for x in 0..W {
            let d = r_c2w * Vec3::new((x as f32 + 0.5 - cam.cx) / cam.fx, (y as f32 + 0.5 - cam.cy) / cam.fy, 1.0);
            // Plane z = 6 + 0.3 x + 0.2 y.
            let n = Vec3::new(-0.3, -0.2, 1.0);
            let mut t = (6.0 - n.dot(c)) / n.dot(d);
            let oc = c - sphere.0;
            let (a, b, cc) = (d.dot(d), 2.0 * oc.dot(d), oc.dot(oc) - sphere.1 * sphere.1);
            let disc = b * b - 4.0 * a * cc;
            if disc > 0.0 {
                let ts = (-b - disc.sqrt()) / (2.0 * a);
                if ts > 0.0 && ts < t {
                    t = ts;
                }
            }
            values.push(t);
        }
    }
    DepthMap::new(W, H, values, MapKind::Depth)
}

/// Ground-truth flow i→j from the true depth and poses; valid where the point lands inside
/// view j and is not occluded there.
fn true_flow(ci: &Camera, di: &DepthMap, cj: &Camera, dj: &DepthMap) -> Flow {
    let pts = world_points(ci, di);
    let (mut u, mut v, mut valid) = (vec![], vec![], vec![]);
    for (p, x) in pts.iter().enumerate() {
        let xc = cj.world_to_camera(*x);
        let qx = cj.fx * xc.x / xc.z + cj.cx - 0.5;
        let qy = cj.fy * xc.y / xc.z + cj.cy - 0.5;
        u.push(qx - (p as u32 % W) as f32);
        v.push(qy - (p as u32 / W) as f32);
        let inside = qx >= 0.0 && qy >= 0.0 && qx <= (W - 1) as f32 && qy <= (H - 1) as f32;
        // Visible in j: j's depth around q (all 4 bilinear taps) agrees with the point's depth.
        let ok = inside && {
            let (x0, y0) = (qx.floor() as u32, qy.floor() as u32);
            let taps = [(x0, y0), ((x0 + 1).min(W - 1), y0), (x0, (y0 + 1).min(H - 1)), ((x0 + 1).min(W - 1), (y0 + 1).min(H - 1))];
            taps.iter().all(|&(a, b)| (dj.at(a, b) - xc.z).abs() < 0.05 * xc.z)
        };
        valid.push(if ok { 1.0 } else { 0.0 });
    }
    Flow { width: W, height: H, u, v, valid }
}

struct Scene {
    cams: Vec<Camera>,
    observed: Vec<DepthMap>,
    flows: Vec<(usize, usize, Flow)>,
}

const SCALE: [f32; 3] = [1.25, 0.8, 1.1];
const SHIFT: [f32; 3] = [-0.3, 0.4, 0.15];

fn scene() -> Scene {
    let cams = cameras();
    let truth: Vec<DepthMap> = cams.iter().map(true_depth).collect();
    // Observed (monocular) depth: the truth with a per-view scale and shift taken out, so that
    // SCALE·observed + SHIFT = truth.
    let observed = truth
        .iter()
        .enumerate()
        .map(|(i, d)| DepthMap::new(W, H, d.values.iter().map(|z| (z - SHIFT[i]) / SCALE[i]).collect(), MapKind::Depth))
        .collect();
    let mut flows = Vec::new();
    for i in 0..3 {
        for j in 0..3 {
            if i != j {
                flows.push((i, j, true_flow(&cams[i], &truth[i], &cams[j], &truth[j])));
            }
        }
    }
    Scene { cams, observed, flows }
}

fn run(scene: &Scene, flows: &[(usize, usize, Flow)]) -> kiln_depth::Alignment {
    let views: Vec<AlignView> = scene.cams.iter().zip(&scene.observed).map(|(c, d)| AlignView { camera: c, depth: d }).collect();
    let pairs: Vec<FlowPair> = flows.iter().map(|(i, j, f)| FlowPair { from: *i, to: *j, flow: f }).collect();
    align_depths(&views, &pairs, &AlignParams::default()).unwrap()
}

fn report_and_check(name: &str, a: &kiln_depth::Alignment, scale_tol: f32, shift_tol: f32) {
    let mut worst = (0.0f32, 0.0f32);
    for i in 0..3 {
        worst.0 = worst.0.max((a.scale[i] / SCALE[i] - 1.0).abs());
        worst.1 = worst.1.max((a.shift[i] - SHIFT[i]).abs());
    }
    eprintln!(
        "{name}: scale {:?} (true {SCALE:?}), shift {:?} (true {SHIFT:?}); worst rel. scale error {:.2e}, worst shift error {:.2e}; \
         mean 3-D residual {:.4} → {:.4} over {} correspondences",
        a.scale, a.shift, worst.0, worst.1, a.residual_before, a.residual_after, a.correspondences
    );
    assert!(worst.0 < scale_tol, "{name}: scale off by {} (relative) ≥ {scale_tol}", worst.0);
    assert!(worst.1 < shift_tol, "{name}: shift off by {} ≥ {shift_tol}", worst.1);
    assert!(a.residual_after < 0.2 * a.residual_before);
}

#[test]
fn alignment_recovers_known_scale_and_shift() {
    let s = scene();
    let valid: f32 = s.flows.iter().map(|(_, _, f)| f.valid_fraction()).sum::<f32>() / s.flows.len() as f32;
    assert!(valid > 0.5, "synthetic flows are mostly invalid ({valid})");
    let a = run(&s, &s.flows);
    report_and_check("exact flow", &a, 5e-3, 0.02);
}

#[test]
fn alignment_is_robust_to_flow_noise_and_outliers() {
    let s = scene();
    let mut state = 12345u64;
    let mut rnd = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32) / (1u64 << 31) as f32
    };
    let noisy: Vec<(usize, usize, Flow)> = s
        .flows
        .iter()
        .map(|(i, j, f)| {
            let mut f = f.clone();
            for p in 0..f.len() {
                if rnd() < 0.1 {
                    // 10 % gross outliers, still marked valid.
                    f.u[p] += (rnd() - 0.5) * 30.0;
                    f.v[p] += (rnd() - 0.5) * 30.0;
                } else {
                    // ±0.25 px uniform noise.
                    f.u[p] += (rnd() - 0.5) * 0.5;
                    f.v[p] += (rnd() - 0.5) * 0.5;
                }
            }
            (*i, *j, f)
        })
        .collect();
    let a = run(&s, &noisy);
    report_and_check("noisy flow, 10 % outliers", &a, 0.01, 0.04);
}

#[test]
fn alignment_rejects_bad_input() {
    let s = scene();
    let one = [AlignView { camera: &s.cams[0], depth: &s.observed[0] }];
    let e = align_depths(&one, &[], &AlignParams::default()).unwrap_err();
    assert!(e.to_string().contains("at least 2 views"), "{e}");
    let small = DepthMap::new(8, 6, vec![1.0; 48], MapKind::Depth);
    let views = [AlignView { camera: &s.cams[0], depth: &small }, AlignView { camera: &s.cams[1], depth: &s.observed[1] }];
    let pairs = [FlowPair { from: 0, to: 1, flow: &s.flows[0].2 }];
    let e = align_depths(&views, &pairs, &AlignParams::default()).unwrap_err();
    assert!(matches!(e, DepthError::Size { .. }));
    assert!(e.to_string().contains("8×6") && e.to_string().contains("160×120"), "{e}");
}

#[test]
fn a_depth_map_that_contradicts_the_geometry_gets_a_clamped_scale() {
    let mut s = scene();
    // View 1's "monocular" depth has the order reversed (near ↔ far): only a negative scale
    // would fit, so it is held at 0 (a constant depth) and reported.
    s.observed[1].values.iter_mut().for_each(|z| *z = 12.0 - *z);
    let a = run(&s, &s.flows);
    eprintln!("reversed view 1: scale {:?}, shift {:?}, clamped {:?}", a.scale, a.shift, a.clamped);
    // (The other views may be dragged to planes too: with one of three depth maps reversed, the
    // robust optimum is degenerate. What matters is no flipped order and no negative depth.)
    assert!(a.clamped[1]);
    assert_eq!(a.scale[1], 0.0);
    assert!(a.scale.iter().all(|s| *s >= 0.0));
    assert!(a.shift[1] > 3.0 && a.shift[1] < 7.0, "view 1 should sit at the scene's depth, got {}", a.shift[1]);
    for i in 0..3 {
        assert!(a.apply(i, &s.observed[i]).values.iter().all(|z| *z > 0.0));
    }
    // Unconstrained, the same data gives the negative scale.
    let views: Vec<AlignView> = s.cams.iter().zip(&s.observed).map(|(c, d)| AlignView { camera: c, depth: d }).collect();
    let pairs: Vec<FlowPair> = s.flows.iter().map(|(i, j, f)| FlowPair { from: *i, to: *j, flow: f }).collect();
    let free = align_depths(&views, &pairs, &AlignParams { min_scale: None, ..Default::default() }).unwrap();
    assert!(free.scale[1] < 0.0, "{:?}", free.scale);
}
