//! `kiln bench learned-basis` (issue 9's two tables) and the point-cloud bases of
//! `kiln match --basis pointcloud|learned`: the learned basis and the robust point-cloud
//! Laplacian's basis of a shape's vertices (no faces), against the cotangent eigenbasis and the
//! mesh pipeline. The work is in kiln_spectral::{basis_eval, cloud_match, learned_eval}; this
//! module parses, shows progress and prints.

use anyhow::Context;
use clap::{Args, ValueEnum};
use kiln_run::Progress;
use kiln_scene::mesh::PointCloud;
use kiln_spectral::basis_model::BasisModel;
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

    /// The pipeline's configuration for this basis, orientation term and filter included
    /// (point-cloud shapes carry triangles oriented from the points alone,
    /// kiln_spectral::cloud_orient); the learned basis's sizes ([`cloud_match_config`]) keep
    /// `cfg`'s ZoomOut/multi-start switches.
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
            _ => cfg,
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
    /// Also match the point-cloud methods without orientation (no orientation term, the
    /// multi-start by commutativity alone): the before/after of cloud orientation.
    #[arg(long)]
    pub unoriented: bool,
    /// Point-cloud methods without the fit's orientation term (the multi-start's orientation
    /// filter only).
    #[arg(long)]
    pub filter_only: bool,
    /// Match with the learned basis only (a quick check of a model: the other methods'
    /// errors do not depend on it).
    #[arg(long)]
    pub learned_only: bool,
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
    let opts = LearnedEvalOptions { shapes, pairs: args.pairs, comparison: !args.no_comparison, unoriented: args.unoriented, filter_only: args.filter_only, learned_only: args.learned_only };
    // In this process: inference runs on Burn's inner (non-autodiff) backend, whose memory
    // stays flat from cloud to cloud (learned_eval::infer_in_process).
    let net = model.network(&kiln_nn::burn_device(&ctx)?)?;
    let mut bar: Option<(String, Progress)> = None;
    let report = learned_eval::run(&opts, &model, &model_name, &ctx.describe(), learned_eval::infer_in_process(&net, model.config.density), |stage, done, total, what| {
        if bar.as_ref().is_none_or(|(s, _)| s != stage) {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            bar = Some((stage.to_string(), Progress::new(stage, total as u64, 0)));
        }
        bar.as_ref().unwrap().1.set(done as u64, what.to_string());
    });
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
