//! LLFF fern, 3 views, the RegNeRF protocol (test = every 8th image; 3 training views spread
//! evenly over the rest): CoherentGS (FastDepth + GPU flow + alignment + decoders) must beat
//! plain 3DGS trained on the same views for the same number of steps by a stated margin in
//! mean test-view PSNR. Needs KILN_DATA.
//!
//! The CI variant runs at a reduced resolution and step count so that it fits the CI budget on
//! lavapipe; the larger run and the ablation table are `#[ignore]`d (run them with
//! `--ignored --nocapture`); docs/COHERENTGS.md has the measured figures.

use kiln_fit::coherent::prepare::{prepare_inputs, PrepareOptions};
use kiln_fit::coherent::{CoherentConfig, CoherentInputs, CoherentTrainer};
use kiln_fit::{Scene, TrainConfig, Trainer};
use kiln_gpu::GpuContext;
use kiln_scene::{Dataset, LoadOptions};
use kiln_splat::testing::kiln_data_or_skip;
use std::sync::Arc;
use std::time::Instant;

/// CI scale: longer image side, steps, the PSNR lead CoherentGS must keep over plain 3DGS and
/// the absolute PSNR floor. Measured on lavapipe at 64 px: after 30 steps CoherentGS
/// 19.57 dB, plain 3DGS 15.72 dB (+3.85 dB); after 60 steps 19.56 vs 18.97 dB (+0.59 dB) —
/// the lead is mostly CoherentGS's initialisation (19.39 dB at step 0) while plain 3DGS is
/// still converging, so it depends strongly on the budget (docs/COHERENTGS.md). The plain
/// baseline starts from fern's SfM points, which COLMAP triangulated from all 20 images (test
/// views included) — more than the 3 views give; its random-init alternative sits around the
/// forward-facing cameras and is no fair baseline.
const CI_RESOLUTION: u32 = 64;
const CI_STEPS: u32 = 30;
const CI_MARGIN_DB: f64 = 2.0;
const CI_MIN_PSNR: f64 = 19.0;

fn mean(v: &[kiln_fit::ViewMetrics]) -> (f64, f64) {
    let n = v.len() as f64;
    (v.iter().map(|m| m.psnr).sum::<f64>() / n, v.iter().map(|m| m.ssim).sum::<f64>() / n)
}

struct Fern {
    ctx: Arc<GpuContext>,
    scene: Scene,
    unit: f32,
    model: std::path::PathBuf,
}

fn fern(resolution: u32) -> Option<Fern> {
    let data = kiln_data_or_skip("fern CoherentGS")?;
    let ds = Dataset::load_with(&data.join("llff/fern"), &LoadOptions { resolution: Some(resolution), ..Default::default() }).unwrap();
    let scene = Scene::from_dataset(&ds, Some(3)).unwrap();
    assert_eq!(scene.train.len(), 3);
    assert_eq!(scene.test.len(), 3, "fern has 20 images: 3 test views under the RegNeRF split");
    let near = ds.train.iter().chain(&ds.test).filter_map(|v| v.bounds).map(|b| b[0]).fold(f32::INFINITY, f32::min);
    Some(Fern { ctx: GpuContext::shared().unwrap(), scene, unit: 0.75 * near, model: data.join("models/fastdepth/fastdepth_op13.onnx") })
}

impl Fern {
    fn inputs(&self, align: bool) -> CoherentInputs {
        let t0 = Instant::now();
        let opts = PrepareOptions { depth_model: Some(self.model.clone()), align, unit: self.unit, layers: 5, ..Default::default() };
        let (inputs, report) = prepare_inputs(&self.ctx, &self.scene, &opts).unwrap();
        eprintln!("fern preparation ({:.1} s): {report:?}", t0.elapsed().as_secs_f64());
        inputs
    }

    /// Mean test (PSNR, SSIM) of CoherentGS after `config.iterations` steps.
    fn coherent(&self, config: CoherentConfig, inputs: CoherentInputs) -> (f64, f64) {
        let t0 = Instant::now();
        let steps = config.iterations;
        let mut trainer = CoherentTrainer::new(self.ctx.clone(), self.scene.clone(), config, inputs).unwrap();
        let start = mean(&trainer.evaluate(&self.scene.test).unwrap().0);
        for _ in 0..steps {
            trainer.train_step().unwrap();
        }
        let end = mean(&trainer.evaluate(&self.scene.test).unwrap().0);
        eprintln!(
            "CoherentGS: test PSNR {:.2} at step 0 → {:.2} (SSIM {:.3}) after {steps} steps, {:.0} s; step time split (s, summed): {:?}",
            start.0,
            end.0,
            end.1,
            t0.elapsed().as_secs_f64(),
            trainer.times
        );
        end
    }

    /// Mean test (PSNR, SSIM) of plain 3DGS on the same views after `steps`.
    fn plain(&self, steps: u32) -> (f64, f64) {
        let t0 = Instant::now();
        let cfg = TrainConfig { iterations: steps, checkpoint_interval: 0, ..Default::default() };
        let mut plain = Trainer::new(self.ctx.clone(), self.scene.clone(), cfg).unwrap();
        for _ in 0..steps {
            plain.train_step(false).unwrap();
        }
        let m = mean(&plain.evaluate(&self.scene.test).unwrap().0);
        eprintln!("plain 3DGS: test PSNR {:.2} SSIM {:.3} after {steps} steps, {:.0} s", m.0, m.1, t0.elapsed().as_secs_f64());
        m
    }

    fn config(&self, steps: u32) -> CoherentConfig {
        CoherentConfig { iterations: steps, unit: self.unit, depth_ngf: Some(2), opacity_ngf: Some(2), ..Default::default() }
    }
}

/// Trains both methods on fern's 3 RegNeRF views at `resolution` (longer side) for `steps` and
/// asserts CoherentGS's mean test PSNR ≥ plain 3DGS's + `margin_db`.
fn coherent_beats_plain(resolution: u32, steps: u32, margin_db: f64, min_psnr: f64) {
    let Some(f) = fern(resolution) else { return };
    let (c_psnr, c_ssim) = f.coherent(f.config(steps), f.inputs(true));
    let (p_psnr, p_ssim) = f.plain(steps);
    eprintln!(
        "fern 3 views at {resolution}px, {steps} steps on {}: CoherentGS PSNR {c_psnr:.2} SSIM {c_ssim:.3}; plain 3DGS PSNR {p_psnr:.2} SSIM {p_ssim:.3}",
        f.ctx.describe()
    );
    assert!(c_psnr.is_finite() && p_psnr.is_finite());
    assert!(c_psnr >= p_psnr + margin_db, "CoherentGS {c_psnr:.2} dB vs plain 3DGS {p_psnr:.2} dB: margin below {margin_db} dB");
    assert!(c_psnr >= min_psnr, "CoherentGS {c_psnr:.2} dB is below {min_psnr} dB");
}

#[test]
fn fern_three_views_coherent_beats_plain_3dgs_reduced() {
    coherent_beats_plain(CI_RESOLUTION, CI_STEPS, CI_MARGIN_DB, CI_MIN_PSNR);
}

#[test]
#[ignore = "over the CI budget on lavapipe; run with --ignored"]
fn fern_three_views_coherent_beats_plain_3dgs() {
    coherent_beats_plain(96, 300, CI_MARGIN_DB, CI_MIN_PSNR);
}

/// The ablation table (full / no decoder / no TV / no flow / no alignment, and plain 3DGS) at
/// the CI scale; prints one row per variant.
#[test]
#[ignore = "ablation table for docs/COHERENTGS.md; run with --ignored --nocapture"]
fn fern_three_views_ablation_table() {
    let (resolution, steps) = (CI_RESOLUTION, CI_STEPS);
    let Some(f) = fern(resolution) else { return };
    let aligned = f.inputs(true);
    let mut rows = Vec::new();
    let full = f.config(steps);
    rows.push(("full", f.coherent(full.clone(), aligned.clone())));
    rows.push(("no decoder", f.coherent(CoherentConfig { use_decoder: false, ..full.clone() }, aligned.clone())));
    rows.push(("no TV", f.coherent(CoherentConfig { use_tv: false, ..full.clone() }, aligned.clone())));
    rows.push(("no flow", f.coherent(CoherentConfig { use_flow: false, ..full.clone() }, aligned)));
    rows.push(("no alignment", f.coherent(CoherentConfig { use_alignment: false, ..full }, f.inputs(false))));
    rows.push(("plain 3DGS", f.plain(steps)));
    eprintln!("| fern 3 views, {resolution} px, {steps} steps, {} | PSNR | SSIM |\n|---|---|---|", f.ctx.describe());
    for (name, (p, s)) in rows {
        eprintln!("| {name} | {p:.2} | {s:.3} |");
        assert!(p.is_finite() && s.is_finite());
    }
}

/// The starting depth against fern's SfM points (what COLMAP triangulated from all 20 images,
/// here only the points two of the 3 training views observe): at each point a training view
/// observes, the relative error |z_map − z_SfM| / z_SfM of that view's depth map at the point's
/// pixel. Flow triangulation (`--triangulate-depth`) must start closer to the SfM geometry
/// than FastDepth aligned by one scale and shift per view.
#[test]
fn triangulated_depth_is_closer_to_the_sfm_points_than_aligned_monocular_depth() {
    let resolution = 256;
    let Some(f) = fern(resolution) else { return };
    let points = f.scene.points.clone().expect("fern's SfM points seen by two training views");
    let observers = points.observers.clone().expect("fern's points carry their tracks");
    let depths = |triangulate: bool| {
        let opts = PrepareOptions { depth_model: Some(f.model.clone()), align: true, unit: f.unit, layers: 5, triangulate, ..Default::default() };
        prepare_inputs(&f.ctx, &f.scene, &opts).unwrap().0.depth
    };
    let median_error = |maps: &[Vec<f32>]| -> (f64, usize) {
        let mut errors = Vec::new();
        for (v, view) in f.scene.train.iter().enumerate() {
            let cam = &view.camera;
            let (w, h) = (cam.width as usize, cam.height as usize);
            for (x, seen) in points.positions.iter().zip(&observers) {
                if !seen.contains(&view.name) {
                    continue;
                }
                let c = cam.world_to_camera(*x);
                let (u, t) = (cam.fx * c.x / c.z + cam.cx, cam.fy * c.y / c.z + cam.cy);
                if c.z <= 0.0 || u < 0.0 || t < 0.0 || u >= w as f32 || t >= h as f32 {
                    continue;
                }
                let z = maps[v][t as usize * w + u as usize];
                errors.push(((z - c.z).abs() / c.z) as f64);
            }
        }
        errors.sort_by(f64::total_cmp);
        (errors[errors.len() / 2], errors.len())
    };
    let (mono, n) = median_error(&depths(false));
    let (tri, _) = median_error(&depths(true));
    eprintln!("fern at {resolution} px, {n} SfM observations: median relative depth error, aligned FastDepth {mono:.4}, flow-triangulated {tri:.4}");
    assert!(n > 1000, "only {n} SfM observations in the training views");
    assert!(tri < 0.8 * mono, "triangulated depth ({tri:.4}) is not clearly closer to the SfM points than aligned monocular depth ({mono:.4})");
}

/// kiln's free-space prior (`--free-space-prior`): the pixels whose Gaussian another training
/// view looks through start nearly transparent, so the test views, rendered before any
/// training, show fewer misplaced copies. At `FREE_SPACE_RESOLUTION` with the triangulated
/// start, the prior must raise the starting test PSNR by `FREE_SPACE_GAIN_DB`, flagging a
/// minority of each view's pixels (measured on lavapipe: 18.67 → 19.38 dB, flagging 11, 11
/// and 4 % of the views' pixels).
#[test]
fn free_space_prior_raises_the_starting_test_psnr() {
    const FREE_SPACE_RESOLUTION: u32 = 128;
    const FREE_SPACE_GAIN_DB: f64 = 0.4;
    let Some(f) = fern(FREE_SPACE_RESOLUTION) else { return };
    let start = |free_space: bool| {
        let opts = PrepareOptions { depth_model: Some(f.model.clone()), align: true, unit: f.unit, layers: 5, triangulate: true, free_space, ..Default::default() };
        let (inputs, report) = prepare_inputs(&f.ctx, &f.scene, &opts).unwrap();
        let config = CoherentConfig { iterations: 100, unit: f.unit, depth_ngf: Some(2), opacity_ngf: Some(2), ..Default::default() };
        let mut trainer = CoherentTrainer::new(f.ctx.clone(), f.scene.clone(), config, inputs).unwrap();
        (mean(&trainer.evaluate(&f.scene.test).unwrap().0), report.free_space_fraction)
    };
    let ((off, _), _) = start(false);
    let ((on, ssim_on), flagged) = start(true);
    eprintln!("fern at {FREE_SPACE_RESOLUTION} px, step 0: test PSNR {off:.2} dB without the free-space prior, {on:.2} dB (SSIM {ssim_on:.3}) with it; flagged {flagged:?}");
    assert_eq!(flagged.len(), 3);
    assert!(flagged.iter().all(|&x| x > 0.0 && x < 0.5), "flagged fractions {flagged:?}");
    assert!(on >= off + FREE_SPACE_GAIN_DB, "the free-space prior moved the starting test PSNR from {off:.2} to {on:.2} dB");
}

/// Where CoherentGS's ceiling lies with better depth (a diagnostic for docs/COHERENTGS.md, not
/// a method: it reads depth from a plain 3DGS fit of the same 3 views). Plain 3DGS is trained
/// 500 steps at 64 px; its rendered depth (Σwz / Σw where the render is opaque, else the
/// aligned monocular depth) replaces the prepared depth, and CoherentGS starts and trains from
/// it. Prints test PSNR at step 0 and after 200 steps beside the prepared inputs' start.
#[test]
#[ignore = "diagnostic for docs/COHERENTGS.md; run with --ignored --nocapture"]
fn depth_ceiling_with_plain_3dgs_depth() {
    let Some(f) = fern(64) else { return };
    let prepared = f.inputs(true);
    let cfg = TrainConfig { iterations: 500, checkpoint_interval: 0, ..Default::default() };
    let mut plain = Trainer::new(f.ctx.clone(), f.scene.clone(), cfg).unwrap();
    for _ in 0..500 {
        plain.train_step(false).unwrap();
    }
    let plain_test = mean(&plain.evaluate(&f.scene.test).unwrap().0);
    let mut inputs = prepared.clone();
    let mut replaced = Vec::new();
    for (v, view) in f.scene.train.iter().enumerate() {
        let out = plain.render(&view.camera).unwrap();
        let mut count = 0usize;
        for (p, d) in inputs.depth[v].iter_mut().enumerate() {
            if out.alpha[p] > 0.5 {
                *d = out.depth[p] / out.alpha[p];
                count += 1;
            }
        }
        replaced.push(count as f32 / out.alpha.len() as f32);
    }
    let start = |inputs: CoherentInputs| {
        let t = CoherentTrainer::new(f.ctx.clone(), f.scene.clone(), f.config(1), inputs);
        mean(&t.unwrap().evaluate(&f.scene.test).unwrap().0)
    };
    let prepared_start = start(prepared);
    let (psnr, ssim) = f.coherent(f.config(200), inputs);
    eprintln!(
        "fern 64 px: plain 3DGS after 500 steps {:.2} dB / {:.3}; CoherentGS from FastDepth (aligned) at step 0: {:.2} dB; from plain 3DGS's depth ({replaced:?} of pixels): see the line above, after 200 steps {psnr:.2} dB / {ssim:.3}",
        plain_test.0, plain_test.1, prepared_start.0
    );
}

/// How the view-count rule's starting opacity (0.5 for 3 views) sets the blend of the three
/// views' pixel splats (a diagnostic for docs/COHERENTGS.md): test PSNR at step 0 at 64 px for
/// uniform starting opacities, prepared FastDepth inputs.
#[test]
#[ignore = "diagnostic for docs/COHERENTGS.md; run with --ignored --nocapture"]
fn starting_opacity_sweep() {
    let Some(f) = fern(64) else { return };
    let prepared = f.inputs(true);
    for alpha in [0.3f32, 0.5, 0.7, 0.9, 0.98] {
        let mut inputs = prepared.clone();
        inputs.start_opacity = inputs.depth.iter().map(|d| vec![alpha; d.len()]).collect();
        let mut t = CoherentTrainer::new(f.ctx.clone(), f.scene.clone(), f.config(1), inputs).unwrap();
        let (test, _) = t.evaluate(&f.scene.test).unwrap();
        let (train, _) = t.evaluate(&f.scene.train).unwrap();
        let (test, train) = (mean(&test), mean(&train));
        eprintln!("start opacity {alpha}: test {:.2} dB / {:.3}, train {:.2} dB / {:.3}", test.0, test.1, train.0, train.1);
    }
    // Each training view from its own splats only (the others' start at opacity 1e-4): the
    // blur of the pixel-footprint splats alone, without the other views' splats in front.
    for v in 0..f.scene.train.len() {
        let mut inputs = prepared.clone();
        inputs.start_opacity = inputs.depth.iter().enumerate().map(|(u, d)| vec![if u == v { 0.5 } else { 1e-4 }; d.len()]).collect();
        let mut t = CoherentTrainer::new(f.ctx.clone(), f.scene.clone(), f.config(1), inputs).unwrap();
        let own = t.evaluate(&f.scene.train[v..v + 1]).unwrap().0;
        eprintln!("training view {v} from its own splats only: {:.2} dB / {:.3}", own[0].psnr, own[0].ssim);
    }
    // The reference's renders divide colour by alpha (its path video): the test views so.
    let mut t = CoherentTrainer::new(f.ctx.clone(), f.scene.clone(), f.config(1), prepared.clone()).unwrap();
    let (metrics, renders) = t.evaluate(&f.scene.test).unwrap();
    let normalized: Vec<f64> = renders
        .iter()
        .zip(&f.scene.test)
        .map(|(r, view)| {
            let mse: f64 = r.color.chunks(3).zip(&r.alpha).zip(view.image.rgb.chunks(3)).map(|((c, &a), g)| {
                (0..3).map(|k| ((c[k] / (a + 1e-6)).clamp(0.0, 1.0) as f64 - g[k] as f64).powi(2)).sum::<f64>()
            }).sum::<f64>() / r.color.len() as f64;
            -10.0 * mse.log10()
        })
        .collect();
    let mean_alpha: Vec<f32> = renders.iter().map(|r| r.alpha.iter().sum::<f32>() / r.alpha.len() as f32).collect();
    eprintln!("test views, colour as rendered: {:.2} dB; colour / alpha: {:.2} dB (per view {normalized:.2?}); mean alpha {mean_alpha:.3?}", mean(&metrics).0, normalized.iter().sum::<f64>() / normalized.len() as f64);
    // The reference trains LLFF on a white background (its `white_background` default).
    let mut scene = f.scene.clone();
    scene.background = glam::Vec3::ONE;
    let mut t = CoherentTrainer::new(f.ctx.clone(), scene.clone(), f.config(1), prepared.clone()).unwrap();
    let (test, train) = (mean(&t.evaluate(&scene.test).unwrap().0), mean(&t.evaluate(&scene.train).unwrap().0));
    eprintln!("white background, the rule's opacity: test {:.2} dB / {:.3}, train {:.2} dB / {:.3}", test.0, test.1, train.0, train.1);
}
