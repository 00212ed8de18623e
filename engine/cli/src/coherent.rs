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
use std::path::PathBuf;
use std::time::Instant;

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

pub fn run(args: FitArgs) -> anyhow::Result<()> {
    let Some(dataset) = args.dataset.clone() else {
        bail!("--method coherent needs a dataset folder (2–4 posed images)");
    };
    if args.resolution == Some(0) {
        bail!("--resolution must be a positive number of pixels");
    }
    let views = args.views.unwrap_or(3);
    if !(2..=4).contains(&views) {
        bail!("--method coherent needs --views 2, 3 or 4, got {views}");
    }
    let ctx = crate::gpu()?;
    let background = args.background.as_deref().map(crate::render::parse_background).transpose()?;
    let opts = LoadOptions { resolution: args.resolution, background: background.map(|v| glam::Vec3::new(v[0], v[1], v[2])), ..Default::default() };
    let ds = Dataset::load_with(&dataset, &opts)?;
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
    };
    let t0 = Instant::now();
    let (inputs, report) = prepare_inputs(&ctx, &scene, &prep)?;
    let prepare_seconds = t0.elapsed().as_secs_f64();
    eprintln!(
        "kiln: depth from {}, flow from {} (valid {:?}), alignment scale {:?} shift {:?}",
        report.depth_source, report.flow_source, report.flow_valid_fraction, report.scale, report.shift
    );

    let config = CoherentConfig {
        iterations: args.iters.unwrap_or(13_000),
        seed: args.seed,
        use_decoder: !args.no_decoder,
        use_tv: !args.no_tv,
        use_flow: !args.no_flow,
        use_alignment: !args.no_align,
        unit,
        max_sh_degree: args.sh_degree,
        depth_ngf: args.depth_ngf,
        opacity_ngf: args.opacity_ngf,
        checkpoint_interval: args.checkpoint_every,
        supersample_max: if args.no_supersample { 1 } else { CoherentConfig::default().supersample_max },
        ..Default::default()
    };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("{name}-coherent")));
    let run = RunDir::create(&out)?;
    run.write_json("config.json", &config)?;
    let mut trainer = CoherentTrainer::new(ctx.clone(), scene, config.clone(), inputs)?;
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
            progress.set(trainer.step as u64, format!("loss {:.4} psnr {:.2}", v.loss, v.psnr()));
        }
        if config.checkpoint_interval > 0 && trainer.step.is_multiple_of(config.checkpoint_interval) && trainer.step < total {
            run.save_checkpoint(trainer.step as u64, &trainer.checkpoint()?, 2)?;
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
    let (split, eval) = if trainer.scene.test.is_empty() { ("train", trainer.scene.train.clone()) } else { ("test", trainer.scene.test.clone()) };
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
