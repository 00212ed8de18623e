use super::SplatError;
use crate::GaussianCloud;
use kiln_gpu::GpuContext;

/// A Gaussian cloud on the GPU, structure of arrays (flat f32 arrays, same layout as
/// [`GaussianCloud`]).
pub struct GpuCloud {
    pub len: u32,
    pub sh_degree: u32,
    pub feature_channels: u32,
    pub means: wgpu::Buffer,
    pub log_scales: wgpu::Buffer,
    pub rotations: wgpu::Buffer,
    pub opacity_logits: wgpu::Buffer,
    pub sh: wgpu::Buffer,
    pub features: wgpu::Buffer,
}

impl GpuCloud {
    pub fn upload(ctx: &GpuContext, cloud: &GaussianCloud) -> Result<Self, SplatError> {
        cloud.validate().map_err(SplatError::Cloud)?;
        let n = u32::try_from(cloud.len()).map_err(|_| SplatError::Cloud("more than 2³² Gaussians".into()))?;
        // Per-Gaussian kernels bind slices of these buffers, so only the buffer size limit
        // applies here (not the binding limit).
        for (what, bytes) in [
            ("SH coefficients", cloud.sh.len() as u64 * 4),
            ("feature channels", cloud.features.len() as u64 * 4),
            ("means", cloud.len() as u64 * 12),
        ] {
            let limit = ctx.limits.max_buffer_size;
            if bytes > limit {
                return Err(kiln_gpu::GpuError::TooLarge { what: what.into(), needed: bytes, limit }.into());
            }
        }
        Ok(GpuCloud {
            len: n,
            sh_degree: cloud.sh_degree,
            feature_channels: cloud.feature_channels as u32,
            means: ctx.upload("means", bytemuck::cast_slice::<_, f32>(&cloud.means)),
            log_scales: ctx.upload("log_scales", bytemuck::cast_slice::<_, f32>(&cloud.log_scales)),
            rotations: ctx.upload("rotations", bytemuck::cast_slice::<_, f32>(&cloud.rotations)),
            opacity_logits: ctx.upload("opacity_logits", &cloud.opacity_logits),
            sh: ctx.upload("sh", &cloud.sh),
            features: ctx.upload("features", &cloud.features),
        })
    }

    pub fn sh_coeffs(&self) -> u32 {
        (self.sh_degree + 1) * (self.sh_degree + 1)
    }
}
