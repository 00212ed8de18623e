//! How close a basis of functions on a mesh's vertices is to the mesh's cotangent eigenbasis
//! (issue 9's comparison, docs/LEARNED_BASIS.md): per-vector cosines, subspace alignment, and
//! the reconstruction of the xyz coordinates from the first k functions (Chamfer, Hausdorff).
//! CPU, f64; the reference math the learned and point-cloud bases are scored with.
//!
//! Every measure uses one inner product, the cotangent lumped mass M of the mesh, whatever the
//! basis was built with (the learned basis comes with its own density, the point-cloud
//! Laplacian with its own lumped mass): ⟨f, g⟩_M = Σ_i M_i f_i g_i is the discrete L² product
//! of the surface, and cosines in it are the Euclidean cosines of the M^½-weighted vectors
//! (pyFM's eigenvectors × √(vertex area) in the paper's comparison). The compared basis is
//! first orthonormalized in M by nested Gram–Schmidt, which keeps the span of every prefix —
//! the only thing a nested basis fixes.

use crate::error::{Result, SpectralError};
use faer::{Mat, MatRef};
use rayon::prelude::*;

/// Nested Gram–Schmidt of the columns of `b` in the M inner product (two passes per column,
/// for round-off): column k of the result spans, with the previous ones, what the first k + 1
/// columns of `b` span. A column (numerically) in the span of the previous ones is an error.
pub fn m_orthonormalize(b: MatRef<'_, f64>, mass: &[f64], what: &str) -> Result<Mat<f64>> {
    let (n, k) = (b.nrows(), b.ncols());
    if mass.len() != n {
        return Err(SpectralError::invalid(what, format!("a basis of {n} rows with a mass of {} entries", mass.len())));
    }
    let mut q = Mat::<f64>::zeros(n, k);
    for j in 0..k {
        let mut v: Vec<f64> = (0..n).map(|i| b[(i, j)]).collect();
        let first = (0..n).map(|i| v[i] * v[i] * mass[i]).sum::<f64>().sqrt();
        for _ in 0..2 {
            let mv: Vec<f64> = (0..n).map(|i| mass[i] * v[i]).collect();
            let coef: Vec<f64> = (0..j).into_par_iter().map(|c| (0..n).map(|i| q[(i, c)] * mv[i]).sum()).collect();
            for (c, &d) in coef.iter().enumerate() {
                for i in 0..n {
                    v[i] -= d * q[(i, c)];
                }
            }
        }
        let norm = (0..n).map(|i| v[i] * v[i] * mass[i]).sum::<f64>().sqrt();
        if !(norm > 1e-10 * first) || !norm.is_finite() {
            return Err(SpectralError::invalid(what, format!("basis function {j} is (numerically) in the span of the previous ones")));
        }
        for i in 0..n {
            q[(i, j)] = v[i] / norm;
        }
    }
    Ok(q)
}

/// `Aᵀ M B` for two bases on the same vertices (k_a × k_b).
pub fn cross_gram(a: MatRef<'_, f64>, b: MatRef<'_, f64>, mass: &[f64]) -> Mat<f64> {
    let mb = Mat::<f64>::from_fn(b.nrows(), b.ncols(), |i, j| mass[i] * b[(i, j)]);
    a.transpose() * &mb
}

/// Subspace alignment of the first `k` columns from the cross Gram matrix of two M-orthonormal
/// nested bases: `‖G[..k, ..k]‖²_F / k` — the mean squared cosine of the principal angles,
/// 1 when the spans coincide, k/n on average for a random subspace.
pub fn alignment_from_gram(g: MatRef<'_, f64>, k: usize) -> f64 {
    let k = k.min(g.nrows()).min(g.ncols());
    let s: f64 = (0..k).flat_map(|i| (0..k).map(move |j| (i, j))).map(|(i, j)| g[(i, j)] * g[(i, j)]).sum();
    s / k.max(1) as f64
}

/// M-orthogonal projection of the coordinates onto the span of the first `k` columns of an
/// M-orthonormal basis: `x̂ = Q_k Q_kᵀ M x`.
pub fn reconstruct(q: MatRef<'_, f64>, mass: &[f64], positions: &[[f64; 3]], k: usize) -> Vec<[f64; 3]> {
    let k = k.min(q.ncols());
    let x = Mat::<f64>::from_fn(positions.len(), 3, |i, a| positions[i][a]);
    let coef = cross_gram(q.subcols(0, k), x.as_ref(), mass);
    let xh = q.subcols(0, k) * &coef;
    (0..positions.len()).map(|i| [xh[(i, 0)], xh[(i, 1)], xh[(i, 2)]]).collect()
}

/// `√(Σ_i M_i ‖x_i − y_i‖²)`: the L² distance of two vertex maps (exact, per vertex — what the
/// projection minimizes, so it decreases with k).
pub fn l2_distance(x: &[[f64; 3]], y: &[[f64; 3]], mass: &[f64]) -> f64 {
    x.iter().zip(y).zip(mass).map(|((a, b), m)| m * (0..3).map(|c| (a[c] - b[c]).powi(2)).sum::<f64>()).sum::<f64>().sqrt()
}

/// Distance from every point of `from` to its nearest point of `to` (exact brute force in
/// parallel: the clouds here have a few thousand points, where a k-d tree buys little).
fn nearest_distances(from: &[[f64; 3]], to: &[[f64; 3]]) -> Vec<f64> {
    from.par_iter()
        .map(|p| to.iter().map(|q| (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).fold(f64::INFINITY, f64::min).sqrt())
        .collect()
}

/// Symmetric Chamfer distance (the mean of the two directed mean nearest-point distances, not
/// squared) and the Hausdorff distance, in the units of the points.
pub fn chamfer_hausdorff(a: &[[f64; 3]], b: &[[f64; 3]]) -> (f64, f64) {
    let (ab, ba) = rayon::join(|| nearest_distances(a, b), || nearest_distances(b, a));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    (0.5 * (mean(&ab) + mean(&ba)), max(&ab).max(max(&ba)))
}

/// Scores of one basis size k.
#[derive(Clone, Debug, PartialEq)]
pub struct PrefixScores {
    pub k: usize,
    /// [`alignment_from_gram`] with the reference basis.
    pub alignment: f64,
    /// Reconstruction of the coordinates from the first k functions, against the original
    /// points: symmetric Chamfer and Hausdorff distances divided by `length_unit`.
    pub chamfer: f64,
    pub hausdorff: f64,
    /// [`l2_distance`] of the reconstruction, divided by `length_unit` · √area.
    pub l2: f64,
}

/// A basis compared with a reference (the cotangent eigenbasis).
#[derive(Clone, Debug, PartialEq)]
pub struct BasisComparison {
    /// |cosine| of vector i with reference vector i (both M-orthonormalized, nested).
    pub cosines: Vec<f64>,
    pub prefixes: Vec<PrefixScores>,
}

/// Compares `basis` (n × K, any normalization, nested) with the M-orthonormal `reference`
/// (n × K′) on the vertices `positions`, for each k of `ks` (clamped to the smaller basis),
/// with per-vector cosines for the first `cosines` indices. Distances are divided by
/// `length_unit` (√area of the surface: 1 on unit-area shapes).
pub fn compare(reference: MatRef<'_, f64>, basis: MatRef<'_, f64>, mass: &[f64], positions: &[[f64; 3]], ks: &[usize], cosines: usize, length_unit: f64, what: &str) -> Result<BasisComparison> {
    let n = positions.len();
    if reference.nrows() != n || basis.nrows() != n || mass.len() != n {
        return Err(SpectralError::invalid(what, format!("{n} points, bases of {} and {} rows, {} masses", reference.nrows(), basis.nrows(), mass.len())));
    }
    if !(length_unit > 0.0) {
        return Err(SpectralError::invalid(what, format!("length unit {length_unit}")));
    }
    let q = m_orthonormalize(basis, mass, what)?;
    let g = cross_gram(reference, q.as_ref(), mass);
    let count = cosines.min(g.nrows()).min(g.ncols());
    let cosines = (0..count).map(|i| g[(i, i)].abs()).collect();
    let area: f64 = mass.iter().sum();
    let prefixes = ks
        .iter()
        .map(|&k| {
            let k = k.min(reference.ncols()).min(q.ncols());
            let rec = reconstruct(q.as_ref(), mass, positions, k);
            let (chamfer, hausdorff) = chamfer_hausdorff(&rec, positions);
            let l2 = l2_distance(&rec, positions, mass) / (length_unit * area.sqrt());
            PrefixScores { k, alignment: alignment_from_gram(g.as_ref(), k), chamfer: chamfer / length_unit, hausdorff: hausdorff / length_unit, l2 }
        })
        .collect();
    Ok(BasisComparison { cosines, prefixes })
}
