//! Issue 9's evaluation of a learned basis (feature `learned`; `kiln bench learned-basis`
//! prints it): (a) the learned basis and the robust point-cloud Laplacian's basis of held-aside
//! meshes' vertices against the cotangent eigenbasis ([`crate::basis_eval`]), (b) FAUST_r pairs
//! matched as point clouds ([`crate::cloud_match`]) against the mesh pipeline, scored by the
//! meshes' `.vts` ground truth and heat geodesics. docs/LEARNED_BASIS.md has the tables.

use crate::basis_eval::{compare, BasisComparison};
use crate::basis_model::BasisModel;
use crate::cloud_match::{cloud_match_config, eigenvalue_proxy, pointcloud_shape, shape_from_basis, truncate, unoriented, without_orientation_term};
use crate::error::Result;
use crate::eval::{check_vts_pair, read_vts, GroundTruthDistances};
use crate::geodesic::HeatGeodesics;
use crate::learned::ProbeConfig;
use crate::pipeline::{match_shapes, MatchConfig, Shape};
use crate::pointcloud::PointCloudOptions;
use crate::basis_model::LearnedBasis;
use kiln_nn::BasisNet;
use kiln_scene::mesh::Mesh;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Probes of the eigenvalue proxy: the model's probe settings, 128 functions (as
/// `kiln basis --learned` writes eigenvalues.txt).
pub fn proxy_probes(model: &BasisModel) -> ProbeConfig {
    ProbeConfig { count: 128, ..model.config.probes.clone() }
}

/// Inference in this process ([`crate::basis_model::infer`]: the network on the inner,
/// non-autodiff backend). Resident memory stays flat over repeated inferences (356 MB after
/// each of three 5,000-point clouds on lavapipe; on the autodiff device it grew by 2.4 GB per
/// cloud, which once forced a child process per cloud — examples/infer_memory.rs).
pub fn infer_in_process<'a>(net: &'a BasisNet, density: bool) -> impl FnMut(&[[f64; 3]]) -> Result<LearnedBasis> + 'a {
    move |points| crate::basis_model::infer(net, density, points)
}

/// A learned basis from its rows (one per point) and mass, as read back from files.
pub fn learned_basis_from_rows(rows: &[Vec<f64>], mass: Vec<f64>) -> LearnedBasis {
    let k = rows.first().map_or(0, Vec::len);
    LearnedBasis { basis: faer::Mat::from_fn(rows.len(), k, |i, j| rows[i][j]), mass }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

fn file_stem(p: &Path) -> String {
    p.file_stem().map_or_else(|| p.display().to_string(), |s| s.to_string_lossy().into())
}

/// Basis sizes of the comparison table.
pub const KS: [usize; 4] = [5, 10, 20, 32];

/// Held aside from the shipped model's training (docs/LEARNED_BASIS.md): FAUST_r 006–008, the
/// SMAL_r animals after the first eight, cactus_deformed.
pub fn held_aside(shapes: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = (6..=8).map(|i| shapes.join(format!("faust_r/tr_reg_{i:03}.off"))).collect();
    v.extend(["Hippo_for_Nat", "MaleLion800", "NORTHERN-INUIT-DOG-3", "cougar"].iter().map(|n| shapes.join(format!("smal_r/{n}.obj"))));
    v.push(shapes.join("cactus/cactus_deformed.off"));
    v
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ComparisonRow {
    pub shape: String,
    pub basis: String,
    /// |cosine| with cotangent eigenvector i (M^½-weighted), i = 0..9.
    pub cosines: Vec<f64>,
    /// k → alignment ‖Φ_kᵀ M Q_k‖²_F / k.
    pub alignment: BTreeMap<usize, f64>,
    /// k → symmetric Chamfer / Hausdorff of the xyz reconstruction, in units of √area.
    pub chamfer: BTreeMap<usize, f64>,
    pub hausdorff: BTreeMap<usize, f64>,
}

impl ComparisonRow {
    pub fn new(shape: &str, basis: &str, c: BasisComparison) -> Self {
        Self {
            shape: shape.into(),
            basis: basis.into(),
            cosines: c.cosines,
            alignment: c.prefixes.iter().map(|p| (p.k, p.alignment)).collect(),
            chamfer: c.prefixes.iter().map(|p| (p.k, p.chamfer)).collect(),
            hausdorff: c.prefixes.iter().map(|p| (p.k, p.hausdorff)).collect(),
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PairRow {
    pub a: String,
    pub b: String,
    /// Basis → mean geodesic error ×100 of the map b → a.
    pub error_x100: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct MethodSummary {
    pub method: String,
    pub basis_size: usize,
    pub mean_error_x100: f64,
    pub median_error_x100: f64,
    pub pairs_above_10: usize,
    pub mean_seconds_per_pair: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub adapter: String,
    pub model: String,
    pub model_steps: u32,
    /// Wall time of one learned basis per cloud (seconds, mean over the clouds; with a child
    /// process per cloud this includes its start and Burn's kernel compilation), points per cloud.
    pub inference_seconds_mean: f64,
    pub inference_points_mean: f64,
    pub comparison: Vec<ComparisonRow>,
    pub matching: Vec<MethodSummary>,
    pub pairs: Vec<PairRow>,
}


/// What [`run`] does.
#[derive(Clone, Debug)]
pub struct LearnedEvalOptions {
    /// Folder with faust_r/, smal_r/, cactus/.
    pub shapes: PathBuf,
    /// Ordered FAUST_r pairs among tr_reg_000–008 (72 = all, 0 = none; a subset is spread
    /// over the list, target-major).
    pub pairs: usize,
    /// Run the basis comparison on the held-aside meshes.
    pub comparison: bool,
    /// Also match the three point-cloud methods without orientation
    /// ([`crate::cloud_match::unoriented`]; methods named "… unoriented"): before/after.
    pub unoriented: bool,
    /// Point-cloud methods without the fit's orientation term, with the orientation filter
    /// only ([`crate::cloud_match::without_orientation_term`]).
    pub filter_only: bool,
    /// Match with the learned basis only (quick checks of a model while it trains; the other
    /// methods do not depend on it).
    pub learned_only: bool,
}

/// Both tables of issue 9 for one learned model (`model`, its network `net` on a device):
/// (a) the learned and point-cloud-Laplacian bases against the cotangent eigenbasis on the
/// held-aside meshes ([`held_aside`]), (b) FAUST_r pairs matched as point clouds with the
/// learned basis, the point-cloud Laplacian's (full, and truncated to the learned size), and
/// the mesh pipeline, scored by the meshes' ground truth. `progress(stage, done, total, what)`
/// reports each step. Every shape's bases are built once. `learned_basis` runs the network on
/// a cloud, normally [`infer_in_process`].
pub fn run(opts: &LearnedEvalOptions, model: &BasisModel, model_name: &str, adapter: &str, mut learned_basis: impl FnMut(&[[f64; 3]]) -> Result<LearnedBasis>, mut progress: impl FnMut(&str, usize, usize, &str)) -> Result<Report> {
    let shapes = opts.shapes.clone();
    let kk = model.config.net.basis;
    let mut inference = vec![];
    let mut infer_timed = |points: &[[f64; 3]]| -> Result<LearnedBasis> {
        let t = Instant::now();
        let l = learned_basis(points)?;
        inference.push((t.elapsed().as_secs_f64(), points.len() as f64));
        Ok(l)
    };

    // (a) The bases against the cotangent eigenbasis on the held-aside meshes.
    let mut comparison = vec![];
    if opts.comparison {
        let files = held_aside(&shapes);
        for (n, f) in files.iter().enumerate() {
            let name = file_stem(f);
            let s = Shape::load(f, kk)?;
            let (pos, mass, cot) = (&s.mesh.positions, &s.ops.mass, s.basis.eigenvectors.as_ref());
            let pc = pointcloud_shape(name.clone(), pos, kk, PointCloudOptions::default())?;
            let learned = infer_timed(pos)?;
            for (basis, b) in [("learned", learned.basis.as_ref()), ("pointcloud", pc.basis.eigenvectors.as_ref()), ("cotangent", cot)] {
                comparison.push(ComparisonRow::new(&name, basis, compare(cot, b, mass, pos, &KS, 10, 1.0, &name)?));
            }
            progress("compare", n + 1, files.len(), &name);
        }
    }

    // (b) FAUST_r pairs as point clouds: learned, point-cloud Laplacian (full and at the learned
    // basis's size), and the mesh pipeline. Every shape's bases are built once.
    let faust = shapes.join("faust_r");
    let off = |i: usize| faust.join(format!("tr_reg_{i:03}.off"));
    let all: Vec<(usize, usize)> = (0..9).flat_map(|i| (0..9).filter(move |&j| j != i).map(move |j| (i, j))).collect();
    let chosen: Vec<(usize, usize)> = match opts.pairs {
        0 => vec![],
        p if p >= all.len() => all,
        p => all.iter().step_by((all.len() / p).max(1)).take(p).copied().collect(),
    };
    let mut needed: Vec<usize> = chosen.iter().flat_map(|&(i, j)| [i, j]).collect();
    needed.sort_unstable();
    needed.dedup();
    let mesh_cfg = MatchConfig::default();
    let term = |c: MatchConfig| if opts.filter_only { without_orientation_term(c) } else { c };
    let pc_cfg = term(cloud_match_config(mesh_cfg.k_basis));
    let small_cfg = term(cloud_match_config(kk));
    // (name, basis size, which of a shape's four bases, configuration)
    let mut methods: Vec<(String, usize, usize, MatchConfig)> = vec![
        ("learned".into(), kk, 0, small_cfg.clone()),
        ("pointcloud".into(), pc_cfg.k_basis, 1, pc_cfg.clone()),
        ("pointcloud-K32".into(), kk, 2, small_cfg.clone()),
    ];
    if opts.unoriented {
        let plain: Vec<_> = methods.iter().map(|(n, k, b, c)| (format!("{n} unoriented"), *k, *b, unoriented(c.clone()))).collect();
        methods.extend(plain);
    }
    methods.push(("mesh (cotangent)".into(), mesh_cfg.k_basis, 3, mesh_cfg.clone()));
    if opts.learned_only {
        methods.retain(|m| m.0.starts_with("learned"));
    }
    let mut built: BTreeMap<usize, [Shape; 4]> = BTreeMap::new();
    for (n, &i) in needed.iter().enumerate() {
        let name = format!("tr_reg_{i:03}");
        let points = Mesh::read(off(i))?.positions;
        let l = infer_timed(&points)?;
        let proxy = eigenvalue_proxy(&points, l.basis.as_ref(), &proxy_probes(&model))?;
        let learned = shape_from_basis(name.clone(), &points, crate::eigen::Basis { eigenvalues: proxy, eigenvectors: l.basis }, l.mass)?;
        let pc = pointcloud_shape(name.clone(), &points, pc_cfg.k_basis, PointCloudOptions::default())?;
        let pc_small = shape_from_basis(name.clone(), &pc.mesh.positions, truncate(&pc.basis, kk), pc.ops.mass.clone())?;
        built.insert(i, [learned, pc, pc_small, Shape::load(off(i), mesh_cfg.k_basis)?]);
        progress("shapes", n + 1, needed.len(), &name);
    }
    let mut pairs = vec![];
    let mut seconds = vec![0.0f64; methods.len()];
    let mut gt_cache: Option<(usize, GroundTruthDistances, Vec<usize>)> = None;
    for (n, &(i, j)) in chosen.iter().enumerate() {
        let (sa, sb) = (&built[&i], &built[&j]);
        if gt_cache.as_ref().is_none_or(|c| c.0 != i) {
            let mesh = &sa[3];
            let heat = HeatGeodesics::new(&mesh.mesh, &mesh.ops)?;
            let va = read_vts(faust.join(format!("cor/tr_reg_{i:03}.vts")), mesh.mesh.num_vertices())?;
            gt_cache = Some((i, GroundTruthDistances::new(&heat, &va, mesh.mesh.area(), 1), va));
        }
        let (_, gt, va) = gt_cache.as_ref().unwrap();
        let vb = read_vts(faust.join(format!("cor/tr_reg_{j:03}.vts")), sb[3].mesh.num_vertices())?;
        check_vts_pair(va, &vb, &format!("tr_reg_{i:03}.vts / tr_reg_{j:03}.vts"))?;
        let mut error_x100 = BTreeMap::new();
        for (m, (name, _, b, cfg)) in methods.iter().enumerate() {
            let t = Instant::now();
            let r = match_shapes(&sa[*b], &sb[*b], cfg, |_| {})?;
            seconds[m] += t.elapsed().as_secs_f64();
            error_x100.insert(name.clone(), gt.mean_error_x100(&vb, &r.p2p));
        }
        progress("pairs", n + 1, chosen.len(), &format!("{j}→{i} {}", methods.iter().map(|m| format!("{} {:.1}", m.0, error_x100[&m.0])).collect::<Vec<_>>().join(", ")));
        pairs.push(PairRow { a: format!("tr_reg_{i:03}"), b: format!("tr_reg_{j:03}"), error_x100 });
    }
    let matching = if pairs.is_empty() {
        vec![]
    } else {
        methods
            .iter()
            .enumerate()
            .map(|(m, (name, k, _, _))| {
                let mut e: Vec<f64> = pairs.iter().map(|p| p.error_x100[name]).collect();
                MethodSummary {
                    method: name.to_string(),
                    basis_size: *k,
                    mean_error_x100: e.iter().sum::<f64>() / e.len() as f64,
                    pairs_above_10: e.iter().filter(|&&x| x > 10.0).count(),
                    median_error_x100: median(&mut e),
                    mean_seconds_per_pair: seconds[m] / pairs.len() as f64,
                }
            })
            .collect()
    };
    let report = Report {
        adapter: adapter.to_string(),
        model: model_name.to_string(),
        model_steps: model.steps,
        inference_seconds_mean: inference.iter().map(|x| x.0).sum::<f64>() / inference.len().max(1) as f64,
        inference_points_mean: inference.iter().map(|x| x.1).sum::<f64>() / inference.len().max(1) as f64,
        comparison,
        matching,
        pairs,
    };
    Ok(report)
}

impl Report {
/// Both tables as markdown.
pub fn markdown(&self) -> String {
    let r = self;
    let mut out = String::new();
    use std::fmt::Write;
    let _ = writeln!(out, "model {} ({} steps), {}; inference {:.2} s per cloud of {:.0} points (mean)\n", r.model, r.model_steps, r.adapter, r.inference_seconds_mean, r.inference_points_mean);
    if !r.comparison.is_empty() {
        let ks = KS.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let _ = writeln!(out, "| shape | basis | {} | {} | Hausdorff k=32 |", ks.iter().map(|k| format!("align k={k}")).collect::<Vec<_>>().join(" | "), ks.iter().map(|k| format!("Chamfer k={k}")).collect::<Vec<_>>().join(" | "));
        let _ = writeln!(out, "|---|---|{}---|", "---|".repeat(2 * KS.len()));
        let mut row = |shape: &str, basis: &str, a: Vec<f64>, c: Vec<f64>, h: f64| {
            let _ = writeln!(out, "| {shape} | {basis} | {} | {} | {h:.4} |", a.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(" | "), c.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(" | "));
        };
        for c in &r.comparison {
            row(&c.shape, &c.basis, KS.iter().map(|k| c.alignment[k]).collect(), KS.iter().map(|k| c.chamfer[k]).collect(), c.hausdorff[&32]);
        }
        for basis in ["learned", "pointcloud", "cotangent"] {
            let rows: Vec<&ComparisonRow> = r.comparison.iter().filter(|c| c.basis == basis).collect();
            let mean = |f: &dyn Fn(&ComparisonRow) -> f64| rows.iter().map(|c| f(c)).sum::<f64>() / rows.len() as f64;
            row("**mean**", basis, KS.iter().map(|k| mean(&|c| c.alignment[k])).collect(), KS.iter().map(|k| mean(&|c| c.chamfer[k])).collect(), mean(&|c| c.hausdorff[&32]));
        }
        let _ = writeln!(out, "\n| shape | basis | \\|cos\\| with cotangent eigenvectors 0–9 |\n|---|---|---|");
        for c in r.comparison.iter().filter(|c| c.basis != "cotangent") {
            let _ = writeln!(out, "| {} | {} | {} |", c.shape, c.basis, c.cosines.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(" "));
        }
        let _ = writeln!(out, );
    }
    if !r.matching.is_empty() {
        let _ = writeln!(out, "FAUST_r, {} ordered pairs among tr_reg_000–008, as point clouds (vertices only) except the mesh pipeline:\n", r.pairs.len());
        let _ = writeln!(out, "| method | basis size | mean geodesic error x100 | median | pairs > 10 | s per pair (match only) |\n|---|---|---|---|---|---|");
        for m in &r.matching {
            let _ = writeln!(out, "| {} | {} | {:.2} | {:.2} | {} | {:.2} |", m.method, m.basis_size, m.mean_error_x100, m.median_error_x100, m.pairs_above_10, m.mean_seconds_per_pair);
        }
    }
    out
}
}
