//! Learned eigenstructures (arXiv 2512.01103, docs/SPECTRAL.md "Learned bases"): the CPU
//! reference of what the basis network is trained with — probe functions, the nested
//! reconstruction loss, the eigenvalue proxy — and the deterministic oracle a trained network
//! is checked against.
//!
//! A network maps a point cloud to `R` (n × K). Its basis `Q` is `R` orthonormalized column by
//! column; the density is `w = Q[:,0]²`, `M = diag(w)`. For probe functions `f` (smoothed noise),
//! the nested loss asks every prefix `Q_k` (k = 1..K) to reconstruct them:
//! `c_k = (Q_kᵀ M Q_k + εI)⁻¹ Q_kᵀ M f`, `e_k(f) = ‖f − Q_k c_k‖²`, `L = mean_{k,f} e_k / √K`.
//! Because every prefix counts, the optimum orders the basis like an eigenbasis.
//!
//! Two formulations are here and tested equal: [`nested_loss`] solves the k × k systems
//! directly (the spec's formula), [`nested_loss_incremental`] runs one M-weighted Gram–Schmidt
//! pass and updates the residual per k — only products and sums, which is how the network's
//! loss is written for autodiff.

use crate::error::{Result, SpectralError};
use faer::linalg::solvers::Solve;
use faer::{Mat, MatRef, Side};
use rayon::prelude::*;

/// The regularization of the k × k projection systems (the reference code's 1e-8).
pub const PROJECTION_EPS: f64 = 1e-8;

/// How probe functions are drawn (the reference implementation's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeConfig {
    /// Number of probe functions per cloud.
    pub count: usize,
    /// Smoothing steps x ← W x applied to uniform noise.
    pub smoothing_steps: usize,
    /// Width of the Gaussian weights, in units of the unit-sphere-normalized cloud.
    pub sigma: f64,
    /// Neighbours of the kNN graph; None: max(n / 100, 10).
    pub neighbours: Option<usize>,
    pub seed: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig { count: 500, smoothing_steps: 20, sigma: 0.1, neighbours: None, seed: 0 }
    }
}

/// Centres a cloud at its centroid and scales it into the unit sphere (the network's input
/// convention, so that σ means the same on every shape).
pub fn normalize_to_unit_sphere(points: &[[f64; 3]]) -> Vec<[f64; 3]> {
    let n = points.len().max(1) as f64;
    let c: [f64; 3] = std::array::from_fn(|a| points.iter().map(|p| p[a]).sum::<f64>() / n);
    let r = points.iter().map(|p| ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2)).sqrt()).fold(0.0, f64::max);
    let s = if r > 0.0 { 1.0 / r } else { 1.0 };
    points.iter().map(|p| std::array::from_fn(|a| (p[a] - c[a]) * s)).collect()
}

/// The smoothing operator W: on the kNN graph with self-loops, weights exp(−‖pᵢ − pⱼ‖²/σ²),
/// each row normalized to sum 1 (so W·1 = 1, and W is not symmetric).
#[derive(Clone, Debug)]
pub struct Smoothing {
    /// Row i: (column, weight) pairs.
    pub rows: Vec<Vec<(usize, f64)>>,
}

impl Smoothing {
    /// Builds W for a cloud already normalized to the unit sphere.
    pub fn new(points: &[[f64; 3]], cfg: &ProbeConfig) -> Result<Self> {
        let n = points.len();
        if n < 2 {
            return Err(SpectralError::invalid("probe smoothing", format!("a cloud of {n} points; at least 2 are needed")));
        }
        if !(cfg.sigma > 0.0 && cfg.sigma.is_finite()) {
            return Err(SpectralError::invalid("probe smoothing", format!("sigma {} must be positive", cfg.sigma)));
        }
        let k = cfg.neighbours.unwrap_or((n / 100).max(10)).min(n - 1);
        let neighbours = crate::pointcloud::knn(points, k);
        let s2 = cfg.sigma * cfg.sigma;
        let rows = neighbours
            .par_iter()
            .enumerate()
            .map(|(i, nb)| {
                let mut row: Vec<(usize, f64)> = std::iter::once(i)
                    .chain(nb.iter().copied())
                    .map(|j| {
                        let d2: f64 = (0..3).map(|a| (points[i][a] - points[j][a]).powi(2)).sum();
                        (j, (-d2 / s2).exp())
                    })
                    .collect();
                let total: f64 = row.iter().map(|(_, w)| w).sum();
                row.iter_mut().for_each(|(_, w)| *w /= total);
                row
            })
            .collect();
        Ok(Smoothing { rows })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// W x.
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.rows.par_iter().map(|row| row.iter().map(|&(j, w)| w * x[j]).sum()).collect()
    }

    /// S = Wⁿ as a dense matrix (small clouds: the oracle).
    pub fn power_dense(&self, steps: usize) -> Mat<f64> {
        let n = self.len();
        let mut s = Mat::<f64>::identity(n, n);
        for _ in 0..steps {
            let cols: Vec<Vec<f64>> = (0..n).into_par_iter().map(|j| self.apply(&(0..n).map(|i| s[(i, j)]).collect::<Vec<_>>())).collect();
            s = Mat::from_fn(n, n, |i, j| cols[j][i]);
        }
        s
    }
}

/// SplitMix64: a tiny seeded generator, so probes are identical on every platform.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Probe functions, n × count: uniform noise on (−1, 1) smoothed `smoothing_steps` times by W.
pub fn probes(smoothing: &Smoothing, cfg: &ProbeConfig) -> Mat<f64> {
    let n = smoothing.len();
    let columns: Vec<Vec<f64>> = (0..cfg.count)
        .into_par_iter()
        .map(|f| {
            let mut state = cfg.seed ^ (f as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
            let mut x: Vec<f64> = (0..n).map(|_| (splitmix(&mut state) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0).collect();
            for _ in 0..cfg.smoothing_steps {
                x = smoothing.apply(&x);
            }
            x
        })
        .collect();
    Mat::from_fn(n, cfg.count, |i, j| columns[j][i])
}

/// How the projection weighs points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Projection {
    /// M = I: the setting of the deterministic oracle.
    Euclidean,
    /// M = diag(Q[:,0]²) with Q the orthonormalized basis: the paper's learned density.
    Density,
}

/// The per-point weights of a projection for a basis `r` (n × K, not necessarily orthonormal):
/// ones, or the squared first column normalized to sum 1.
pub fn projection_weights(r: MatRef<'_, f64>, projection: Projection) -> Vec<f64> {
    let n = r.nrows();
    match projection {
        Projection::Euclidean => vec![1.0; n],
        Projection::Density => {
            let sq: Vec<f64> = (0..n).map(|i| r[(i, 0)] * r[(i, 0)]).collect();
            let total: f64 = sq.iter().sum::<f64>().max(f64::MIN_POSITIVE);
            sq.into_iter().map(|v| v / total).collect()
        }
    }
}

/// Mean reconstruction error per prefix size k = 1..K, and the loss `mean_k / √K`.
#[derive(Clone, Debug, PartialEq)]
pub struct NestedLoss {
    /// mean over probes of e_k(f), for k = 1..=K.
    pub per_k: Vec<f64>,
    pub loss: f64,
}

impl NestedLoss {
    fn from_per_k(per_k: Vec<f64>) -> Self {
        let k = per_k.len().max(1) as f64;
        let loss = per_k.iter().sum::<f64>() / k / k.sqrt();
        NestedLoss { per_k, loss }
    }

    /// The eigenvalue proxy λ̂_k = 1 / mean_f e_k(f) (monotone in k, not a Rayleigh quotient).
    pub fn eigenvalue_proxy(&self) -> Vec<f64> {
        self.per_k.iter().map(|e| 1.0 / e.max(f64::MIN_POSITIVE)).collect()
    }
}

fn check_shapes(r: MatRef<'_, f64>, f: MatRef<'_, f64>) -> Result<()> {
    if r.nrows() != f.nrows() || r.ncols() == 0 || f.ncols() == 0 {
        return Err(SpectralError::invalid("nested loss", format!("a {}×{} basis and {}×{} probes", r.nrows(), r.ncols(), f.nrows(), f.ncols())));
    }
    Ok(())
}

/// The nested loss by the spec's formula: for each k, solve `(R_kᵀ M R_k + εI) c = R_kᵀ M f`.
/// `r` need not be orthonormal: the prefixes' spans are what count (Gram–Schmidt keeps them),
/// except through the density, which [`projection_weights`] takes from the first column.
pub fn nested_loss(r: MatRef<'_, f64>, f: MatRef<'_, f64>, projection: Projection) -> Result<NestedLoss> {
    check_shapes(r, f)?;
    let (n, kmax, nf) = (r.nrows(), r.ncols(), f.ncols());
    let w = projection_weights(r, projection);
    let per_k = (1..=kmax)
        .into_par_iter()
        .map(|k| {
            let rk = r.subcols(0, k);
            let mut gram = Mat::<f64>::from_fn(k, k, |a, b| (0..n).map(|i| rk[(i, a)] * w[i] * rk[(i, b)]).sum());
            for a in 0..k {
                gram[(a, a)] += PROJECTION_EPS;
            }
            let rhs = Mat::<f64>::from_fn(k, nf, |a, j| (0..n).map(|i| rk[(i, a)] * w[i] * f[(i, j)]).sum());
            let llt = gram.llt(Side::Lower).map_err(|e| SpectralError::invalid("nested loss", format!("prefix {k}: the projection system is not positive definite ({e:?})")))?;
            let c = llt.solve(&rhs);
            let recon = &rk * &c;
            let err: f64 = (0..nf).map(|j| (0..n).map(|i| (f[(i, j)] - recon[(i, j)]).powi(2)).sum::<f64>()).sum();
            Ok(err / nf as f64)
        })
        .collect::<Result<Vec<f64>>>()?;
    Ok(NestedLoss::from_per_k(per_k))
}

/// The same loss by one M-weighted Gram–Schmidt pass: q_k is r_k minus its M-projections on
/// q_1..q_{k−1}, normalized in M; the residual of every probe loses q_k (q_kᵀ M f) at step k.
/// Only products, sums and one square root per column — what the network's loss computes under
/// autodiff. (ε enters differently than in [`nested_loss`]; the two agree to ~ε.)
pub fn nested_loss_incremental(r: MatRef<'_, f64>, f: MatRef<'_, f64>, projection: Projection) -> Result<NestedLoss> {
    Ok(GramSchmidtTape::record(r, f, projection)?.loss)
}

/// One column of the M-weighted Gram–Schmidt pass, as the reverse pass needs it: the input and
/// the vector after each of the two orthogonalization passes, their coefficients, the norm and
/// the probes' coefficients on the new direction.
struct TapeColumn {
    v: [Vec<f64>; 3],
    a: [Vec<f64>; 2],
    norm: f64,
    c: Vec<f64>,
}

/// The forward pass of the incremental nested loss with what its reverse needs kept: the
/// weights, the orthonormal directions, each column's intermediates and the probes' final
/// residuals (about 3nK + nP numbers, no more than the forward itself holds).
struct GramSchmidtTape {
    w: Vec<f64>,
    q: Vec<Vec<f64>>,
    columns: Vec<TapeColumn>,
    residual: Vec<Vec<f64>>,
    loss: NestedLoss,
}

impl GramSchmidtTape {
    fn record(r: MatRef<'_, f64>, f: MatRef<'_, f64>, projection: Projection) -> Result<Self> {
        check_shapes(r, f)?;
        let (n, kmax, nf) = (r.nrows(), r.ncols(), f.ncols());
        let w = projection_weights(r, projection);
        let dot_m = |a: &[f64], b: &[f64]| -> f64 { (0..n).map(|i| a[i] * w[i] * b[i]).sum() };
        let mut q: Vec<Vec<f64>> = Vec::with_capacity(kmax);
        let mut columns: Vec<TapeColumn> = Vec::with_capacity(kmax);
        let mut residual: Vec<Vec<f64>> = (0..nf).map(|j| (0..n).map(|i| f[(i, j)]).collect()).collect();
        let mut per_k = Vec::with_capacity(kmax);
        for k in 0..kmax {
            let v0: Vec<f64> = (0..n).map(|i| r[(i, k)]).collect();
            let mut vs = vec![v0];
            let mut coefficients = Vec::with_capacity(2);
            // Twice is enough (Kahan–Parlett) for a well-conditioned prefix.
            for pass in 0..2 {
                let mut v = vs[pass].clone();
                let a: Vec<f64> = q.par_iter().map(|qi| dot_m(qi, &vs[pass])).collect();
                for (qi, ai) in q.iter().zip(&a) {
                    v.iter_mut().zip(qi).for_each(|(x, y)| *x -= ai * y);
                }
                coefficients.push(a);
                vs.push(v);
            }
            let v2 = &vs[2];
            let norm = dot_m(v2, v2).sqrt();
            // Relative to the column's own size: what is left of a dependent column is round-off.
            if !(norm > 1e-10 * dot_m(&vs[0], &vs[0]).sqrt()) || !(norm > 1e-300) {
                return Err(SpectralError::invalid("nested loss", format!("basis column {k} lies in the span of the previous ones")));
            }
            let qk: Vec<f64> = v2.iter().map(|x| x / norm).collect();
            // The M-projection of f on q_k equals that of the residual (q_k ⊥_M q_1..q_{k−1}).
            let c: Vec<f64> = residual
                .par_iter_mut()
                .map(|res| {
                    let c = dot_m(&qk, res);
                    res.iter_mut().zip(&qk).for_each(|(x, y)| *x -= c * y);
                    c
                })
                .collect();
            per_k.push(residual.par_iter().map(|res| res.iter().map(|x| x * x).sum::<f64>()).sum::<f64>() / nf as f64);
            let [v0, v1, v2]: [Vec<f64>; 3] = vs.try_into().expect("three vectors");
            let [a1, a2]: [Vec<f64>; 2] = coefficients.try_into().expect("two passes");
            columns.push(TapeColumn { v: [v0, v1, v2], a: [a1, a2], norm, c });
            q.push(qk);
        }
        Ok(GramSchmidtTape { w, q, columns, residual, loss: NestedLoss::from_per_k(per_k) })
    }
}

/// The deterministic oracle for the Euclidean projection: probes f = S u with u uniform on
/// (−1, 1) have covariance Σ = ⅓ S Sᵀ, and the nested loss is minimized in expectation by the
/// top-K eigenvectors of Σ (the top left singular vectors of S), with expected errors
/// E_k = tr Σ − Σ_{i≤k} μ_i.
#[derive(Clone, Debug)]
pub struct Oracle {
    /// n × K, orthonormal, eigenvalues decreasing.
    pub basis: Mat<f64>,
    /// μ_1 ≥ … ≥ μ_K of Σ.
    pub eigenvalues: Vec<f64>,
    /// Expected e_k for k = 1..=K.
    pub expected_errors: Vec<f64>,
    /// Σ itself (n × n).
    pub covariance: Mat<f64>,
}

impl Oracle {
    /// Dense O(n³): for small clouds (a few hundred points).
    pub fn new(smoothing: &Smoothing, steps: usize, k: usize) -> Result<Self> {
        let n = smoothing.len();
        let s = smoothing.power_dense(steps);
        let sigma = Mat::<f64>::from_fn(n, n, |i, j| (0..n).map(|t| s[(i, t)] * s[(j, t)]).sum::<f64>() / 3.0);
        let evd = sigma.self_adjoint_eigen(Side::Lower).map_err(|e| SpectralError::Eigen { what: "probe covariance".into(), msg: format!("{e:?}") })?;
        let k = k.min(n);
        let vals = evd.S();
        let vecs = evd.U();
        // Ascending from faer: take the last k, largest first.
        let eigenvalues: Vec<f64> = (0..k).map(|i| vals[n - 1 - i]).collect();
        let basis = Mat::from_fn(n, k, |i, j| vecs[(i, n - 1 - j)]);
        let trace: f64 = (0..n).map(|i| sigma[(i, i)]).sum();
        let mut acc = 0.0;
        let expected_errors = eigenvalues
            .iter()
            .map(|mu| {
                acc += mu;
                trace - acc
            })
            .collect();
        Ok(Oracle { basis, eigenvalues, expected_errors, covariance: sigma })
    }

    /// The expected nested errors E_k = tr Σ − tr(Q_kᵀ Σ Q_k) of any basis under the Euclidean
    /// projection (its prefixes orthonormalized here): what a trained network is scored by,
    /// free of probe sampling noise.
    pub fn expected_errors_of(&self, basis: MatRef<'_, f64>) -> Vec<f64> {
        let n = self.covariance.nrows();
        let trace: f64 = (0..n).map(|i| self.covariance[(i, i)]).sum();
        let mut q: Vec<Vec<f64>> = Vec::new();
        let mut captured = 0.0;
        let mut out = Vec::new();
        for c in 0..basis.ncols() {
            let mut v: Vec<f64> = (0..n).map(|i| basis[(i, c)]).collect();
            for _ in 0..2 {
                for qi in &q {
                    let d: f64 = (0..n).map(|i| qi[i] * v[i]).sum();
                    v.iter_mut().zip(qi).for_each(|(x, y)| *x -= d * y);
                }
            }
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 1e-300 {
                v.iter_mut().for_each(|x| *x /= norm);
                let sv: Vec<f64> = (0..n).map(|i| (0..n).map(|j| self.covariance[(i, j)] * v[j]).sum()).collect();
                captured += (0..n).map(|i| v[i] * sv[i]).sum::<f64>();
                q.push(v);
            }
            out.push(trace - captured);
        }
        out
    }
}

/// How well the first `k` columns of `b` lie in the span of the first `k` of `a`: ‖Aₖᵀ M Bₖ‖²_F / k
/// for M-orthonormal prefixes (1 when the subspaces coincide, ~k/n for random ones). Prefixes
/// are orthonormalized here; `mass` is M's diagonal (ones for Euclidean).
pub fn subspace_alignment(a: MatRef<'_, f64>, b: MatRef<'_, f64>, k: usize, mass: &[f64]) -> f64 {
    let orthonormal = |m: MatRef<'_, f64>| -> Vec<Vec<f64>> {
        let mut q: Vec<Vec<f64>> = Vec::new();
        for c in 0..k.min(m.ncols()) {
            let mut v: Vec<f64> = (0..m.nrows()).map(|i| m[(i, c)]).collect();
            for _ in 0..2 {
                for qi in &q {
                    let d: f64 = (0..v.len()).map(|i| qi[i] * mass[i] * v[i]).sum();
                    v.iter_mut().zip(qi).for_each(|(x, y)| *x -= d * y);
                }
            }
            let norm = (0..v.len()).map(|i| v[i] * mass[i] * v[i]).sum::<f64>().sqrt();
            if norm > 1e-300 {
                v.iter_mut().for_each(|x| *x /= norm);
                q.push(v);
            }
        }
        q
    };
    let (qa, qb) = (orthonormal(a), orthonormal(b));
    let total: f64 = qa.iter().flat_map(|x| qb.iter().map(move |y| (0..x.len()).map(|i| x[i] * mass[i] * y[i]).sum::<f64>().powi(2))).sum();
    total / k.max(1) as f64
}

/// The nested loss of [`nested_loss_incremental`] and its exact gradient with respect to the
/// raw basis `r`, by reverse mode through the same M-weighted Gram–Schmidt pass, in f64 on the
/// host.
///
/// Why on the host: written as tensor operations the pass is a chain of ~10 small kernels per
/// basis column (K = 32: hundreds per step, each waiting for the last), launch-bound on every
/// device, while the arithmetic is only O(nK² + nKP). The trainer runs the network on the GPU,
/// reads `r` back, calls this, and feeds the gradient into Burn's backward as dL/dr.
///
/// The reverse pass keeps the forward's intermediate vectors (three per column) and rebuilds
/// the probes' residuals backwards (`res_k = res_{k+1} + q_k c_k`), so its memory is that of
/// the forward.
pub fn nested_loss_and_gradient(r: MatRef<'_, f64>, f: MatRef<'_, f64>, projection: Projection) -> Result<(NestedLoss, Mat<f64>)> {
    let GramSchmidtTape { w, q, columns, mut residual, loss } = GramSchmidtTape::record(r, f, projection)?;
    let (n, kmax, nf) = (r.nrows(), r.ncols(), f.ncols());
    let dot = |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| x * y).sum() };

    // Reverse. `g` is dL/d(residual) per probe, `q_bar` dL/dq per column (filled by the later
    // columns' orthogonalization before the column itself is reached), `w_bar` dL/dw.
    let scale = 2.0 / (nf as f64 * kmax as f64 * (kmax as f64).sqrt());
    let mut g: Vec<Vec<f64>> = vec![vec![0.0; n]; nf];
    let mut q_bar: Vec<Vec<f64>> = vec![vec![0.0; n]; kmax];
    let mut w_bar = vec![0.0; n];
    let mut r_bar = Mat::<f64>::zeros(n, kmax);
    for k in (0..kmax).rev() {
        let col = &columns[k];
        let qk = &q[k];
        // residual_{k+1} feeds e_k: d e_k / d res = 2 res / P (times the loss's 1 / (K√K)).
        g.par_iter_mut().zip(residual.par_iter()).for_each(|(gf, res)| gf.iter_mut().zip(res).for_each(|(x, y)| *x += scale * y));
        // res_{k+1} = res_k − q c, c = qᵀ M res_k.
        let c_bar: Vec<f64> = g.par_iter().map(|gf| -dot(qk, gf)).collect();
        let mut qk_bar = std::mem::take(&mut q_bar[k]);
        for (gf, cf) in g.iter().zip(&col.c) {
            qk_bar.iter_mut().zip(gf).for_each(|(x, y)| *x -= cf * y);
        }
        residual.par_iter_mut().zip(col.c.par_iter()).for_each(|(res, cf)| res.iter_mut().zip(qk).for_each(|(x, y)| *x += cf * y));
        // t = Σ_f c̄_f res_k,f: c's gradient back into q, w and the residual.
        let t: Vec<f64> = (0..n).into_par_iter().map(|i| residual.iter().zip(&c_bar).map(|(res, cb)| cb * res[i]).sum()).collect();
        for i in 0..n {
            qk_bar[i] += w[i] * t[i];
            w_bar[i] += qk[i] * t[i];
        }
        g.par_iter_mut().zip(c_bar.par_iter()).for_each(|(gf, cb)| gf.iter_mut().enumerate().for_each(|(i, x)| *x += cb * w[i] * qk[i]));
        // q = v₂ / ‖v₂‖_M.
        let v2 = &col.v[2];
        let s = col.norm * col.norm;
        let s_bar = -dot(&qk_bar, v2) / (2.0 * s * col.norm);
        let mut v_bar: Vec<f64> = (0..n).map(|i| qk_bar[i] / col.norm + 2.0 * s_bar * w[i] * v2[i]).collect();
        for i in 0..n {
            w_bar[i] += s_bar * v2[i] * v2[i];
        }
        // The two passes v_{p+1} = v_p − Q a, a = Qᵀ M v_p, last first.
        for pass in (0..2).rev() {
            let (vp, a) = (&col.v[pass], &col.a[pass]);
            let a_bar: Vec<f64> = q[..k].par_iter().map(|qj| -dot(qj, &v_bar)).collect();
            let mut u = vec![0.0; n];
            for (j, qj) in q[..k].iter().enumerate() {
                u.iter_mut().zip(qj).for_each(|(x, y)| *x += a_bar[j] * y);
                let qb = &mut q_bar[j];
                for i in 0..n {
                    qb[i] += -v_bar[i] * a[j] + a_bar[j] * w[i] * vp[i];
                }
            }
            for i in 0..n {
                w_bar[i] += vp[i] * u[i];
                v_bar[i] += w[i] * u[i];
            }
        }
        for i in 0..n {
            r_bar[(i, k)] = v_bar[i];
        }
    }
    // The density w = r₀² / Σ r₀².
    if projection == Projection::Density {
        let total: f64 = (0..n).map(|i| r[(i, 0)] * r[(i, 0)]).sum::<f64>().max(f64::MIN_POSITIVE);
        let mean_bar = dot(&w_bar, &w);
        for i in 0..n {
            r_bar[(i, 0)] += 2.0 * r[(i, 0)] * (w_bar[i] - mean_bar) / total;
        }
    }
    Ok((loss, r_bar))
}
