//! `kiln bench learned-basis` (issue 9's two tables) and the point-cloud bases of
//! `kiln match --basis pointcloud|learned`: the learned basis and the robust point-cloud
//! Laplacian's basis of a shape's vertices (no faces), against the cotangent eigenbasis and the
//! mesh pipeline. The work is in kiln_spectral::{basis_eval, cloud_match, learned_eval}; this
//! module parses, shows progress and prints.

use anyhow::Context;
use clap::{Args, ValueEnum};
use kiln_run::Progress;
use kiln_scene::mesh::PointCloud;
use kiln_spectral::basis_model::{BasisModel, LearnedBasis};
use kiln_spectral::cloud_match::{cloud_match_config, learned_shape, pointcloud_shape};
use kiln_spectral::learned_eval::{self, proxy_probes, LearnedEvalOptions};
use kiln_spectral::pipeline::{MatchConfig, Shape};
use kiln_spectral::pointcloud::PointCloudOptions;
use std::path::{Path, PathBuf};

/// Which basis `kiln match` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BasisKind {
    /// The cotangent Laplacian of the mesh (faces used): the mesh pipeline.
    Cotangent,
    /// The robust point-cloud Laplacian (30 neighbours) of the vertices; no faces used.
    Pointcloud,
    /// The learned basis of the vertices (network inference); no faces used.
    Learned,
}

/// Builds matching shapes from files with one kind of basis.
pub struct ShapeSource {
    kind: BasisKind,
    learned: Option<(BasisModel, kiln_nn::BasisNet)>,
}

impl ShapeSource {
    pub fn new(kind: BasisKind, model: Option<&Path>) -> anyhow::Result<Self> {
        anyhow::ensure!(model.is_none() || kind == BasisKind::Learned, "--model needs --basis learned");
        let learned = if kind == BasisKind::Learned {
            let (_, m) = crate::learned_basis::load_model(model)?;
            let device = kiln_nn::burn_device(&crate::gpu()?)?;
            let net = m.network(&device)?;
            Some((m, net))
        } else {
            None
        };
        Ok(Self { kind, learned })
    }

    /// The pipeline's configuration for this basis: no orientation term without faces; the
    /// learned basis's sizes ([`cloud_match_config`]) keep `cfg`'s ZoomOut/multi-start switches.
    pub fn adapt(&self, cfg: MatchConfig) -> MatchConfig {
        match (&self.kind, &self.learned) {
            (BasisKind::Cotangent, _) => cfg,
            (_, Some((m, _))) => {
                let mut c = cloud_match_config(m.config.net.basis);
                if cfg.zoomout.is_none() {
                    c.zoomout = None;
                }
                if cfg.extra_fit_sizes.is_empty() {
                    c.extra_fit_sizes.clear();
                }
                c
            }
            _ => {
                let mut c = cfg;
                c.weights.orient = 0.0;
                c
            }
        }
    }

    /// A shape from a file: the mesh (cotangent) or only its points (point cloud, learned).
    pub fn load(&self, path: &Path, k: usize) -> anyhow::Result<Shape> {
        let name = path.display().to_string();
        Ok(match (&self.kind, &self.learned) {
            (BasisKind::Cotangent, _) => Shape::load(path, k)?,
            (_, Some((m, net))) => learned_shape(name, &PointCloud::read(path)?.positions, net, m.config.density, &proxy_probes(m))?,
            _ => pointcloud_shape(name, &PointCloud::read(path)?.positions, k, PointCloudOptions::default())?,
        })
    }
}

#[derive(Args)]
pub struct LearnedBasisBenchArgs {
    /// Shapes folder with faust_r/, smal_r/, cactus/ (default: $KILN_DATA/shapes).
    #[arg(long)]
    pub shapes: Option<PathBuf>,
    /// Learned model (default: the shipped assets/learned_basis.kbasis).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Ordered FAUST_r pairs among tr_reg_000–008 to match (72 = all; 0 = no matching table).
    #[arg(long, default_value_t = 72)]
    pub pairs: usize,
    /// Skip the basis comparison on the held-aside meshes.
    #[arg(long)]
    pub no_comparison: bool,
    /// Print one JSON object instead of markdown tables.
    #[arg(long)]
    pub json: bool,
}

pub fn bench(args: LearnedBasisBenchArgs) -> anyhow::Result<()> {
    let shapes = match &args.shapes {
        Some(s) => s.clone(),
        None => PathBuf::from(std::env::var_os("KILN_DATA").context("set KILN_DATA or pass --shapes")?).join("shapes"),
    };
    let (model_name, model) = crate::learned_basis::load_model(args.model.as_deref())?;
    let ctx = crate::gpu()?;
    let opts = LearnedEvalOptions { shapes, pairs: args.pairs, comparison: !args.no_comparison };
    let tmp = std::env::temp_dir().join(format!("kiln-bench-learned-basis-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
    let exe = std::env::current_exe().context("cannot locate the kiln binary")?;
    // One `kiln basis --learned` child per cloud: Burn on lavapipe keeps every inference's
    // buffers (learned_eval::infer_in_process), which a dozen clouds would exhaust.
    let child = |points: &[[f64; 3]]| -> kiln_spectral::Result<LearnedBasis> {
        let fail = |m: String| kiln_spectral::SpectralError::Invalid { what: "learned basis (kiln basis --learned)".into(), msg: m };
        let (cloud, out) = (tmp.join("cloud.ply"), tmp.join("basis"));
        PointCloud { positions: points.to_vec(), colors: None }.write(&cloud)?;
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("basis").arg(&cloud).arg("--learned");
        if let Some(m) = &args.model {
            cmd.arg(m);
        }
        let output = cmd.arg("--out").arg(&out).output().map_err(|e| fail(e.to_string()))?;
        if !output.status.success() {
            return Err(fail(String::from_utf8_lossy(&output.stderr).trim().to_string()));
        }
        let numbers = |file: &str| -> kiln_spectral::Result<Vec<Vec<f64>>> {
            let text = std::fs::read_to_string(out.join(file)).map_err(|e| fail(format!("{file}: {e}")))?;
            text.lines().map(|l| l.split_whitespace().map(|x| x.parse::<f64>().map_err(|e| fail(format!("{file}: {e}")))).collect()).collect()
        };
        let (rows, mass) = (numbers("eigenvectors.txt")?, numbers("mass.txt")?);
        let k = rows.first().map_or(0, Vec::len);
        if rows.len() != points.len() || mass.len() != points.len() || rows.iter().any(|r| r.len() != k) {
            return Err(fail(format!("{} rows and {} masses for {} points", rows.len(), mass.len(), points.len())));
        }
        Ok(learned_eval::learned_basis_from_rows(&rows, mass.iter().map(|m| m[0]).collect()))
    };
    let mut bar: Option<(String, Progress)> = None;
    let report = learned_eval::run(&opts, &model, &model_name, &ctx.describe(), child, |stage, done, total, what| {
        if bar.as_ref().is_none_or(|(s, _)| s != stage) {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            bar = Some((stage.to_string(), Progress::new(stage, total as u64, 0)));
        }
        bar.as_ref().unwrap().1.set(done as u64, what.to_string());
    });
    std::fs::remove_dir_all(&tmp).ok();
    let report = report?;
    if let Some((_, b)) = bar.take() {
        b.finish();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.markdown());
    }
    Ok(())
}
