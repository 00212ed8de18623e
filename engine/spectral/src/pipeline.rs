//! The shape-matching pipeline as one call: load → unit area → cotangent Laplacian →
//! eigenbasis → WKS → functional map fit → ZoomOut → point map, with per-stage timings.

use crate::descriptors;
use crate::eigen::{eigen_shift_invert, Basis, EigenOptions};
use crate::error::{Result, SpectralError};
use crate::fmap::{self, FitOperators, FitShape, FitWeights};
use crate::laplacian::{cotangent, FaceGeometry, Operators};
use faer::Mat;
use kiln_scene::mesh::Mesh;
use std::path::Path;
use std::time::Instant;

/// A shape ready for matching: unit-area, centred mesh, its operators and eigenbasis.
pub struct Shape {
    pub name: String,
    pub mesh: Mesh,
    pub ops: Operators,
    pub faces: FaceGeometry,
    pub basis: Basis,
    /// Area before normalization.
    pub original_area: f64,
}

impl Shape {
    /// Loads a mesh, centres it and scales it to unit area, and computes `k` eigenpairs.
    pub fn load(path: impl AsRef<Path>, k: usize) -> Result<Self> {
        let path = path.as_ref();
        let mesh = Mesh::read(path)?;
        Self::from_mesh(path.display().to_string(), mesh, k)
    }

    /// Both shapes of a pair, prepared side by side: each eigensolve runs on one core, so the
    /// two solves share the machine's cores instead of running one after the other.
    pub fn load_pair(a: impl AsRef<Path> + Send, b: impl AsRef<Path> + Send, k: usize) -> Result<(Self, Self)> {
        let (a, b) = rayon::join(|| Self::load(a, k), || Self::load(b, k));
        Ok((a?, b?))
    }

    pub fn from_mesh(name: String, mut mesh: Mesh, k: usize) -> Result<Self> {
        let area = mesh.area();
        if !(area > 0.0) {
            return Err(SpectralError::invalid(&name, "the mesh has zero area"));
        }
        let n = mesh.num_vertices() as f64;
        let c = mesh.positions.iter().fold([0.0; 3], |a, p| [a[0] + p[0] / n, a[1] + p[1] / n, a[2] + p[2] / n]);
        let s = 1.0 / area.sqrt();
        for p in &mut mesh.positions {
            *p = [(p[0] - c[0]) * s, (p[1] - c[1]) * s, (p[2] - c[2]) * s];
        }
        let ops = cotangent(&mesh, &name)?;
        let basis = eigen_shift_invert(&ops, k, EigenOptions::default(), &name)?;
        let faces = FaceGeometry::new(&mesh);
        Ok(Self { name, mesh, ops, faces, basis, original_area: area })
    }
}

/// Pipeline parameters; the defaults are pyFM's README pipeline as measured in BENCHMARKS.md.
#[derive(Clone, Debug)]
pub struct MatchConfig {
    /// Eigenpairs computed per shape (pyFM `k_process`).
    pub k_basis: usize,
    /// WKS energies (pyFM `n_descr`).
    pub n_descr: usize,
    /// Eigenpairs used by the descriptors (pyFM `k_descr`).
    pub k_descr: usize,
    /// Keep every `subsample_step`-th descriptor.
    pub subsample_step: usize,
    /// Size of the fitted map (K).
    pub k_fit: usize,
    pub weights: FitWeights,
    /// ZoomOut (start is `k_fit`): end size and step.
    pub zoomout: Option<(usize, usize)>,
    /// Extra fitted map sizes tried besides `k_fit` (multi-start): each is refined by ZoomOut
    /// up to `probe_size`, the one whose map commutes best with the Laplacians (resolvent
    /// mask, an isometry score needing no ground truth) continues to the end. Empty: pyFM's
    /// single start.
    pub extra_fit_sizes: Vec<usize>,
    pub probe_size: usize,
    /// Multi-start: a start whose probe-size point map sends the vertices on average no farther
    /// than this (in units of √area of shape 1) from an earlier start's is dropped: it
    /// converged to the same map. Negative keeps every start.
    pub same_map_separation: f64,
    /// Multi-start: starts whose refined map's [`orientation_score`] is more than this below the
    /// best one's are rejected before choosing by commutativity.
    pub orientation_margin: f64,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self { k_basis: 200, n_descr: 100, k_descr: 128, subsample_step: 2, k_fit: 30, weights: FitWeights::default(), zoomout: Some((110, 5)), extra_fit_sizes: vec![20, 25, 40], probe_size: 60, same_map_separation: 0.01, orientation_margin: 0.15 }
    }
}

/// Result of matching shape 1 to shape 2.
pub struct MatchResult {
    /// Fitted map (k_fit × k_fit), 1 → 2.
    pub fmap_init: Mat<f64>,
    /// Point map 2 → 1 from the fitted map.
    pub p2p_init: Vec<u32>,
    /// Refined map and its point map 2 → 1 (equal to the initial ones without ZoomOut).
    pub fmap: Mat<f64>,
    pub p2p: Vec<u32>,
    /// Seconds: descriptors, fit, ZoomOut.
    pub seconds_descr: f64,
    pub seconds_fit: f64,
    pub seconds_zoomout: f64,
}

/// Number of ZoomOut steps [`match_shapes`] runs (its progress total).
pub fn zoomout_steps(cfg: &MatchConfig) -> usize {
    let Some((end, step)) = cfg.zoomout else { return 0 };
    let steps = |from: usize, to: usize| to.saturating_sub(from).div_ceil(step);
    if cfg.extra_fit_sizes.is_empty() {
        return steps(cfg.k_fit, end);
    }
    let probe = cfg.probe_size.min(end);
    std::iter::once(&cfg.k_fit).chain(&cfg.extra_fit_sizes).map(|&k| if k < probe { steps(k, probe) + steps(probe, end) } else { steps(k, end) }).sum()
}

/// One start of the multi-start: fitted at size `k`, refined by ZoomOut to the end.
#[derive(Clone, Debug)]
pub struct Start {
    pub k: usize,
    /// [`commutativity_score`] at the probe size.
    pub commutativity: f64,
    /// [`orientation_score`] of the refined point map.
    pub orientation: f64,
    pub fmap: Mat<f64>,
    pub p2p: Vec<u32>,
}

/// Index of the start to keep, from ground-truth-free scores only: among the starts whose
/// refined map keeps face orientation nearly as well as the best one (within `margin`), the one
/// whose probe-size map commutes best with the Laplacians. Commutativity alone cannot reject
/// maps that swap the body's sides (near-isometries too); the orientation score does, since
/// the orientation-preserving fit term folds those maps locally (see docs/SPECTRAL.md).
pub fn choose_start(starts: &[Start], margin: f64) -> usize {
    let best_orientation = starts.iter().map(|s| s.orientation).fold(f64::NEG_INFINITY, f64::max);
    (0..starts.len())
        .filter(|&i| starts[i].orientation >= best_orientation - margin)
        .min_by(|&a, &b| starts[a].commutativity.total_cmp(&starts[b].commutativity))
        .unwrap_or(0)
}

/// How far a map is from commuting with the Laplacians: `Σ mask_ij C_ij² / Σ C_ij²` with pyFM's
/// resolvent mask (0 for an exact isometry; wrong partial matches mix distant frequencies).
pub fn commutativity_score(c: &Mat<f64>, b1: &Basis, b2: &Basis) -> f64 {
    let (k2, k1) = (c.nrows(), c.ncols());
    let mask = fmap::resolvent_mask(&b1.eigenvalues[..k1], &b2.eigenvalues[..k2], 0.5);
    let (mut num, mut den) = (0.0, 0.0);
    for j in 0..k1 {
        for i in 0..k2 {
            let c2 = c[(i, j)] * c[(i, j)];
            num += mask[(i, j)] * c2;
            den += c2;
        }
    }
    num / den.max(f64::MIN_POSITIVE)
}

/// WKS descriptors of a shape, M-normalized, subsampled.
pub fn shape_descriptors(s: &Shape, cfg: &MatchConfig) -> Mat<f64> {
    let d = descriptors::wks(&s.basis, cfg.n_descr, cfg.k_descr.min(s.basis.k()), None);
    let step = cfg.subsample_step.max(1);
    let mut d = Mat::from_fn(d.nrows(), d.ncols().div_ceil(step), |i, j| d[(i, j * step)]);
    descriptors::normalize_columns(&mut d, &s.ops.mass);
    d
}

/// Matches shape 1 to shape 2 (point map 2 → 1). `on_zoomout` receives each ZoomOut size.
/// With a multi-start, `on_zoomout` is called for every ZoomOut step of every start
/// ([`zoomout_steps`] in all).
pub fn match_shapes(s1: &Shape, s2: &Shape, cfg: &MatchConfig, mut on_zoomout: impl FnMut(usize)) -> Result<MatchResult> {
    let t = Instant::now();
    let (d1, d2) = rayon::join(|| shape_descriptors(s1, cfg), || shape_descriptors(s2, cfg));
    let seconds_descr = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let f1 = FitShape { mesh: &s1.mesh, basis: &s1.basis, mass: &s1.ops.mass, faces: &s1.faces, descriptors: &d1 };
    let f2 = FitShape { mesh: &s2.mesh, basis: &s2.basis, mass: &s2.ops.mass, faces: &s2.faces, descriptors: &d2 };
    // Every start's fit takes its operators' leading blocks from one computation at the largest size.
    let k_ops = cfg.extra_fit_sizes.iter().copied().chain([cfg.k_fit]).filter(|&k| k <= s1.basis.k().min(s2.basis.k())).max().unwrap_or(cfg.k_fit);
    let w = &cfg.weights;
    let (o1, o2) = rayon::join(|| FitOperators::new(&f1, k_ops, w, false), || FitOperators::new(&f2, k_ops, w, w.orient_reversing));
    let fmap_init = fmap::fit_with(&f1, &f2, &o1, &o2, cfg.k_fit, cfg.k_fit, w)?;
    let p2p_init = fmap::fmap_to_p2p(fmap_init.as_ref(), &s1.basis, &s2.basis);
    let seconds_fit = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (fmap, p2p) = match cfg.zoomout {
        Some((end, step)) if !cfg.extra_fit_sizes.is_empty() => {
            let probe = cfg.probe_size.min(end);
            let mut starts = vec![];
            let mut probe_maps: Vec<Vec<u32>> = vec![];
            for &k in std::iter::once(&cfg.k_fit).chain(&cfg.extra_fit_sizes) {
                let c0 = if k == cfg.k_fit { fmap_init.clone() } else { fmap::fit_with(&f1, &f2, &o1, &o2, k, k, w)? };
                let (c, p) = if k < probe { fmap::zoomout(&c0, &s1.basis, &s2.basis, &s2.ops.mass, probe, step, &mut on_zoomout)? } else { (c0.clone(), fmap::fmap_to_p2p(c0.as_ref(), &s1.basis, &s2.basis)) };
                let commutativity = commutativity_score(&c, &s1.basis, &s2.basis);
                // A start whose probe-size point map lands every vertex near where an earlier
                // start's does has converged to the same map: refining it too would repeat work.
                if probe_maps.iter().any(|q: &Vec<u32>| mean_separation(q, &p, &s1.mesh.positions) <= cfg.same_map_separation) {
                    // Its remaining ZoomOut steps are done (by the start it duplicates): report
                    // them, so progress counts reach [`zoomout_steps`].
                    let from = if k < probe { probe } else { k };
                    (0..end.saturating_sub(from).div_ceil(step)).for_each(|_| on_zoomout(end));
                    continue;
                }
                probe_maps.push(p);
                let (c, p) = fmap::zoomout(&c, &s1.basis, &s2.basis, &s2.ops.mass, end, step, &mut on_zoomout)?;
                let orientation = orientation_score(&p, s1, s2);
                starts.push(Start { k, commutativity, orientation, fmap: c, p2p: p });
            }
            // The orientation score is meaningless on inconsistently oriented or non-manifold
            // meshes: then the choice falls back to commutativity alone.
            let margin = if consistently_oriented(&s1.mesh) && consistently_oriented(&s2.mesh) { cfg.orientation_margin } else { f64::INFINITY };
            let best = choose_start(&starts, margin);
            let s = starts.swap_remove(best);
            (s.fmap, s.p2p)
        }
        Some((end, step)) => fmap::zoomout(&fmap_init, &s1.basis, &s2.basis, &s2.ops.mass, end, step, on_zoomout)?,
        None => (fmap_init.clone(), p2p_init.clone()),
    };
    let seconds_zoomout = t.elapsed().as_secs_f64();
    Ok(MatchResult { fmap_init, p2p_init, fmap, p2p, seconds_descr, seconds_fit, seconds_zoomout })
}

/// Mean Euclidean distance between the images of two point maps into the same shape.
fn mean_separation(p: &[u32], q: &[u32], positions: &[[f64; 3]]) -> f64 {
    let distance = |a: u32, b: u32| {
        let d = crate::laplacian::sub(positions[a as usize], positions[b as usize]);
        crate::laplacian::dot(d, d).sqrt()
    };
    let d: f64 = p.iter().zip(q).map(|(&a, &b)| distance(a, b)).sum();
    d / p.len().max(1) as f64
}

/// True when no directed edge is used twice: every edge borders at most two faces, which
/// traverse it in opposite directions (a consistently oriented manifold, possibly with boundary).
pub fn consistently_oriented(mesh: &Mesh) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(3 * mesh.faces.len());
    mesh.faces.iter().all(|f| (0..3).all(|c| seen.insert((f[c], f[(c + 1) % 3]))))
}

/// Orientation agreement of a point map 2 → 1, in [−1, 1] (no ground truth needed): every face
/// (a, b, c) of shape 2 is carried to the triangle (T a, T b, T c) on shape 1, whose winding is
/// compared with shape 1's surface normal at T a. The ground-truth map of two FAUST shapes
/// scores ≈ +0.94, its left/right mirror ≈ −0.85; refined ZoomOut maps score 0.6–0.85 when
/// right and ≈ 0.4–0.5 when they swap the body's sides (the orientation-preserving fit term
/// stops them from being clean mirrors, so they fold locally instead). Intrinsic scores
/// (Laplacian commutativity, descriptor preservation) cannot see either. Faces whose corners
/// collapse onto fewer than three vertices do not vote. Meshes must be consistently oriented
/// (FAUST/SMAL scans are).
pub fn orientation_score(p2p_21: &[u32], s1: &Shape, s2: &Shape) -> f64 {
    let p1 = &s1.mesh.positions;
    let mut vn = vec![[0.0f64; 3]; p1.len()];
    for (fi, f) in s1.mesh.faces.iter().enumerate() {
        let n = s1.faces.normals[fi];
        let a = s1.faces.areas[fi];
        for &v in f {
            for d in 0..3 {
                vn[v as usize][d] += a * n[d];
            }
        }
    }
    let (mut sum, mut votes) = (0.0f64, 0usize);
    for f in &s2.mesh.faces {
        let [a, b, c] = f.map(|v| p2p_21[v as usize] as usize);
        if a >= p1.len() || b >= p1.len() || c >= p1.len() || a == b || b == c || a == c {
            continue;
        }
        let e1 = crate::laplacian::sub(p1[b], p1[a]);
        let e2 = crate::laplacian::sub(p1[c], p1[a]);
        let s = crate::laplacian::dot(crate::laplacian::cross(e1, e2), vn[a]);
        if s != 0.0 {
            sum += s.signum();
            votes += 1;
        }
    }
    if votes == 0 { 0.0 } else { sum / votes as f64 }
}
