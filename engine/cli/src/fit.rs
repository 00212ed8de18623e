use anyhow::{bail, Context};
use clap::Args;
use kiln_fit::{Scene, TrainConfig, Trainer, ViewMetrics};
use kiln_run::plot::{line_plot, Series};
use kiln_run::{Progress, RunDir};
use kiln_scene::{Dataset, LoadOptions};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
pub struct FitArgs {
    /// Dataset folder: a COLMAP model, NeRF transforms.json, or LLFF poses_bounds.npy (the
    /// format is detected). Without one, kiln fits its built-in demo scene.
    pub dataset: Option<PathBuf>,
    /// Training steps (default: 30,000; 1,500 for the demo scene).
    #[arg(long)]
    pub iters: Option<u32>,
    /// Longer image side in pixels (images are downscaled; never upscaled).
    #[arg(long)]
    pub resolution: Option<u32>,
    /// Run folder (default: runs/<dataset name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use only this many training views, spread evenly from the first to the last (RegNeRF's
    /// sparse-view protocol).
    #[arg(long)]
    pub views: Option<usize>,
    /// Continue from the run folder's last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Save a checkpoint every this many steps.
    #[arg(long, default_value_t = 1000)]
    pub checkpoint_every: u32,
    /// Background "r,g,b" (default: the dataset's — white for NeRF scenes, else black).
    #[arg(long)]
    pub background: Option<String>,
    /// Highest SH degree (0–3).
    #[arg(long, default_value_t = 3)]
    pub sh_degree: u32,
    /// Random initialization (scenes without SfM points): this many Gaussians.
    #[arg(long)]
    pub init_points: Option<u32>,
    /// Stop after this many steps even if --iters is larger (the schedules still follow
    /// --iters); used to test resuming.
    #[arg(long, hide = true)]
    pub stop_after: Option<u32>,
    /// Every N steps, render the evaluation views (the test split, else the training views)
    /// and append their mean PSNR and SSIM to eval.jsonl in the run folder (0: only at the end).
    #[arg(long, default_value_t = 0)]
    pub eval_every: u32,
    /// Show the training live in the viewer window (3DGS; the trainer waits for it only while
    /// the window configures its surface, at start and on resize).
    #[arg(long)]
    pub view: bool,
    /// Method: "3dgs" (default) or "coherent" (CoherentGS for 2–4 views; --views defaults
    /// to 3, --iters to 13,000).
    #[arg(long, default_value = "3dgs")]
    pub method: String,
    #[command(flatten)]
    pub coherent: crate::coherent::CoherentArgs,
    /// CoherentGS: frames of the novel-view path render.
    #[arg(long, default_value_t = 30)]
    pub path_frames: u32,
}

/// What `kiln eval` needs to redo the evaluation; written as config.json.
#[derive(Serialize, Deserialize)]
struct RunConfig {
    dataset: Option<PathBuf>,
    resolution: Option<u32>,
    views: Option<usize>,
    background: Option<[f32; 3]>,
    train: TrainConfig,
}

#[derive(Serialize)]
struct Metrics<'a> {
    dataset: String,
    /// The views the metrics are over: "test", or "train" for datasets without a test split.
    split: &'static str,
    adapter: String,
    iterations: u32,
    gaussians: u32,
    psnr: f64,
    ssim: f64,
    train_seconds: f64,
    iterations_per_second: f64,
    test_views: &'a [ViewMetrics],
}

fn load_scene(ctx: &std::sync::Arc<kiln_gpu::GpuContext>, cfg: &RunConfig) -> anyhow::Result<Scene> {
    match &cfg.dataset {
        None => {
            let renderer = kiln_splat::SplatRenderer::new(ctx.clone())?;
            Ok(kiln_fit::demo::demo_scene(&renderer, cfg.resolution.unwrap_or(128).min(512), 7)?)
        }
        Some(path) => {
            let opts = LoadOptions {
                resolution: cfg.resolution,
                background: cfg.background.map(glam::Vec3::from),
                ..Default::default()
            };
            let ds = Dataset::load_with(path, &opts)?;
            for w in &ds.warnings {
                eprintln!("kiln: {w}");
            }
            let scene = Scene::from_dataset(&ds, cfg.views)?;
            let init = match (&ds.points, &scene.points) {
                (Some(all), Some(p)) if p.len() < all.len() => format!("; {} of its {} SfM points (those two training views observe)", p.len(), all.len()),
                (Some(all), None) => format!("; none of its {} SfM points is observed by two training views: random initialization", all.len()),
                (Some(all), Some(_)) => format!("; {} SfM points", all.len()),
                (None, _) => String::new(),
            };
            eprintln!(
                "kiln: {} dataset {}: {} training and {} test views at {}x{}{init}",
                ds.format.name(),
                path.display(),
                scene.train.len(),
                scene.test.len(),
                scene.train[0].camera.width,
                scene.train[0].camera.height
            );
            Ok(scene)
        }
    }
}

pub fn run(args: FitArgs) -> anyhow::Result<()> {
    match args.method.as_str() {
        "3dgs" => {}
        "coherent" => return crate::coherent::run(args),
        other => bail!("--method {other:?}: expected \"3dgs\" or \"coherent\""),
    }
    let ctx = crate::gpu()?;
    let background = args.background.as_deref().map(crate::render::parse_background).transpose()?.map(|v| [v[0], v[1], v[2]]);
    if args.sh_degree > 3 {
        bail!("--sh-degree {} is above 3", args.sh_degree);
    }
    if args.resolution == Some(0) {
        bail!("--resolution must be a positive number of pixels");
    }
    let name = args
        .dataset
        .as_ref()
        .and_then(|d| d.canonicalize().ok())
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_string()))
        .unwrap_or_else(|| "demo".into());
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(&name));
    let run = RunDir::create(&out)?;
    let iterations = args.iters.unwrap_or(if args.dataset.is_some() { 30_000 } else { 1_500 });
    let mut train = TrainConfig { iterations, seed: args.seed, max_sh_degree: args.sh_degree, checkpoint_interval: args.checkpoint_every, ..Default::default() };
    if args.dataset.is_none() {
        // The demo object is small; fewer random points suffice.
        train.random_init_points = 20_000;
    }
    if let Some(n) = args.init_points {
        train.random_init_points = n;
    }
    let cfg = RunConfig {
        dataset: args.dataset.as_ref().map(|d| d.canonicalize().unwrap_or(d.clone())),
        resolution: args.resolution,
        views: args.views,
        background,
        train,
    };
    let scene = load_scene(&ctx, &cfg)?;
    let mut trainer = Trainer::new(ctx.clone(), scene, cfg.train.clone())?;
    if args.resume {
        match run.latest_checkpoint()? {
            Some((step, ck)) => {
                trainer.restore(&ck)?;
                eprintln!("kiln: resumed {} at step {step} ({} Gaussians)", out.display(), trainer.gaussians());
            }
            None => eprintln!("kiln: no checkpoint in {}, starting fresh", out.display()),
        }
    }
    run.write_json("config.json", &cfg)?;

    let total = cfg.train.iterations;
    let stop = args.stop_after.unwrap_or(total).min(total);
    let progress = Progress::new("fit", total as u64, trainer.step as u64);
    let started = Instant::now();
    let first_step = trainer.step;
    let live = args.view.then(|| crate::view::LiveView::start(&trainer, total));
    while trainer.step < stop {
        let log = trainer.step % 10 == 9 || trainer.step + 1 == stop;
        // The viewer configures its window surface between iterations (see LiveView::step_gate).
        let _gate = live.as_ref().map(|l| l.step_gate());
        let values = trainer.train_step(log)?;
        if let Some(l) = &live {
            l.after_step(&trainer, values.as_ref())?;
        }
        if let Some(v) = values {
            progress.set(
                trainer.step as u64,
                format!("loss {:.4} psnr {:.2} gaussians {}", v.loss, v.psnr(), trainer.gaussians()),
            );
        }
        if cfg.train.checkpoint_interval > 0 && trainer.step.is_multiple_of(cfg.train.checkpoint_interval) && trainer.step < total {
            run.save_checkpoint(trainer.step as u64, &trainer.checkpoint()?, 2)?;
        }
        if args.eval_every > 0 && trainer.step.is_multiple_of(args.eval_every) && trainer.step < total {
            let (split, views) = trainer.scene.evaluation_views();
            let (metrics, _) = trainer.evaluate(&views)?;
            append_eval(&run, trainer.step, split, &metrics, started.elapsed().as_secs_f64(), &progress)?;
        }
    }
    progress.finish();
    // Evaluation and writing the run submit GPU work too; the window waits for them.
    let gate = live.as_ref().map(|l| l.step_gate());
    if let Some(l) = &live {
        l.done(&trainer)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    run.save_checkpoint(trainer.step as u64, &trainer.checkpoint()?, 2)?;
    if trainer.step < total {
        eprintln!("kiln: stopped at step {} of {total}; continue with --resume", trainer.step);
        return Ok(());
    }
    let cloud = trainer.cloud()?;
    kiln_splat::write_gaussians(&run.path("point_cloud.ply"), &cloud)?;
    let (split, views) = eval_views(&trainer.scene);
    let (metrics, renders) = trainer.evaluate(&views)?;
    for ((m, r), v) in metrics.iter().zip(&renders).zip(&views) {
        let file = format!("{}.png", sanitize(&m.name));
        crate::render::write_png(r, &run.path("renders").join(file))?;
        // The target beside it, for a side-by-side look.
        let target = kiln_splat::RenderOutput {
            width: v.camera.width,
            height: v.camera.height,
            channels: 3,
            color: v.image.rgb.clone(),
            alpha: vec![1.0; (v.camera.width * v.camera.height) as usize],
            depth: Vec::new(),
        };
        crate::render::write_png(&target, &run.path("renders").join(format!("{}_target.png", sanitize(&m.name))))?;
    }
    write_metrics(&run, &name, &ctx.describe(), &trainer, split, &metrics, seconds, trainer.step - first_step)?;
    plot_history(&run, &trainer)?;
    drop(gate);
    if let Some(l) = live {
        l.wait();
    }
    Ok(())
}

/// [`Scene::evaluation_views`], saying so when they are the training views.
fn eval_views(scene: &Scene) -> (&'static str, Vec<kiln_fit::SceneView>) {
    let (split, views) = scene.evaluation_views();
    if split == "train" {
        eprintln!("kiln: the dataset has no test views; metrics are over the training views");
    }
    (split, views)
}

fn sanitize(name: &str) -> String {
    // "./test/r_0" → "r_0": the file's own name, without folders or extension.
    let name = Path::new(name).file_stem().map_or(name.to_string(), |s| s.to_string_lossy().to_string());
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

#[allow(clippy::too_many_arguments)]
fn write_metrics(run: &RunDir, name: &str, adapter: &str, trainer: &Trainer, split: &'static str, metrics: &[ViewMetrics], seconds: f64, steps: u32) -> anyhow::Result<()> {
    let m = Metrics {
        dataset: name.into(),
        split,
        adapter: adapter.into(),
        iterations: trainer.step,
        gaussians: trainer.gaussians(),
        psnr: mean(metrics.iter().map(|m| m.psnr)),
        ssim: mean(metrics.iter().map(|m| m.ssim)),
        train_seconds: seconds,
        iterations_per_second: steps as f64 / seconds.max(1e-9),
        test_views: metrics,
    };
    let path = run.write_json("metrics.json", &m)?;
    eprintln!(
        "kiln: {} {split} views: PSNR {:.2} dB, SSIM {:.4}, {} Gaussians, {:.1} it/s — {}",
        metrics.len(),
        m.psnr,
        m.ssim,
        m.gaussians,
        m.iterations_per_second,
        path.display()
    );
    Ok(())
}

fn plot_history(run: &RunDir, trainer: &Trainer) -> anyhow::Result<()> {
    let loss: Vec<(f64, f64)> = trainer.history.iter().map(|p| (p.step as f64, p.loss as f64)).collect();
    let psnr: Vec<(f64, f64)> = trainer.history.iter().map(|p| (p.step as f64, p.psnr as f64)).collect();
    line_plot(&run.path("loss.png"), &[Series { points: &loss, color: [200, 40, 40] }], true)?;
    line_plot(&run.path("psnr.png"), &[Series { points: &psnr, color: [40, 80, 200] }], false)?;
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    /// A run folder made by `kiln fit`.
    pub run: PathBuf,
}

/// Re-computes a finished run's test metrics from its PLY and config.json.
pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let ctx = crate::gpu()?;
    let run = RunDir { root: args.run.clone() };
    let cfg_path = run.path("config.json");
    let text = std::fs::read_to_string(&cfg_path).with_context(|| format!("{}: not a kiln run folder", cfg_path.display()))?;
    let cfg: RunConfig = serde_json::from_str(&text).with_context(|| format!("{}: malformed run config", cfg_path.display()))?;
    let scene = load_scene(&ctx, &cfg)?;
    let ply = run.path("point_cloud.ply");
    let cloud = kiln_splat::read_gaussians(&ply)?;
    let mut trainer = Trainer::with_cloud(ctx.clone(), scene, cfg.train.clone(), &cloud)?;
    trainer.step = cfg.train.iterations;
    let (split, views) = eval_views(&trainer.scene);
    let (metrics, _) = trainer.evaluate(&views)?;
    let name = cfg.dataset.as_deref().and_then(Path::file_name).map_or("demo".into(), |n| n.to_string_lossy().to_string());
    let previous = std::fs::read_to_string(run.path("metrics.json")).ok().and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    let seconds = previous.as_ref().and_then(|v| v["train_seconds"].as_f64()).unwrap_or(f64::NAN);
    write_metrics(&run, &name, &ctx.describe(), &trainer, split, &metrics, seconds, cfg.train.iterations)?;
    Ok(())
}

/// The scene `kiln bench fit` trains on (the demo when no dataset is given).
pub(crate) fn scene_for_bench(ctx: &std::sync::Arc<kiln_gpu::GpuContext>, dataset: Option<PathBuf>, resolution: Option<u32>) -> anyhow::Result<Scene> {
    load_scene(ctx, &RunConfig { dataset, resolution, views: None, background: None, train: TrainConfig::default() })
}

/// One line of a run's eval.jsonl (`--eval-every`): the step, the mean PSNR and SSIM of the
/// evaluation views, and the training seconds so far; also printed above the progress bar.
pub fn append_eval(run: &RunDir, step: u32, split: &str, metrics: &[kiln_fit::ViewMetrics], seconds: f64, progress: &Progress) -> anyhow::Result<()> {
    use std::io::Write;
    let (psnr, ssim) = (mean(metrics.iter().map(|m| m.psnr)), mean(metrics.iter().map(|m| m.ssim)));
    let line = serde_json::json!({ "step": step, "split": split, "psnr": psnr, "ssim": ssim, "seconds": seconds });
    let path = run.path("eval.jsonl");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).with_context(|| format!("{}: cannot append", path.display()))?;
    writeln!(file, "{line}").with_context(|| format!("{}: cannot write", path.display()))?;
    progress.println(format!("step {step}: {split} PSNR {psnr:.2} SSIM {ssim:.3}"));
    Ok(())
}
