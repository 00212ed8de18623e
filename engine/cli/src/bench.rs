use clap::{Args, Subcommand};
use kiln_gpu::{GpuContext, GpuTimer};
use kiln_splat::{GpuCloud, RenderSettings, SplatRenderer};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// The splat rasterizer on the standard synthetic scene (BENCHMARKS.md): forward, and
    /// backward of (sum of colour + sum of alpha).
    Raster(RasterArgs),
    /// Training: iterations per second and GPU time per stage of a 3DGS step.
    Fit(FitBenchArgs),
    /// CoherentGS (`kiln fit --method coherent`): time per part of a step after a warm-up —
    /// Burn's decoder legs, the render and losses, the host terms — and GPU time per kiln pass.
    Coherent(crate::coherent::CoherentBenchArgs),
    /// Voxel grid fitting (Vox-E): GPU time per stage of a fit step.
    Voxel(crate::voxel::VoxelBenchArgs),
    /// Spectral geometry: eigensolver and FAUST_r matching times and errors (CPU).
    Spectral(crate::spectral::SpectralBenchArgs),
    /// Learned spectral basis (issue 9): comparison with the cotangent eigenbasis on held-aside
    /// meshes, and FAUST_r matching as point clouds (learned, point-cloud Laplacian, mesh).
    LearnedBasis(crate::basis_bench::LearnedBasisBenchArgs),
}

#[derive(Args)]
pub struct FitBenchArgs {
    /// Dataset folder (default: the built-in demo scene).
    pub dataset: Option<std::path::PathBuf>,
    #[arg(long)]
    pub resolution: Option<u32>,
    /// Steps to train before timing (the cloud grows by densification after step 500).
    #[arg(long, default_value_t = 0)]
    pub warmup: u32,
    /// Timed steps.
    #[arg(long, default_value_t = 50)]
    pub iters: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct FitReport {
    adapter: String,
    dataset: String,
    width: u32,
    height: u32,
    gaussians: u32,
    iterations: u32,
    iterations_per_second: f64,
    /// Median GPU time per stage (timestamp queries), milliseconds.
    stages_ms: BTreeMap<String, f64>,
    step_gpu_ms: f64,
}

fn fit(args: FitBenchArgs) -> anyhow::Result<()> {
    let ctx = crate::gpu()?;
    let scene = crate::fit::scene_for_bench(&ctx, args.dataset.clone(), args.resolution)?;
    let (width, height) = (scene.train[0].camera.width, scene.train[0].camera.height);
    let config = kiln_fit::TrainConfig { iterations: 30_000, ..Default::default() };
    let mut trainer = kiln_fit::Trainer::new(ctx.clone(), scene, config)?;
    for _ in 0..args.warmup {
        trainer.train_step(false)?;
    }
    let mut timer = GpuTimer::new(&ctx, 256);
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let t0 = Instant::now();
    for _ in 0..args.iters {
        trainer.train_step_timed(false, Some(&mut timer))?;
        for s in timer.read(&ctx)? {
            samples.entry(coarse_stage(&s.stage)).or_default().push(s.ms);
        }
    }
    ctx.wait()?;
    let seconds = t0.elapsed().as_secs_f64();
    let stages_ms: BTreeMap<String, f64> = samples.into_iter().map(|(k, mut v)| (k, median(&mut v))).collect();
    let report = FitReport {
        adapter: ctx.describe(),
        dataset: args.dataset.as_ref().map_or("demo".into(), |d| d.display().to_string()),
        width,
        height,
        gaussians: trainer.gaussians(),
        iterations: args.iters,
        iterations_per_second: args.iters as f64 / seconds,
        step_gpu_ms: stages_ms.values().sum(),
        stages_ms,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("adapter: {}", report.adapter);
        println!("{} at {}x{}, {} Gaussians: {:.2} it/s (timed with per-stage read-backs)", report.dataset, width, height, report.gaussians, report.iterations_per_second);
        for (stage, ms) in &report.stages_ms {
            println!("  {stage:<18} {ms:9.3} ms");
        }
        println!("  step (GPU)         {:9.3} ms", report.step_gpu_ms);
    }
    Ok(())
}

#[derive(Args)]
pub struct RasterArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub gaussians: usize,
    #[arg(long, default_value_t = 1920)]
    pub width: u32,
    #[arg(long, default_value_t = 1080)]
    pub height: u32,
    /// Mean of the opacity logits: 0 "opaque", −4 "translucent".
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub opacity_mean: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Timed runs (the median is reported) after the warm-up runs.
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Skip the backward pass.
    #[arg(long)]
    pub forward_only: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct RasterReport {
    adapter: String,
    gaussians: usize,
    width: u32,
    height: u32,
    opacity_mean: f32,
    tile_intersections: u32,
    iterations: usize,
    /// Median GPU time per stage (timestamp queries), milliseconds: forward = project, depth
    /// sort, bin, tile sort, rasterize; backward = raster backward, project backward.
    stages_ms: BTreeMap<String, f64>,
    /// Sums of the forward and backward stages' medians.
    forward_gpu_ms: f64,
    backward_gpu_ms: f64,
    /// Median wall time of a whole forward (including the pair-count read-back) and backward.
    forward_wall_ms: f64,
    backward_wall_ms: f64,
    timestamps: bool,
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Raster(args) => raster(args),
        BenchCommand::Fit(args) => fit(args),
        BenchCommand::Coherent(args) => crate::coherent::bench(args),
        BenchCommand::Voxel(args) => crate::voxel::bench(args),
        BenchCommand::Spectral(args) => crate::spectral::bench(args),
        BenchCommand::LearnedBasis(args) => crate::basis_bench::bench(args),
    }
}

/// Stages as reported: the passes of one primitive are summed ("tile sort: scatter" and
/// "tile sort: count" into "tile sort"; the scan into "bin").
pub(crate) fn coarse_stage(stage: &str) -> String {
    stage.split(':').next().unwrap_or(stage).trim().to_string()
}

fn raster(args: RasterArgs) -> anyhow::Result<()> {
    let ctx = crate::gpu()?;
    let (cloud, camera) =
        kiln_splat::synthetic::benchmark_scene(args.gaussians, args.width, args.height, args.opacity_mean, args.seed);
    let renderer = SplatRenderer::new(ctx.clone())?;
    let gpu_cloud = GpuCloud::upload(&ctx, &cloud)?;
    let settings = RenderSettings::default();
    let pixels = (args.width * args.height) as u64;
    let grad_color = ctx.upload("grad colour", &vec![1.0f32; pixels as usize * 3]);
    let grad_alpha = ctx.upload("grad alpha", &vec![1.0f32; pixels as usize]);
    let grad_depth = ctx.zeroed("grad depth", pixels * 4);

    let mut forward_samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut backward_samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let (mut fwd_wall, mut bwd_wall) = (Vec::new(), Vec::new());
    let mut pairs = 0;
    let mut timer = GpuTimer::new(&ctx, 64);
    for it in 0..args.warmup + args.iters {
        let t0 = Instant::now();
        let fwd = renderer.forward(&gpu_cloud, &camera, &settings, Some(&mut timer))?;
        ctx.wait()?;
        let t1 = Instant::now();
        let forward_stages = timer.read(&ctx)?;
        let t2 = Instant::now();
        if !args.forward_only {
            renderer.backward(&gpu_cloud, &fwd, &grad_color, &grad_alpha, &grad_depth, Some(&mut timer))?;
            ctx.wait()?;
        }
        let t3 = Instant::now();
        let backward_stages = timer.read(&ctx)?;
        pairs = fwd.num_pairs;
        if it >= args.warmup {
            fwd_wall.push((t1 - t0).as_secs_f64() * 1e3);
            bwd_wall.push((t3 - t2).as_secs_f64() * 1e3);
            for (samples, stages) in [(&mut forward_samples, forward_stages), (&mut backward_samples, backward_stages)] {
                for s in stages {
                    samples.entry(coarse_stage(&s.stage)).or_default().push(s.ms);
                }
            }
        }
    }
    let medians = |m: BTreeMap<String, Vec<f64>>| -> BTreeMap<String, f64> {
        m.into_iter().map(|(k, mut v)| (k, median(&mut v))).collect()
    };
    let forward = medians(forward_samples);
    let backward = medians(backward_samples);
    let forward_gpu_ms = forward.values().sum();
    let backward_gpu_ms = backward.values().sum();
    let stages_ms = forward.into_iter().chain(backward).collect();
    let report = RasterReport {
        adapter: ctx.describe(),
        gaussians: args.gaussians,
        width: args.width,
        height: args.height,
        opacity_mean: args.opacity_mean,
        tile_intersections: pairs,
        iterations: args.iters,
        stages_ms,
        forward_gpu_ms,
        backward_gpu_ms,
        forward_wall_ms: median(&mut fwd_wall),
        backward_wall_ms: if args.forward_only { 0.0 } else { median(&mut bwd_wall) },
        timestamps: ctx.timestamps,
    };
    print_report(&ctx, &report, args.json)
}

fn print_report(_ctx: &GpuContext, r: &RasterReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!("adapter: {}", r.adapter);
    println!(
        "scene: {} Gaussians, {}x{}, opacity mean {}, {} tile intersections; median of {} runs",
        r.gaussians, r.width, r.height, r.opacity_mean, r.tile_intersections, r.iterations
    );
    for (stage, ms) in &r.stages_ms {
        println!("  {stage:<18} {ms:9.3} ms");
    }
    println!("  forward  (GPU)     {:9.3} ms   wall {:9.3} ms", r.forward_gpu_ms, r.forward_wall_ms);
    println!("  backward (GPU)     {:9.3} ms   wall {:9.3} ms", r.backward_gpu_ms, r.backward_wall_ms);
    Ok(())
}
