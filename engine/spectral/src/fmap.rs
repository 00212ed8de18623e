//! Functional maps: the fit (descriptor preservation, Laplacian commutativity with pyFM 1.3.1's
//! resolvent mask, descriptor commutativity, orientation), point-to-point conversion, ZoomOut
//! and map transfer.
//!
//! C is k₂×k₁ and maps coefficients on shape 1 to shape 2. Every term of pyFM's energy is
//! quadratic in C, so instead of L-BFGS-B we assemble the (k₁k₂)² Hessian with Kronecker
//! identities and solve it exactly (dense Cholesky): the minimizer pyFM's optimizer approaches.
//! With x = vec(C) (column-major, index i + k₂ j) and `(P⊗Q)[(i,j),(i',j')] = P[j,j'] Q[i,i']`:
//! `‖CA − B‖²` → `AAᵀ⊗I`; mask → diagonal; `‖CD₁ − D₂C‖²` →
//! `D₁D₁ᵀ⊗I + I⊗D₂ᵀD₂ − D₁⊗D₂ − D₁ᵀ⊗D₂ᵀ`.

use crate::eigen::Basis;
use crate::error::{Result, SpectralError};
use crate::laplacian::{cross, dot, FaceGeometry};
use faer::linalg::solvers::Solve;
use faer::{Mat, MatRef, Par, Side};
use kiln_scene::mesh::Mesh;
use rayon::prelude::*;

/// What a shape contributes to a fit: its basis, mass and (for the orientation term) geometry.
pub struct FitShape<'a> {
    pub mesh: &'a Mesh,
    pub basis: &'a Basis,
    pub mass: &'a [f64],
    pub faces: &'a FaceGeometry,
    /// n × p descriptors (columns M-normalized).
    pub descriptors: &'a Mat<f64>,
}

/// Weights of the energy terms (relative; normalized like pyFM 1.3.1's `normalize_weights`).
#[derive(Clone, Copy, Debug)]
pub struct FitWeights {
    pub descr: f64,
    pub lap: f64,
    pub dcomm: f64,
    pub orient: f64,
    /// Use orientation-reversing operators (for mirrored shapes).
    pub orient_reversing: bool,
    /// Resolvent-mask exponent γ.
    pub resolvent_gamma: f64,
}

impl Default for FitWeights {
    /// pyFM README pipeline as measured in BENCHMARKS.md: descr 1, lap 0.1, dcomm 1, orient 1.
    fn default() -> Self {
        Self { descr: 1.0, lap: 0.1, dcomm: 1.0, orient: 1.0, orient_reversing: false, resolvent_gamma: 0.5 }
    }
}

/// First `k` columns of the basis.
fn phi_k(b: &Basis, k: usize) -> MatRef<'_, f64> {
    b.eigenvectors.as_ref().subcols(0, k)
}

/// `Φᵀ M F` (k × p): projection of functions onto the first k basis vectors.
pub fn project(basis: &Basis, mass: &[f64], k: usize, f: MatRef<'_, f64>) -> Mat<f64> {
    let phi = phi_k(basis, k);
    let mf = Mat::<f64>::from_fn(f.nrows(), f.ncols(), |i, j| mass[i] * f[(i, j)]);
    phi.transpose() * &mf
}

/// Multiplicative operators `Φᵀ M diag(d) Φ` (k × k), one per descriptor column.
fn descr_ops(s: &FitShape, k: usize) -> Vec<Mat<f64>> {
    let phi = phi_k(s.basis, k);
    (0..s.descriptors.ncols())
        .into_par_iter()
        .map(|d| {
            let w = Mat::<f64>::from_fn(phi.nrows(), k, |i, j| s.mass[i] * s.descriptors[(i, d)] * phi[(i, j)]);
            w.transpose() * phi
        })
        .collect()
}

/// Orientation operators `Φᵀ W_f Φ` with `(W_f g)_v = Σ_{faces ∋ v} ⅓ ⟨n × ∇f, ∇g⟩ area`
/// (pyFM `get_orientation_op`, here in reduced form): `G = Sᵀ T` with `S_f = Σ_{v∈f} Φ_v`
/// and `T_f = Σ_c ⅓⟨n × ∇f, J_c⟩ Φ_c`.
fn orient_ops(s: &FitShape, k: usize, sign: f64) -> Vec<Mat<f64>> {
    let phi = phi_k(s.basis, k);
    let faces = &s.mesh.faces;
    let sum_rows = Mat::<f64>::from_fn(faces.len(), k, |f, j| faces[f].iter().map(|&v| phi[(v as usize, j)]).sum());
    (0..s.descriptors.ncols())
        .into_par_iter()
        .map(|d| {
            let mut t = Mat::<f64>::zeros(faces.len(), k);
            for (fi, f) in faces.iter().enumerate() {
                let g = f.map(|v| s.descriptors[(v as usize, d)]);
                let rot = cross(s.faces.normals[fi], s.faces.gradient(fi, g));
                let w = s.faces.jc[fi].map(|j| sign * dot(rot, j) / 3.0);
                for j in 0..k {
                    t[(fi, j)] = w[0] * phi[(f[0] as usize, j)] + w[1] * phi[(f[1] as usize, j)] + w[2] * phi[(f[2] as usize, j)];
                }
            }
            sum_rows.transpose() * &t
        })
        .collect()
}

/// pyFM 1.3.1 `resolvent_mask` (k₂ × k₁).
pub fn resolvent_mask(ev1: &[f64], ev2: &[f64], gamma: f64) -> Mat<f64> {
    let scale = ev1.iter().chain(ev2).fold(0.0f64, |a, &b| a.max(b.abs()));
    let f = |l: f64| {
        let g = (l.abs() / scale).powf(gamma);
        (g / (g * g + 1.0), 1.0 / (g * g + 1.0))
    };
    Mat::from_fn(ev2.len(), ev1.len(), |i, j| {
        let (r1, i1) = f(ev1[j]);
        let (r2, i2) = f(ev2[i]);
        (r1 - r2).powi(2) + (i1 - i2).powi(2)
    })
}

/// pyFM `effective_p`: (tr G)² / ‖G‖²_F with G = FᵀF over the non-constant rows.
fn effective_p(reds: [&Mat<f64>; 2]) -> f64 {
    let v: Vec<f64> = reds
        .iter()
        .map(|f| {
            let g = f.as_ref().subrows(1, f.nrows() - 1);
            let gram = g.transpose() * g;
            let tr: f64 = (0..gram.nrows()).map(|i| gram[(i, i)]).sum();
            let den = gram.squared_norm_l2();
            if den > 0.0 { tr * tr / den } else { 1.0 }
        })
        .collect();
    (v.iter().sum::<f64>() / v.len() as f64).max(1e-12)
}

fn oplist_tau(ops1: &[Mat<f64>], ops2: &[Mat<f64>], skew: bool, k1: usize, k2: usize, p_eff: f64) -> f64 {
    let (mut total, mut positive) = (0.0, 0.0);
    for (a, b) in ops1.iter().zip(ops2) {
        let pos = k2 as f64 * a.squared_norm_l2() + k1 as f64 * b.squared_norm_l2();
        positive += pos;
        let tr = |m: &Mat<f64>| (0..m.nrows()).map(|i| m[(i, i)]).sum::<f64>();
        total += if skew { pos } else { pos - 2.0 * tr(a) * tr(b) };
    }
    let total = total.max(0.0);
    if ops1.is_empty() || total <= 1e-12 * positive {
        return 1.0;
    }
    total * k1.min(k2) as f64 / (k1 * k2) as f64 / p_eff
}

/// Adds `α · (P ⊗ I)` to H (P k₁×k₁, I k₂×k₂): `H[i + k₂j, i + k₂j'] += α P[j, j']`.
fn add_kron_identity_right(h: &mut Mat<f64>, alpha: f64, p: &Mat<f64>, k2: usize) {
    let k1 = p.nrows();
    for jp in 0..k1 {
        for j in 0..k1 {
            let v = alpha * p[(j, jp)];
            for i in 0..k2 {
                h[(i + k2 * j, i + k2 * jp)] += v;
            }
        }
    }
}

/// Adds `α · (I ⊗ Q)` to H (I k₁×k₁, Q k₂×k₂): `H[i + k₂j, i' + k₂j] += α Q[i, i']`.
fn add_kron_identity_left(h: &mut Mat<f64>, alpha: f64, k1: usize, q: &Mat<f64>) {
    let k2 = q.nrows();
    for j in 0..k1 {
        for ip in 0..k2 {
            for i in 0..k2 {
                h[(i + k2 * j, ip + k2 * j)] += alpha * q[(i, ip)];
            }
        }
    }
}

/// Adds `α Σ_d (D₁D₁ᵀ⊗I + I⊗D₂ᵀD₂ − D₁⊗D₂ − D₁ᵀ⊗D₂ᵀ)`: the Hessian of `½Σ‖CD₁ − D₂C‖²`.
fn add_commutator(h: &mut Mat<f64>, alpha: f64, ops1: &[Mat<f64>], ops2: &[Mat<f64>]) {
    if ops1.is_empty() || alpha == 0.0 {
        return;
    }
    let (k1, k2) = (ops1[0].nrows(), ops2[0].nrows());
    let mut s1 = Mat::<f64>::zeros(k1, k1);
    let mut s2 = Mat::<f64>::zeros(k2, k2);
    for (a, b) in ops1.iter().zip(ops2) {
        s1 += a * a.transpose();
        s2 += b.transpose() * b;
    }
    add_kron_identity_right(h, alpha, &s1, k2);
    add_kron_identity_left(h, alpha, k1, &s2);
    // Σ_d D1_d[j,j'] D2_d[i,i'] for every (j,j',i,i') as one GEMM over the descriptor index:
    // xt[(i + k₂i', j + k₁j')] (the transposed layout keeps the loop below reading columns).
    let p = ops1.len();
    let u = Mat::<f64>::from_fn(p, k1 * k1, |d, c| ops1[d][(c % k1, c / k1)]);
    let v = Mat::<f64>::from_fn(p, k2 * k2, |d, c| ops2[d][(c % k2, c / k2)]);
    let xt = v.transpose() * &u;
    // H[(i + k₂j), (i' + k₂j')] −= α (X[j + k₁j', i + k₂i'] + X[j' + k₁j, i' + k₂i]).
    let n = k1 * k2;
    for jp in 0..k1 {
        for ip in 0..k2 {
            let c = ip + k2 * jp;
            for j in 0..k1 {
                let first = xt.col(j + k1 * jp);
                let second = xt.col(jp + k1 * j);
                for i in 0..k2 {
                    h[(i + k2 * j, c)] -= alpha * (first[i + k2 * ip] + second[ip + k2 * i]);
                }
            }
        }
    }
    debug_assert_eq!(h.nrows(), n);
}

/// A shape's operators in the fit — the descriptors' multiplicative operators and orientation
/// operators — computed once at the largest map size a pipeline fits: a smaller size's
/// operators are their leading blocks (they only use the first k basis vectors), so the
/// multi-start's fits at several sizes share one computation, the bulk of a fit's time.
pub struct FitOperators {
    pub k: usize,
    descr: Vec<Mat<f64>>,
    orient: Vec<Mat<f64>>,
}

impl FitOperators {
    /// `reversing`: orientation-reversing operators (shape 2 of a mirrored pair).
    pub fn new(s: &FitShape, k: usize, w: &FitWeights, reversing: bool) -> Self {
        let sign = if reversing { -1.0 } else { 1.0 };
        let (descr, orient) = rayon::join(
            || if w.dcomm > 0.0 { descr_ops(s, k) } else { vec![] },
            || if w.orient > 0.0 { orient_ops(s, k, sign) } else { vec![] },
        );
        Self { k, descr, orient }
    }

    fn leading(ops: &[Mat<f64>], k: usize) -> Vec<Mat<f64>> {
        ops.iter().map(|m| m.as_ref().submatrix(0, 0, k, k).to_owned()).collect()
    }
}

/// Fits a k₂×k₁ functional map from shape 1 to shape 2 (exact minimizer of the quadratic energy).
pub fn fit(s1: &FitShape, s2: &FitShape, k1: usize, k2: usize, w: &FitWeights) -> Result<Mat<f64>> {
    check_fit(s1, s2, k1, k2)?;
    let (o1, o2) = rayon::join(|| FitOperators::new(s1, k1, w, false), || FitOperators::new(s2, k2, w, w.orient_reversing));
    fit_with(s1, s2, &o1, &o2, k1, k2, w)
}

fn check_fit(s1: &FitShape, s2: &FitShape, k1: usize, k2: usize) -> Result<()> {
    if s1.descriptors.ncols() != s2.descriptors.ncols() || s1.descriptors.ncols() == 0 {
        return Err(SpectralError::invalid("fit", "both shapes need the same (non-zero) number of descriptors"));
    }
    if k1 > s1.basis.k() || k2 > s2.basis.k() || k1 < 2 || k2 < 2 {
        return Err(SpectralError::invalid("fit", format!("map size {k2}×{k1} exceeds the bases ({}, {})", s2.basis.k(), s1.basis.k())));
    }
    Ok(())
}

/// [`fit`] with operators computed beforehand (at sizes ≥ k₁, k₂; see [`FitOperators`]).
pub fn fit_with(s1: &FitShape, s2: &FitShape, o1: &FitOperators, o2: &FitOperators, k1: usize, k2: usize, w: &FitWeights) -> Result<Mat<f64>> {
    check_fit(s1, s2, k1, k2)?;
    if k1 > o1.k || k2 > o2.k {
        return Err(SpectralError::invalid("fit", format!("map size {k2}×{k1} exceeds the precomputed operators ({}, {})", o2.k, o1.k)));
    }
    let total = w.descr + w.lap + w.dcomm + w.orient;
    let (wd, wl, wc, wo) = (w.descr / total, w.lap / total, w.dcomm / total, w.orient / total);
    let a = project(s1.basis, s1.mass, k1, s1.descriptors.as_ref());
    let b = project(s2.basis, s2.mass, k2, s2.descriptors.as_ref());
    if (wc > 0.0 && (o1.descr.is_empty() || o2.descr.is_empty())) || (wo > 0.0 && (o1.orient.is_empty() || o2.orient.is_empty())) {
        return Err(SpectralError::invalid("fit", "the precomputed operators were made for weights without this term"));
    }
    let (d1, d2) = if wc > 0.0 { (FitOperators::leading(&o1.descr, k1), FitOperators::leading(&o2.descr, k2)) } else { (vec![], vec![]) };
    let (g1, g2) = if wo > 0.0 { (FitOperators::leading(&o1.orient, k1), FitOperators::leading(&o2.orient, k2)) } else { (vec![], vec![]) };
    let mask = resolvent_mask(&s1.basis.eigenvalues[..k1], &s2.basis.eigenvalues[..k2], w.resolvent_gamma);

    // pyFM 1.3.1 canonical_taus.
    let m = k1.min(k2) as f64;
    let p_eff = effective_p([&a, &b]);
    let guard = |v: f64| if v > 0.0 { v } else { 1.0 };
    let tau_descr = guard(m * a.as_ref().subrows(1, k1 - 1).squared_norm_l2() / k1 as f64 / p_eff);
    let mask_sum: f64 = (0..k2).flat_map(|i| (0..k1).map(move |j| (i, j))).map(|(i, j)| mask[(i, j)]).sum();
    let tau_lap = guard(m * mask_sum / (k1 * k2) as f64);
    let tau_dcomm = oplist_tau(&d1, &d2, false, k1, k2, p_eff);
    let tau_orient = oplist_tau(&g1, &g2, true, k1, k2, p_eff);

    let n = k1 * k2;
    let mut h = Mat::<f64>::zeros(n, n);
    add_kron_identity_right(&mut h, wd / tau_descr, &(&a * a.transpose()), k2);
    for j in 0..k1 {
        for i in 0..k2 {
            h[(i + k2 * j, i + k2 * j)] += wl / tau_lap * mask[(i, j)] + 1e-12;
        }
    }
    add_commutator(&mut h, wc / tau_dcomm, &d1, &d2);
    add_commutator(&mut h, wo / tau_orient, &g1, &g2);
    let bat = &b * a.transpose();
    let mut rhs = Mat::<f64>::from_fn(n, 1, |r, _| wd / tau_descr * bat[(r % k2, r / k2)]);
    let llt = h.llt(Side::Lower).map_err(|e| SpectralError::invalid("fit", format!("the energy is not positive definite ({e:?})")))?;
    llt.solve_in_place(rhs.as_mut());
    Ok(Mat::from_fn(k2, k1, |i, j| rhs[(i + k2 * j, 0)]))
}

/// Nearest row of `emb1` for every row of `emb2` (exact, by blocked GEMM in f32:
/// ‖a − b‖² = ‖a‖² − 2a·b + ‖b‖²). Neither a k-d tree nor a ball tree helps here: a ball tree
/// over FAUST's 110-dimensional embedding visited most leaves and ran 10× slower than this
/// scan (measured), because nearest-neighbour distances are not small next to the spread.
pub fn nearest_rows(emb1: MatRef<'_, f64>, emb2: MatRef<'_, f64>) -> Vec<u32> {
    assert_eq!(emb1.ncols(), emb2.ncols());
    let e1 = Mat::<f32>::from_fn(emb1.nrows(), emb1.ncols(), |i, j| emb1[(i, j)] as f32);
    let n1sq: Vec<f32> = (0..e1.nrows()).map(|i| (0..e1.ncols()).map(|j| e1[(i, j)] * e1[(i, j)]).sum()).collect();
    // Small blocks of queries keep the distance block (n₁ × 64 f32) in L2.
    const BLOCK: usize = 64;
    let n2 = emb2.nrows();
    let blocks: Vec<usize> = (0..n2).step_by(BLOCK).collect();
    blocks
        .par_iter()
        .flat_map_iter(|&start| {
            let rows = BLOCK.min(n2 - start);
            let e2 = Mat::<f32>::from_fn(rows, emb2.ncols(), |i, j| emb2[(start + i, j)] as f32);
            let mut g = Mat::<f32>::zeros(e1.nrows(), rows);
            // g = −2·e1·e2ᵀ, so that a distance (up to the query's constant ‖b‖²) is n1sq + g.
            faer::linalg::matmul::matmul(g.as_mut(), faer::Accum::Replace, e1.as_ref(), e2.transpose(), -2.0f32, Par::Seq);
            (0..rows).map(|c| argmin_sum(&n1sq, g.col(c).try_as_col_major().expect("fresh matrix").as_slice())).collect::<Vec<u32>>()
        })
        .collect()
}

/// Index of the smallest `a[i] + b[i]` (the first one on ties). Sixteen independent lanes so the
/// compiler vectorizes the compare-and-select; this scan, not the GEMM, dominated ZoomOut.
fn argmin_sum(a: &[f32], b: &[f32]) -> u32 {
    const LANES: usize = 16;
    let n = a.len().min(b.len());
    let (mut best, mut at) = ([f32::INFINITY; LANES], [0u32; LANES]);
    let full = n / LANES * LANES;
    for (chunk, (x, y)) in a[..full].chunks_exact(LANES).zip(b[..full].chunks_exact(LANES)).enumerate() {
        let base = (chunk * LANES) as u32;
        for l in 0..LANES {
            let d = x[l] + y[l];
            let better = d < best[l];
            best[l] = if better { d } else { best[l] };
            at[l] = if better { base + l as u32 } else { at[l] };
        }
    }
    let (mut v, mut i) = (f32::INFINITY, 0u32);
    for l in 0..LANES {
        if best[l] < v || (best[l] == v && at[l] < i) {
            (v, i) = (best[l], at[l]);
        }
    }
    for j in full..n {
        if a[j] + b[j] < v {
            (v, i) = (a[j] + b[j], j as u32);
        }
    }
    i
}

/// Point map 2 → 1 from C (k₂×k₁): nearest row of `Φ₁Cᵀ` for each row of `Φ₂` (pyFM `FM_to_p2p`).
pub fn fmap_to_p2p(c: MatRef<'_, f64>, b1: &Basis, b2: &Basis) -> Vec<u32> {
    let (k2, k1) = (c.nrows(), c.ncols());
    let emb1 = phi_k(b1, k1) * c.transpose();
    nearest_rows(emb1.as_ref(), phi_k(b2, k2))
}

/// C (k₂×k₁) from a point map 2 → 1: `Φ₂ᵀ M₂ Φ₁[p2p]`.
pub fn p2p_to_fmap(p2p_21: &[u32], b1: &Basis, b2: &Basis, mass2: &[f64], k1: usize, k2: usize) -> Mat<f64> {
    let phi1 = phi_k(b1, k1);
    let pulled = Mat::<f64>::from_fn(p2p_21.len(), k1, |i, j| mass2[i] * phi1[(p2p_21[i] as usize, j)]);
    phi_k(b2, k2).transpose() * &pulled
}

/// ZoomOut (Melzi et al. 2019): from C (k×k) grow both sizes by `step` up to `k_end`, alternating
/// point map and functional map. Returns the final map and its point map 2 → 1.
/// `on_step` is called after each iteration with the current size (progress reporting).
pub fn zoomout(c0: &Mat<f64>, b1: &Basis, b2: &Basis, mass2: &[f64], k_end: usize, step: usize, mut on_step: impl FnMut(usize)) -> Result<(Mat<f64>, Vec<u32>)> {
    if k_end > b1.k() || k_end > b2.k() || step == 0 {
        return Err(SpectralError::invalid("zoomout", format!("target size {k_end} (step {step}) needs that many eigenpairs on both shapes ({}, {})", b1.k(), b2.k())));
    }
    let mut c = c0.clone();
    let (mut k1, mut k2) = (c.ncols(), c.nrows());
    while k1 < k_end || k2 < k_end {
        let p2p = fmap_to_p2p(c.as_ref(), b1, b2);
        k1 = (k1 + step).min(k_end);
        k2 = (k2 + step).min(k_end);
        c = p2p_to_fmap(&p2p, b1, b2, mass2, k1, k2);
        on_step(k1);
    }
    let p2p = fmap_to_p2p(c.as_ref(), b1, b2);
    Ok((c, p2p))
}

/// Transfers per-vertex values (functions, colours) from shape 1 to shape 2 through a point map 2 → 1.
pub fn transfer<T: Copy>(values_on_1: &[T], p2p_21: &[u32]) -> Vec<T> {
    p2p_21.iter().map(|&i| values_on_1[i as usize]).collect()
}

/// Transfers functions through the functional map: `Φ₂ C Φ₁ᵀ M₁ f` (smooth, band-limited).
pub fn transfer_spectral(c: MatRef<'_, f64>, b1: &Basis, mass1: &[f64], b2: &Basis, f: MatRef<'_, f64>) -> Mat<f64> {
    let (k2, k1) = (c.nrows(), c.ncols());
    let coef = project(b1, mass1, k1, f);
    phi_k(b2, k2) * (c * &coef)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(P ⊗ Q)[(i + k₂j), (i' + k₂j')] = P[j, j'] Q[i, i']`, written out.
    fn kron(p: &Mat<f64>, q: &Mat<f64>) -> Mat<f64> {
        let (k1, k2) = (p.nrows(), q.nrows());
        Mat::from_fn(k1 * k2, k1 * k2, |r, c| p[(r / k2, c / k2)] * q[(r % k2, c % k2)])
    }

    fn pseudo_random(rows: usize, cols: usize, seed: f64) -> Mat<f64> {
        Mat::from_fn(rows, cols, |i, j| ((i * 7 + j * 13) as f64 * 0.731 + seed).sin())
    }

    #[test]
    fn commutator_hessian_matches_its_kronecker_definition() {
        let (k1, k2) = (3, 4);
        let d1: Vec<Mat<f64>> = (0..3).map(|d| pseudo_random(k1, k1, d as f64)).collect();
        let d2: Vec<Mat<f64>> = (0..3).map(|d| pseudo_random(k2, k2, 10.0 + d as f64)).collect();
        let mut fast = Mat::<f64>::zeros(k1 * k2, k1 * k2);
        add_commutator(&mut fast, 0.7, &d1, &d2);
        let mut reference = Mat::<f64>::zeros(k1 * k2, k1 * k2);
        for (a, b) in d1.iter().zip(&d2) {
            reference += kron(&(a * a.transpose()), &Mat::identity(k2, k2));
            reference += kron(&Mat::identity(k1, k1), &(b.transpose() * b));
            reference -= kron(a, b);
            reference -= kron(&a.transpose().to_owned(), &b.transpose().to_owned());
        }
        let reference = reference * 0.7;
        let err = (&fast - &reference).norm_max();
        assert!(err < 1e-12, "commutator Hessian differs from its definition by {err}");
        // And the identity-Kronecker helpers on their own.
        let p = pseudo_random(k1, k1, 3.0);
        let mut h = Mat::<f64>::zeros(k1 * k2, k1 * k2);
        add_kron_identity_right(&mut h, 2.0, &p, k2);
        assert!((&h - kron(&p, &Mat::identity(k2, k2)) * 2.0).norm_max() < 1e-14);
        let q = pseudo_random(k2, k2, 4.0);
        let mut h = Mat::<f64>::zeros(k1 * k2, k1 * k2);
        add_kron_identity_left(&mut h, 2.0, k1, &q);
        assert!((&h - kron(&Mat::identity(k1, k1), &q) * 2.0).norm_max() < 1e-14);
    }
}
