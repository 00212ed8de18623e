//! `kiln basis`, `kiln match`, `kiln eval-match` and `kiln bench spectral`.

use crate::basis_bench::BasisKind;
use anyhow::Context;
use clap::Args;
use kiln_run::Progress;
use kiln_scene::mesh::{Mesh, MeshError, PointCloud};
use kiln_spectral::eigen::{eigen_shift_invert, EigenMethod, EigenOptions};
use kiln_spectral::eval::{check_vts_pair, read_map, read_vts, write_map, GroundTruthDistances};
use kiln_spectral::geodesic::HeatGeodesics;
use kiln_spectral::laplacian::cotangent;
use kiln_spectral::pointcloud::{point_cloud_laplacian, PointCloudOptions};
use kiln_spectral::robust::{robust_laplacian, RobustOptions};
use kiln_spectral::pipeline::{match_shapes, zoomout_steps, MatchConfig, Shape};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
pub struct BasisArgs {
    /// Mesh (.obj, .off, .ply); with --learned also a point cloud (only the points are used).
    pub mesh: PathBuf,
    /// Number of eigenpairs (smallest eigenvalues of the cotangent Laplacian, lumped mass);
    /// default 200, or all the learned model gives.
    #[arg(short, long)]
    pub k: Option<usize>,
    /// The learned basis of a network instead of the cotangent eigenbasis: the shipped model,
    /// or a model file written by `kiln basis-train`.
    #[arg(long, num_args = 0..=1)]
    pub learned: Option<Option<PathBuf>>,
    /// Output folder: eigenvalues.txt (one per line), eigenvectors.txt (one vertex per line,
    /// k columns, M-orthonormal), mass.txt.
    #[arg(long)]
    pub out: PathBuf,
    /// Scale the mesh to unit area first (default: raw coordinates).
    #[arg(long)]
    pub unit_area: bool,
    /// The robust Laplacian (Sharp & Crane 2020: tufted cover, intrinsic Delaunay flips) instead
    /// of the cotangent one: tolerates non-manifold edges and vertices, duplicate and
    /// degenerate faces.
    #[arg(long, conflicts_with = "learned")]
    pub robust: bool,
    /// Ignore the faces: the robust point-cloud Laplacian of the vertices (also what a file
    /// without faces gets).
    #[arg(long, conflicts_with = "learned")]
    pub point_cloud: bool,
    /// Neighbours per point for the point-cloud Laplacian.
    #[arg(long, default_value_t = 30)]
    pub neighbours: usize,
}

pub fn basis(args: BasisArgs) -> anyhow::Result<()> {
    if let Some(model) = &args.learned {
        return crate::learned_basis::basis(&args.mesh, model.as_deref(), args.k, &args.out);
    }
    let k = args.k.unwrap_or(200);
    let name = args.mesh.display().to_string();
    // A file without faces is a point cloud; --point-cloud ignores the faces of a mesh.
    let (mesh, points) = match Mesh::read(&args.mesh) {
        Ok(mesh) if args.point_cloud => (None, mesh.positions),
        Ok(mesh) => (Some(mesh), vec![]),
        Err(MeshError::Empty { .. }) => (None, PointCloud::read(&args.mesh)?.positions),
        Err(e) => return Err(e.into()),
    };
    let t = Instant::now();
    let (ops, kind) = if let Some(mut mesh) = mesh {
        if args.unit_area {
            mesh.scale(1.0 / mesh.area().sqrt());
        }
        if args.robust { (robust_laplacian(&mesh, RobustOptions::default(), &name)?, "robust") } else { (cotangent(&mesh, &name)?, "cotangent") }
    } else {
        let opts = PointCloudOptions { neighbours: args.neighbours, ..PointCloudOptions::default() };
        let mut ops = point_cloud_laplacian(&points, opts, &name)?;
        if args.unit_area {
            // Scaling the points by s scales the mass by s² and leaves the stiffness alone.
            let area = ops.total_area();
            ops.mass.iter_mut().for_each(|m| *m /= area);
        }
        (ops, "robust point-cloud")
    };
    let b = eigen_shift_invert(&ops, k, EigenOptions::default(), &name)?;
    let secs = t.elapsed().as_secs_f64();
    let n = ops.num_vertices();
    write_basis(&args.out, &b.eigenvalues, &ops.mass, n, k, |i, j| b.eigenvectors[(i, j)])?;
    println!("{}: {} vertices, {} eigenpairs of the {kind} Laplacian in {:.3} s (area {:.6}); wrote {}", name, n, k, secs, ops.total_area(), args.out.display());
    Ok(())
}

/// Writes a basis as `kiln basis` lays it out: eigenvalues.txt (one per line), mass.txt (one
/// per vertex), eigenvectors.txt (one vertex per line, `k` columns).
pub fn write_basis(out: &Path, eigenvalues: &[f64], mass: &[f64], n: usize, k: usize, vector: impl Fn(usize, usize) -> f64) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create the folder", out.display()))?;
    let write = |file: &str, text: String| -> anyhow::Result<()> {
        let p = out.join(file);
        std::fs::write(&p, text).with_context(|| format!("{}: cannot write", p.display()))
    };
    write("eigenvalues.txt", eigenvalues.iter().map(|v| format!("{v:.12e}\n")).collect())?;
    write("mass.txt", mass.iter().map(|v| format!("{v:.12e}\n")).collect())?;
    let mut s = String::with_capacity(n * k * 20);
    for i in 0..n {
        for j in 0..k {
            if j > 0 {
                s.push(' ');
            }
            s.push_str(&format!("{:.10e}", vector(i, j)));
        }
        s.push('\n');
    }
    write("eigenvectors.txt", s)
}

#[derive(Args)]
pub struct MatchArgs {
    /// Shape 1 (the map points from each vertex of B to a vertex of A).
    pub a: PathBuf,
    /// Shape 2.
    pub b: PathBuf,
    /// ZoomOut as start:end:step (start is the fitted map's size K).
    #[arg(long, default_value = "30:110:5")]
    pub zoomout: String,
    /// Skip ZoomOut (point map from the fitted K×K map).
    #[arg(long)]
    pub no_zoomout: bool,
    /// Eigenpairs per shape.
    #[arg(short, long, default_value_t = 200)]
    pub k: usize,
    /// Output: one line per vertex of B, the 0-based index of its match on A.
    #[arg(long)]
    pub out: PathBuf,
    /// pyFM's protocol exactly: one fitted map of size K (default: also try K = 20 and 50 and
    /// keep the start whose map commutes best with the Laplacians).
    #[arg(long)]
    pub single_start: bool,
    /// Also write B with A's colours transferred through the map (A's own vertex colours, or
    /// a colouring by A's coordinates) — .ply/.off/.obj.
    #[arg(long)]
    pub colors: Option<PathBuf>,
    /// Basis: cotangent (the mesh pipeline), pointcloud (the robust point-cloud Laplacian of
    /// the vertices) or learned (the network's basis of the vertices, its own sizes: fits at
    /// K·5/8 with ZoomOut to K); pointcloud and learned use no faces.
    #[arg(long, value_enum, default_value_t = crate::basis_bench::BasisKind::Cotangent)]
    pub basis: crate::basis_bench::BasisKind,
    /// Learned model for --basis learned (default: the shipped one).
    #[arg(long)]
    pub model: Option<PathBuf>,
}

fn parse_zoomout(s: &str) -> anyhow::Result<(usize, usize, usize)> {
    let p: Vec<usize> = s.split(':').map(|x| x.trim().parse::<usize>()).collect::<Result<_, _>>().map_err(|_| anyhow::anyhow!("--zoomout {s:?}: expected start:end:step, e.g. 30:110:5"))?;
    match p[..] {
        [a, b, c] if a >= 2 && b >= a && c > 0 => Ok((a, b, c)),
        _ => anyhow::bail!("--zoomout {s:?}: expected start:end:step with 2 ≤ start ≤ end and step > 0"),
    }
}

pub fn run_match(args: MatchArgs) -> anyhow::Result<()> {
    let (start, end, step) = parse_zoomout(&args.zoomout)?;
    let mut cfg = MatchConfig { k_basis: args.k, k_fit: start, zoomout: (!args.no_zoomout).then_some((end, step)), ..Default::default() };
    if args.single_start {
        cfg.extra_fit_sizes.clear();
    }
    cfg.extra_fit_sizes.retain(|&k| k <= args.k);
    if let Some((end, _)) = cfg.zoomout {
        anyhow::ensure!(end <= args.k, "--zoomout ends at {end} but only -k {} eigenpairs are computed", args.k);
        cfg.k_basis = cfg.k_basis.max(end);
    }
    let source = crate::basis_bench::ShapeSource::new(args.basis, args.model.as_deref())?;
    let cfg = source.adapt(cfg);
    let n_zo = zoomout_steps(&cfg);
    let progress = Progress::new("match", 3 + n_zo as u64, 0);
    let t0 = Instant::now();
    progress.set(0, "eigenbases".into());
    let (a, b) = match args.basis {
        // Each eigensolve runs on one core: the two shapes' solves share the machine.
        BasisKind::Cotangent => Shape::load_pair(&args.a, &args.b, cfg.k_basis)?,
        // Learned bases infer on the GPU one after the other; point clouds are built the same way.
        _ => (source.load(&args.a, cfg.k_basis)?, source.load(&args.b, cfg.k_basis)?),
    };
    progress.set(2, "descriptors + fit".into());
    let mut done = 3u64;
    let res = match_shapes(&a, &b, &cfg, |k| {
        done += 1;
        progress.set(done, format!("zoomout k={k}"));
    })?;
    progress.set(3 + n_zo as u64, "done".into());
    progress.finish();
    write_map(&args.out, &res.p2p)?;
    eprintln!(
        "matched {} → {} in {:.2} s (descriptors {:.2}, fit {:.2}, zoomout {:.2}); wrote {}",
        args.b.display(),
        args.a.display(),
        t0.elapsed().as_secs_f64(),
        res.seconds_descr,
        res.seconds_fit,
        res.seconds_zoomout,
        args.out.display()
    );
    if let Some(path) = &args.colors {
        let src = Mesh::read(&args.a)?;
        let colors = src.colors.clone().unwrap_or_else(|| src.coordinate_colors());
        let mut dst = Mesh::read(&args.b)?;
        dst.colors = Some(kiln_spectral::fmap::transfer(&colors, &res.p2p));
        dst.write(path)?;
        eprintln!("wrote {} with colours transferred from {}", path.display(), args.a.display());
    }
    Ok(())
}

#[derive(Args)]
pub struct EvalMatchArgs {
    /// Shape 1 (the map's targets).
    pub a: PathBuf,
    /// Shape 2 (one map line per vertex).
    pub b: PathBuf,
    /// Point map B → A as written by `kiln match` (0-based).
    pub map: PathBuf,
    /// Ground truth: A.vts B.vts (1-based, line j = template point j).
    #[arg(long, num_args = 2, required = true)]
    pub gt: Vec<PathBuf>,
}

pub fn eval_match(args: EvalMatchArgs) -> anyhow::Result<()> {
    let a = Mesh::read(&args.a)?;
    let b = Mesh::read(&args.b)?;
    let map = read_map(&args.map, b.num_vertices(), a.num_vertices())?;
    let va = read_vts(&args.gt[0], a.num_vertices())?;
    let vb = read_vts(&args.gt[1], b.num_vertices())?;
    check_vts_pair(&va, &vb, &format!("{} / {}", args.gt[0].display(), args.gt[1].display()))?;
    let ops = cotangent(&a, &args.a.display().to_string())?;
    let heat = HeatGeodesics::new(&a, &ops)?;
    let gt = GroundTruthDistances::new(&heat, &va, a.area(), 1);
    println!("mean geodesic error x100: {:.4}", gt.mean_error_x100(&vb, &map));
    Ok(())
}

#[derive(Args)]
pub struct SpectralBenchArgs {
    /// Shapes folder with faust_r/ (default: $KILN_DATA/shapes).
    #[arg(long)]
    pub shapes: Option<PathBuf>,
    /// Ordered FAUST_r pairs to match and evaluate (0 = eigensolver only; 72 = all of
    /// tr_reg_000–008).
    #[arg(long, default_value_t = 4)]
    pub pairs: usize,
    /// Repetitions of the eigensolver timing (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub iters: usize,
    /// Also evaluate the SMAL_r and cactus pairs.
    #[arg(long)]
    pub extra: bool,
    /// pyFM's protocol exactly (one fitted size, K = 30); default adds the K = 20, 50 starts.
    #[arg(long)]
    pub single_start: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct PairReport {
    a: String,
    b: String,
    error_init_x100: f64,
    error_x100: f64,
    seconds_eigen: f64,
    seconds_descr: f64,
    seconds_fit: f64,
    seconds_zoomout: f64,
    seconds_total: f64,
}

#[derive(Serialize)]
struct SpectralReport {
    threads: usize,
    /// tr_reg_000, cotangent + lumped mass, raw coordinates: k → median seconds.
    eigensolver_seconds: std::collections::BTreeMap<usize, f64>,
    /// The same with faer's single-vector Krylov–Schur (the previous default), for comparison.
    eigensolver_seconds_krylov_schur: std::collections::BTreeMap<usize, f64>,
    first_eigenvalues: Vec<f64>,
    pairs: Vec<PairReport>,
    mean_error_init_x100: f64,
    mean_error_x100: f64,
    median_error_x100: f64,
    pairs_above_10: usize,
    mean_seconds_per_pair: f64,
    extra: Vec<PairReport>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

/// Matches shape files a → b (map b → a) with the default pipeline and evaluates against `.vts`.
/// Eigen time counts both shapes, like pyFM's per-pair figure.
fn bench_pair(pa: &Path, pb: &Path, va: &Path, vb: &Path, single_start: bool, gt_cache: &mut Option<(PathBuf, GroundTruthDistances)>) -> anyhow::Result<PairReport> {
    let mut cfg = MatchConfig::default();
    if single_start {
        cfg.extra_fit_sizes.clear();
    }
    let t0 = Instant::now();
    let (a, b) = Shape::load_pair(pa, pb, cfg.k_basis)?;
    let seconds_eigen = t0.elapsed().as_secs_f64();
    let r = match_shapes(&a, &b, &cfg, |_| {})?;
    let seconds_total = t0.elapsed().as_secs_f64();
    let vts_a = read_vts(va, a.mesh.num_vertices())?;
    let vts_b = read_vts(vb, b.mesh.num_vertices())?;
    check_vts_pair(&vts_a, &vts_b, &format!("{} / {}", va.display(), vb.display()))?;
    if gt_cache.as_ref().is_none_or(|(p, _)| p != pa) {
        let heat = HeatGeodesics::new(&a.mesh, &a.ops)?;
        *gt_cache = Some((pa.to_path_buf(), GroundTruthDistances::new(&heat, &vts_a, a.mesh.area(), 1)));
    }
    let gt = &gt_cache.as_ref().unwrap().1;
    Ok(PairReport {
        a: pa.file_name().unwrap().to_string_lossy().into(),
        b: pb.file_name().unwrap().to_string_lossy().into(),
        error_init_x100: gt.mean_error_x100(&vts_b, &r.p2p_init),
        error_x100: gt.mean_error_x100(&vts_b, &r.p2p),
        seconds_eigen,
        seconds_descr: r.seconds_descr,
        seconds_fit: r.seconds_fit,
        seconds_zoomout: r.seconds_zoomout,
        seconds_total,
    })
}

pub fn bench(args: SpectralBenchArgs) -> anyhow::Result<()> {
    let shapes = match &args.shapes {
        Some(s) => s.clone(),
        None => PathBuf::from(std::env::var_os("KILN_DATA").context("set KILN_DATA or pass --shapes")?).join("shapes"),
    };
    let faust = shapes.join("faust_r");
    let off = |i: usize| faust.join(format!("tr_reg_{i:03}.off"));
    let vts = |i: usize| faust.join(format!("cor/tr_reg_{i:03}.vts"));
    let mesh = Mesh::read(off(0))?;
    let ops = cotangent(&mesh, "tr_reg_000")?;
    let mut eigensolver_seconds = std::collections::BTreeMap::new();
    let mut eigensolver_seconds_krylov_schur = std::collections::BTreeMap::new();
    let mut first = vec![];
    for (method, out) in [(EigenMethod::Block, &mut eigensolver_seconds), (EigenMethod::KrylovSchur, &mut eigensolver_seconds_krylov_schur)] {
        for k in [30, 100, 200] {
            let mut t = vec![];
            for _ in 0..args.iters.max(1) {
                let t0 = Instant::now();
                let b = eigen_shift_invert(&ops, k, EigenOptions { method, ..EigenOptions::default() }, "tr_reg_000")?;
                t.push(t0.elapsed().as_secs_f64());
                if method == EigenMethod::Block {
                    first = b.eigenvalues[..10].to_vec();
                }
            }
            out.insert(k, median(&mut t));
        }
    }
    // Ordered pairs (i, j), i ≠ j, target-major so each target's geodesics are computed once.
    let all: Vec<(usize, usize)> = (0..9).flat_map(|i| (0..9).filter(move |&j| j != i).map(move |j| (i, j))).collect();
    let chosen: Vec<(usize, usize)> = if args.pairs >= all.len() { all } else { all.iter().step_by((all.len() / args.pairs.max(1)).max(1)).take(args.pairs).copied().collect() };
    let progress = Progress::new("pairs", chosen.len() as u64, 0);
    let mut pairs = vec![];
    let mut cache = None;
    for (n, &(i, j)) in chosen.iter().enumerate() {
        let r = bench_pair(&off(i), &off(j), &vts(i), &vts(j), args.single_start, &mut cache)?;
        progress.set(n as u64 + 1, format!("{}→{} err {:.2}", r.b, r.a, r.error_x100));
        pairs.push(r);
    }
    progress.finish();
    let mut extra = vec![];
    if args.extra {
        let smal = shapes.join("smal_r");
        let names = ["cougar", "MaleLion800", "Davis_cow_00000", "Hippo_for_Nat", "00028740_ferrari", "NORTHERN-INUIT-DOG-3"];
        for w in names.windows(2) {
            let p = |n: &str| smal.join(format!("{n}.obj"));
            let v = |n: &str| smal.join(format!("cor/{n}.vts"));
            extra.push(bench_pair(&p(w[0]), &p(w[1]), &v(w[0]), &v(w[1]), args.single_start, &mut None)?);
        }
        // Cactus: identical connectivity, the ground truth is the identity.
        let dir = shapes.join("cactus");
        let ident = std::env::temp_dir().join(format!("kiln-cactus-identity-{}.vts", std::process::id()));
        let n = Mesh::read(dir.join("cactus.off"))?.num_vertices();
        let mut f = std::fs::File::create(&ident)?;
        for i in 1..=n {
            writeln!(f, "{i}")?;
        }
        drop(f);
        extra.push(bench_pair(&dir.join("cactus.off"), &dir.join("cactus_deformed.off"), &ident, &ident, args.single_start, &mut None)?);
        std::fs::remove_file(&ident).ok();
    }
    let np = pairs.len().max(1) as f64;
    let mut errs: Vec<f64> = pairs.iter().map(|p| p.error_x100).collect();
    let report = SpectralReport {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        eigensolver_seconds,
        eigensolver_seconds_krylov_schur,
        first_eigenvalues: first,
        mean_error_init_x100: pairs.iter().map(|p| p.error_init_x100).sum::<f64>() / np,
        mean_error_x100: errs.iter().sum::<f64>() / np,
        median_error_x100: median(&mut errs),
        pairs_above_10: pairs.iter().filter(|p| p.error_x100 > 10.0).count(),
        mean_seconds_per_pair: pairs.iter().map(|p| p.seconds_total).sum::<f64>() / np,
        pairs,
        extra,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("eigensolver (tr_reg_000, {} threads):", report.threads);
        for (k, s) in &report.eigensolver_seconds {
            println!("  k = {k:3}: {s:.3} s (Krylov–Schur {:.3} s)", report.eigensolver_seconds_krylov_schur[k]);
        }
        for p in report.pairs.iter().chain(&report.extra) {
            println!("  {} → {}: error x100 {:.2} (before ZoomOut {:.2}), {:.2} s (eigen {:.2}, descr {:.2}, fit {:.2}, zoomout {:.2})", p.b, p.a, p.error_x100, p.error_init_x100, p.seconds_total, p.seconds_eigen, p.seconds_descr, p.seconds_fit, p.seconds_zoomout);
        }
        println!("FAUST_r {} pairs: mean error x100 {:.3} (before ZoomOut {:.3}), median {:.3}, {} above 10; {:.2} s per pair", report.pairs.len(), report.mean_error_x100, report.mean_error_init_x100, report.median_error_x100, report.pairs_above_10, report.mean_seconds_per_pair);
    }
    Ok(())
}
