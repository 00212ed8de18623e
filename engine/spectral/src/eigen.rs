//! The k smallest eigenpairs of `W φ = λ M φ` (W PSD sparse, M diagonal positive).
//!
//! Shift-invert: `K = W − σM` with σ < 0 is SPD, so one sparse Cholesky factorization (faer)
//! serves every iteration. The symmetric operator `x ↦ M^½ K⁻¹ M^½ x` has eigenvalues
//! `μ = 1/(λ − σ)`, largest for the smallest λ; faer's Krylov–Schur
//! (`partial_self_adjoint_eigen`) finds the top k, and `λ = σ + 1/μ`, `φ = M^−½ y`, which is
//! M-orthonormal because the y are orthonormal. [`dense_eigen`] is the reference on small meshes.

use crate::error::{Result, SpectralError};
use crate::laplacian::Operators;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::solvers::Solve;
use faer::matrix_free::eigen::{partial_self_adjoint_eigen, partial_self_adjoint_eigen_scratch, PartialEigenParams};
use faer::matrix_free::LinOp;
use faer::sparse::linalg::solvers::Llt;
use faer::sparse::{SparseColMat, Triplet};
use faer::{Col, Mat, MatMut, MatRef, Par, Side};

/// Eigenvalues (ascending) and M-orthonormal eigenvectors (columns).
#[derive(Clone, Debug)]
pub struct Basis {
    pub eigenvalues: Vec<f64>,
    /// n × k, `Φᵀ M Φ = I`.
    pub eigenvectors: Mat<f64>,
}

impl Basis {
    pub fn k(&self) -> usize {
        self.eigenvalues.len()
    }
}

/// Options of [`eigen_shift_invert`].
#[derive(Clone, Copy, Debug)]
pub struct EigenOptions {
    /// Shift σ as a multiple of 1/area (−0.01 on a unit-area shape, pyFM's choice).
    pub shift_times_area: f64,
    /// Residual tolerance of the Krylov–Schur iteration.
    pub tolerance: f64,
}

impl Default for EigenOptions {
    fn default() -> Self {
        Self { shift_times_area: -0.01, tolerance: 1e-12 }
    }
}

#[derive(Debug)]
struct ShiftInvert<'a> {
    llt: &'a Llt<usize, f64>,
    sqrt_mass: &'a [f64],
}

impl ShiftInvert<'_> {
    fn run(&self, out: MatMut<'_, f64>, rhs: MatRef<'_, f64>) {
        let mut out = out;
        let s = self.sqrt_mass;
        for j in 0..rhs.ncols() {
            for i in 0..rhs.nrows() {
                out[(i, j)] = rhs[(i, j)] * s[i];
            }
        }
        self.llt.solve_in_place(out.as_mut());
        for j in 0..out.ncols() {
            for i in 0..out.nrows() {
                out[(i, j)] *= s[i];
            }
        }
    }
}

impl LinOp<f64> for ShiftInvert<'_> {
    fn apply_scratch(&self, _rhs_ncols: usize, _par: Par) -> StackReq {
        StackReq::EMPTY
    }
    fn nrows(&self) -> usize {
        self.sqrt_mass.len()
    }
    fn ncols(&self) -> usize {
        self.sqrt_mass.len()
    }
    fn apply(&self, out: MatMut<'_, f64>, rhs: MatRef<'_, f64>, _par: Par, _stack: &mut MemStack) {
        self.run(out, rhs)
    }
    fn conj_apply(&self, out: MatMut<'_, f64>, rhs: MatRef<'_, f64>, _par: Par, _stack: &mut MemStack) {
        self.run(out, rhs)
    }
}

/// `W + c·M` as a sparse matrix (c may be negative).
pub fn shifted(ops: &Operators, c: f64) -> Result<SparseColMat<usize, f64>> {
    let w = ops.stiffness.as_ref();
    let mut trip = Vec::new();
    for j in 0..w.ncols() {
        for (i, v) in w.row_idx_of_col(j).zip(w.val_of_col(j)) {
            trip.push(Triplet::new(i, j, *v));
        }
    }
    for (i, m) in ops.mass.iter().enumerate() {
        trip.push(Triplet::new(i, i, c * m));
    }
    SparseColMat::try_new_from_triplets(w.nrows(), w.ncols(), &trip)
        .map_err(|e| SpectralError::invalid("operator", format!("sparse assembly failed: {e:?}")))
}

/// Sparse Cholesky of `W + c·M` (SPD for every c > 0 since W is PSD and M positive).
pub fn factor_shifted(ops: &Operators, c: f64, what: &str) -> Result<Llt<usize, f64>> {
    let k = shifted(ops, c)?;
    k.sp_cholesky(Side::Lower)
        .map_err(|e| SpectralError::Eigen { what: what.into(), msg: format!("Cholesky of W + {c:e}·M failed ({e:?}); is the Laplacian valid?") })
}

/// The `k` smallest eigenpairs by shift-invert Krylov–Schur.
pub fn eigen_shift_invert(ops: &Operators, k: usize, opts: EigenOptions, what: &str) -> Result<Basis> {
    let n = ops.num_vertices();
    if k == 0 || k >= n {
        return Err(SpectralError::invalid(what, format!("asked for {k} eigenpairs of a {n}-vertex operator (need 0 < k < n)")));
    }
    let sigma = opts.shift_times_area / ops.total_area();
    let llt = factor_shifted(ops, -sigma, what)?;
    let sqrt_mass: Vec<f64> = ops.mass.iter().map(|m| m.sqrt()).collect();
    let op = ShiftInvert { llt: &llt, sqrt_mass: &sqrt_mass };
    let par = Par::Seq;
    let mut params = PartialEigenParams::default();
    // Bounded: a degenerate spectrum makes a single-vector Krylov method stall (see docs).
    params.max_restarts = 200;
    let mut mem = MemBuffer::new(partial_self_adjoint_eigen_scratch(&op, k, par, params));
    let mut vecs = Mat::<f64>::zeros(n, k);
    let mut vals = vec![0.0f64; k];
    // A deterministic start vector with components along every eigenvector.
    let start: Vec<f64> = (0..n)
        .map(|i| {
            let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0xD1B5_4A32_D192_ED03;
            0.5 + (h % 1_000_003) as f64 / 1_000_003.0
        })
        .collect();
    let len = start.iter().map(|x| x * x).sum::<f64>().sqrt();
    let v0 = Col::<f64>::from_fn(n, |i| start[i] / len);
    let info = partial_self_adjoint_eigen(vecs.as_mut(), &mut vals, &op, v0.as_ref(), opts.tolerance, par, MemStack::new(&mut mem), params);
    if info.n_converged_eigen < k {
        return Err(SpectralError::Eigen { what: what.into(), msg: format!("only {} of {k} eigenpairs converged (exactly repeated eigenvalues, e.g. a perfectly symmetric mesh, stall Krylov methods)", info.n_converged_eigen) });
    }
    let mut order: Vec<usize> = (0..k).collect();
    let lambda: Vec<f64> = vals.iter().map(|mu| sigma + 1.0 / mu).collect();
    order.sort_by(|&a, &b| lambda[a].total_cmp(&lambda[b]));
    let mut phi = Mat::<f64>::zeros(n, k);
    for (c, &src) in order.iter().enumerate() {
        for i in 0..n {
            phi[(i, c)] = vecs[(i, src)] / sqrt_mass[i];
        }
    }
    fix_signs(&mut phi);
    Ok(Basis { eigenvalues: order.iter().map(|&i| lambda[i]).collect(), eigenvectors: phi })
}

/// Dense reference: all eigenpairs of `M^−½ W M^−½`, the first `k` returned. O(n³): small meshes.
pub fn dense_eigen(ops: &Operators, k: usize) -> Result<Basis> {
    let n = ops.num_vertices();
    let w = ops.stiffness.to_dense();
    let inv_sqrt: Vec<f64> = ops.mass.iter().map(|m| 1.0 / m.sqrt()).collect();
    let a = Mat::<f64>::from_fn(n, n, |i, j| w[(i, j)] * inv_sqrt[i] * inv_sqrt[j]);
    let evd = a.self_adjoint_eigen(Side::Lower).map_err(|e| SpectralError::Eigen { what: "dense".into(), msg: format!("{e:?}") })?;
    let s = evd.S();
    let u = evd.U();
    let k = k.min(n);
    let mut phi = Mat::<f64>::from_fn(n, k, |i, j| u[(i, j)] * inv_sqrt[i]);
    fix_signs(&mut phi);
    Ok(Basis { eigenvalues: (0..k).map(|i| s[i]).collect(), eigenvectors: phi })
}

/// Deterministic signs: the largest-magnitude entry of each eigenvector is positive.
fn fix_signs(phi: &mut Mat<f64>) {
    for j in 0..phi.ncols() {
        let mut best = 0.0f64;
        for i in 0..phi.nrows() {
            if phi[(i, j)].abs() > best.abs() + 1e-12 {
                best = phi[(i, j)];
            }
        }
        if best < 0.0 {
            for i in 0..phi.nrows() {
                phi[(i, j)] = -phi[(i, j)];
            }
        }
    }
}
