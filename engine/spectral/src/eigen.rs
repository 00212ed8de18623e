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
use faer::matrix_free::eigen::{partial_self_adjoint_eigen, partial_self_adjoint_eigen_scratch, PartialEigenParams};
use faer::matrix_free::LinOp;
use faer::sparse::linalg::cholesky::{factorize_symbolic_cholesky, CholeskySymbolicParams, LltRef, SymbolicCholesky, SymmetricOrdering};
use faer::sparse::linalg::solvers::Llt;
use faer::sparse::linalg::SupernodalThreshold;
use faer::sparse::{SparseColMat, Triplet};
use faer::linalg::matmul::matmul;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Col, Conj, Mat, MatMut, MatRef, Par, Side};

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
    /// Residual tolerance: of faer's Krylov–Schur iteration, or for the block method the
    /// relative Ritz residual `‖A y − θ y‖ ≤ tol·θ` of every wanted pair.
    pub tolerance: f64,
    pub method: EigenMethod,
}

/// Which iteration runs on the shift-inverted operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EigenMethod {
    /// Thick-restart block Krylov (ours, [`block_krylov`]): one sparse solve per block of
    /// vectors and GEMM orthogonalization; resolves repeated eigenvalues up to the block size.
    Block,
    /// faer's single-vector Krylov–Schur (like ARPACK behind scipy's `eigsh`).
    KrylovSchur,
}

impl Default for EigenOptions {
    fn default() -> Self {
        Self { shift_times_area: -0.01, tolerance: 1e-10, method: EigenMethod::Block }
    }
}

/// A sparse Cholesky factor kept as faer's symbolic part + values, so that the supernodal
/// variant can be forced: its dense block kernels make multi-right-hand-side solves (the
/// block eigensolver's) much faster per vector than the simplicial column-by-column solve.
struct CholeskyFactor {
    symbolic: SymbolicCholesky<usize>,
    values: Vec<f64>,
}

impl CholeskyFactor {
    fn new(ops: &Operators, c: f64, supernodal: bool, what: &str) -> Result<Self> {
        let k = shifted(ops, c)?;
        let threshold = if supernodal { SupernodalThreshold::FORCE_SUPERNODAL } else { SupernodalThreshold::AUTO };
        let params = CholeskySymbolicParams { supernodal_flop_ratio_threshold: threshold, ..Default::default() };
        let symbolic = factorize_symbolic_cholesky(k.symbolic(), Side::Lower, SymmetricOrdering::Amd, params)
            .map_err(|e| SpectralError::Eigen { what: what.into(), msg: format!("symbolic Cholesky failed ({e:?})") })?;
        let mut values = vec![0.0f64; symbolic.len_val()];
        let par = Par::Seq;
        let mut mem = MemBuffer::new(symbolic.factorize_numeric_llt_scratch::<f64>(par, Default::default()));
        symbolic
            .factorize_numeric_llt(&mut values, k.as_ref(), Side::Lower, Default::default(), par, MemStack::new(&mut mem), Default::default())
            .map_err(|e| SpectralError::Eigen { what: what.into(), msg: format!("Cholesky of W + {c:e}·M failed ({e:?}); is the Laplacian valid?") })?;
        Ok(Self { symbolic, values })
    }
}

/// `x ↦ M^½ K⁻¹ M^½ x`.
struct ShiftInvert<'a> {
    factor: &'a CholeskyFactor,
    sqrt_mass: &'a [f64],
}

impl std::fmt::Debug for ShiftInvert<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShiftInvert({} × {})", self.sqrt_mass.len(), self.sqrt_mass.len())
    }
}

impl ShiftInvert<'_> {
    fn run(&self, out: MatMut<'_, f64>, rhs: MatRef<'_, f64>, par: Par, stack: &mut MemStack) {
        let mut out = out;
        let s = self.sqrt_mass;
        for j in 0..rhs.ncols() {
            let (o, r) = (out.rb_mut().col_mut(j).try_as_col_major_mut().unwrap().as_slice_mut(), rhs.col(j));
            for i in 0..s.len() {
                o[i] = r[i] * s[i];
            }
        }
        LltRef::new(&self.factor.symbolic, &self.factor.values).solve_in_place_with_conj(Conj::No, out.rb_mut(), par, stack);
        for j in 0..out.ncols() {
            let o = out.rb_mut().col_mut(j).try_as_col_major_mut().unwrap().as_slice_mut();
            for i in 0..s.len() {
                o[i] *= s[i];
            }
        }
    }
}

impl LinOp<f64> for ShiftInvert<'_> {
    fn apply_scratch(&self, rhs_ncols: usize, par: Par) -> StackReq {
        self.factor.symbolic.solve_in_place_scratch::<f64>(rhs_ncols, par)
    }
    fn nrows(&self) -> usize {
        self.sqrt_mass.len()
    }
    fn ncols(&self) -> usize {
        self.sqrt_mass.len()
    }
    fn apply(&self, out: MatMut<'_, f64>, rhs: MatRef<'_, f64>, par: Par, stack: &mut MemStack) {
        self.run(out, rhs, par, stack)
    }
    fn conj_apply(&self, out: MatMut<'_, f64>, rhs: MatRef<'_, f64>, par: Par, stack: &mut MemStack) {
        self.run(out, rhs, par, stack)
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
    if opts.method == EigenMethod::Block && n <= 4 * (k + BlockParams::default().block) {
        // Too small for a Krylov space of useful size: the dense solver is exact and fast here.
        return dense_eigen(ops, k);
    }
    let factor = CholeskyFactor::new(ops, -sigma, opts.method == EigenMethod::Block, what)?;
    let sqrt_mass: Vec<f64> = ops.mass.iter().map(|m| m.sqrt()).collect();
    let op = ShiftInvert { factor: &factor, sqrt_mass: &sqrt_mass };
    let (vals, vecs) = match opts.method {
        EigenMethod::Block => block_krylov(&op, k, BlockParams { tolerance: opts.tolerance, ..BlockParams::default() }, what)?,
        EigenMethod::KrylovSchur => krylov_schur(&op, k, opts.tolerance, what)?,
    };
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

/// A deterministic start vector with components along every eigenvector (column `seed`).
fn start_vector(n: usize, seed: u64) -> Col<f64> {
    let start: Vec<f64> = (0..n)
        .map(|i| {
            let h = ((i as u64) ^ seed.wrapping_mul(0xA24B_AED4_963E_E407)).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0xD1B5_4A32_D192_ED03;
            0.5 + (h % 1_000_003) as f64 / 1_000_003.0
        })
        .collect();
    let len = start.iter().map(|x| x * x).sum::<f64>().sqrt();
    Col::<f64>::from_fn(n, |i| start[i] / len)
}

/// faer's Krylov–Schur: the top `k` eigenpairs (μ, y) of the operator.
fn krylov_schur(op: &ShiftInvert, k: usize, tolerance: f64, what: &str) -> Result<(Vec<f64>, Mat<f64>)> {
    let n = op.sqrt_mass.len();
    let par = Par::Seq;
    let mut params = PartialEigenParams::default();
    // Bounded: a degenerate spectrum makes a single-vector Krylov method stall (see docs).
    params.max_restarts = 200;
    let mut mem = MemBuffer::new(partial_self_adjoint_eigen_scratch(op, k, par, params));
    let mut vecs = Mat::<f64>::zeros(n, k);
    let mut vals = vec![0.0f64; k];
    let v0 = start_vector(n, 0);
    let info = partial_self_adjoint_eigen(vecs.as_mut(), &mut vals, op, v0.as_ref(), tolerance, par, MemStack::new(&mut mem), params);
    if info.n_converged_eigen < k {
        return Err(SpectralError::Eigen { what: what.into(), msg: format!("only {} of {k} eigenpairs converged (exactly repeated eigenvalues, e.g. a perfectly symmetric mesh, stall single-vector Krylov methods; use the block method)", info.n_converged_eigen) });
    }
    Ok((vals, vecs))
}

/// Parameters of [`block_krylov`].
#[derive(Clone, Copy, Debug)]
pub struct BlockParams {
    /// Vectors per block (one multi-right-hand-side solve each).
    pub block: usize,
    /// Largest basis, as extra columns beyond the wanted `k`.
    pub extra_dim: usize,
    /// Ritz vectors kept at a restart beyond the wanted `k`.
    pub keep_extra: usize,
    pub tolerance: f64,
    pub max_restarts: usize,
}

impl Default for BlockParams {
    fn default() -> Self {
        // Tuned on FAUST_r (k = 200): larger blocks converge in more operator applications.
        Self { block: 12, extra_dim: 300, keep_extra: 60, tolerance: 1e-10, max_restarts: 100 }
    }
}

/// `W ← W − V(VᵀW)`, twice (classical Gram–Schmidt with re-orthogonalization, as GEMMs);
/// returns the accumulated coefficients `VᵀW` of the original `W`.
fn orthogonalize_against(v: MatRef<'_, f64>, mut w: MatMut<'_, f64>, par: Par) -> Mat<f64> {
    let mut total = Mat::<f64>::zeros(v.ncols(), w.ncols());
    if v.ncols() == 0 {
        return total;
    }
    let mut h = Mat::<f64>::zeros(v.ncols(), w.ncols());
    for _ in 0..2 {
        matmul(h.as_mut(), Accum::Replace, v.transpose(), w.rb(), 1.0, par);
        matmul(w.rb_mut(), Accum::Add, v, h.as_ref(), -1.0, par);
        total += &h;
    }
    total
}

/// Orthonormalizes the columns of `w` (already orthogonal to `v`) in place by Householder QR and
/// returns R (`w_before = Q R`). Columns that vanish (the Krylov space became invariant) are
/// replaced by fresh deterministic vectors orthogonalized against `v` and the rest, with a zero
/// row of R, so the block keeps its size.
fn orthonormalize_block(v: MatRef<'_, f64>, mut w: MatMut<'_, f64>, seed: &mut u64, par: Par) -> Mat<f64> {
    let scale = (0..w.ncols()).map(|j| w.rb().col(j).norm_l2()).fold(0.0f64, f64::max).max(f64::MIN_POSITIVE);
    let qr = w.rb().qr();
    let mut r = qr.thin_R().to_owned();
    let q = qr.compute_thin_Q();
    w.copy_from(&q);
    let deficient: Vec<usize> = (0..w.ncols()).filter(|&j| r[(j, j)].abs() <= 1e-10 * scale).collect();
    if deficient.is_empty() {
        return r;
    }
    for &j in &deficient {
        r.row_mut(j).fill(0.0);
        *seed += 1;
        let fresh = start_vector(w.nrows(), *seed);
        w.rb_mut().col_mut(j).copy_from(&fresh);
    }
    // Re-orthonormalize the fresh columns against v and the kept ones (Gram–Schmidt, twice).
    for &j in &deficient {
        for _ in 0..2 {
            let mut col = w.rb().col(j).to_owned();
            let hv = v.transpose() * &col;
            col -= v * &hv;
            for i in 0..w.ncols() {
                if i != j && (!deficient.contains(&i) || i < j) {
                    let d = w.rb().col(i).transpose() * &col;
                    col -= d * w.rb().col(i);
                }
            }
            let len = col.norm_l2();
            w.rb_mut().col_mut(j).copy_from(&(col * (1.0 / len)));
        }
    }
    let _ = par;
    r
}

/// Thick-restart block Krylov (block Lanczos with full re-orthogonalization) for the `k`
/// largest eigenpairs (θ, y) of a symmetric positive operator, θ descending.
///
/// Why not faer's Krylov–Schur: it applies the operator to one vector at a time and
/// orthogonalizes with scalar loops, so the sparse triangular solves and Gram–Schmidt run at
/// memory bandwidth. Here each step solves a whole block (every loaded factor column serves
/// `block` right-hand sides) and orthogonalizes with GEMMs.
///
/// Basis `V = [V₀ … V_s | V_new]` with `A V = V T + V_new R Eᵀ` (the block-Arnoldi relation;
/// T comes for free from the orthogonalization coefficients). Rayleigh–Ritz on T gives Ritz
/// pairs whose residual norms are `‖R s_last‖`; a restart keeps the best `k + keep_extra` Ritz
/// vectors (T becomes diagonal) plus `V_new`, so the iteration continues the same Krylov space.
pub fn block_krylov(op: &dyn LinOp<f64>, k: usize, p: BlockParams, what: &str) -> Result<(Vec<f64>, Mat<f64>)> {
    let n = op.nrows();
    let b = p.block.clamp(1, n);
    let max_dim = (k + p.extra_dim.max(2 * b)).min(n - b).max(k + b);
    if max_dim + b > n {
        return Err(SpectralError::invalid(what, format!("{k} eigenpairs with block {b} need more than {n} vertices")));
    }
    let keep = (k + p.keep_extra).min(max_dim - b);
    // Sequential: with faer's parallel GEMMs (2 threads) this solve took 0.86 s instead of
    // 0.28–0.32 s on an idle 2-core machine (FAUST, k = 200; the skinny GEMMs lose to their
    // synchronization). A pair of shapes uses both cores by solving the two side by side
    // (`pipeline::Shape::load_pair`).
    let par = Par::Seq;
    let mut v = Mat::<f64>::zeros(n, max_dim + b);
    let mut t = Mat::<f64>::zeros(max_dim, max_dim);
    let mut w = Mat::<f64>::zeros(n, b);
    let mut seed = 0u64;
    for j in 0..b {
        seed += 1;
        v.col_mut(j).copy_from(&start_vector(n, seed));
    }
    orthonormalize_block(Mat::<f64>::zeros(n, 0).as_ref(), v.as_mut().subcols_mut(0, b), &mut seed, par);
    let mut stack_mem = MemBuffer::new(op.apply_scratch(b, par));
    // T is known on [0, known)²; [known, known + b) is the newest block, coupled by `r`.
    let mut known = 0usize;
    let mut r = Mat::<f64>::zeros(b, b);
    for _restart in 0..p.max_restarts {
        while known + b <= max_dim {
            let (done, mut rest) = v.as_mut().split_at_col_mut(known + b);
            op.apply(w.as_mut(), done.rb().subcols(known, b), par, MemStack::new(&mut stack_mem));
            let h = orthogonalize_against(done.rb(), w.as_mut(), par);
            for j in 0..b {
                for i in 0..known + b {
                    t[(i, known + j)] = h[(i, j)];
                    t[(known + j, i)] = h[(i, j)];
                }
            }
            r = orthonormalize_block(done.rb(), w.as_mut(), &mut seed, par);
            rest.rb_mut().subcols_mut(0, b).copy_from(&w);
            known += b;
        }
        // Rayleigh–Ritz on span(V[:, :known]) (T symmetrized against rounding).
        let tk = Mat::<f64>::from_fn(known, known, |i, j| 0.5 * (t[(i, j)] + t[(j, i)]));
        let evd = tk.self_adjoint_eigen(Side::Lower).map_err(|e| SpectralError::Eigen { what: what.into(), msg: format!("Rayleigh–Ritz failed ({e:?})") })?;
        // Descending θ: the last columns of the ascending decomposition.
        let s = Mat::<f64>::from_fn(known, keep, |i, j| evd.U()[(i, known - 1 - j)]);
        let theta: Vec<f64> = (0..keep).map(|j| evd.S()[known - 1 - j]).collect();
        let last = s.as_ref().subrows(known - b, b);
        let resid = &r * last;
        let converged = (0..k).filter(|&j| resid.col(j).norm_l2() <= p.tolerance * theta[j].abs()).count();
        let ny = if converged == k { k } else { keep };
        let mut y = Mat::<f64>::zeros(n, ny);
        matmul(y.as_mut(), Accum::Replace, v.as_ref().subcols(0, known), s.as_ref().subcols(0, ny), 1.0, par);
        if converged == k {
            return Ok((theta[..k].to_vec(), y));
        }
        // Thick restart: [Y_keep | newest block]; T = diag(θ) on the kept Ritz vectors.
        let newest = v.as_ref().subcols(known, b).to_owned();
        v.as_mut().subcols_mut(0, keep).copy_from(&y);
        v.as_mut().subcols_mut(keep, b).copy_from(&newest);
        t.fill(0.0);
        for j in 0..keep {
            t[(j, j)] = theta[j];
        }
        known = keep;
    }
    Err(SpectralError::Eigen { what: what.into(), msg: format!("{k} eigenpairs did not converge in {} restarts", p.max_restarts) })
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
