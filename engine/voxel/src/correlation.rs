//! The Vox-E volumetric regularizer: Pearson correlation between the edited and the original
//! raw density grids over all voxels, L_reg = 1 − ρ, and its gradient. A whole-grid two-pass
//! reduction (means, then moments) in f64 on the host with rayon.
//!
//!   ρ = mean(cx·cy) / (√(var x · var y) + 1e-7),  cx = x − mean x,  cy = y − mean y
//!   ∂ρ/∂x_k = (cy_k / n) / D − cov · (√(var y / var x) · cx_k / n) / D²,  D = √(var x var y) + 1e-7
//!
//! Variances are population variances (so ρ(x, x) = 1); Vox-E's torch code divides the
//! variances by n − 1, a factor (n−1)/n on ρ that is 1 − 2·10⁻⁷ at 160³.

use rayon::prelude::*;

const EPS: f64 = 1e-7;

fn moments(x: &[f32], y: &[f32]) -> (f64, f64, f64, f64, f64) {
    let n = x.len() as f64;
    let (sx, sy) = x.par_iter().zip(y).map(|(&a, &b)| (a as f64, b as f64)).reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let (mx, my) = (sx / n, sy / n);
    let (cov, vx, vy) = x
        .par_iter()
        .zip(y)
        .map(|(&a, &b)| {
            let (cx, cy) = (a as f64 - mx, b as f64 - my);
            (cx * cy, cx * cx, cy * cy)
        })
        .reduce(|| (0.0, 0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    (mx, my, cov / n, vx / n, vy / n)
}

/// Pearson correlation ρ of two equally long arrays.
pub fn pearson(x: &[f32], y: &[f32]) -> f64 {
    assert_eq!(x.len(), y.len(), "pearson: lengths differ");
    let (_, _, cov, vx, vy) = moments(x, y);
    cov / ((vx * vy).sqrt() + EPS)
}

/// ρ and ∂ρ/∂x (x: edited, y: original).
pub fn pearson_grad(x: &[f32], y: &[f32]) -> (f64, Vec<f64>) {
    assert_eq!(x.len(), y.len(), "pearson: lengths differ");
    let n = x.len() as f64;
    let (mx, my, cov, vx, vy) = moments(x, y);
    let d = (vx * vy).sqrt() + EPS;
    let rho = cov / d;
    let ratio = if vx > 0.0 { (vy / vx).sqrt() } else { 0.0 };
    let grad = x
        .par_iter()
        .zip(y)
        .map(|(&a, &b)| {
            let (cx, cy) = (a as f64 - mx, b as f64 - my);
            (cy / n) / d - cov * (ratio * cx / n) / (d * d)
        })
        .collect();
    (rho, grad)
}

/// λ·(1 − ρ) and its gradient with respect to the edited grid, as f32.
pub fn regularizer(edited: &[f32], original: &[f32], lambda: f32) -> (f64, Vec<f32>) {
    let (rho, g) = pearson_grad(edited, original);
    let l = lambda as f64;
    (l * (1.0 - rho), g.into_iter().map(|v| (-l * v) as f32).collect())
}
