//! `kiln voxel fit|edit|mesh` and `kiln bench voxel` (Vox-E: voxel grids, reconstruction and
//! localized editing; see docs/VOXE.md).

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use glam::Vec3;
use kiln_gpu::GpuTimer;
use kiln_run::plot::{line_plot, Series};
use kiln_run::{Progress, RunDir};
use kiln_scene::dataset::Image;
use kiln_scene::{Dataset, LoadOptions};
use kiln_voxel::edit::{edit, AttentionSource, BoxAttention, EditConfig, EditView, ImageMasks};
use kiln_voxel::fit::{FitConfig, FitView, Fitter};
use kiln_voxel::guidance::{AnalyticGoal, ExternalGuidance, Guidance, Region, TargetImages};
use kiln_voxel::{GpuGrid, MarchSettings, Marcher, Rendered, VoxelGrid};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Subcommand)]
pub enum VoxelCommand {
    /// Fit a voxel grid (density + colour) to posed images, coarse to fine.
    Fit(VoxelFitArgs),
    /// Edit a fitted grid under image-space guidance, kept local by attention + graph cut.
    Edit(VoxelEditArgs),
    /// Export the density level set of a grid (or a run's grid) as OBJ or PLY.
    Mesh(VoxelMeshArgs),
}

pub fn run(cmd: VoxelCommand) -> anyhow::Result<()> {
    match cmd {
        VoxelCommand::Fit(a) => fit(a),
        VoxelCommand::Edit(a) => edit_cmd(a),
        VoxelCommand::Mesh(a) => mesh(a),
    }
}

#[derive(Args)]
pub struct VoxelFitArgs {
    /// Dataset folder: COLMAP, NeRF transforms.json or LLFF (detected).
    pub dataset: PathBuf,
    /// Training steps (split evenly over the coarse-to-fine stages).
    #[arg(long, default_value_t = 2000)]
    pub iters: u32,
    /// Longer image side in pixels (images are downscaled; never upscaled).
    #[arg(long)]
    pub resolution: Option<u32>,
    /// Final grid points per axis.
    #[arg(long, default_value_t = 128)]
    pub grid: u32,
    /// Coarse-to-fine stages (the grid doubles each stage).
    #[arg(long, default_value_t = 4)]
    pub stages: u32,
    /// Rays per step.
    #[arg(long, default_value_t = 8192)]
    pub rays: u32,
    /// World box "x0,y0,z0,x1,y1,z1"; "vox-e" for Vox-E's 3×3×3 box around the origin. Default:
    /// the visual hull of the training images' alpha masks (plus three cells of a 128³
    /// lattice) when they have masks, else Vox-E's box.
    #[arg(long, allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// Run folder (default: runs/voxel-<dataset name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use only this many training views, evenly spaced.
    #[arg(long)]
    pub views: Option<usize>,
    /// Continue from the run folder's last checkpoint.
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: u32,
    /// Background "r,g,b" (default: the dataset's — white for NeRF scenes, else black).
    #[arg(long)]
    pub background: Option<String>,
    /// Stop after this many steps (schedules still follow --iters); tests resuming.
    #[arg(long, hide = true)]
    pub stop_after: Option<u32>,
}

/// What `kiln voxel edit` needs to find the views again; written as config.json.
#[derive(Serialize, Deserialize)]
struct VoxelRunConfig {
    dataset: PathBuf,
    resolution: Option<u32>,
    views: Option<usize>,
    background: [f32; 3],
    fit: FitConfig,
}

fn parse_floats(flag: &str, s: &str, n: usize) -> anyhow::Result<Vec<f32>> {
    let v: Result<Vec<f32>, _> = s.split(',').map(|x| x.trim().parse::<f32>()).collect();
    match v {
        Ok(v) if v.len() == n && v.iter().all(|x| x.is_finite()) => Ok(v),
        _ => bail!("{flag} {s:?}: expected {n} comma-separated numbers"),
    }
}

fn load_dataset(path: &Path, resolution: Option<u32>, background: Option<[f32; 3]>) -> anyhow::Result<Dataset> {
    let opts = LoadOptions { resolution, background: background.map(Vec3::from), ..Default::default() };
    let ds = Dataset::load_with(path, &opts)?;
    for w in &ds.warnings {
        eprintln!("kiln: {w}");
    }
    Ok(ds)
}

fn evenly(n: usize, keep: Option<usize>) -> Vec<usize> {
    match keep {
        Some(k) if k > 0 && k < n => (0..k).map(|i| i * n / k).collect(),
        _ => (0..n).collect(),
    }
}

fn fit_views(views: &[kiln_scene::View], keep: Option<usize>) -> anyhow::Result<Vec<FitView>> {
    evenly(views.len(), keep)
        .into_iter()
        .map(|i| {
            let v = &views[i];
            Ok(FitView { name: v.name.clone(), camera: v.camera, image: v.image()? })
        })
        .collect()
}

fn sanitize(name: &str) -> String {
    let name = Path::new(name).file_stem().map_or(name.to_string(), |s| s.to_string_lossy().to_string());
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn write_rgb(path: &Path, width: u32, height: u32, rgb: &[f32]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create folder", dir.display()))?;
    }
    let bytes: Vec<u8> = rgb.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8).collect();
    let img = image::RgbImage::from_raw(width, height, bytes).context("image size")?;
    img.save(path).with_context(|| format!("{}: cannot write PNG", path.display()))
}

fn read_rgb(path: &Path) -> anyhow::Result<Image> {
    let img = image::open(path).with_context(|| format!("{}: cannot read image", path.display()))?.to_rgb32f();
    Ok(Image { width: img.width(), height: img.height(), rgb: img.into_raw(), alpha: None })
}

#[derive(Serialize)]
struct FitMetrics {
    dataset: String,
    split: &'static str,
    adapter: String,
    iterations: u32,
    grid: u32,
    width: u32,
    height: u32,
    psnr: f64,
    train_seconds: f64,
    iterations_per_second: f64,
    views: Vec<(String, f64)>,
}

fn fit(args: VoxelFitArgs) -> anyhow::Result<()> {
    let ctx = crate::gpu()?;
    if args.resolution == Some(0) {
        bail!("--resolution must be a positive number of pixels");
    }
    let background = args.background.as_deref().map(|s| parse_floats("--background", s, 3)).transpose()?.map(|v| [v[0], v[1], v[2]]);
    let given_box = match args.bbox.as_deref() {
        Some("vox-e") => Some(([-1.5; 3], [1.5; 3])),
        Some(s) => {
            let v = parse_floats("--bbox", s, 6)?;
            Some(([v[0], v[1], v[2]], [v[3], v[4], v[5]]))
        }
        None => None,
    };
    let dataset = args.dataset.canonicalize().unwrap_or(args.dataset.clone());
    let name = dataset.file_name().map_or("dataset".into(), |n| n.to_string_lossy().to_string());
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("voxel-{name}")));
    let ds = load_dataset(&dataset, args.resolution, background)?;
    let bg = ds.background.to_array();
    let train = fit_views(&ds.train, args.views)?;
    let (bmin, bmax) = match given_box {
        Some(b) => b,
        None => match kiln_voxel::fit::mask_hull_box(&train, [-1.5; 3], [1.5; 3], 128) {
            Some(b) => {
                eprintln!("kiln: box from the training masks' visual hull: {:.3?} – {:.3?} (--bbox vox-e for Vox-E's 3×3×3 box)", b.0, b.1);
                b
            }
            None => ([-1.5; 3], [1.5; 3]),
        },
    };
    let config = FitConfig {
        iterations: args.iters,
        resolution: args.grid,
        stages: args.stages,
        rays_per_batch: args.rays,
        seed: args.seed,
        bbox_min: bmin,
        bbox_max: bmax,
        background: bg,
        checkpoint_interval: args.checkpoint_every,
        ..Default::default()
    };
    config.validate()?;
    let (split, test_views) = if ds.test.is_empty() { ("train", &ds.train) } else { ("test", &ds.test) };
    let test = fit_views(test_views, None)?;
    eprintln!("kiln: {} dataset {}: {} training and {} {split} views at {}x{}", ds.format.name(), dataset.display(), train.len(), test.len(), train[0].camera.width, train[0].camera.height);
    let run = RunDir::create(&out)?;
    let mut fitter = Fitter::new(ctx.clone(), train, config.clone())?;
    if args.resume {
        match run.latest_checkpoint()? {
            Some((step, ck)) => {
                fitter.restore(&ck)?;
                eprintln!("kiln: resumed {} at step {step}", out.display());
            }
            None => eprintln!("kiln: no checkpoint in {}, starting fresh", out.display()),
        }
    }
    run.write_json("config.json", &VoxelRunConfig { dataset: dataset.clone(), resolution: args.resolution, views: args.views, background: bg, fit: config.clone() })?;
    let total = config.iterations;
    let stop = args.stop_after.unwrap_or(total).min(total);
    let progress = Progress::new("voxel fit", total as u64, fitter.step as u64);
    let started = Instant::now();
    let first = fitter.step;
    while fitter.step < stop {
        let log = fitter.step % 10 == 9 || fitter.step + 1 == stop;
        if let Some(p) = fitter.train_step(log)? {
            progress.set(fitter.step as u64, format!("loss {:.5} psnr {:.2} grid {}³", p.loss, p.psnr, fitter.grid.dims[0]));
        }
        if config.checkpoint_interval > 0 && fitter.step.is_multiple_of(config.checkpoint_interval) && fitter.step < total {
            run.save_checkpoint(fitter.step as u64, &fitter.checkpoint()?, 2)?;
        }
    }
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    run.save_checkpoint(fitter.step as u64, &fitter.checkpoint()?, 2)?;
    if fitter.step < total {
        eprintln!("kiln: stopped at step {} of {total}; continue with --resume", fitter.step);
        return Ok(());
    }
    fitter.grid()?.save(&run.path("grid.kvox"))?;
    let (metrics, renders) = fitter.evaluate(&test)?;
    for ((m, r), v) in metrics.iter().zip(&renders).zip(&test) {
        write_rgb(&run.path("renders").join(format!("{}.png", sanitize(&m.0))), r.width, r.height, &r.rgb)?;
        write_rgb(&run.path("renders").join(format!("{}_target.png", sanitize(&m.0))), v.image.width, v.image.height, &v.image.rgb)?;
    }
    let psnr = metrics.iter().map(|m| m.1).sum::<f64>() / metrics.len().max(1) as f64;
    let m = FitMetrics {
        dataset: name,
        split,
        adapter: ctx.describe(),
        iterations: fitter.step,
        grid: fitter.grid.dims[0],
        width: test[0].camera.width,
        height: test[0].camera.height,
        psnr,
        train_seconds: seconds,
        iterations_per_second: (fitter.step - first) as f64 / seconds.max(1e-9),
        views: metrics,
    };
    let path = run.write_json("metrics.json", &m)?;
    let loss: Vec<(f64, f64)> = fitter.history.iter().map(|p| (p.step as f64, p.loss as f64)).collect();
    let ps: Vec<(f64, f64)> = fitter.history.iter().map(|p| (p.step as f64, p.psnr as f64)).collect();
    line_plot(&run.path("loss.png"), &[Series { points: &loss, color: [200, 40, 40] }], true)?;
    line_plot(&run.path("psnr.png"), &[Series { points: &ps, color: [40, 80, 200] }], false)?;
    eprintln!("kiln: {} {split} views: PSNR {psnr:.2} dB, grid {}³, {:.1} it/s — {}", m.views.len(), m.grid, m.iterations_per_second, path.display());
    Ok(())
}

#[derive(Args)]
pub struct VoxelEditArgs {
    /// A run folder made by `kiln voxel fit`.
    pub run: PathBuf,
    /// Output folder (grid.kvox = the edit, report.json, renders/).
    #[arg(long)]
    pub out: PathBuf,
    /// Guidance: a folder of target images named like the views (`<view>.png`).
    #[arg(long, group = "guide")]
    pub targets: Option<PathBuf>,
    /// Guidance: paint the region with this colour "r,g,b" (region: --region-box or --region-rect).
    #[arg(long, group = "guide")]
    pub color: Option<String>,
    /// Guidance: an external process speaking kiln's guidance protocol (docs/VOXE.md), e.g.
    /// "python3 guide.py --prompt 'a red car'" (split on whitespace).
    #[arg(long, group = "guide")]
    pub guidance: Option<String>,
    /// Region of --color: world box "x0,y0,z0,x1,y1,z1".
    #[arg(long, allow_hyphen_values = true)]
    pub region_box: Option<String>,
    /// Region of --color: normalized image rectangle "x0,y0,x1,y1".
    #[arg(long)]
    pub region_rect: Option<String>,
    /// Attention from a world box "x0,y0,z0,x1,y1,z1" (default: --region-box).
    #[arg(long, allow_hyphen_values = true)]
    pub attention_box: Option<String>,
    /// Attention from painted masks: a folder of `<view>.png` (white = edit).
    #[arg(long)]
    pub masks: Option<PathBuf>,
    /// Keep the whole edited grid (no attention grids, no cut).
    #[arg(long)]
    pub no_refine: bool,
    #[arg(long, default_value_t = 300)]
    pub steps: u32,
    #[arg(long, default_value_t = 200.0)]
    pub lambda: f32,
    #[arg(long, default_value_t = 0.03)]
    pub lr: f32,
    /// Edit views: this many of the dataset's training cameras, evenly spaced.
    #[arg(long, default_value_t = 12)]
    pub views: usize,
    /// Longer side of the edit renders in pixels.
    #[arg(long, default_value_t = 128)]
    pub resolution: u32,
    #[arg(long, default_value_t = String::new())]
    pub prompt: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

fn edit_cmd(args: VoxelEditArgs) -> anyhow::Result<()> {
    let ctx = crate::gpu()?;
    let run = RunDir { root: args.run.clone() };
    let cfg_path = run.path("config.json");
    let text = std::fs::read_to_string(&cfg_path).with_context(|| format!("{}: not a kiln voxel run folder", cfg_path.display()))?;
    let cfg: VoxelRunConfig = serde_json::from_str(&text).with_context(|| format!("{}: malformed voxel run config", cfg_path.display()))?;
    let original = VoxelGrid::load(&run.path("grid.kvox"))?;
    let ds = load_dataset(&cfg.dataset, Some(args.resolution), Some(cfg.background))?;
    let views: Vec<EditView> = evenly(ds.train.len(), Some(args.views)).into_iter().map(|i| EditView { name: sanitize(&ds.train[i].name), camera: ds.train[i].camera }).collect();
    let box_of = |flag: &str, s: &Option<String>| -> anyhow::Result<Option<(Vec3, Vec3)>> {
        s.as_deref().map(|s| parse_floats(flag, s, 6).map(|v| (Vec3::new(v[0], v[1], v[2]), Vec3::new(v[3], v[4], v[5])))).transpose()
    };
    let region_box = box_of("--region-box", &args.region_box)?;
    let mut guidance: Box<dyn Guidance> = if let Some(dir) = &args.targets {
        let targets = views.iter().map(|v| read_rgb(&dir.join(format!("{}.png", v.name)))).collect::<anyhow::Result<Vec<_>>>()?;
        for (t, v) in targets.iter().zip(&views) {
            if (t.width, t.height) != (v.camera.width, v.camera.height) {
                bail!("{}: target is {}x{} but the view renders at {}x{} (--resolution {})", dir.join(format!("{}.png", v.name)).display(), t.width, t.height, v.camera.width, v.camera.height, args.resolution);
            }
        }
        Box::new(TargetImages { targets })
    } else if let Some(c) = &args.color {
        let c = parse_floats("--color", c, 3)?;
        let region = match (region_box, &args.region_rect) {
            (Some((min, max)), _) => Region::Box { min, max },
            (None, Some(r)) => {
                let r = parse_floats("--region-rect", r, 4)?;
                Region::Rect([r[0], r[1], r[2], r[3]])
            }
            (None, None) => bail!("--color needs --region-box or --region-rect"),
        };
        Box::new(AnalyticGoal { region, color: Some([c[0], c[1], c[2]]), opacity: None })
    } else if let Some(cmd) = &args.guidance {
        let parts: Vec<String> = cmd.split_whitespace().map(String::from).collect();
        let Some((prog, rest)) = parts.split_first() else { bail!("--guidance is empty") };
        Box::new(ExternalGuidance::spawn(prog, rest)?)
    } else {
        bail!("choose a guidance: --targets DIR, --color R,G,B with a region, or --guidance CMD");
    };
    let mut attention: Box<dyn AttentionSource> = if let Some(dir) = &args.masks {
        let names: Vec<String> = views.iter().map(|v| dir.join(format!("{}.png", v.name)).display().to_string()).collect();
        let masks = names.iter().map(|n| read_rgb(Path::new(n))).collect::<anyhow::Result<Vec<_>>>()?;
        Box::new(ImageMasks { masks, names })
    } else if let Some((min, max)) = box_of("--attention-box", &args.attention_box)?.or(region_box) {
        Box::new(BoxAttention::new(min, max))
    } else if args.no_refine {
        Box::new(BoxAttention::new(original.bbox_min, original.bbox_max))
    } else {
        bail!("the refinement needs --attention-box, --region-box or --masks (or pass --no-refine)");
    };
    let config = EditConfig { steps: args.steps, lr: args.lr, lambda: args.lambda, seed: args.seed, prompt: args.prompt.clone(), background: cfg.background, no_refine: args.no_refine, ..Default::default() };
    let progress = Progress::new("voxel edit", args.steps as u64, 0);
    let outcome = edit(ctx.clone(), &original, &views, guidance.as_mut(), attention.as_mut(), &config, &mut |s, l| progress.set(s as u64, format!("guidance loss {l:.5}")))?;
    progress.finish();
    let out = RunDir::create(&args.out)?;
    outcome.grid.save(&out.path("grid.kvox"))?;
    outcome.edited.save(&out.path("edited_unrefined.kvox"))?;
    // Before/after renders of the edit views.
    let marcher = Marcher::new(ctx.clone())?;
    for (label, grid) in [("before", &original), ("after", &outcome.grid)] {
        let gpu = GpuGrid::upload(&ctx, grid)?;
        let s = MarchSettings { background: cfg.background, ..MarchSettings::for_grid(grid) };
        for v in &views {
            let r: Rendered = marcher.render(&gpu, &s, &v.camera)?;
            write_rgb(&out.path("renders").join(format!("{}_{label}.png", v.name)), r.width, r.height, &r.rgb)?;
        }
    }
    out.write_json("config.json", &serde_json::json!({ "source_run": args.run.canonicalize().unwrap_or(args.run.clone()), "dataset": cfg.dataset, "edit": config, "fit": cfg.fit }))?;
    let path = out.write_json("report.json", &outcome.report)?;
    let r = &outcome.report;
    eprintln!(
        "kiln: guidance loss {:.5} → {:.5}; correlation with the original {:.4}; {} of {} voxels may change — {}",
        r.loss_before,
        r.loss_after,
        r.correlation_after,
        r.edit_voxels,
        original.len(),
        path.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct VoxelMeshArgs {
    /// A grid file (.kvox) or a run folder holding grid.kvox.
    pub grid: PathBuf,
    /// Output mesh (.obj or .ply).
    #[arg(long)]
    pub out: PathBuf,
    /// Density level σ of the surface.
    #[arg(long, default_value_t = 5.0)]
    pub level: f32,
}

fn mesh(args: VoxelMeshArgs) -> anyhow::Result<()> {
    let path = if args.grid.is_dir() { args.grid.join("grid.kvox") } else { args.grid.clone() };
    let grid = VoxelGrid::load(&path)?;
    let mesh = kiln_voxel::mesh::extract(&grid, args.level);
    mesh.write(&args.out)?;
    eprintln!("kiln: {} vertices, {} triangles at σ = {} — {}", mesh.positions.len(), mesh.faces.len(), args.level, args.out.display());
    Ok(())
}

#[derive(Args)]
pub struct VoxelBenchArgs {
    /// Dataset folder (default: 24 views of a synthetic two-sphere scene at 200×200).
    pub dataset: Option<PathBuf>,
    #[arg(long)]
    pub resolution: Option<u32>,
    /// Grid points per axis.
    #[arg(long, default_value_t = 128)]
    pub grid: u32,
    #[arg(long, default_value_t = 8192)]
    pub rays: u32,
    /// Steps before timing (the first fills the occupancy mask).
    #[arg(long, default_value_t = 5)]
    pub warmup: u32,
    #[arg(long, default_value_t = 20)]
    pub iters: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct VoxelBenchReport {
    adapter: String,
    dataset: String,
    grid: u32,
    rays: u32,
    iterations: u32,
    iterations_per_second: f64,
    occupied_fraction: f64,
    /// Median GPU time per stage of a fit step (timestamp queries), milliseconds.
    stages_ms: BTreeMap<String, f64>,
    step_gpu_ms: f64,
}

/// Synthetic scene for the benchmark: renders of a sphere pair from a ring of cameras.
fn synthetic_views(marcher: &Marcher, size: u32) -> anyhow::Result<Vec<FitView>> {
    let mut g = VoxelGrid::constant([64; 3], Vec3::splat(-1.5), Vec3::splat(1.5), -0.3, 0.0)?;
    for i in 0..g.len() {
        let n = 64u32;
        let p = g.point(i as u32 % n, (i as u32 / n) % n, i as u32 / (n * n));
        if (p - Vec3::new(-0.5, 0.0, 0.0)).length() < 0.6 || (p - Vec3::new(0.6, 0.2, 0.1)).length() < 0.5 {
            g.density[i] = 0.3;
            g.features[3 * i..3 * i + 3].copy_from_slice(&[p.x * 2.0, p.y * 2.0, p.z * 2.0]);
        }
    }
    let gpu = GpuGrid::upload(&marcher.ctx, &g)?;
    let s = MarchSettings::for_grid(&g);
    (0..24)
        .map(|k| {
            let a = k as f32 * std::f32::consts::TAU / 24.0;
            let eye = Vec3::new(4.0 * a.cos(), 4.0 * a.sin(), 1.0 + (k % 3) as f32);
            let camera = kiln_scene::Camera::look_at(size, size, size as f32 * 1.2, size as f32 * 1.2, eye, Vec3::ZERO, Vec3::Z);
            let r = marcher.render(&gpu, &s, &camera)?;
            Ok(FitView { name: format!("ring{k}"), camera, image: Arc::new(Image { width: size, height: size, rgb: r.rgb, alpha: None }) })
        })
        .collect()
}

pub fn bench(args: VoxelBenchArgs) -> anyhow::Result<()> {
    let ctx = crate::gpu()?;
    let marcher = Marcher::new(ctx.clone())?;
    let (views, name, bg) = match &args.dataset {
        Some(d) => {
            let ds = load_dataset(d, args.resolution, None)?;
            (fit_views(&ds.train, None)?, d.display().to_string(), ds.background.to_array())
        }
        None => (synthetic_views(&marcher, args.resolution.unwrap_or(200))?, "synthetic spheres".to_string(), [1.0; 3]),
    };
    // One stage at the final resolution; the warm-up's first step fills the occupancy mask.
    let config = FitConfig { iterations: 1_000_000, resolution: args.grid, stages: 2, rays_per_batch: args.rays, background: bg, ..Default::default() };
    let mut fitter = Fitter::new(ctx.clone(), views, config)?;
    fitter.step = 500_000; // the second stage: full resolution, empty-space skipping on
    for _ in 0..args.warmup.max(1) {
        fitter.train_step(false)?;
    }
    let occupied = fitter.grid.read_occupancy(&ctx)?.iter().filter(|&&o| o != 0).count() as f64 / fitter.grid.len() as f64;
    let mut timer = GpuTimer::new(&ctx, 64);
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let t0 = Instant::now();
    for _ in 0..args.iters {
        fitter.train_step_timed(false, Some(&mut timer))?;
        for s in timer.read(&ctx)? {
            samples.entry(s.stage).or_default().push(s.ms);
        }
    }
    ctx.wait()?;
    let seconds = t0.elapsed().as_secs_f64();
    let stages_ms: BTreeMap<String, f64> = samples
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(f64::total_cmp);
            (k, v[v.len() / 2])
        })
        .collect();
    let report = VoxelBenchReport {
        adapter: ctx.describe(),
        dataset: name,
        grid: args.grid,
        rays: args.rays,
        iterations: args.iters,
        iterations_per_second: args.iters as f64 / seconds,
        occupied_fraction: occupied,
        step_gpu_ms: stages_ms.values().sum(),
        stages_ms,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("adapter: {}", report.adapter);
        println!("{}: grid {}³, {} rays/step, {:.2} it/s, {:.1}% cells occupied", report.dataset, report.grid, report.rays, report.iterations_per_second, 100.0 * occupied);
        for (stage, ms) in &report.stages_ms {
            println!("  {stage:<18} {ms:9.3} ms");
        }
        println!("  step (GPU)         {:9.3} ms", report.step_gpu_ms);
    }
    Ok(())
}
