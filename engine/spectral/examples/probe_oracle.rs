//! How close can a learned basis get to the cotangent eigenbasis at all? The nested loss is
//! minimized by the top eigenvectors of the probe covariance Σ = ⅓ S Sᵀ (S = Wⁿ, the probes'
//! smoothing; spec §8 "deterministic oracle"). This computes that optimum on held-aside meshes'
//! vertices (Euclidean projection: uniform density) by block Krylov on x ↦ S Sᵀ x, and scores
//! it against the cotangent eigenbasis with the measures of `kiln bench learned-basis`
//! (subspace alignment at k = 5, 10, 20, 32). With a model, the learned basis is scored against
//! both: against the oracle, how far training is from its own optimum; against the cotangent
//! basis, for reference.
//!
//! `cargo run --release -p kiln-spectral --features learned --example probe_oracle -- SHAPES_DIR [MODEL.kbasis] [--sigma S] [--steps N] [--area-weighted]`
//! (`--sigma`/`--steps`: another probe smoothing than the spec's σ = 0.1, n = 20, for the oracle
//! alone). The oracle's eigenvalues θ₁, θ₅, θ₁₀, θ₃₂ are printed with each shape: how far apart
//! the directions the nested loss must order are.

use faer::dyn_stack::{MemStack, StackReq};
use faer::matrix_free::LinOp;
use faer::{MatMut, MatRef, Par};
use kiln_spectral::basis_eval::compare;
use kiln_spectral::eigen::{block_krylov, BlockParams};
use kiln_spectral::learned::{normalize_to_unit_sphere, ProbeConfig, Smoothing};
use kiln_spectral::learned_eval::{held_aside, KS};
use kiln_spectral::pipeline::Shape;
use rayon::prelude::*;

/// x ↦ D S Sᵀ D x with S = Wⁿ and D = M^½ (the identity for the Euclidean projection).
#[derive(Debug)]
struct ProbeCovariance {
    smoothing: Smoothing,
    steps: usize,
    sqrt_mass: Vec<f64>,
}

impl LinOp<f64> for ProbeCovariance {
    fn apply_scratch(&self, _rhs_ncols: usize, _par: Par) -> StackReq {
        StackReq::EMPTY
    }
    fn nrows(&self) -> usize {
        self.smoothing.len()
    }
    fn ncols(&self) -> usize {
        self.smoothing.len()
    }
    fn apply(&self, mut out: MatMut<'_, f64>, rhs: MatRef<'_, f64>, _par: Par, _stack: &mut MemStack) {
        let n = self.smoothing.len();
        let columns: Vec<Vec<f64>> = (0..rhs.ncols())
            .into_par_iter()
            .map(|j| {
                let mut x: Vec<f64> = (0..n).map(|i| self.sqrt_mass[i] * rhs[(i, j)]).collect();
                for _ in 0..self.steps {
                    let mut y = vec![0.0; n];
                    for (i, row) in self.smoothing.rows.iter().enumerate() {
                        for &(c, w) in row {
                            y[c] += w * x[i];
                        }
                    }
                    x = y;
                }
                for _ in 0..self.steps {
                    x = self.smoothing.apply(&x);
                }
                x.iter().zip(&self.sqrt_mass).map(|(v, d)| v * d).collect()
            })
            .collect();
        for (j, c) in columns.iter().enumerate() {
            for i in 0..n {
                out[(i, j)] = c[i];
            }
        }
    }
    fn conj_apply(&self, out: MatMut<'_, f64>, rhs: MatRef<'_, f64>, par: Par, stack: &mut MemStack) {
        self.apply(out, rhs, par, stack)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| all.iter().position(|a| a == name).and_then(|i| all.get(i + 1)).map(|v| v.parse::<f64>()).transpose();
    let (sigma, steps) = (flag("--sigma")?, flag("--steps")?);
    // The oracle of the M-weighted projection with the mesh's own lumped mass as M (the spec's
    // whitened form M^½ΣM^½): the best a perfectly learned density could do. A diagnostic only:
    // it reads the mesh.
    let area_weighted = all.iter().any(|a| a == "--area-weighted");
    let takes_value = |a: &str| a == "--sigma" || a == "--steps";
    let args: Vec<&String> = all.iter().enumerate().filter(|(i, a)| !a.starts_with("--") && (*i == 0 || !takes_value(&all[i - 1]))).map(|(_, a)| a).collect();
    let Some(shapes) = args.first() else { return Err("usage: probe_oracle SHAPES_DIR [MODEL.kbasis] [--sigma S] [--steps N]".into()) };
    let k = 32;
    #[cfg(feature = "learned")]
    let model = match args.get(1) {
        Some(path) => {
            let m = kiln_spectral::basis_model::BasisModel::load(std::path::Path::new(path))?;
            let net = m.network(&kiln_nn::burn_device(&kiln_gpu::GpuContext::shared()?)?)?;
            Some((m, net))
        }
        None => None,
    };
    println!("| shape | basis | against | {} |", KS.iter().map(|k| format!("align k={k}")).collect::<Vec<_>>().join(" | "));
    println!("|---|---|---|{}", "---|".repeat(KS.len()));
    let row = |shape: &str, basis: &str, against: &str, c: &kiln_spectral::basis_eval::BasisComparison| {
        println!("| {shape} | {basis} | {against} | {} |", c.prefixes.iter().map(|p| format!("{:.3}", p.alignment)).collect::<Vec<_>>().join(" | "));
    };
    for file in held_aside(std::path::Path::new(shapes)) {
        let name = file.file_stem().unwrap_or_default().to_string_lossy().to_string();
        let shape = Shape::load(&file, k)?;
        let pos = &shape.mesh.positions;
        let defaults = ProbeConfig::default();
        let cfg = ProbeConfig { sigma: sigma.unwrap_or(defaults.sigma), smoothing_steps: steps.map_or(defaults.smoothing_steps, |s| s as usize), ..defaults };
        let total: f64 = shape.ops.mass.iter().sum();
        let sqrt_mass: Vec<f64> = if area_weighted { shape.ops.mass.iter().map(|m| (m / total).sqrt()).collect() } else { vec![1.0; pos.len()] };
        let op = ProbeCovariance { smoothing: Smoothing::new(&normalize_to_unit_sphere(pos), &cfg)?, steps: cfg.smoothing_steps, sqrt_mass: sqrt_mass.clone() };
        let (theta, mut oracle) = block_krylov(&op, k, BlockParams { block: 8, extra_dim: 96, keep_extra: 24, tolerance: 1e-8, max_restarts: 300 }, &name)?;
        let (cot, mass) = (shape.basis.eigenvectors.as_ref(), &shape.ops.mass);
        // Back from y = M^½ q to q.
        for i in 0..oracle.nrows() {
            for j in 0..oracle.ncols() {
                oracle[(i, j)] /= sqrt_mass[i];
            }
        }
        eprintln!("{name}: σ = {}, {} steps; θ₁ {:.4}, θ₅ {:.4}, θ₁₀ {:.4}, θ₃₂ {:.4}", cfg.sigma, cfg.smoothing_steps, theta[0], theta[4], theta[9], theta[k - 1]);
        row(&name, "probe oracle", "cotangent", &compare(cot, oracle.as_ref(), mass, pos, &KS, 10, 1.0, &name)?);
        #[cfg(feature = "learned")]
        if let Some((m, net)) = &model {
            let learned = kiln_spectral::basis_model::infer(net, m.config.density, pos)?;
            row(&name, "learned", "cotangent", &compare(cot, learned.basis.as_ref(), mass, pos, &KS, 10, 1.0, &name)?);
            // Against the oracle in its own metric (Euclidean, or the normalized area weights).
            let metric: Vec<f64> = sqrt_mass.iter().map(|d| d * d).collect();
            row(&name, "learned", "probe oracle", &compare(oracle.as_ref(), learned.basis.as_ref(), &metric, pos, &KS, 10, 1.0, &name)?);
        }
    }
    Ok(())
}
