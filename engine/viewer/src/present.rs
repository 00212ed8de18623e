//! The image the viewport shows: an 8-bit RGBA texture that every scene kind draws into
//! (splats through the `view_present` kernel, meshes as a render target), that egui displays,
//! and that screenshots read back.

use crate::ViewError;
use kiln_gpu::{GpuContext, GpuTimer, Kernel};
use kiln_splat::RenderOutput;

/// Format of the viewport image; egui shows it as is (gamma-space bytes, no conversion), so
/// what the window shows is byte for byte what `kiln render` writes.
pub const TARGET_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// What the viewport shows of a render.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DisplayMode {
    #[default]
    Color,
    /// Expected depth over alpha, near bright, far dark.
    Depth,
    Alpha,
}

impl DisplayMode {
    pub const ALL: [DisplayMode; 3] = [DisplayMode::Color, DisplayMode::Depth, DisplayMode::Alpha];

    pub fn name(self) -> &'static str {
        match self {
            DisplayMode::Color => "colour",
            DisplayMode::Depth => "depth",
            DisplayMode::Alpha => "alpha",
        }
    }

    fn code(self) -> u32 {
        match self {
            DisplayMode::Color => 0,
            DisplayMode::Depth => 1,
            DisplayMode::Alpha => 2,
        }
    }
}

/// An RGBA8 image on the GPU that scene kinds draw into.
pub struct Target {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    pub width: u32,
    pub height: u32,
}

impl Target {
    pub fn new(ctx: &GpuContext, width: u32, height: u32) -> Result<Target, ViewError> {
        let max = ctx.limits.max_texture_dimension_2d;
        if width == 0 || height == 0 || width > max || height > max {
            return Err(ViewError::Render(format!("image size {width}x{height} is outside 1..={max} pixels per side")));
        }
        let texture = ctx.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("viewer target"),
            size: wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: TARGET_FORMAT,
            usage: wgpu::TextureUsages::STORAGE_BINDING
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::COPY_SRC
                | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        Ok(Target { texture, view, width, height })
    }

    /// Reads the image back as tightly packed RGBA8 rows.
    pub fn read_rgba(&self, ctx: &GpuContext) -> Result<Vec<u8>, ViewError> {
        read_texture_rgba(ctx, &self.texture, self.width, self.height)
    }
}

/// Reads a 4-byte-per-pixel texture (RGBA8 or BGRA8; bytes as stored) into packed rows.
pub fn read_texture_rgba(ctx: &GpuContext, texture: &wgpu::Texture, width: u32, height: u32) -> Result<Vec<u8>, ViewError> {
    // Rows of a texture copy must be 256-byte aligned.
    let row = width * 4;
    let padded = row.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("viewer read-back"),
        size: padded as u64 * height as u64,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut enc = ctx.encoder("viewer read-back");
    enc.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(padded), rows_per_image: Some(height) },
        },
        wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
    );
    ctx.submit(enc);
    let words: Vec<u32> = ctx.read(&buffer, (padded as usize / 4) * height as usize)?;
    let bytes: &[u8] = bytemuck::cast_slice(&words);
    Ok(bytes.chunks(padded as usize).flat_map(|r| r[..row as usize].iter().copied()).collect())
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PresentUniforms {
    width: u32,
    height: u32,
    channels: u32,
    mode: u32,
    range: [f32; 2],
    color_stride: u32,
    alpha_stride: u32,
    alpha_offset: u32,
    depth_stride: u32,
    depth_offset: u32,
    _pad: u32,
}

/// Where a render's colour, alpha and depth are in memory, per pixel `i`: colour channels from
/// `i * color_stride`, alpha at `i * alpha_stride + alpha_offset`, depth (alpha-weighted, as
/// both renderers write it) at `i * depth_stride + depth_offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub channels: u32,
    pub color_stride: u32,
    pub alpha_stride: u32,
    pub alpha_offset: u32,
    pub depth_stride: u32,
    pub depth_offset: u32,
}

impl Layout {
    /// Separate colour (`channels` per pixel), alpha and depth planes: the splat rasterizer.
    pub fn planar(channels: u32) -> Layout {
        Layout { channels, color_stride: channels, alpha_stride: 1, alpha_offset: 0, depth_stride: 1, depth_offset: 0 }
    }

    /// One buffer of 5 floats per pixel — rgb, depth, alpha: the voxel marcher's outputs.
    pub fn voxel_rays() -> Layout {
        Layout { channels: 3, color_stride: 5, alpha_stride: 5, alpha_offset: 4, depth_stride: 5, depth_offset: 3 }
    }
}

/// A render on the GPU, as the present pass reads it.
pub struct PresentInput<'a> {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub color: &'a wgpu::Buffer,
    pub alpha: &'a wgpu::Buffer,
    pub depth: &'a wgpu::Buffer,
}

impl<'a> PresentInput<'a> {
    pub fn splats(fwd: &'a kiln_splat::gpu::ForwardState) -> Self {
        PresentInput { width: fwd.camera.width, height: fwd.camera.height, layout: Layout::planar(fwd.channels), color: &fwd.color, alpha: &fwd.alpha, depth: &fwd.depth }
    }

    /// The marcher's interleaved outputs (5 floats per pixel) bound three times.
    pub fn voxel_rays(width: u32, height: u32, outputs: &'a wgpu::Buffer) -> Self {
        PresentInput { width, height, layout: Layout::voxel_rays(), color: outputs, alpha: outputs, depth: outputs }
    }
}

/// Writes a render's buffers into a [`Target`] (the `view_present` kernel).
pub struct Presenter {
    kernel: Kernel,
}

impl Presenter {
    pub fn new(ctx: &GpuContext) -> Result<Self, ViewError> {
        Ok(Presenter { kernel: Kernel::new(ctx, "view_present.wgsl", "main", &[])? })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        input: &PresentInput,
        mode: DisplayMode,
        depth_range: (f32, f32),
        target: &Target,
        timer: Option<&mut GpuTimer>,
    ) {
        let (w, h) = (input.width, input.height);
        debug_assert_eq!((w, h), (target.width, target.height));
        let l = input.layout;
        let u = PresentUniforms {
            width: w,
            height: h,
            channels: l.channels,
            mode: mode.code(),
            range: [depth_range.0, depth_range.1],
            color_stride: l.color_stride,
            alpha_stride: l.alpha_stride,
            alpha_offset: l.alpha_offset,
            depth_stride: l.depth_stride,
            depth_offset: l.depth_offset,
            _pad: 0,
        };
        let uniforms = ctx.uniform("present uniforms", &u);
        let bind = self.kernel.bind_resources(
            ctx,
            &[
                uniforms.as_entire_binding(),
                input.color.as_entire_binding(),
                input.alpha.as_entire_binding(),
                input.depth.as_entire_binding(),
                wgpu::BindingResource::TextureView(&target.view),
            ],
        );
        let mut pass = GpuContext::begin_pass(enc, "present", timer);
        self.kernel.dispatch(&mut pass, &bind, (w * h).div_ceil(256));
    }
}

/// ⌊255 v + ½⌋ of v clamped to [0, 1]: the quantization of the kernel and of `kiln render`.
pub fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5).floor() as u8
}

/// The host reference of the `view_present` kernel for a splat render.
pub fn present_reference(out: &RenderOutput, mode: DisplayMode, depth_range: (f32, f32)) -> Vec<u8> {
    present_reference_layout(out.width * out.height, Layout::planar(out.channels as u32), &out.color, &out.alpha, &out.depth, mode, depth_range)
}

/// The host reference of the `view_present` kernel: RGBA8 pixels of `pixels` pixels laid out
/// as `layout` says (the slices may be the same one, as for voxel renders).
pub fn present_reference_layout(pixels: u32, layout: Layout, color: &[f32], alpha: &[f32], depth: &[f32], mode: DisplayMode, depth_range: (f32, f32)) -> Vec<u8> {
    let l = layout;
    let mut rgba = Vec::with_capacity(pixels as usize * 4);
    for i in 0..pixels as usize {
        let rgb = match mode {
            DisplayMode::Color => {
                let c = &color[i * l.color_stride as usize..];
                let at = |k: usize| if l.channels as usize > k { c[k] } else { c[0] };
                [at(0), at(1), at(2)]
            }
            DisplayMode::Depth => {
                let a = alpha[i * l.alpha_stride as usize + l.alpha_offset as usize];
                if a >= 1e-3 {
                    let z = depth[i * l.depth_stride as usize + l.depth_offset as usize] / a;
                    let t = ((z - depth_range.0) / (depth_range.1 - depth_range.0).max(1e-12)).clamp(0.0, 1.0);
                    [1.0 - t; 3]
                } else {
                    [0.0; 3]
                }
            }
            DisplayMode::Alpha => [alpha[i * l.alpha_stride as usize + l.alpha_offset as usize]; 3],
        };
        rgba.extend([to_u8(rgb[0]), to_u8(rgb[1]), to_u8(rgb[2]), 255]);
    }
    rgba
}

/// Writes packed RGBA8 rows as a PNG.
pub fn write_png(path: &std::path::Path, width: u32, height: u32, rgba: Vec<u8>) -> Result<(), ViewError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| ViewError::Io { path: dir.to_path_buf(), message: e.to_string() })?;
    }
    let img = image::RgbaImage::from_raw(width, height, rgba)
        .ok_or_else(|| ViewError::Render(format!("{}: pixel buffer does not match {width}x{height}", path.display())))?;
    img.save(path).map_err(|e| ViewError::Io { path: path.to_path_buf(), message: format!("cannot write PNG: {e}") })
}
