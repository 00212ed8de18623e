//! `kiln fit <dataset> --method coherent`: CoherentGS from 2–4 views (kiln-fit `coherent`).

use crate::fit::FitArgs;
use anyhow::{bail, Context};
use kiln_fit::coherent::prepare::{prepare_inputs, MapKind, PrepareOptions};
use kiln_fit::coherent::{path_cameras, CoherentConfig, CoherentTrainer};
use kiln_fit::Scene;
use kiln_run::plot::{line_plot, Series};
use kiln_run::{Progress, RunDir};
use kiln_scene::{Dataset, LoadOptions};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// CoherentGS's flags, shared by `kiln fit --method coherent` and `kiln bench coherent`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CoherentArgs {
    /// CoherentGS: ONNX monocular depth model ([1, 3, H, W] RGB in, one map out).
    #[arg(long)]
    pub depth_model: Option<PathBuf>,
    /// CoherentGS: what the depth model outputs, "depth" (FastDepth; default) or "disparity".
    #[arg(long)]
    pub depth_model_output: Option<String>,
    /// CoherentGS: folder of per-view maps <image stem>.png (16-bit) or .npy instead of a model.
    #[arg(long)]
    pub depth_dir: Option<PathBuf>,
    /// CoherentGS: what the --depth-dir maps hold, "disparity" (default) or "depth".
    #[arg(long)]
    pub depth_kind: Option<String>,
    /// CoherentGS: folder of flow files <from stem>_<to stem>.flo or .npy (image file stems of
    /// the training views) instead of kiln's GPU flow.
    #[arg(long)]
    pub flow_dir: Option<PathBuf>,
    /// CoherentGS ablations: per-Gaussian offsets instead of the decoders; no TV; no flow loss;
    /// no scale/shift alignment; no supersampled rendering late in training.
    #[arg(long)]
    pub no_decoder: bool,
    #[arg(long)]
    pub no_tv: bool,
    #[arg(long)]
    pub no_flow: bool,
    #[arg(long)]
    pub no_align: bool,
    #[arg(long)]
    pub no_supersample: bool,
    /// CoherentGS: decoder widths (ngf) for depth and opacity (default by view count).
    #[arg(long)]
    pub depth_ngf: Option<usize>,
    #[arg(long)]
    pub opacity_ngf: Option<usize>,
    /// CoherentGS: which implementation runs the decoders — `kiln` (kiln's WGSL kernels) or
    /// `burn` (Burn 0.22 with autodiff, the reference; `--decoder-conv` applies to it).
    #[arg(long, default_value = "kiln", value_parser = ["kiln", "burn"])]
    pub decoder_backend: String,
    /// CoherentGS with `--decoder-backend burn`: how Burn computes the convolutions — `auto`
    /// (wide or large ones as matrix products with a split reduction, the rest as Burn's
    /// conv2d), `burn`, `matmul`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "burn", "matmul"])]
    pub decoder_conv: String,
    /// CoherentGS (kiln's addition, off by default): start each pixel at the depth its flow
    /// correspondences triangulate to where the consistency check trusts them, elsewhere at the
    /// aligned monocular depth rescaled by the local ratio — for weak depth models.
    #[arg(long)]
    pub triangulate_depth: bool,
    /// CoherentGS (kiln's addition, off by default): a pixel whose Gaussian would stand in front
    /// of what another training view sees there, in another colour (free space that view looks
    /// through), starts nearly transparent instead of drawing a misplaced copy in novel views
    #[arg(long)]
    pub free_space_prior: bool,
}

#[derive(Serialize)]
struct CoherentMetrics<'a> {
    dataset: String,
    method: &'static str,
    split: &'static str,
    adapter: String,
    train_views: Vec<String>,
    iterations: u32,
    gaussians: usize,
    psnr: f64,
    ssim: f64,
    train_seconds: f64,
    prepare_seconds: f64,
    iterations_per_second: f64,
    preparation: &'a kiln_fit::coherent::prepare::PrepareReport,
    /// Seconds per part of the training step, summed over the run (see `StepTimes`).
    step_seconds: &'a kiln_fit::coherent::StepTimes,
    config: &'a CoherentConfig,
    test_views: &'a [kiln_fit::ViewMetrics],
}

fn parse_kind(s: &str, flag: &str) -> anyhow::Result<MapKind> {
    match s {
        "depth" => Ok(MapKind::Depth),
        "disparity" => Ok(MapKind::Disparity),
        _ => bail!("{flag} {s:?}: expected \"depth\" or \"disparity\""),
    }
}

/// The common part of a CoherentGS fit and its benchmark: the scene's sparse views, the
/// prepared inputs (depth, layers, flow, alignment) and a trainer.
struct Prepared {
    trainer: CoherentTrainer,
    name: String,
    report: kiln_fit::coherent::prepare::PrepareReport,
    prepare_seconds: f64,
}

/// What selects and configures a CoherentGS run besides [`CoherentArgs`].
struct RunShape<'a> {
    dataset: &'a Path,
    resolution: Option<u32>,
    views: Option<usize>,
    background: Option<&'a str>,
    iterations: Option<u32>,
    seed: u64,
    sh_degree: u32,
    checkpoint_every: u32,
}

fn prepare(shape: &RunShape, args: &CoherentArgs) -> anyhow::Result<Prepared> {
    let dataset = shape.dataset;
    if shape.resolution == Some(0) {
        bail!("--resolution must be a positive number of pixels");
    }
    let views = shape.views.unwrap_or(3);
    if !(2..=4).contains(&views) {
        bail!("--method coherent needs --views 2, 3 or 4, got {views}");
    }
    let ctx = crate::gpu()?;
    let background = shape.background.map(crate::render::parse_background).transpose()?;
    let opts = LoadOptions { resolution: shape.resolution, background: background.map(|v| glam::Vec3::new(v[0], v[1], v[2])), ..Default::default() };
    let ds = Dataset::load_with(dataset, &opts)?;
    for w in &ds.warnings {
        eprintln!("kiln: {w}");
    }
    let scene = Scene::from_dataset(&ds, Some(views))?;
    if scene.train.len() < 2 {
        bail!("{}: CoherentGS needs at least 2 training views, the dataset has {}", dataset.display(), scene.train.len());
    }
    // The spec's scene unit: LLFF poses scaled by 1/(0.75·near_min).
    let near = ds.train.iter().chain(&ds.test).filter_map(|v| v.bounds).map(|b| b[0]).fold(f32::INFINITY, f32::min);
    let unit = if near.is_finite() && near > 0.0 { 0.75 * near } else { 1.0 };
    let name = dataset.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_string())).unwrap_or_else(|| "scene".into());
    eprintln!(
        "kiln: CoherentGS on {}: train views {:?}, {} test views at {}x{}",
        dataset.display(),
        scene.train.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        scene.test.len(),
        scene.train[0].camera.width,
        scene.train[0].camera.height
    );

    let prep = PrepareOptions {
        depth_model: args.depth_model.clone(),
        model_output: args.depth_model_output.as_deref().map(|s| parse_kind(s, "--depth-model-output")).transpose()?,
        depth_dir: args.depth_dir.clone(),
        depth_kind: args.depth_kind.as_deref().map(|s| parse_kind(s, "--depth-kind")).transpose()?,
        flow_dir: args.flow_dir.clone(),
        align: !args.no_align,
        unit,
        layers: 5,
        triangulate: args.triangulate_depth,
        free_space: args.free_space_prior,
    };
    let t0 = Instant::now();
    let (inputs, report) = prepare_inputs(&ctx, &scene, &prep)?;
    let prepare_seconds = t0.elapsed().as_secs_f64();
    eprintln!(
        "kiln: depth from {}, flow from {} (valid {:?}), alignment scale {:?} shift {:?}",
        report.depth_source, report.flow_source, report.flow_valid_fraction, report.scale, report.shift
    );
    if prep.free_space {
        eprintln!("kiln: free-space prior: {:?} of each view's pixels start nearly transparent", report.free_space_fraction);
    }
    if prep.triangulate {
        eprintln!("kiln: triangulated from the flow: {:?} of each view's pixels", report.triangulated_fraction);
    }

    let config = CoherentConfig {
        iterations: shape.iterations.unwrap_or(13_000),
        seed: shape.seed,
        use_decoder: !args.no_decoder,
        use_tv: !args.no_tv,
        use_flow: !args.no_flow,
        use_alignment: !args.no_align,
        unit,
        max_sh_degree: shape.sh_degree,
        depth_ngf: args.depth_ngf,
        opacity_ngf: args.opacity_ngf,
        decoder_conv: kiln_nn::ConvForm::parse(&args.decoder_conv).unwrap_or_default(),
        decoder_backend: kiln_nn::DecoderBackend::parse(&args.decoder_backend).unwrap_or_default(),
        checkpoint_interval: shape.checkpoint_every,
        supersample_max: if args.no_supersample { 1 } else { CoherentConfig::default().supersample_max },
        ..Default::default()
    };
    let trainer = CoherentTrainer::new(ctx, scene, config, inputs)?;
    Ok(Prepared { trainer, name, report, prepare_seconds })
}

pub fn run(args: FitArgs) -> anyhow::Result<()> {
    let Some(dataset) = args.dataset.clone() else {
        bail!("--method coherent needs a dataset folder (2–4 posed images)");
    };
    let shape = RunShape {
        dataset: &dataset,
        resolution: args.resolution,
        views: args.views,
        background: args.background.as_deref(),
        iterations: args.iters,
        seed: args.seed,
        sh_degree: args.sh_degree,
        checkpoint_every: args.checkpoint_every,
    };
    let Prepared { mut trainer, name, report, prepare_seconds } = prepare(&shape, &args.coherent)?;
    let (ctx, config) = (trainer.context().clone(), trainer.config.clone());
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("{name}-coherent")));
    let run = RunDir::create(&out)?;
    run.write_json("config.json", &config)?;
    if args.resume {
        // The inputs above were recomputed (prepare is deterministic); the trained state and
        // the step come from the checkpoint. The decoders' AdamW moments restart.
        match run.latest_checkpoint()? {
            Some((step, ck)) => {
                trainer.restore(&ck).with_context(|| format!("{}: cannot resume", out.display()))?;
                eprintln!("kiln: resumed {} at step {step}", out.display());
            }
            None => eprintln!("kiln: no checkpoint in {}, starting fresh", out.display()),
        }
    }

    let total = config.iterations;
    let stop = args.stop_after.unwrap_or(total).min(total);
    let progress = Progress::new("coherent", total as u64, trainer.step as u64);
    let started = Instant::now();
    let first_step = trainer.step;
    while trainer.step < stop {
        let v = trainer.train_step()?;
        if trainer.step % 10 == 0 || trainer.step == stop {
            // The saturated fractions show a run going off its rays (docs/COHERENTGS.md).
            let sat = trainer.saturation;
            progress.set(trainer.step as u64, format!("loss {:.4} psnr {:.2} saturated depth {:.1}% opacity {:.1}%", v.loss, v.psnr(), 100.0 * sat.depth, 100.0 * sat.opacity));
        }
        if config.checkpoint_interval > 0 && trainer.step.is_multiple_of(config.checkpoint_interval) && trainer.step < total {
            run.save_checkpoint(trainer.step as u64, &trainer.checkpoint()?, 2)?;
        }
        if args.eval_every > 0 && trainer.step.is_multiple_of(args.eval_every) && trainer.step < total {
            let (split, views) = trainer.scene.evaluation_views();
            let (metrics, _) = trainer.evaluate(&views)?;
            crate::fit::append_eval(&run, trainer.step, split, &metrics, started.elapsed().as_secs_f64(), &progress)?;
        }
    }
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    if trainer.step < total {
        run.save_checkpoint(trainer.step as u64, &trainer.checkpoint()?, 2)?;
        eprintln!("kiln: stopped at step {} of {total}; continue with --resume", trainer.step);
        return Ok(());
    }

    let cloud = trainer.cloud()?;
    kiln_splat::write_gaussians(&run.path("point_cloud.ply"), &cloud)?;
    let (split, eval) = trainer.scene.evaluation_views();
    let (metrics, renders) = trainer.evaluate(&eval)?;
    std::fs::create_dir_all(run.path("renders"))?;
    std::fs::create_dir_all(run.path("path"))?;
    for (m, r) in metrics.iter().zip(&renders) {
        let stem = std::path::Path::new(&m.name).file_stem().map_or(m.name.clone(), |s| s.to_string_lossy().to_string());
        crate::render::write_png(r, &run.path("renders").join(format!("{stem}.png")))?;
    }
    let path = path_cameras(&trainer.scene.train, args.path_frames.max(2) as usize);
    for (i, cam) in path.iter().enumerate() {
        let r = trainer.render(cam)?;
        crate::render::write_png(&r, &run.path("path").join(format!("{i:04}.png")))?;
    }
    let mean = |f: &dyn Fn(&kiln_fit::ViewMetrics) -> f64| metrics.iter().map(f).sum::<f64>() / metrics.len().max(1) as f64;
    let m = CoherentMetrics {
        dataset: name,
        method: "coherent",
        split,
        adapter: ctx.describe(),
        train_views: trainer.scene.train.iter().map(|v| v.name.clone()).collect(),
        iterations: trainer.step,
        gaussians: trainer.gaussians(),
        psnr: mean(&|m| m.psnr),
        ssim: mean(&|m| m.ssim),
        train_seconds: seconds,
        prepare_seconds,
        iterations_per_second: (total - first_step) as f64 / seconds.max(1e-9),
        preparation: &report,
        step_seconds: &trainer.times,
        config: &config,
        test_views: &metrics,
    };
    let file = run.write_json("metrics.json", &m)?;
    let loss: Vec<(f64, f64)> = trainer.history.iter().map(|p| (p.step as f64, p.loss as f64)).collect();
    line_plot(&run.path("loss.png"), &[Series { points: &loss, color: [200, 40, 40] }], true)?;
    eprintln!(
        "kiln: {} {split} views: PSNR {:.2} dB, SSIM {:.4}, {} Gaussians, {:.2} it/s — {}",
        metrics.len(),
        m.psnr,
        m.ssim,
        m.gaussians,
        m.iterations_per_second,
        file.display()
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct CoherentBenchArgs {
    /// An LLFF-style dataset folder (2–4 of its views are trained on, as `kiln fit --method coherent`).
    pub dataset: PathBuf,
    /// Longer image side in pixels (default: the dataset's images, e.g. fern's 504×378).
    #[arg(long)]
    pub resolution: Option<u32>,
    /// Training views, 2–4 (default 3).
    #[arg(long)]
    pub views: Option<usize>,
    /// Length of the schedule the steps are taken from (the decoders' cyclic learning rate and
    /// the supersampling start follow it).
    #[arg(long, default_value_t = 13_000)]
    pub schedule: u32,
    /// Untimed steps first: Burn compiles and autotunes each kernel on its first calls.
    #[arg(long, default_value_t = 20)]
    pub warmup: u32,
    /// Timed steps.
    #[arg(long, default_value_t = 50)]
    pub steps: u32,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub coherent: CoherentArgs,
}

#[derive(Serialize)]
struct CoherentBenchReport {
    adapter: String,
    dataset: String,
    width: u32,
    height: u32,
    views: usize,
    gaussians: usize,
    decoders: bool,
    /// `kiln` or `burn` (the decoders' implementation).
    decoder_backend: kiln_nn::DecoderBackend,
    warmup: u32,
    steps: u32,
    /// The first step alone (Burn's kernel compilation and autotuning included).
    first_step_seconds: f64,
    steps_per_second: f64,
    /// Host wall-clock milliseconds per timed step in each part of the step (`StepTimes`:
    /// `decoder_forward` ends in the outputs' read-back, `decoder_backward` is the host's
    /// recording and `decoder_backward_wait` the wait for that GPU work; kiln's parts end in
    /// read-backs, so they include the GPU work they queued).
    parts_ms: BTreeMap<String, f64>,
    /// Median GPU time per kiln pass (timestamp queries), milliseconds: kiln's decoder passes
    /// included, per kind of kernel summed over the stages (`decoder resample`, `decoder
    /// conv`, `decoder leaky backward`, `decoder weight gradient`, `decoder input gradient`,
    /// `adam decoder`); Burn's kernels are only in the decoder parts above.
    gpu_stages_ms: BTreeMap<String, f64>,
}

/// `kiln bench coherent`: the CoherentGS step at a dataset's size, after a warm-up.
pub fn bench(args: CoherentBenchArgs) -> anyhow::Result<()> {
    if args.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let shape = RunShape {
        dataset: &args.dataset,
        resolution: args.resolution,
        views: args.views,
        background: None,
        iterations: Some(args.schedule.max(args.warmup + args.steps)),
        seed: 0,
        sh_degree: 3,
        checkpoint_every: 0,
    };
    let Prepared { mut trainer, name, .. } = prepare(&shape, &args.coherent)?;
    // Split the decoders' GPU time from their host time (a wait at the end of each step).
    trainer.sync_parts = true;
    let ctx = trainer.context().clone();
    let (width, height) = (trainer.scene.train[0].camera.width, trainer.scene.train[0].camera.height);
    let t0 = Instant::now();
    trainer.train_step()?;
    let first_step_seconds = t0.elapsed().as_secs_f64();
    let progress = Progress::new("warm-up", args.warmup as u64, 1);
    while trainer.step < args.warmup.max(1) {
        trainer.train_step()?;
        progress.set(trainer.step as u64, String::new());
    }
    progress.finish();
    let before = trainer.times.clone();
    // Room for kiln's decoders' per-kernel passes (two per stage forward, three backward).
    let mut timer = kiln_gpu::GpuTimer::new(&ctx, 512);
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let t0 = Instant::now();
    for _ in 0..args.steps {
        trainer.train_step_timed(Some(&mut timer))?;
        for s in timer.read(&ctx)? {
            samples.entry(crate::bench::coarse_stage(&s.stage)).or_default().push(s.ms);
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    let parts_ms = trainer.times.parts().into_iter().zip(before.parts()).map(|((part, after), (_, before))| (part.to_string(), 1e3 * (after - before) / args.steps as f64)).collect();
    let report = CoherentBenchReport {
        adapter: ctx.describe(),
        dataset: name,
        width,
        height,
        views: trainer.scene.train.len(),
        gaussians: trainer.gaussians(),
        decoders: trainer.config.use_decoder,
        decoder_backend: trainer.config.decoder_backend,
        warmup: args.warmup,
        steps: args.steps,
        first_step_seconds,
        steps_per_second: args.steps as f64 / seconds,
        parts_ms,
        gpu_stages_ms: samples.into_iter().map(|(k, mut v)| (k, crate::bench::median(&mut v))).collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("adapter: {}", report.adapter);
        println!(
            "{} at {}x{}, {} views, {} Gaussians, {}: {:.2} steps/s (first step {:.1} s)",
            report.dataset,
            width,
            height,
            report.views,
            report.gaussians,
            if !report.decoders { "free offsets".to_string() } else { format!("decoders on {:?}", report.decoder_backend).to_lowercase() },
            report.steps_per_second,
            report.first_step_seconds
        );
        println!("  per step, host clock:");
        for (part, ms) in &report.parts_ms {
            println!("    {part:<22} {ms:9.2} ms");
        }
        println!("  per step, GPU timestamps (kiln passes):");
        for (stage, ms) in &report.gpu_stages_ms {
            println!("    {stage:<18} {ms:9.3} ms");
        }
    }
    Ok(())
}
