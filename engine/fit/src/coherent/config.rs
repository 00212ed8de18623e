//! CoherentGS settings. Defaults follow the released code (`../shared/methods/coherentgs.md`,
//! "Kiln default: follow the code"); step-based parts of its schedule are stored as fractions
//! of the training stage (13,000 steps in the code) so that shortened runs keep its shape.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CoherentConfig {
    /// Training-stage steps (code: 7001–20000 → 13,000).
    pub iterations: u32,
    pub seed: u64,
    /// Ablation switches (alignment happens while preparing the inputs; recorded here).
    pub use_decoder: bool,
    pub use_tv: bool,
    pub use_flow: bool,
    pub use_alignment: bool,
    /// World length of one unit of the reference's normalized scene (its poses are scaled by
    /// 1/(0.75·near_min)): 0.75·near_min for LLFF. Scales the depth offsets (50 units); the
    /// flow loss and the TV's disparity are taken in it, so the loss terms weigh against each
    /// other as in the method whatever the dataset's units.
    pub unit: f32,
    /// Δz = offset_units · unit · tanh(decoder) (code: 50).
    pub offset_units: f32,
    /// logit α = logit α₀ + opacity_gain · tanh(decoder) (code: 100).
    pub opacity_gain: f32,
    /// Loss weights: L = (1−ssim)·ML1 + ssim·(1 − SSIM) + tv·L_multi + flow·L_flow.
    pub ssim_weight: f32,
    pub pyramid_weights: Vec<f32>,
    pub tv_weight: f32,
    /// 0.01 in the code (0.1 applied twice); the paper's β_f = 0.1.
    pub flow_weight: f32,
    /// γ of the layer-masked TV ramps linearly from this to 1 over training (code: step/20000
    /// from step 7000 → 0.35).
    pub tv_gamma_start: f32,
    pub depth_ngf: Option<usize>,
    pub opacity_ngf: Option<usize>,
    /// How the decoders compute their convolutions (same values, different speed).
    pub decoder_conv: kiln_nn::ConvForm,
    /// Which implementation runs the decoders: kiln's kernels (default) or Burn.
    #[serde(default)]
    pub decoder_backend: kiln_nn::DecoderBackend,
    /// Cyclic LR (triangular2) of the decoders: base, max, and the step-up as a fraction of
    /// `iterations` (code: 1000 and 2000 of 13,000).
    pub depth_lr: [f64; 2],
    pub depth_lr_step: f32,
    pub opacity_lr: [f64; 2],
    pub opacity_lr_step: f32,
    /// Without a decoder (ablation): per-Gaussian offset and opacity parameters under Adam.
    pub direct_depth_lr: f32,
    pub direct_opacity_lr: f32,
    pub lr_sh_rest: f32,
    pub lr_scale: f32,
    pub lr_rotation: f32,
    /// Scales go back to the pixel footprint every this many steps until this fraction of
    /// training (code: every 100 until step 15000 = 8000/13000).
    pub scale_reset_interval: u32,
    pub scale_reset_until: f32,
    pub max_sh_degree: u32,
    /// Fractions of training where the SH degree goes up by one (code: 15000, 16000, 17000).
    pub sh_degree_at: Vec<f32>,
    /// Save a checkpoint every this many steps (0: only at the end).
    pub checkpoint_interval: u32,
    /// Supersampling: from this fraction of training on (code: step 12000 = 5000 of the
    /// 13,000-step stage), each step renders at k× with k uniform in 1..=`supersample_max`
    /// and box-pools image, depth and alpha back to the training grid. 1 switches it off.
    pub supersample_from: f32,
    pub supersample_max: u32,
}

impl Default for CoherentConfig {
    fn default() -> Self {
        CoherentConfig {
            iterations: 13_000,
            seed: 0,
            use_decoder: true,
            use_tv: true,
            use_flow: true,
            use_alignment: true,
            unit: 1.0,
            offset_units: 50.0,
            opacity_gain: 100.0,
            ssim_weight: 0.2,
            pyramid_weights: vec![1.0, 0.25, 0.125, 1.0 / 16.0, 1.0 / 32.0],
            tv_weight: 5.0,
            flow_weight: 0.01,
            tv_gamma_start: 0.35,
            depth_ngf: None,
            opacity_ngf: None,
            decoder_conv: kiln_nn::ConvForm::Auto,
            decoder_backend: kiln_nn::DecoderBackend::Kiln,
            depth_lr: [1e-6, 1e-4],
            depth_lr_step: 1000.0 / 13000.0,
            opacity_lr: [1e-6, 1e-5],
            opacity_lr_step: 2000.0 / 13000.0,
            direct_depth_lr: 1e-3,
            direct_opacity_lr: 1e-3,
            lr_sh_rest: 5e-5,
            lr_scale: 1e-4,
            lr_rotation: 1e-5,
            scale_reset_interval: 100,
            scale_reset_until: 8000.0 / 13000.0,
            max_sh_degree: 3,
            sh_degree_at: vec![8000.0 / 13000.0, 9000.0 / 13000.0, 10000.0 / 13000.0],
            checkpoint_interval: 1000,
            supersample_from: 5000.0 / 13000.0,
            supersample_max: 4,
        }
    }
}

impl CoherentConfig {
    /// Decoder widths by view count (code: depth {2: 10, 3: 15, 4: 18}).
    pub fn depth_ngf(&self, views: usize) -> usize {
        self.depth_ngf.unwrap_or(match views {
            0..=2 => 10,
            3 => 15,
            _ => 18,
        })
    }

    /// Opacity decoder widths by view count (code: {2: 6, 3: 10, 4: 12}).
    pub fn opacity_ngf(&self, views: usize) -> usize {
        self.opacity_ngf.unwrap_or(match views {
            0..=2 => 6,
            3 => 10,
            _ => 12,
        })
    }

    /// Initial opacity by view count (code: {2: 0.6, 3: 0.5, 4: 0.35}).
    pub fn base_opacity(views: usize) -> f32 {
        match views {
            0..=2 => 0.6,
            3 => 0.5,
            _ => 0.35,
        }
    }

    pub fn sh_degree(&self, step: u32) -> u32 {
        let t = step as f32 / self.iterations.max(1) as f32;
        (self.sh_degree_at.iter().filter(|&&f| t >= f).count() as u32).min(self.max_sh_degree)
    }

    pub fn tv_gamma(&self, step: u32) -> f32 {
        let t = step as f32 / self.iterations.max(1) as f32;
        (self.tv_gamma_start + (1.0 - self.tv_gamma_start) * t).clamp(0.0, 1.0)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.iterations == 0 {
            return Err("CoherentGS needs at least one training step".into());
        }
        if !(self.unit > 0.0 && self.unit.is_finite()) {
            return Err(format!("scene unit {} must be positive", self.unit));
        }
        if self.pyramid_weights.is_empty() {
            return Err("the L1 pyramid needs at least one level".into());
        }
        Ok(())
    }
}
