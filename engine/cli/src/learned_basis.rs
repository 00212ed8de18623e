//! `kiln basis-train` and `kiln basis --learned`: the learned spectral basis (issue 9).

use anyhow::{bail, Context};
use clap::Args;
use kiln_run::{Checkpoint, Progress, RunDir};
use kiln_scene::mesh::PointCloud;
use kiln_spectral::basis_model::{infer, BasisModel, BasisTrainer, LearnConfig};
use kiln_spectral::learned::{nested_loss, probes, normalize_to_unit_sphere, ProbeConfig, Projection, Smoothing};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The model `kiln basis --learned` uses when none is named (`assets/learned_basis.kbasis`,
/// trained by `kiln basis-train` on the shapes of ../shared/data; recipe in
/// docs/LEARNED_BASIS.md), built into the binary so that it works wherever the binary is copied.
pub const SHIPPED_MODEL_BYTES: &[u8] = include_bytes!("../../../assets/learned_basis.kbasis");

/// The model file given, or the built-in shipped model; with the name to print.
pub fn load_model(model: Option<&Path>) -> anyhow::Result<(String, BasisModel)> {
    match model {
        Some(path) => Ok((path.display().to_string(), BasisModel::load(path)?)),
        None => Ok(("the shipped model (assets/learned_basis.kbasis)".into(), BasisModel::from_bytes(SHIPPED_MODEL_BYTES, "the built-in shipped model")?)),
    }
}

#[derive(Args)]
pub struct BasisTrainArgs {
    /// Training shapes: mesh or point-cloud files (.off, .obj, .ply), or folders of them. Only
    /// the points are used.
    #[arg(required = true)]
    pub shapes: Vec<PathBuf>,
    /// Run folder: model.kbasis, config.json, loss.png, checkpoints/.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 2000)]
    pub steps: u32,
    /// Points per shape (farthest-point sampled).
    #[arg(long, default_value_t = 1000)]
    pub points: usize,
    /// Basis functions (K).
    #[arg(short, long, default_value_t = 32)]
    pub k: usize,
    /// Probe functions per step.
    #[arg(long, default_value_t = 128)]
    pub probes: usize,
    #[arg(long, default_value_t = 96)]
    pub width: usize,
    #[arg(long, default_value_t = 3)]
    pub layers: usize,
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    /// Let the learning rate fall along a half cosine to this value at the last step (default:
    /// constant).
    #[arg(long)]
    pub lr_final: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 200)]
    pub checkpoint_every: u32,
    /// Start from this model's parameters (fine-tuning, e.g. the shipped model on your own
    /// shapes). The network's shape (width, layers, K) is then the model's: --width, --layers
    /// and -k are ignored.
    #[arg(long, value_name = "MODEL.kbasis")]
    pub init: Option<PathBuf>,
    /// Continue from the run folder's last checkpoint.
    #[arg(long)]
    pub resume: bool,
}

/// Files of a list of paths, folders expanded (sorted, mesh/point extensions only).
fn shape_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("{}: cannot list", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|e| matches!(e.to_string_lossy().to_lowercase().as_str(), "off" | "obj" | "ply")))
                .collect();
            inside.sort();
            files.extend(inside);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            bail!("{}: no such file or folder", p.display());
        }
    }
    if files.is_empty() {
        bail!("no shape files (.off, .obj, .ply) among {:?}", paths);
    }
    Ok(files)
}

pub fn train(args: BasisTrainArgs) -> anyhow::Result<()> {
    let files = shape_files(&args.shapes)?;
    let clouds: Vec<Vec<[f64; 3]>> = files.iter().map(|f| Ok(PointCloud::read(f)?.positions)).collect::<anyhow::Result<_>>()?;
    if let Some(lr_final) = args.lr_final {
        if !(lr_final > 0.0 && lr_final.is_finite()) {
            bail!("--lr-final {lr_final}: the final learning rate must be positive");
        }
    }
    let init = args.init.as_deref().map(BasisModel::load).transpose()?;
    let net = match &init {
        Some(model) => kiln_nn::BasisNetConfig { seed: args.seed, ..model.config.net.clone() },
        None => kiln_nn::BasisNetConfig { width: args.width, layers: args.layers, basis: args.k, seed: args.seed, ffn: 2 * args.width, ..Default::default() },
    };
    let config = LearnConfig {
        net,
        probes: ProbeConfig { count: args.probes, seed: args.seed, ..Default::default() },
        points: args.points,
        steps: args.steps,
        lr: args.lr,
        lr_final: args.lr_final,
        seed: args.seed,
        ..Default::default()
    };
    let ctx = crate::gpu()?;
    let device = kiln_nn::burn_device(&ctx)?;
    let run = RunDir::create(&args.out)?;
    let mut trainer = BasisTrainer::new(&device, &clouds, config.clone())?;
    if let (Some(model), Some(path)) = (&init, &args.init) {
        trainer.net.set_parameters_host(&model.parameters).with_context(|| format!("{}: cannot start from this model", path.display()))?;
        eprintln!("kiln: starting from {} ({} steps trained; width {}, {} layers, K = {})", path.display(), model.steps, model.config.net.width, model.config.net.layers, model.config.net.basis);
    }
    if args.resume {
        match run.latest_checkpoint()? {
            Some((step, ck)) => {
                let n = ck.meta["tensors"].as_u64().unwrap_or(0) as usize;
                let params: Vec<Vec<f32>> = (0..n).map(|i| ck.get(&format!("p{i}")).map(|v| v.to_vec()).context("checkpoint misses a parameter")).collect::<anyhow::Result<_>>()?;
                let history: Vec<f64> = serde_json::from_value(ck.meta["history"].clone()).unwrap_or_default();
                trainer.restore(&params, step as u32, history)?;
                eprintln!("kiln: resuming at step {step}");
            }
            None => eprintln!("kiln: no checkpoint in {}, starting fresh", args.out.display()),
        }
    }
    run.write_json("config.json", &serde_json::json!({ "shapes": files, "learn": config, "init": args.init }))?;
    let progress = Progress::new("basis-train", args.steps as u64, trainer.step as u64);
    let started = Instant::now();
    let checkpoint = |trainer: &BasisTrainer| -> anyhow::Result<()> {
        let params = trainer.net.parameters_host()?;
        let mut ck = Checkpoint::new(serde_json::json!({ "step": trainer.step, "tensors": params.len(), "history": trainer.history }));
        for (i, p) in params.into_iter().enumerate() {
            ck.push(&format!("p{i}"), p);
        }
        run.save_checkpoint(trainer.step as u64, &ck, 2)?;
        // The model file follows the checkpoints, so a running training can be evaluated
        // (`kiln bench learned-basis --model RUN/model.kbasis`) before it ends.
        trainer.model()?.save(&run.path("model.kbasis"))?;
        Ok(())
    };
    while trainer.step < args.steps {
        let loss = trainer.train_step()?;
        if trainer.step % 10 == 0 || trainer.step == args.steps {
            progress.set(trainer.step as u64, format!("loss {loss:.5}"));
        }
        if args.checkpoint_every > 0 && trainer.step % args.checkpoint_every == 0 && trainer.step < args.steps {
            checkpoint(&trainer)?;
        }
    }
    progress.finish();
    checkpoint(&trainer)?;
    let model = trainer.model()?;
    model.save(&run.path("model.kbasis"))?;
    // Each step sees one shape, and shapes differ in loss by ~2×: the per-step curve is a band.
    // Its mean over one round of the shapes shows the trend.
    let points: Vec<(f64, f64)> = trainer.history.iter().enumerate().map(|(i, l)| (i as f64, *l)).collect();
    let round = clouds.len().max(1);
    let mean: Vec<(f64, f64)> = trainer.history.windows(round).enumerate().map(|(i, w)| ((i + round - 1) as f64, w.iter().sum::<f64>() / round as f64)).collect();
    kiln_run::plot::line_plot(&run.path("loss.png"), &[kiln_run::plot::Series { points: &points, color: [235, 170, 170] }, kiln_run::plot::Series { points: &mean, color: [170, 20, 20] }], true)?;
    eprintln!(
        "kiln: trained {} steps on {} shapes in {:.1} s ({} parameters); wrote {}",
        trainer.step,
        clouds.len(),
        started.elapsed().as_secs_f64(),
        trainer.net.parameter_count(),
        run.path("model.kbasis").display()
    );
    Ok(())
}

/// `kiln basis CLOUD --learned [MODEL]`: the network's basis for a cloud, written like the
/// cotangent basis (eigenvalues.txt holds the eigenvalue proxy 1 / mean e_k).
pub fn basis(cloud_path: &Path, model: Option<&Path>, k: Option<usize>, out: &Path) -> anyhow::Result<()> {
    let (model_name, model) = load_model(model)?;
    let kk = model.config.net.basis;
    let k = k.unwrap_or(kk);
    if k > kk || k == 0 {
        bail!("-k {k}: {model_name} gives {kk} basis functions");
    }
    let points = PointCloud::read(cloud_path)?.positions;
    let ctx = crate::gpu()?;
    let device = kiln_nn::burn_device(&ctx)?;
    let net = model.network(&device)?;
    let t = Instant::now();
    let learned = infer(&net, model.config.density, &points)?;
    let secs = t.elapsed().as_secs_f64();
    // The eigenvalue proxy on this cloud's own probes.
    let normalized = normalize_to_unit_sphere(&points);
    let probe_cfg = ProbeConfig { count: 128, ..model.config.probes.clone() };
    let f = probes(&Smoothing::new(&normalized, &probe_cfg)?, &probe_cfg);
    let proxy = nested_loss(learned.basis.as_ref(), f.as_ref(), Projection::Euclidean)?.eigenvalue_proxy();
    crate::spectral::write_basis(out, &proxy[..k], &learned.mass, points.len(), k, |i, j| learned.basis[(i, j)])?;
    println!("{}: {} points, {k} learned basis functions in {secs:.3} s (network inference, {}); wrote {}", cloud_path.display(), points.len(), ctx.describe(), out.display());
    Ok(())
}
