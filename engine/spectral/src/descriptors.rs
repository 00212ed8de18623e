//! Spectral point descriptors: heat kernel (HKS) and wave kernel (WKS) signatures, with pyFM's
//! defaults (`auto_HKS`/`auto_WKS`, scaled), and their landmark variants.
//!
//! Both are `Σ_i w(λ_i) φ_i(x)²` for a family of spectral filters w; the landmark variants
//! replace `φ_i(x)²` by `φ_i(l) φ_i(x)`. Constant eigenpairs (λ ≤ 1e-8 λ_max) are skipped.

use crate::eigen::Basis;
use faer::Mat;

/// The non-constant eigenpairs among the first `k`: (eigenvalue, column index).
fn nonconstant(basis: &Basis, k: usize) -> Vec<(f64, usize)> {
    let k = k.min(basis.k());
    let max = basis.eigenvalues[..k].iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    (0..k).map(|i| (basis.eigenvalues[i].abs(), i)).filter(|&(l, _)| l > 1e-8 * max).collect()
}

/// `out[x, t] = Σ_i coef[t][i] φ_i(x) φ_i(l)` (or `φ_i(x)²` without landmark), scaled by
/// `1 / Σ_i coef[t][i]` when `scaled`: one GEMM, (n × pairs) · (pairs × filters).
fn filtered(basis: &Basis, pairs: &[(f64, usize)], coefs: &[Vec<f64>], landmark: Option<usize>, scaled: bool) -> Mat<f64> {
    let phi = &basis.eigenvectors;
    let products = Mat::<f64>::from_fn(phi.nrows(), pairs.len(), |x, c| {
        let (v, i) = (phi[(x, pairs[c].1)], pairs[c].1);
        v * landmark.map_or(v, |l| phi[(l, i)])
    });
    let norms: Vec<f64> = coefs.iter().map(|c| if scaled { 1.0 / c.iter().sum::<f64>().max(f64::MIN_POSITIVE) } else { 1.0 }).collect();
    let weights = Mat::<f64>::from_fn(pairs.len(), coefs.len(), |c, t| coefs[t][c] * norms[t]);
    products * weights
}

/// Stacks per-landmark blocks side by side (pyFM's column order: landmark-major).
fn per_landmark(basis: &Basis, pairs: &[(f64, usize)], coefs: &[Vec<f64>], landmarks: Option<&[usize]>, scaled: bool) -> Mat<f64> {
    match landmarks {
        None => filtered(basis, pairs, coefs, None, scaled),
        Some(ls) => {
            let blocks: Vec<Mat<f64>> = ls.iter().map(|&l| filtered(basis, pairs, coefs, Some(l), scaled)).collect();
            let n = basis.eigenvectors.nrows();
            let nt = coefs.len();
            Mat::from_fn(n, nt * ls.len(), |x, c| blocks[c / nt][(x, c % nt)])
        }
    }
}

/// WKS with `num_e` energies from the first `k` eigenpairs (pyFM `auto_WKS`, scaled):
/// energies `linspace(log λ_1 + 2σ, log λ_max − 2σ)`, σ = 7 (log λ_max − log λ_1) / num_e.
pub fn wks(basis: &Basis, num_e: usize, k: usize, landmarks: Option<&[usize]>) -> Mat<f64> {
    let pairs = nonconstant(basis, k);
    let (emin, emax) = (pairs[0].0.ln(), pairs[pairs.len() - 1].0.ln());
    let sigma = 7.0 * (emax - emin) / num_e as f64;
    let (lo, hi) = (emin + 2.0 * sigma, emax - 2.0 * sigma);
    let coefs: Vec<Vec<f64>> = (0..num_e)
        .map(|t| {
            let e = if num_e == 1 { lo } else { lo + (hi - lo) * t as f64 / (num_e - 1) as f64 };
            pairs.iter().map(|&(l, _)| (-(e - l.ln()).powi(2) / (2.0 * sigma * sigma)).exp()).collect()
        })
        .collect();
    per_landmark(basis, &pairs, &coefs, landmarks, true)
}

/// HKS with `num_t` times from the first `k` eigenpairs (pyFM `auto_HKS`, scaled): times
/// geometric in `[4 ln 10 / λ_max, 4 ln 10 / λ_1]`.
pub fn hks(basis: &Basis, num_t: usize, k: usize, landmarks: Option<&[usize]>) -> Mat<f64> {
    let pairs = nonconstant(basis, k);
    let (l1, lmax) = (pairs[0].0, pairs[pairs.len() - 1].0);
    let (tmin, tmax) = ((4.0 * 10f64.ln() / lmax).ln(), (4.0 * 10f64.ln() / l1).ln());
    let coefs: Vec<Vec<f64>> = (0..num_t)
        .map(|s| {
            let t = if num_t == 1 { tmin } else { tmin + (tmax - tmin) * s as f64 / (num_t - 1) as f64 }.exp();
            pairs.iter().map(|&(l, _)| (-t * l).exp()).collect()
        })
        .collect();
    per_landmark(basis, &pairs, &coefs, landmarks, true)
}

/// Normalizes each column to unit M-norm (`f / √(fᵀMf)`), pyFM's "l2" normalization.
pub fn normalize_columns(d: &mut Mat<f64>, mass: &[f64]) {
    for j in 0..d.ncols() {
        let s: f64 = (0..d.nrows()).map(|i| d[(i, j)] * d[(i, j)] * mass[i]).sum();
        if s > 0.0 {
            let inv = 1.0 / s.sqrt();
            for i in 0..d.nrows() {
                d[(i, j)] *= inv;
            }
        }
    }
}
