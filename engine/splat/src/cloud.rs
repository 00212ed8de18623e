//! Gaussian clouds on the host, as structure of arrays.

use glam::Vec3;

/// Number of SH coefficients per channel for a degree: 1, 4, 9, 16.
pub const fn sh_coeffs(degree: u32) -> usize {
    ((degree + 1) * (degree + 1)) as usize
}

/// A Gaussian cloud, structure of arrays. Index `i` of every array is Gaussian `i`.
///
/// SH layout: `sh[(i * sh_coeffs(sh_degree) + k) * 3 + c]` — splat, basis index, RGB
/// (gsplat's `[N, K, 3]`). Extra feature channels: `features[i * feature_channels + f]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GaussianCloud {
    pub means: Vec<Vec3>,
    /// Natural log of the per-axis standard deviations.
    pub log_scales: Vec<Vec3>,
    /// Rotation quaternions (w, x, y, z); not necessarily normalized (kernels normalize).
    pub rotations: Vec<[f32; 4]>,
    /// Opacity logits: opacity = sigmoid(logit).
    pub opacity_logits: Vec<f32>,
    pub sh_degree: u32,
    pub sh: Vec<f32>,
    pub feature_channels: usize,
    pub features: Vec<f32>,
}

impl GaussianCloud {
    pub fn len(&self) -> usize {
        self.means.len()
    }

    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }

    pub fn sh_per_splat(&self) -> usize {
        sh_coeffs(self.sh_degree) * 3
    }

    /// Checks that every array has the length the Gaussian count implies.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.len();
        let check = |name: &str, got: usize, want: usize| {
            if got != want {
                Err(format!("{name} has {got} values, expected {want} for {n} Gaussians"))
            } else {
                Ok(())
            }
        };
        if self.sh_degree > 3 {
            return Err(format!("SH degree {} is above 3", self.sh_degree));
        }
        check("log_scales", self.log_scales.len(), n)?;
        check("rotations", self.rotations.len(), n)?;
        check("opacity_logits", self.opacity_logits.len(), n)?;
        check("sh", self.sh.len(), n * self.sh_per_splat())?;
        check("features", self.features.len(), n * self.feature_channels)?;
        Ok(())
    }
}
