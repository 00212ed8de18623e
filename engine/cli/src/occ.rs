//! `kiln occ train|bench`: VoxelSplat on the synthetic street benchmark (docs/VOXELSPLAT.md).

use anyhow::Context;
use clap::{Args, Subcommand};
use kiln_occupancy::train::{bench as run_bench, Sample, StepStats, TrainConfig, Trainer};
use kiln_occupancy::view::{comparison_mesh, FlowArrows};
use kiln_occupancy::GpuSplat;
use kiln_run::plot::{line_plot, Series};
use kiln_run::{Checkpoint, Progress, RunDir};
use kiln_splat::SplatRenderer;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Subcommand)]
pub enum OccCommand {
    /// Train one occupancy + flow network on synthetic streets (with or without splat losses).
    Train(OccTrainArgs),
    /// Both arms (3-D losses; 3-D + VoxelSplat) over several network seeds, side by side.
    Bench(OccBenchArgs),
}

pub fn run(cmd: OccCommand) -> anyhow::Result<()> {
    match cmd {
        OccCommand::Train(a) => train(a),
        OccCommand::Bench(a) => bench(a),
    }
}

#[derive(Args)]
pub struct OccTrainArgs {
    /// Run folder (checkpoints, config.json, metrics.json, loss.png).
    #[arg(long, default_value = "runs/occ")]
    pub out: PathBuf,
    /// Add VoxelSplat's 2-D losses to the 3-D ones.
    #[arg(long)]
    pub splat: bool,
    /// The tiny street of `bench --quick` (16×40×6 voxels, 100 steps) instead of the standard one.
    #[arg(long)]
    pub quick: bool,
    #[arg(long)]
    pub steps: Option<usize>,
    /// Network initialisation and voxel-sampling seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Checkpoint every N steps.
    #[arg(long, default_value_t = 50)]
    pub checkpoint_every: usize,
    /// Continue from the run folder's latest checkpoint (AdamW moments restart).
    #[arg(long)]
    pub resume: bool,
    /// Stop after this many steps (then continue with --resume).
    #[arg(long)]
    pub stop_after: Option<usize>,
}

#[derive(Args)]
pub struct OccBenchArgs {
    /// The tiny street (16×40×6 voxels, 100 steps; a few minutes for three seeds on lavapipe).
    #[arg(long)]
    pub quick: bool,
    /// Network seeds (initialisation + sampling) per arm: first..first+N.
    #[arg(long)]
    pub seeds: Option<u64>,
    /// The first network seed (to continue a benchmark over more seeds in another run).
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    #[arg(long)]
    pub steps: Option<usize>,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn config(splat: bool, seed: u64, quick: bool, steps: Option<usize>) -> TrainConfig {
    let mut c = if quick { TrainConfig::tiny(splat, seed) } else { TrainConfig::standard(splat, seed) };
    if let Some(s) = steps {
        // Keep the warm-up at the same share of the run.
        c.flow_warmup = c.flow_warmup * s / c.steps.max(1);
        c.steps = s;
    }
    c
}

fn checkpoint(trainer: &Trainer) -> anyhow::Result<Checkpoint> {
    let mut ck = Checkpoint::new(serde_json::json!({ "step": trainer.step, "config": &trainer.config, "history": &trainer.history }));
    for (i, p) in trainer.parameters()?.into_iter().enumerate() {
        ck.push(&format!("param{i}"), p);
    }
    Ok(ck)
}

fn restore(trainer: &mut Trainer, ck: &Checkpoint) -> anyhow::Result<()> {
    let saved: TrainConfig = serde_json::from_value(ck.meta["config"].clone()).context("checkpoint has no readable config")?;
    if saved != trainer.config {
        anyhow::bail!("the checkpoint was made with another configuration (--splat/--quick/--steps/--seed differ)");
    }
    let n = trainer.parameters()?.len();
    let params = (0..n)
        .map(|i| ck.get(&format!("param{i}")).map(|p| p.to_vec()).with_context(|| format!("checkpoint has no tensor param{i}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let step = ck.meta["step"].as_u64().context("checkpoint has no step")? as usize;
    let history: Vec<StepStats> = serde_json::from_value(ck.meta["history"].clone()).unwrap_or_default();
    trainer.restore(step, &params, history).context("checkpoint does not fit the network")?;
    Ok(())
}

/// predictions/scene_<seed>.ply per test scene: ground truth (left) and prediction (right) as
/// class-coloured voxels with flow arrows, for `kiln view <run>` or any mesh viewer.
fn write_predictions(run: &RunDir, trainer: &Trainer, test: &[Sample], seeds: &[u64]) -> anyhow::Result<()> {
    std::fs::create_dir_all(run.path("predictions"))?;
    for (sample, seed) in test.iter().zip(seeds) {
        let (labels, flow) = trainer.predict(sample)?;
        let street = &sample.street;
        let m = comparison_mesh(&street.grid, &street.classes, (&sample.labels, &sample.flow), (&labels, &flow), &FlowArrows::default())?;
        let path = run.path("predictions").join(format!("scene_{seed}.ply"));
        let mesh = kiln_scene::mesh::Mesh::from_parts(&path.display().to_string(), m.positions, m.faces, Some(m.colors))?;
        mesh.write(&path)?;
    }
    Ok(())
}

#[derive(Serialize)]
struct TrainMetrics {
    splat: bool,
    steps: usize,
    seconds: f64,
    /// Mean wall seconds per step of the network + 3-D loss, and of the splat loss.
    base_seconds_per_step: f64,
    splat_seconds_per_step: f64,
    test: kiln_occupancy::train::EvalReport,
}

fn train(a: OccTrainArgs) -> anyhow::Result<()> {
    let ctx = crate::gpu()?;
    let device = kiln_occupancy::net::burn_device(&ctx)?;
    let renderer = SplatRenderer::new(ctx.clone())?;
    let backend = GpuSplat { renderer: &renderer };
    let cfg = config(a.splat, a.seed, a.quick, a.steps);
    let run = RunDir::create(&a.out)?;
    let mut trainer = Trainer::new(cfg.clone(), &device)?;
    if a.resume {
        match run.latest_checkpoint()? {
            Some((step, ck)) => {
                restore(&mut trainer, &ck).with_context(|| format!("{}: cannot resume", a.out.display()))?;
                eprintln!("kiln: resumed {} at step {step} (AdamW moments restart)", a.out.display());
            }
            None => eprintln!("kiln: no checkpoint in {}, starting fresh", a.out.display()),
        }
    }
    run.write_json("config.json", &cfg)?;
    let stop = a.stop_after.unwrap_or(cfg.steps).min(cfg.steps);
    let progress = Progress::new("occ train", cfg.steps as u64, trainer.step as u64);
    let started = Instant::now();
    let first = trainer.step;
    while trainer.step < stop {
        let s = trainer.train_step(&backend)?;
        progress.set(trainer.step as u64, format!("3d {:.4} splat {:.4}", s.loss3d, s.splat));
        if a.checkpoint_every > 0 && trainer.step.is_multiple_of(a.checkpoint_every) && trainer.step < cfg.steps {
            run.save_checkpoint(trainer.step as u64, &checkpoint(&trainer)?, 2)?;
        }
    }
    progress.finish();
    run.save_checkpoint(trainer.step as u64, &checkpoint(&trainer)?, 2)?;
    if trainer.step < cfg.steps {
        eprintln!("kiln: stopped at step {} of {}; continue with --resume", trainer.step, cfg.steps);
        return Ok(());
    }
    let test = Sample::many(&cfg, &cfg.test_seeds)?;
    let report = trainer.evaluate(&test)?;
    write_predictions(&run, &trainer, &test, &cfg.test_seeds)?;
    let recent = &trainer.history[first.min(trainer.history.len())..];
    let done = recent.len().max(1) as f64;
    let m = TrainMetrics {
        splat: a.splat,
        steps: trainer.step,
        seconds: started.elapsed().as_secs_f64(),
        base_seconds_per_step: recent.iter().map(|s| s.base_seconds).sum::<f64>() / done,
        splat_seconds_per_step: recent.iter().map(|s| s.splat_seconds).sum::<f64>() / done,
        test: report,
    };
    let path = run.write_json("metrics.json", &m)?;
    // Red: the 3-D loss; blue: the splat loss (splat arm).
    let l3: Vec<(f64, f64)> = trainer.history.iter().map(|s| (s.step as f64, s.loss3d)).collect();
    let ls: Vec<(f64, f64)> = trainer.history.iter().filter(|s| s.splat > 0.0).map(|s| (s.step as f64, s.splat)).collect();
    let mut series = vec![Series { points: &l3, color: [200, 40, 40] }];
    if !ls.is_empty() {
        series.push(Series { points: &ls, color: [40, 80, 200] });
    }
    line_plot(&run.path("loss.png"), &series, true)?;
    println!(
        "mIoU {:.4}  RayIoU {:.4}  mAVE {:.4} m/s  flow EPE {:.4} m/s  ({})",
        m.test.miou,
        m.test.rayiou,
        m.test.mave,
        m.test.flow_epe,
        path.display()
    );
    Ok(())
}

fn bench(a: OccBenchArgs) -> anyhow::Result<()> {
    let ctx = crate::gpu()?;
    let device = kiln_occupancy::net::burn_device(&ctx)?;
    let renderer = SplatRenderer::new(ctx.clone())?;
    let backend = GpuSplat { renderer: &renderer };
    let seeds: Vec<u64> = (a.first_seed..a.first_seed + a.seeds.unwrap_or(3)).collect();
    let base = config(false, 0, a.quick, a.steps);
    let progress = Progress::new("occ bench", 2 * seeds.len() as u64 * base.steps as u64, 0);
    let mut done = 0u64;
    let report = run_bench(&base, &seeds, &ctx.describe(), &device, &backend, &mut |seed, splat, s| {
        done += 1;
        progress.set(done, format!("seed {seed} {} 3d {:.4} splat {:.4}", if splat { "3d+splat" } else { "3d" }, s.loss3d, s.splat));
    }, &mut |splat, r| {
        // Each finished arm at once: a run stopped early keeps what it measured.
        progress.println(format!("finished: {}", r.summary(splat)));
    })?;
    progress.finish();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
