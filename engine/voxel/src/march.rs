//! GPU ray marching, forward and backward (`voxel_march.wgsl`, `voxel_march_backward.wgsl`),
//! and the occupancy mask for empty-space skipping (`voxel_occupancy.wgsl`). The grid lives on
//! the GPU as [`GpuGrid`]; rays are 6 floats each (origin, unit direction), outputs 5 floats
//! per ray (rgb, depth, alpha). The math and its CPU reference: [`crate::reference`].

use crate::error::{Result, VoxelError};
use crate::grid::VoxelGrid;
use crate::reference::{MarchSettings, OUT};
use glam::Vec3;
use kiln_gpu::{GpuContext, GpuTimer, Kernel};
use kiln_scene::Camera;
use std::sync::Arc;

const WG: u32 = 64;
/// Rays per dispatch when rendering whole images (bounds the output buffer).
const CHUNK: usize = 1 << 18;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MarchParams {
    dims: [u32; 4],
    bbox_min: [f32; 4],
    bbox_max: [f32; 4],
    background: [f32; 4],
    misc: [u32; 4],
    misc2: [u32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct OccParams {
    dims: [u32; 4],
    values: [f32; 4],
}

/// A voxel grid on the GPU: density (1 float per point), features (3), occupancy (1 u32 per
/// cell, by its first point) and whether marching skips empty cells.
pub struct GpuGrid {
    pub dims: [u32; 3],
    pub bbox_min: Vec3,
    pub bbox_max: Vec3,
    pub density_scale: f32,
    pub density: wgpu::Buffer,
    pub features: wgpu::Buffer,
    pub occupancy: wgpu::Buffer,
    /// Skip cells the occupancy mask marks empty (set by [`Marcher::update_occupancy`]).
    pub skip_empty: bool,
}

impl GpuGrid {
    pub fn upload(ctx: &GpuContext, grid: &VoxelGrid) -> Result<GpuGrid> {
        grid.validate()?;
        ctx.check_binding("voxel features", grid.features.len() as u64 * 4)?;
        Ok(GpuGrid {
            dims: grid.dims,
            bbox_min: grid.bbox_min,
            bbox_max: grid.bbox_max,
            density_scale: grid.density_scale,
            density: ctx.upload("voxel density", &grid.density),
            features: ctx.upload("voxel features", &grid.features),
            occupancy: ctx.zeroed("voxel occupancy", grid.len() as u64 * 4),
            skip_empty: false,
        })
    }

    pub fn len(&self) -> usize {
        self.dims.iter().map(|&d| d as usize).product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the grid back (waits for the GPU).
    pub fn download(&self, ctx: &GpuContext) -> Result<VoxelGrid> {
        let n = self.len();
        Ok(VoxelGrid {
            dims: self.dims,
            bbox_min: self.bbox_min,
            bbox_max: self.bbox_max,
            density_scale: self.density_scale,
            density: ctx.read(&self.density, n)?,
            features: ctx.read(&self.features, 3 * n)?,
        })
    }

    /// The occupancy mask (waits for the GPU).
    pub fn read_occupancy(&self, ctx: &GpuContext) -> Result<Vec<u32>> {
        Ok(ctx.read(&self.occupancy, self.len())?)
    }

    /// Replaces the values (same layout) by a host grid's.
    pub fn write(&self, ctx: &GpuContext, grid: &VoxelGrid) -> Result<()> {
        if grid.dims != self.dims {
            return Err(VoxelError::Grid(format!("writing a {:?} grid into a {:?} one", grid.dims, self.dims)));
        }
        ctx.queue.write_buffer(&self.density, 0, bytemuck::cast_slice(&grid.density));
        ctx.queue.write_buffer(&self.features, 0, bytemuck::cast_slice(&grid.features));
        Ok(())
    }
}

/// Image outputs of a render: rgb (3 per pixel), depth, alpha, row-major.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<f32>,
    pub depth: Vec<f32>,
    pub alpha: Vec<f32>,
}

impl Rendered {
    pub fn from_outputs(width: u32, height: u32, out: &[f32]) -> Rendered {
        let n = (width * height) as usize;
        let mut r = Rendered { width, height, rgb: Vec::with_capacity(3 * n), depth: Vec::with_capacity(n), alpha: Vec::with_capacity(n) };
        for o in out.chunks(OUT) {
            r.rgb.extend_from_slice(&o[..3]);
            r.depth.push(o[3]);
            r.alpha.push(o[4]);
        }
        r
    }
}

/// The ray-marching kernels of one GPU context.
pub struct Marcher {
    pub ctx: Arc<GpuContext>,
    forward: Kernel,
    backward: Kernel,
    occupancy: Kernel,
}

impl Marcher {
    pub fn new(ctx: Arc<GpuContext>) -> Result<Marcher> {
        let defines = [("WG", WG.to_string())];
        Ok(Marcher {
            forward: Kernel::new(&ctx, "voxel_march.wgsl", "main", &defines)?,
            backward: Kernel::new(&ctx, "voxel_march_backward.wgsl", "main", &defines)?,
            occupancy: Kernel::new(&ctx, "voxel_occupancy.wgsl", "main", &defines)?,
            ctx,
        })
    }

    fn params(grid: &GpuGrid, s: &MarchSettings, rays: u32, first_ray: u32) -> MarchParams {
        MarchParams {
            dims: [grid.dims[0], grid.dims[1], grid.dims[2], rays],
            bbox_min: [grid.bbox_min.x, grid.bbox_min.y, grid.bbox_min.z, grid.density_scale],
            bbox_max: [grid.bbox_max.x, grid.bbox_max.y, grid.bbox_max.z, s.step],
            background: [s.background[0], s.background[1], s.background[2], s.stop_transmittance],
            misc: [s.jitter_seed.unwrap_or(0), s.jitter_seed.is_some() as u32, s.max_samples, grid.skip_empty as u32],
            misc2: [first_ray, 0, 0, 0],
        }
    }

    fn check(s: &MarchSettings) -> Result<()> {
        if !(s.step.is_finite() && s.step > 0.0) || s.max_samples == 0 {
            return Err(VoxelError::Invalid(format!("march step {} / max samples {}: must be positive", s.step, s.max_samples)));
        }
        Ok(())
    }

    /// Records the forward pass of `count` rays (`rays`: 6 floats each) into `out` (5 each).
    #[allow(clippy::too_many_arguments)]
    pub fn encode_forward(&self, encoder: &mut wgpu::CommandEncoder, grid: &GpuGrid, s: &MarchSettings, rays: &wgpu::Buffer, count: u32, first_ray: u32, out: &wgpu::Buffer, timer: Option<&mut GpuTimer>) -> Result<()> {
        Self::check(s)?;
        let uniform = self.ctx.uniform("voxel march params", &Self::params(grid, s, count, first_ray));
        let bind = self.forward.bind(&self.ctx, &[&uniform, rays, &grid.density, &grid.features, &grid.occupancy, out]);
        let mut pass = GpuContext::begin_pass(encoder, "march forward", timer);
        self.forward.dispatch(&mut pass, &bind, count.div_ceil(WG));
        Ok(())
    }

    /// Records the backward pass: adds dL/d(density, features) into the gradient buffers
    /// (not cleared here) given the forward outputs and their gradients (5 floats per ray).
    #[allow(clippy::too_many_arguments)]
    pub fn encode_backward(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        grid: &GpuGrid,
        s: &MarchSettings,
        rays: &wgpu::Buffer,
        count: u32,
        first_ray: u32,
        out: &wgpu::Buffer,
        d_out: &wgpu::Buffer,
        g_density: &wgpu::Buffer,
        g_features: &wgpu::Buffer,
        timer: Option<&mut GpuTimer>,
    ) -> Result<()> {
        Self::check(s)?;
        let uniform = self.ctx.uniform("voxel march params", &Self::params(grid, s, count, first_ray));
        let bind = self.backward.bind(&self.ctx, &[&uniform, rays, &grid.density, &grid.features, &grid.occupancy, out, d_out, g_density, g_features]);
        let mut pass = GpuContext::begin_pass(encoder, "march backward", timer);
        self.backward.dispatch(&mut pass, &bind, count.div_ceil(WG));
        Ok(())
    }

    /// Records a recomputation of the occupancy mask (cells whose largest corner σ reaches
    /// `threshold`) and turns empty-space skipping on.
    pub fn update_occupancy(&self, encoder: &mut wgpu::CommandEncoder, grid: &mut GpuGrid, threshold: f32, timer: Option<&mut GpuTimer>) {
        let p = OccParams { dims: [grid.dims[0], grid.dims[1], grid.dims[2], 0], values: [grid.density_scale, threshold, 0.0, 0.0] };
        let uniform = self.ctx.uniform("voxel occupancy params", &p);
        let bind = self.occupancy.bind(&self.ctx, &[&uniform, &grid.density, &grid.occupancy]);
        let mut pass = GpuContext::begin_pass(encoder, "occupancy", timer);
        self.occupancy.dispatch(&mut pass, &bind, (grid.len() as u32).div_ceil(WG));
        grid.skip_empty = true;
    }

    /// Renders host rays (6 floats each) and reads the outputs back (5 floats each), in chunks.
    pub fn render_rays(&self, grid: &GpuGrid, s: &MarchSettings, rays: &[f32]) -> Result<Vec<f32>> {
        let total = rays.len() / 6;
        let mut out = Vec::with_capacity(total * OUT);
        for (c, chunk) in rays.chunks(CHUNK * 6).enumerate() {
            let n = chunk.len() / 6;
            let rays_buf = self.ctx.upload("voxel rays", chunk);
            let out_buf = self.ctx.zeroed("voxel outputs", (n * OUT * 4) as u64);
            let mut enc = self.ctx.encoder("voxel render");
            self.encode_forward(&mut enc, grid, s, &rays_buf, n as u32, (c * CHUNK) as u32, &out_buf, None)?;
            self.ctx.submit(enc);
            out.extend(self.ctx.read::<f32>(&out_buf, n * OUT)?);
        }
        Ok(out)
    }

    /// Gradients (density, features) for host rays and dL/d(outputs) (5 floats per ray).
    pub fn backward_rays(&self, grid: &GpuGrid, s: &MarchSettings, rays: &[f32], d_out: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
        let n = grid.len();
        let g_density = self.ctx.zeroed("voxel grad density", n as u64 * 4);
        let g_features = self.ctx.zeroed("voxel grad features", 3 * n as u64 * 4);
        self.accumulate_backward(grid, s, rays, d_out, &g_density, &g_features)?;
        Ok((self.ctx.read(&g_density, n)?, self.ctx.read(&g_features, 3 * n)?))
    }

    /// Adds the gradients of host rays into GPU gradient buffers (forward recomputed per chunk).
    pub fn accumulate_backward(&self, grid: &GpuGrid, s: &MarchSettings, rays: &[f32], d_out: &[f32], g_density: &wgpu::Buffer, g_features: &wgpu::Buffer) -> Result<()> {
        if d_out.len() * 6 != rays.len() * OUT {
            return Err(VoxelError::Invalid(format!("{} output gradients for {} rays", d_out.len() / OUT, rays.len() / 6)));
        }
        for (c, (chunk, dchunk)) in rays.chunks(CHUNK * 6).zip(d_out.chunks(CHUNK * OUT)).enumerate() {
            let n = chunk.len() / 6;
            let rays_buf = self.ctx.upload("voxel rays", chunk);
            let d_buf = self.ctx.upload("voxel output grads", dchunk);
            let out_buf = self.ctx.zeroed("voxel outputs", (n * OUT * 4) as u64);
            let mut enc = self.ctx.encoder("voxel backward");
            let first = (c * CHUNK) as u32;
            self.encode_forward(&mut enc, grid, s, &rays_buf, n as u32, first, &out_buf, None)?;
            self.encode_backward(&mut enc, grid, s, &rays_buf, n as u32, first, &out_buf, &d_buf, g_density, g_features, None)?;
            self.ctx.submit(enc);
        }
        Ok(())
    }

    /// Renders a camera's image.
    pub fn render(&self, grid: &GpuGrid, s: &MarchSettings, camera: &Camera) -> Result<Rendered> {
        let out = self.render_rays(grid, s, &crate::rays::camera_rays(camera))?;
        Ok(Rendered::from_outputs(camera.width, camera.height, &out))
    }
}
