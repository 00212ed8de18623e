//! Real spherical harmonics in the 3DGS basis (inria's `computeColorFromSH`), with derivatives.
//!
//! The basis functions are written as polynomials in the direction's components. Their gradient
//! is taken with x, y, z independent; the caller projects it through the normalization d̂ = d/|d|.

use glam::DVec3;

pub const SH_C0: f64 = 0.282_094_791_773_878_14;
pub const SH_C1: f64 = 0.488_602_511_902_919_9;
pub const SH_C2: [f64; 5] = [
    1.092_548_430_592_079_2,
    -1.092_548_430_592_079_2,
    0.315_391_565_252_520_05,
    -1.092_548_430_592_079_2,
    0.546_274_215_296_039_6,
];
pub const SH_C3: [f64; 7] = [
    -0.590_043_589_926_643_5,
    2.890_611_442_640_554,
    -0.457_045_799_464_465_8,
    0.373_176_332_590_115_4,
    -0.457_045_799_464_465_8,
    1.445_305_721_320_277,
    -0.590_043_589_926_643_5,
];

/// The first `sh_coeffs(degree)` basis values Y_k(dir) (entries beyond are left zero).
pub fn basis(degree: u32, dir: DVec3) -> [f64; 16] {
    basis_and_grad(degree, dir).0
}

/// Basis values Y_k(dir) and their gradients ∂Y_k/∂(x, y, z), up to `degree` (0..=3).
pub fn basis_and_grad(degree: u32, dir: DVec3) -> ([f64; 16], [DVec3; 16]) {
    let mut y = [0.0; 16];
    let mut g = [DVec3::ZERO; 16];
    // `y` names the output, so the direction's y component is `v`.
    let (x, v, z) = (dir.x, dir.y, dir.z);
    y[0] = SH_C0;
    if degree == 0 {
        return (y, g);
    }
    y[1] = -SH_C1 * v;
    g[1] = DVec3::new(0.0, -SH_C1, 0.0);
    y[2] = SH_C1 * z;
    g[2] = DVec3::new(0.0, 0.0, SH_C1);
    y[3] = -SH_C1 * x;
    g[3] = DVec3::new(-SH_C1, 0.0, 0.0);
    if degree == 1 {
        return (y, g);
    }
    let (xx, vv, zz) = (x * x, v * v, z * z);
    y[4] = SH_C2[0] * x * v;
    g[4] = SH_C2[0] * DVec3::new(v, x, 0.0);
    y[5] = SH_C2[1] * v * z;
    g[5] = SH_C2[1] * DVec3::new(0.0, z, v);
    y[6] = SH_C2[2] * (2.0 * zz - xx - vv);
    g[6] = SH_C2[2] * DVec3::new(-2.0 * x, -2.0 * v, 4.0 * z);
    y[7] = SH_C2[3] * x * z;
    g[7] = SH_C2[3] * DVec3::new(z, 0.0, x);
    y[8] = SH_C2[4] * (xx - vv);
    g[8] = SH_C2[4] * DVec3::new(2.0 * x, -2.0 * v, 0.0);
    if degree == 2 {
        return (y, g);
    }
    y[9] = SH_C3[0] * v * (3.0 * xx - vv);
    g[9] = SH_C3[0] * DVec3::new(6.0 * x * v, 3.0 * xx - 3.0 * vv, 0.0);
    y[10] = SH_C3[1] * x * v * z;
    g[10] = SH_C3[1] * DVec3::new(v * z, x * z, x * v);
    y[11] = SH_C3[2] * v * (4.0 * zz - xx - vv);
    g[11] = SH_C3[2] * DVec3::new(-2.0 * x * v, 4.0 * zz - xx - 3.0 * vv, 8.0 * v * z);
    y[12] = SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * vv);
    g[12] = SH_C3[3] * DVec3::new(-6.0 * x * z, -6.0 * v * z, 6.0 * zz - 3.0 * xx - 3.0 * vv);
    y[13] = SH_C3[4] * x * (4.0 * zz - xx - vv);
    g[13] = SH_C3[4] * DVec3::new(4.0 * zz - 3.0 * xx - vv, -2.0 * x * v, 8.0 * x * z);
    y[14] = SH_C3[5] * z * (xx - vv);
    g[14] = SH_C3[5] * DVec3::new(2.0 * x * z, -2.0 * v * z, xx - vv);
    y[15] = SH_C3[6] * x * (xx - 3.0 * vv);
    g[15] = SH_C3[6] * DVec3::new(3.0 * xx - 3.0 * vv, -6.0 * x * v, 0.0);
    (y, g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basis_gradient_matches_finite_differences() {
        let d = DVec3::new(0.3, -0.5, 0.8);
        let (_, g) = basis_and_grad(3, d);
        let h = 1e-6;
        for axis in 0..3 {
            let mut e = DVec3::ZERO;
            e[axis] = h;
            let (p, _) = basis_and_grad(3, d + e);
            let (m, _) = basis_and_grad(3, d - e);
            for k in 0..16 {
                let fd = (p[k] - m[k]) / (2.0 * h);
                assert!((fd - g[k][axis]).abs() < 1e-8, "k {k} axis {axis}: fd {fd} analytic {}", g[k][axis]);
            }
        }
    }

    /// The basis is orthonormal on the sphere (∫ Y_j Y_k dΩ = δ_jk); checking it with a
    /// quadrature catches a wrong constant or a misplaced factor in any of the 16 functions.
    #[test]
    #[allow(clippy::needless_range_loop)]
    fn basis_is_orthonormal() {
        let (nt, np) = (512, 32);
        let mut gram = [[0.0f64; 16]; 16];
        // A midpoint rule in cos θ (error ~1e-5 here) and an equispaced one in φ (exact for these
        // trigonometric polynomials) are plenty for 1e-3.
        for i in 0..nt {
            let ct = -1.0 + (i as f64 + 0.5) * 2.0 / nt as f64;
            let st = (1.0 - ct * ct).sqrt();
            for j in 0..np {
                let ph = (j as f64 + 0.5) * std::f64::consts::TAU / np as f64;
                let y = basis(3, DVec3::new(st * ph.cos(), st * ph.sin(), ct));
                let w = (2.0 / nt as f64) * (std::f64::consts::TAU / np as f64);
                for a in 0..16 {
                    for b in 0..16 {
                        gram[a][b] += w * y[a] * y[b];
                    }
                }
            }
        }
        for a in 0..16 {
            for b in 0..16 {
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((gram[a][b] - want).abs() < 2e-3, "<Y{a}, Y{b}> = {}", gram[a][b]);
            }
        }
    }
}
