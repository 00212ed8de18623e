//! Render settings, outputs and gradients shared by the GPU rasterizer and the CPU reference.

use glam::Vec3;

/// Tile edge in pixels.
pub const TILE_SIZE: u32 = 16;

/// What the per-pixel channels are made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorSource {
    /// RGB from the cloud's SH coefficients (3 channels).
    Sh,
    /// The cloud's extra feature channels, composited as they are (N channels).
    Features,
}

/// Settings of one render. `Default` is gsplat's classic mode, which the golden renders use.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderSettings {
    /// Upper clamp of per-splat alpha: 0.999 (gsplat, Brush, golden renders) or 0.99 (inria).
    pub alpha_clamp: f32,
    /// gsplat's antialiased mode: opacity scaled by √(det Σ₂ / det(Σ₂ + εI)).
    pub antialiased: bool,
    /// ε added to the diagonal of the 2D covariance (pixels²).
    pub eps2d: f32,
    /// Background per channel (length = channel count); empty means zeros.
    pub background: Vec<f32>,
    /// Highest SH degree used (clamped to the cloud's); `None` = the cloud's degree.
    pub sh_degree: Option<u32>,
    pub color_source: ColorSource,
}

impl Default for RenderSettings {
    fn default() -> Self {
        RenderSettings {
            alpha_clamp: 0.999,
            antialiased: false,
            eps2d: 0.3,
            background: Vec::new(),
            sh_degree: None,
            color_source: ColorSource::Sh,
        }
    }
}

impl RenderSettings {
    pub fn channels(&self, cloud: &crate::GaussianCloud) -> usize {
        match self.color_source {
            ColorSource::Sh => 3,
            ColorSource::Features => cloud.feature_channels,
        }
    }

    pub fn background_value(&self, channel: usize) -> f32 {
        self.background.get(channel).copied().unwrap_or(0.0)
    }

    pub fn active_sh_degree(&self, cloud: &crate::GaussianCloud) -> u32 {
        self.sh_degree.map_or(cloud.sh_degree, |d| d.min(cloud.sh_degree))
    }
}

/// Per-pixel outputs, row-major, pixel (x, y) at index y·width + x.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RenderOutput {
    pub width: u32,
    pub height: u32,
    pub channels: usize,
    /// `color[(y·w + x)·channels + c]`: Σ wᵢ cᵢ + T·background.
    pub color: Vec<f32>,
    /// 1 − final transmittance.
    pub alpha: Vec<f32>,
    /// Expected camera-space depth Σ wᵢ zᵢ (not normalized by alpha).
    pub depth: Vec<f32>,
}

/// dL/d(outputs), same shapes as [`RenderOutput`]; empty vectors mean zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutputGrads {
    pub color: Vec<f32>,
    pub alpha: Vec<f32>,
    pub depth: Vec<f32>,
}

/// dL/d(parameters), same layout as [`crate::GaussianCloud`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CloudGrads {
    pub means: Vec<Vec3>,
    pub log_scales: Vec<Vec3>,
    pub rotations: Vec<[f32; 4]>,
    pub opacity_logits: Vec<f32>,
    pub sh: Vec<f32>,
    pub features: Vec<f32>,
    /// ‖dL/d mean2d‖ per Gaussian, in pixels, for this render (densification accumulates it).
    pub mean2d_grad_norm: Vec<f32>,
}
