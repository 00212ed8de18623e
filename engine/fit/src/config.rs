//! Training settings; defaults are the 3DGS reference's (inria = gsplat's default strategy).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    pub iterations: u32,
    pub seed: u64,
    /// Weight of (1 − SSIM) in the loss; L1 gets 1 − this.
    pub ssim_weight: f32,
    /// Position learning rate at the start and end (exponential decay), times the scene extent.
    pub lr_mean_init: f32,
    pub lr_mean_final: f32,
    /// Steps over which the position learning rate decays (inria: 30k whatever the run's
    /// length, so short runs keep moving Gaussians).
    pub lr_mean_steps: u32,
    pub lr_sh_dc: f32,
    /// The higher SH bands learn at lr_sh_dc / this.
    pub lr_sh_rest_divisor: f32,
    pub lr_opacity: f32,
    pub lr_scale: f32,
    pub lr_rotation: f32,
    pub max_sh_degree: u32,
    /// The active SH degree goes up by one every this many steps.
    pub sh_degree_interval: u32,
    pub densify_from: u32,
    pub densify_until: u32,
    pub densify_interval: u32,
    /// Threshold on the mean screen-space position gradient (NDC units, as 3DGS).
    pub densify_grad_threshold: f32,
    /// Clone below, split above this fraction of the scene extent (largest scale).
    pub percent_dense: f32,
    pub prune_opacity: f32,
    pub opacity_reset_interval: u32,
    /// After the first reset: prune splats whose screen radius exceeded this many pixels.
    /// Off by default, as in both references in practice: inria's test never fires (its radii
    /// are zeroed before use; graphdeco issues #123, #643) and gsplat disables it.
    pub prune_screen_size: Option<f32>,
    /// After the first reset: prune splats larger than this fraction of the scene extent.
    pub prune_world_size: f32,
    /// Random initialization (no SfM points): this many Gaussians in the cameras' view volume.
    pub random_init_points: u32,
    /// Alpha clamp of the renderer: 0.999 as gsplat, whose gradient gating (none through a
    /// clamped α) kiln's rasterizer shares.
    pub alpha_clamp: f32,
    /// Save a checkpoint every this many steps (0: only at the end).
    pub checkpoint_interval: u32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            iterations: 30_000,
            seed: 0,
            ssim_weight: 0.2,
            lr_mean_init: 1.6e-4,
            lr_mean_final: 1.6e-6,
            lr_mean_steps: 30_000,
            lr_sh_dc: 2.5e-3,
            lr_sh_rest_divisor: 20.0,
            lr_opacity: 0.05,
            lr_scale: 5e-3,
            lr_rotation: 1e-3,
            max_sh_degree: 3,
            sh_degree_interval: 1000,
            densify_from: 500,
            densify_until: 15_000,
            densify_interval: 100,
            densify_grad_threshold: 2e-4,
            percent_dense: 0.01,
            prune_opacity: 0.005,
            opacity_reset_interval: 3000,
            prune_screen_size: None,
            prune_world_size: 0.1,
            random_init_points: 100_000,
            alpha_clamp: 0.999,
            checkpoint_interval: 1000,
        }
    }
}

impl TrainConfig {
    /// Position learning rate at `step` (log-linear from init to final over `lr_mean_steps`),
    /// before the scene-extent factor.
    pub fn lr_mean(&self, step: u32) -> f32 {
        let t = (step as f32 / self.lr_mean_steps.max(1) as f32).clamp(0.0, 1.0);
        (self.lr_mean_init.ln() * (1.0 - t) + self.lr_mean_final.ln() * t).exp()
    }

    /// The active SH degree at `step`.
    pub fn sh_degree(&self, step: u32) -> u32 {
        (step / self.sh_degree_interval.max(1)).min(self.max_sh_degree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let c = TrainConfig::default();
        assert!((c.lr_mean(0) - 1.6e-4).abs() < 1e-9);
        assert!((c.lr_mean(30_000) - 1.6e-6).abs() < 1e-10);
        assert!((c.lr_mean(15_000) - 1.6e-5).abs() < 1e-9);
        assert_eq!((c.sh_degree(0), c.sh_degree(1000), c.sh_degree(2999), c.sh_degree(9000)), (0, 1, 2, 3));
    }
}
