//! The synthetic benchmark's training: one occupancy + flow network per arm, trained on
//! street scenes of training seeds and evaluated on held-out scene seeds.
//!
//! Arm "3d": class-weighted CE + weighted flow L1 ([`crate::loss3d`]).
//! Arm "3d+splat": the same plus VoxelSplat's 2-D losses on balanced samples of visible voxels
//! (L_sem 0.5, L_depth 1, L_flow2 0.5 after the warm-up). Same scenes, network seed, sampling
//! and steps — the splat loss is the only difference.

use crate::backend::SplatBackend;
use crate::loss3d::{class_weights, loss3d};
use crate::metrics::{argmax_labels, flow_epe, miou, ray_iou, QueryRay};
use crate::net::{join_grads, split_output, NetConfig, OccNet};
use crate::sample::{sample_voxels, SampleConfig};
use crate::splat_loss::{LossView, SplatLoss, SplatLossConfig, VoxelPrediction, VoxelTargets};
use crate::street::{ObservationConfig, Street, StreetConfig, OBSERVATION_CHANNELS};
use crate::OccError;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The network's flow channels are in units of this many m/s: cars move at up to 15 m/s, and a
/// unit-scale head would spend most of a short run growing its output to that size.
pub const FLOW_UNIT: f32 = 5.0;

/// Network output → voxel-major logits and flow in m/s.
fn decode_output(values: &[f32], classes: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
    let (logits, mut flow) = split_output(values, classes, n);
    flow.iter_mut().for_each(|v| *v *= FLOW_UNIT);
    (logits, flow)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Street grid (voxels) and camera image size.
    pub dims: [usize; 3],
    pub image: [u32; 2],
    /// Scenes the network trains on (cycled), and held-out scenes it is evaluated on.
    pub train_seeds: Vec<u64>,
    pub test_seeds: Vec<u64>,
    pub steps: usize,
    pub lr: f64,
    pub hidden: usize,
    /// Add VoxelSplat's losses.
    pub splat: bool,
    /// Voxels sampled per step for the splat loss.
    pub samples: usize,
    /// Timestamps whose cameras the splat loss renders (seconds from the key frame).
    pub splat_times: Vec<f32>,
    /// Steps before the rendered-flow term (and the flow-moved renders) switch on.
    pub flow_warmup: usize,
    /// Weight of the 3-D flow L1.
    pub flow_weight_3d: f64,
    /// Network initialisation and voxel-sampling seed.
    pub seed: u64,
}

impl TrainConfig {
    /// The benchmark's default: 64×64×8 voxels, 64×36 cameras, 16 training scenes.
    pub fn standard(splat: bool, seed: u64) -> Self {
        TrainConfig {
            dims: [64, 64, 8],
            image: [64, 36],
            train_seeds: (100..116).collect(),
            test_seeds: (900..904).collect(),
            steps: 300,
            lr: 1e-2,
            hidden: 16,
            splat,
            samples: 6000,
            splat_times: vec![-0.5, 0.0, 0.5],
            flow_warmup: 100,
            flow_weight_3d: 1.0,
            seed,
        }
    }

    /// A mid-sized street (48×48×8 voxels): minutes per arm on a GPU, 5–10 s a step on lavapipe.
    pub fn small(splat: bool, seed: u64) -> Self {
        TrainConfig {
            dims: [48, 48, 8],
            image: [48, 27],
            train_seeds: (100..106).collect(),
            test_seeds: (900..902).collect(),
            steps: 120,
            hidden: 12,
            samples: 4000,
            flow_warmup: 40,
            ..Self::standard(splat, seed)
        }
    }

    /// The smallest street (tests, `kiln occ bench --quick`: about a minute per seed on
    /// lavapipe): 16×40×6 voxels, 32×18 cameras. 16 training scenes: with 4
    /// the 3-D arm's validation flow EPE after 300 steps was 3.11 m/s, with 16 2.63 (zero flow
    /// 5.67; scenes 950–955). Six test scenes: each holds one to three cars, and their speeds
    /// (0–15 m/s) make one scene's flow error swing by metres per second.
    pub fn tiny(splat: bool, seed: u64) -> Self {
        TrainConfig {
            dims: [16, 40, 6],
            image: [32, 18],
            train_seeds: (100..116).collect(),
            test_seeds: (900..906).collect(),
            steps: 100,
            hidden: 6,
            samples: 800,
            flow_warmup: 33,
            ..Self::standard(splat, seed)
        }
    }

    pub fn street(&self, seed: u64) -> StreetConfig {
        StreetConfig { dims: self.dims, image: self.image, ..StreetConfig::small(seed) }
    }

    pub fn validate(&self) -> Result<(), OccError> {
        if self.train_seeds.is_empty() || self.test_seeds.is_empty() {
            return Err(OccError::Invalid("training needs at least one training and one test scene".into()));
        }
        if self.steps == 0 || self.hidden == 0 {
            return Err(OccError::Invalid("training needs at least one step and one hidden channel".into()));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(OccError::Invalid(format!("learning rate {} must be finite and > 0", self.lr)));
        }
        if self.splat && (self.samples == 0 || self.splat_times.is_empty()) {
            return Err(OccError::Invalid("the splat arm needs sampled voxels and at least one timestamp".into()));
        }
        Ok(())
    }
}

/// One prepared scene: GT (255 outside the camera mask), the network's input, loss views.
pub struct Sample {
    pub street: Street,
    pub labels: Vec<u8>,
    pub flow: Vec<f32>,
    pub visible: Vec<bool>,
    pub input: Vec<f32>,
    pub views: Vec<LossView>,
}

impl Sample {
    pub fn new(config: &TrainConfig, seed: u64) -> Result<Self, OccError> {
        let street = Street::generate(&config.street(seed))?;
        let (key, visible) = street.key_frame();
        let input = street.observation(&ObservationConfig::default(), seed);
        let views: Vec<LossView> = config
            .splat_times
            .iter()
            .flat_map(|&t| street.cameras(t).into_iter().map(move |camera| LossView { camera, time: t }))
            .collect();
        Ok(Sample { labels: key.labels, flow: key.flow, visible, input, views, street })
    }

    /// Several scenes, one per seed.
    pub fn many(config: &TrainConfig, seeds: &[u64]) -> Result<Vec<Self>, OccError> {
        seeds.iter().map(|&s| Sample::new(config, s)).collect()
    }
}

/// Test metrics averaged over scenes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub miou: f64,
    pub rayiou: f64,
    pub rayiou_1_2_4: [f64; 3],
    pub mave: f64,
    pub flow_epe: f64,
}

/// One training step's losses and wall seconds (the network + 3-D loss, and the splat loss).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    pub step: usize,
    /// 3-D loss total, and its CE and (unweighted) flow-L1 parts.
    pub loss3d: f64,
    pub ce: f64,
    pub flow3d: f64,
    pub splat: f64,
    pub base_seconds: f64,
    pub splat_seconds: f64,
}

pub struct Trainer {
    pub config: TrainConfig,
    pub net: OccNet,
    pub train: Vec<Sample>,
    pub step: usize,
    pub history: Vec<StepStats>,
    splat: SplatLoss,
    weights: Vec<f64>,
}

fn nn_error(e: kiln_nn::NnError) -> OccError {
    OccError::Invalid(format!("occupancy network: {e}"))
}

impl Trainer {
    pub fn new(config: TrainConfig, device: &Device) -> Result<Self, OccError> {
        config.validate()?;
        let train = Sample::many(&config, &config.train_seeds)?;
        let grid = train[0].street.grid;
        let classes = train[0].street.classes.clone();
        let all: Vec<u8> = train.iter().flat_map(|s| s.labels.iter().copied()).collect();
        let weights = class_weights(&classes, &all);
        let net_config = NetConfig { hidden: config.hidden, ..NetConfig::small(OBSERVATION_CHANNELS, classes.len(), config.seed) };
        let net = OccNet::new(net_config, device).map_err(nn_error)?;
        let splat = SplatLoss::new(grid, classes, SplatLossConfig::paper(grid.voxel_size, false))?;
        if config.splat {
            for s in &train {
                splat.check_views(&s.views)?;
            }
        }
        Ok(Trainer { config, net, train, step: 0, history: Vec::new(), splat, weights })
    }

    /// One training step on the next training scene.
    pub fn train_step(&mut self, backend: &dyn SplatBackend) -> Result<StepStats, OccError> {
        let t0 = Instant::now();
        let sample = &self.train[self.step % self.train.len()];
        let grid = sample.street.grid;
        let classes = &sample.street.classes;
        let n = grid.len();
        let c = classes.len();
        let pass = self.net.forward(&sample.input, grid.dims).map_err(nn_error)?;
        let (logits, flow) = decode_output(&pass.values, c, n);
        let l3 = loss3d(&grid, classes, &self.weights, &logits, &flow, &sample.labels, &sample.flow, self.config.flow_weight_3d)?;
        let mut grad_logits = l3.grad_logits;
        let mut grad_flow = l3.grad_flow;
        let mut stats = StepStats { step: self.step, loss3d: l3.total, ce: l3.ce, flow3d: l3.flow, ..Default::default() };
        if self.config.splat {
            let ts = Instant::now();
            let cfg = SampleConfig { count: self.config.samples, seed: self.config.seed.wrapping_mul(1_000_003).wrapping_add(self.step as u64) };
            let sampled = sample_voxels(&grid, classes, &sample.labels, &sample.flow, Some(&sample.visible), &cfg)?;
            let flow_on = self.step >= self.config.flow_warmup;
            self.splat.config.flow_weight = if flow_on { 0.5 } else { 0.0 };
            self.splat.config.temporal = flow_on;
            let out = self.splat.evaluate(
                backend,
                &sampled,
                &VoxelPrediction { logits: &logits, flow: &flow },
                &VoxelTargets { labels: &sample.labels, flow: &sample.flow },
                &sample.views,
            )?;
            stats.splat = out.total;
            for (g, s) in grad_logits.iter_mut().zip(&out.grad_logits) {
                *g += *s as f32;
            }
            for (g, s) in grad_flow.iter_mut().zip(&out.grad_flow) {
                *g += *s as f32;
            }
            stats.splat_seconds = ts.elapsed().as_secs_f64();
        }
        grad_flow.iter_mut().for_each(|g| *g *= FLOW_UNIT);
        let grad = join_grads(&grad_logits, &grad_flow, c, n);
        if grad.iter().any(|g| !g.is_finite()) {
            return Err(OccError::Invalid(format!("step {}: the loss gradient is not finite", self.step)));
        }
        self.net.step(pass, &grad, self.config.lr).map_err(nn_error)?;
        self.step += 1;
        stats.base_seconds = t0.elapsed().as_secs_f64() - stats.splat_seconds;
        self.history.push(stats.clone());
        Ok(stats)
    }

    /// Predicted labels and flow for a scene.
    pub fn predict(&self, sample: &Sample) -> Result<(Vec<u8>, Vec<f32>), OccError> {
        let grid = sample.street.grid;
        let c = sample.street.classes.len();
        let pass = self.net.forward(&sample.input, grid.dims).map_err(nn_error)?;
        let (logits, flow) = decode_output(&pass.values, c, grid.len());
        Ok((argmax_labels(&logits, c), flow))
    }

    /// Metrics averaged over `test` scenes: mIoU on camera-visible voxels, RayIoU + mAVE from
    /// the key-frame cameras (every other pixel), flow EPE on GT dynamic voxels.
    pub fn evaluate(&self, test: &[Sample]) -> Result<EvalReport, OccError> {
        let mut r = EvalReport::default();
        let k = 1.0 / test.len().max(1) as f64;
        for s in test {
            let (pred, flow) = self.predict(s)?;
            let grid = &s.street.grid;
            let classes = &s.street.classes;
            let rays: Vec<QueryRay> = s
                .street
                .cameras(0.0)
                .iter()
                .flat_map(|c| Street::pixel_rays(c, 2).into_iter().map(move |dir| QueryRay { origin: c.center(), dir }))
                .collect();
            let m = miou(grid, classes, &pred, &s.labels, Some(&s.visible))?;
            let ri = ray_iou(grid, classes, &rays, &pred, &flow, &s.labels, &s.flow)?;
            let epe = flow_epe(grid, classes, &flow, &s.labels, &s.flow)?;
            r.miou += k * m.miou;
            r.rayiou += k * ri.rayiou;
            for i in 0..3 {
                r.rayiou_1_2_4[i] += k * ri.per_threshold[i];
            }
            r.mave += k * ri.mave;
            r.flow_epe += k * epe;
        }
        Ok(r)
    }

    /// Network parameters and the step, for checkpoints (AdamW moments restart on resume).
    pub fn parameters(&self) -> Result<Vec<Vec<f32>>, OccError> {
        self.net.parameters_host().map_err(nn_error)
    }

    pub fn restore(&mut self, step: usize, params: &[Vec<f32>], history: Vec<StepStats>) -> Result<(), OccError> {
        if step > self.config.steps {
            return Err(OccError::Invalid(format!("checkpoint step {step} is past the run's {} steps", self.config.steps)));
        }
        self.net.set_parameters_host(params).map_err(nn_error)?;
        self.step = step;
        self.history = history;
        Ok(())
    }
}

/// One arm's trained result on the test scenes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmResult {
    pub seed: u64,
    pub test: EvalReport,
    pub seconds: f64,
    /// Mean wall seconds per step of the network forward/backward + 3-D loss, and of the
    /// splat loss (sampling, decode, renders, image losses, decode backward).
    pub base_seconds_per_step: f64,
    pub splat_seconds_per_step: f64,
    pub final_loss3d: f64,
}

impl ArmResult {
    /// One line for a finished arm (`splat`: the arm with the splat losses).
    pub fn summary(&self, splat: bool) -> String {
        let t = &self.test;
        format!(
            "seed {} {}: mIoU {:.4} RayIoU {:.4} mAVE {:.4} flow EPE {:.4} ({:.0} s; {:.3} + {:.3} s/step base + splat)",
            self.seed,
            if splat { "3d+splat" } else { "3d" },
            t.miou,
            t.rayiou,
            t.mave,
            t.flow_epe,
            self.seconds,
            self.base_seconds_per_step,
            self.splat_seconds_per_step
        )
    }
}

/// Trains `config` from scratch and evaluates it on `test`; `on_step` sees every step.
pub fn run_arm(
    config: &TrainConfig,
    device: &Device,
    backend: &dyn SplatBackend,
    test: &[Sample],
    on_step: &mut dyn FnMut(&StepStats),
) -> Result<ArmResult, OccError> {
    let mut trainer = Trainer::new(config.clone(), device)?;
    let started = Instant::now();
    while trainer.step < config.steps {
        let s = trainer.train_step(backend)?;
        on_step(&s);
    }
    let seconds = started.elapsed().as_secs_f64();
    let steps = trainer.history.len().max(1) as f64;
    Ok(ArmResult {
        seed: config.seed,
        test: trainer.evaluate(test)?,
        seconds,
        base_seconds_per_step: trainer.history.iter().map(|s| s.base_seconds).sum::<f64>() / steps,
        splat_seconds_per_step: trainer.history.iter().map(|s| s.splat_seconds).sum::<f64>() / steps,
        final_loss3d: trainer.history.last().map_or(0.0, |s| s.loss3d),
    })
}

/// Mean and sample standard deviation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
}

impl Stat {
    pub fn of(v: &[f64]) -> Stat {
        let n = v.len().max(1) as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
        Stat { mean, std }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    pub arm: String,
    pub miou: Stat,
    pub rayiou: Stat,
    pub mave: Stat,
    pub flow_epe: Stat,
    pub seconds: Stat,
    pub runs: Vec<ArmResult>,
}

impl ArmSummary {
    fn new(arm: &str, runs: &[ArmResult]) -> Self {
        let col = |f: fn(&ArmResult) -> f64| Stat::of(&runs.iter().map(f).collect::<Vec<_>>());
        ArmSummary {
            arm: arm.into(),
            miou: col(|r| r.test.miou),
            rayiou: col(|r| r.test.rayiou),
            mave: col(|r| r.test.mave),
            flow_epe: col(|r| r.test.flow_epe),
            seconds: col(|r| r.seconds),
            runs: runs.to_vec(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub adapter: String,
    pub config: TrainConfig,
    pub seeds: Vec<u64>,
    /// "3d" then "3d+splat".
    pub arms: Vec<ArmSummary>,
    /// In the splat arm: mean splat-loss seconds per step / mean seconds of the rest of the
    /// step (network forward + backward + AdamW + 3-D loss).
    pub splat_step_fraction: f64,
    /// Seeds on which the splat arm beats the 3-D arm on mIoU, RayIoU and flow EPE at once.
    pub splat_better_all_three: usize,
    /// Flow EPE of predicting zero flow everywhere on the test scenes: the floor a network
    /// that learned no motion sits at (EPE near it means no flow was learned).
    #[serde(default)]
    pub zero_flow_epe: f64,
}

/// Both arms for each network seed (same scenes, steps and sampling), side by side.
/// `on_step` sees every step; `on_arm` each arm's result as soon as it is evaluated (so a run
/// stopped before the end still leaves the arms it finished).
pub fn bench(
    base: &TrainConfig,
    seeds: &[u64],
    adapter: &str,
    device: &Device,
    backend: &dyn SplatBackend,
    on_step: &mut dyn FnMut(u64, bool, &StepStats),
    on_arm: &mut dyn FnMut(bool, &ArmResult),
) -> Result<BenchReport, OccError> {
    if seeds.is_empty() {
        return Err(OccError::Invalid("the benchmark needs at least one seed".into()));
    }
    base.validate()?;
    let test = Sample::many(base, &base.test_seeds)?;
    let mut results: [Vec<ArmResult>; 2] = [Vec::new(), Vec::new()];
    for &seed in seeds {
        for (arm, splat) in [false, true].into_iter().enumerate() {
            let cfg = TrainConfig { splat, seed, ..base.clone() };
            let result = run_arm(&cfg, device, backend, &test, &mut |s| on_step(seed, splat, s))?;
            on_arm(splat, &result);
            results[arm].push(result);
        }
    }
    let mut zero_flow_epe = 0.0;
    for s in &test {
        zero_flow_epe += flow_epe(&s.street.grid, &s.street.classes, &vec![0.0; s.flow.len()], &s.labels, &s.flow)? / test.len() as f64;
    }
    let base_s: f64 = results[1].iter().map(|r| r.base_seconds_per_step).sum();
    let splat_s: f64 = results[1].iter().map(|r| r.splat_seconds_per_step).sum();
    let better = results[0]
        .iter()
        .zip(&results[1])
        .filter(|(a, b)| b.test.miou > a.test.miou && b.test.rayiou > a.test.rayiou && b.test.flow_epe < a.test.flow_epe)
        .count();
    Ok(BenchReport {
        adapter: adapter.into(),
        config: TrainConfig { splat: false, ..base.clone() },
        seeds: seeds.to_vec(),
        arms: vec![ArmSummary::new("3d", &results[0]), ArmSummary::new("3d+splat", &results[1])],
        splat_step_fraction: if base_s > 0.0 { splat_s / base_s } else { 0.0 },
        splat_better_all_three: better,
        zero_flow_epe,
    })
}

impl BenchReport {
    /// The side-by-side table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "VoxelSplat synthetic street: {} network seeds × {} steps, grid {:?}, {} train / {} test scenes, {}\n",
            self.seeds.len(),
            self.config.steps,
            self.config.dims,
            self.config.train_seeds.len(),
            self.config.test_seeds.len(),
            self.adapter
        );
        s += &format!("{:<10} {:>17} {:>17} {:>17} {:>17} {:>10}\n", "arm", "mIoU", "RayIoU", "mAVE (m/s)", "flow EPE (m/s)", "wall (s)");
        let f = |x: &Stat| format!("{:.4} ± {:.4}", x.mean, x.std);
        for a in &self.arms {
            s += &format!("{:<10} {:>17} {:>17} {:>17} {:>17} {:>10.1}\n", a.arm, f(&a.miou), f(&a.rayiou), f(&a.mave), f(&a.flow_epe), a.seconds.mean);
        }
        s += "per seed (3d → 3d+splat):\n";
        if let [a, b] = &self.arms[..] {
            for (x, y) in a.runs.iter().zip(&b.runs) {
                s += &format!(
                    "  seed {}: mIoU {:.4} → {:.4}, RayIoU {:.4} → {:.4}, mAVE {:.4} → {:.4}, flow EPE {:.4} → {:.4}\n",
                    x.seed, x.test.miou, y.test.miou, x.test.rayiou, y.test.rayiou, x.test.mave, y.test.mave, x.test.flow_epe, y.test.flow_epe
                );
            }
        }
        s += &format!("flow EPE of predicting zero flow on the test scenes: {:.4} m/s\n", self.zero_flow_epe);
        s += &format!(
            "(mean ± std over seeds) the splat loss adds {:.0} % to a training step's time; splat arm better on all three of mIoU, RayIoU, flow EPE in {}/{} seeds\n",
            100.0 * self.splat_step_fraction,
            self.splat_better_all_three,
            self.seeds.len()
        );
        s
    }
}
