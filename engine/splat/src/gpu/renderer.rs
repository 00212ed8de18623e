use super::{GpuCloud, SplatError};
use crate::{CloudGrads, ColorSource, GaussianCloud, OutputGrads, RenderOutput, RenderSettings, TILE_SIZE};
use kiln_gpu::scan::PrefixScan;
use kiln_gpu::sort::RadixSort;
use kiln_gpu::{GpuContext, GpuTimer, Kernel};
use kiln_scene::Camera;
use std::sync::Arc;

/// Channels composited per raster dispatch; more channels run in several chunks with the same
/// blending weights (keeps per-thread registers bounded).
const CHANNEL_CHUNK: u32 = 16;
/// Floats per splat in the backward accumulator (mean2d 2, conic 3, opacity, depth, pad).
const SPLAT_GRAD_FLOATS: u64 = 8;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Uniforms {
    rot0: [f32; 4],
    rot1: [f32; 4],
    rot2: [f32; 4],
    cam_pos: [f32; 4],
    intr: [f32; 4],
    clip: [f32; 4],
    img: [u32; 4],
    cfg: [u32; 4],
    chan: [u32; 4],
    range: [u32; 4],
}

/// Everything a forward render leaves on the GPU; the backward pass reads it.
pub struct ForwardState {
    pub camera: Camera,
    pub settings: RenderSettings,
    pub channels: u32,
    pub num_pairs: u32,
    pub num_tiles: u32,
    /// Per pixel: colour (channels), alpha, depth.
    pub color: wgpu::Buffer,
    pub alpha: wgpu::Buffer,
    pub depth: wgpu::Buffer,
    /// Per pixel: final transmittance and last contributor (for the backward pass).
    pub pixel_state: wgpu::Buffer,
    /// Per splat: the projected splat (mean2d, conic, opacity', depth).
    pub splats: wgpu::Buffer,
    /// Per splat: the SH colour (SH mode).
    pub colors: wgpu::Buffer,
    pub tile_counts: wgpu::Buffer,
    pub ranges: wgpu::Buffer,
    pub pair_ids: wgpu::Buffer,
    background: wgpu::Buffer,
    chunk_uniforms: Vec<(u32, u32, wgpu::Buffer)>,
}

/// What the forward's binning half leaves for its rasterizing half.
struct Binned {
    channels: u32,
    project_uniforms: wgpu::Buffer,
    splats: wgpu::Buffer,
    colors: wgpu::Buffer,
    tile_counts: wgpu::Buffer,
    depth_ids: wgpu::Buffer,
    offsets: wgpu::Buffer,
    pair_count: wgpu::Buffer,
}

/// Parameter gradients on the GPU (flat f32, the cloud's layout).
pub struct GpuGrads {
    pub means: wgpu::Buffer,
    pub log_scales: wgpu::Buffer,
    pub rotations: wgpu::Buffer,
    pub opacity_logits: wgpu::Buffer,
    pub sh: wgpu::Buffer,
    /// Feature-channel gradients (feature mode); in SH mode the colour gradient per splat.
    pub colors: wgpu::Buffer,
    pub mean2d_grad_norm: wgpu::Buffer,
    /// Per splat, 8 floats: dL/d(mean2d x, y) in pixels, dL/d(conic A, B, C), dL/d(opacity'),
    /// dL/d(depth), 0 — what the raster backward accumulated (densification reads the first two).
    pub splat_grads: wgpu::Buffer,
}

/// The tile rasterizer. Create once per context; kernels are compiled on first use.
pub struct SplatRenderer {
    ctx: Arc<GpuContext>,
    project: Kernel,
    gather: Kernel,
    emit: Kernel,
    ranges: Kernel,
    project_backward: Kernel,
    scan: PrefixScan,
    depth_sort: RadixSort,
    tile_sort: RadixSort,
    /// Upper bound on Gaussians per per-Gaussian dispatch (tests lower it to exercise the split).
    max_chunk: u32,
    /// Sum per-splat gradients over the subgroup before the atomics (see `set_subgroup_reduce`).
    subgroup_reduce: bool,
}

/// A slice of a per-Gaussian buffer: Gaussians [base, base + count) at `bytes` bytes each
/// (the whole buffer when a Gaussian has no data in it, e.g. features of an SH-only cloud).
fn gaussian_slice(buf: &wgpu::Buffer, bytes: u64, base: u32, count: u32) -> wgpu::BindingResource<'_> {
    if bytes == 0 {
        return buf.as_entire_binding();
    }
    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer: buf,
        offset: base as u64 * bytes,
        size: wgpu::BufferSize::new(count as u64 * bytes),
    })
}

fn chunks(channels: u32) -> Vec<(u32, u32)> {
    (0..channels.div_ceil(CHANNEL_CHUNK).max(1))
        .map(|k| (k * CHANNEL_CHUNK, (channels - k * CHANNEL_CHUNK).min(CHANNEL_CHUNK)))
        .filter(|(_, w)| *w > 0)
        .collect()
}

/// The cloud's parameter slices, bound in this order (bindings 1–5) by the project and
/// project-backward kernels.
fn param_slices(cloud: &GpuCloud, base: u32, count: u32) -> [wgpu::BindingResource<'_>; 5] {
    [
        gaussian_slice(&cloud.means, 12, base, count),
        gaussian_slice(&cloud.log_scales, 12, base, count),
        gaussian_slice(&cloud.rotations, 16, base, count),
        gaussian_slice(&cloud.opacity_logits, 4, base, count),
        gaussian_slice(&cloud.sh, cloud.sh_coeffs() as u64 * 12, base, count),
    ]
}

fn labelled_sort(ctx: &GpuContext, label: &str) -> Result<RadixSort, SplatError> {
    let mut sort = RadixSort::new(ctx)?;
    sort.label = label.into();
    Ok(sort)
}

fn labelled_scan(ctx: &GpuContext, label: &str) -> Result<PrefixScan, SplatError> {
    let mut scan = PrefixScan::new(ctx)?;
    scan.label = label.into();
    Ok(scan)
}

fn bits_for(max_value: u32) -> u32 {
    32 - max_value.leading_zeros()
}

impl SplatRenderer {
    pub fn new(ctx: Arc<GpuContext>) -> Result<Self, SplatError> {
        let k = |file: &str| Kernel::new(&ctx, file, "main", &[]);
        Ok(SplatRenderer {
            project: k("splat_project.wgsl")?,
            gather: k("splat_gather.wgsl")?,
            emit: k("splat_emit.wgsl")?,
            ranges: k("splat_ranges.wgsl")?,
            project_backward: k("splat_project_backward.wgsl")?,
            scan: labelled_scan(&ctx, "bin: scan")?,
            depth_sort: labelled_sort(&ctx, "depth sort")?,
            tile_sort: labelled_sort(&ctx, "tile sort")?,
            max_chunk: u32::MAX,
            // A win on GPUs (one atomic per subgroup instead of per pixel); on lavapipe the
            // emulated subgroup operations cost more than the atomics they save (1.5× slower).
            subgroup_reduce: ctx.subgroups && !ctx.is_software(),
            ctx,
        })
    }

    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    /// Whether the raster backward sums gradients over the subgroup before its atomics
    /// (default: on for hardware adapters with subgroups). Ignored without subgroup support.
    pub fn set_subgroup_reduce(&mut self, on: bool) {
        self.subgroup_reduce = on && self.ctx.subgroups;
    }

    /// Caps the Gaussians per per-Gaussian dispatch (rounded down to a multiple of 256, at
    /// least 256). Clouds whose per-Gaussian data exceed one storage binding are split
    /// automatically; this only forces smaller pieces, for tests.
    pub fn set_max_chunk(&mut self, gaussians: u32) {
        self.max_chunk = (gaussians / 256).max(1) * 256;
    }

    /// One uniform buffer per piece of a per-Gaussian dispatch: (first Gaussian, count, uniforms).
    fn pieces(&self, cloud: &GpuCloud, channels: u32, base: Uniforms, label: &str) -> Result<Vec<(u32, u32, wgpu::Buffer)>, SplatError> {
        Ok(self
            .gaussian_chunks(cloud, channels)?
            .into_iter()
            .map(|(first, count)| {
                let u = Uniforms { range: [first, count, 0, 0], ..base };
                (first, count, self.ctx.uniform(label, &u))
            })
            .collect())
    }

    /// Gaussian ranges for per-Gaussian dispatches: each piece's slices fit one storage binding
    /// and start at a multiple of 256 Gaussians (which keeps slice offsets aligned).
    fn gaussian_chunks(&self, cloud: &GpuCloud, channels: u32) -> Result<Vec<(u32, u32)>, SplatError> {
        let per_gaussian = [cloud.sh_coeffs() as u64 * 12, cloud.feature_channels as u64 * 4, channels as u64 * 4, 32]
            .into_iter()
            .max()
            .unwrap();
        let fit = self.ctx.max_binding() / per_gaussian;
        let align = self.ctx.limits.min_storage_buffer_offset_alignment.max(4) as u64;
        if fit < 256 || align > 1024 {
            return Err(SplatError::Cloud(format!("{per_gaussian} bytes per Gaussian do not fit this adapter's bindings")));
        }
        let step = ((fit / 256) * 256).min(self.max_chunk as u64) as u32;
        Ok((0..cloud.len.div_ceil(step)).map(|k| (k * step, (cloud.len - k * step).min(step))).collect())
    }

    fn uniforms(&self, cloud: &GpuCloud, cam: &Camera, s: &RenderSettings, channels: u32, first: u32, width: u32) -> Uniforms {
        let r = cam.rotation;
        let t = cam.translation;
        let c = cam.center();
        let (tx, ty) = cam.tiles(TILE_SIZE);
        let active = s.sh_degree.map_or(cloud.sh_degree, |d| d.min(cloud.sh_degree));
        Uniforms {
            rot0: [r.x_axis.x, r.y_axis.x, r.z_axis.x, t.x],
            rot1: [r.x_axis.y, r.y_axis.y, r.z_axis.y, t.y],
            rot2: [r.x_axis.z, r.y_axis.z, r.z_axis.z, t.z],
            cam_pos: [c.x, c.y, c.z, 0.0],
            intr: [cam.fx, cam.fy, cam.cx, cam.cy],
            clip: [cam.near, cam.far, s.eps2d, s.alpha_clamp],
            img: [cam.width, cam.height, tx, ty],
            cfg: [cloud.len, active, cloud.sh_coeffs(), s.antialiased as u32],
            chan: [channels, first, width, matches!(s.color_source, ColorSource::Features) as u32],
            range: [0, cloud.len, 0, 0],
        }
    }

    fn check(&self, cloud: &GpuCloud, cam: &Camera, s: &RenderSettings) -> Result<u32, SplatError> {
        cam.validate().map_err(SplatError::Camera)?;
        if !(s.alpha_clamp > 0.0 && s.alpha_clamp < 1.0) {
            return Err(SplatError::Settings(format!("alpha clamp {} is not in (0, 1)", s.alpha_clamp)));
        }
        if !(s.eps2d >= 0.0 && s.eps2d.is_finite()) {
            return Err(SplatError::Settings(format!("eps2d {} must be finite and ≥ 0", s.eps2d)));
        }
        let channels = match s.color_source {
            ColorSource::Sh => 3,
            ColorSource::Features => {
                if cloud.feature_channels == 0 {
                    return Err(SplatError::Settings("feature rendering asked of a cloud without feature channels".into()));
                }
                cloud.feature_channels
            }
        };
        let pixels = cam.width as u64 * cam.height as u64;
        self.ctx.check_binding("the output image", pixels * channels as u64 * 4)?;
        Ok(channels)
    }

    /// Renders on the GPU; the outputs stay there (see [`ForwardState`]).
    pub fn forward(
        &self,
        cloud: &GpuCloud,
        cam: &Camera,
        settings: &RenderSettings,
        mut timer: Option<&mut GpuTimer>,
    ) -> Result<ForwardState, SplatError> {
        let binned = self.forward_bin(cloud, cam, settings, timer.as_deref_mut())?;
        // The one read-back: the number of (tile, splat) pairs sizes the pair buffers.
        let num_pairs = self.ctx.read::<u32>(&binned.pair_count, 1)?[0];
        self.forward_rasterize(cloud, cam, settings, binned, num_pairs, timer)
    }

    /// Renders several clouds (each with its camera) and waits on the GPU once for all of
    /// their pair counts instead of once per render; the outputs stay on the GPU, as with
    /// [`Self::forward`]. For callers with many small renders, where the round trips, not
    /// the rasterization, take the time.
    pub fn forward_many(&self, jobs: &[(&GpuCloud, &Camera)], settings: &RenderSettings) -> Result<Vec<ForwardState>, SplatError> {
        let binned = jobs.iter().map(|(cloud, cam)| self.forward_bin(cloud, cam, settings, None)).collect::<Result<Vec<_>, _>>()?;
        let counts: Vec<Vec<u32>> = self.ctx.read_many(&binned.iter().map(|b| (&b.pair_count, 1)).collect::<Vec<_>>())?;
        jobs.iter()
            .zip(binned)
            .zip(counts)
            .map(|(((cloud, cam), b), count)| self.forward_rasterize(cloud, cam, settings, b, count[0], None))
            .collect()
    }

    /// The forward's first half: projection, depth sort, per-splat tile counts and their scan
    /// (the pair count is on the GPU when this returns; nothing waits).
    fn forward_bin(&self, cloud: &GpuCloud, cam: &Camera, settings: &RenderSettings, mut timer: Option<&mut GpuTimer>) -> Result<Binned, SplatError> {
        let ctx = &*self.ctx;
        let channels = self.check(cloud, cam, settings)?;
        let n = cloud.len;

        let project_uniforms = ctx.uniform("splat uniforms", &self.uniforms(cloud, cam, settings, channels, 0, channels));
        // Sized for at least one splat: bindings may not be smaller than one element.
        let cap = n.max(1) as u64;
        let splats = ctx.zeroed("splats", cap * 32);
        let colors = ctx.zeroed("splat colours", cap * 12);
        let tile_counts = ctx.zeroed("tile counts", n as u64 * 4);
        let depth_keys = ctx.zeroed("depth keys", n as u64 * 4);
        let depth_ids = ctx.zeroed("depth ids", n as u64 * 4);
        let sorted_counts = ctx.zeroed("sorted tile counts", n as u64 * 4);
        let offsets = ctx.zeroed("pair offsets", n as u64 * 4);
        let pair_count = ctx.zeroed("pair count", 4);
        let groups = n.div_ceil(256);

        let mut enc = ctx.encoder("splat forward: project");
        {
            let pieces = self.pieces(cloud, channels, self.uniforms(cloud, cam, settings, channels, 0, channels), "splat project uniforms")?;
            let f = cloud.feature_channels as u64 * 4;
            let mut pass = GpuContext::begin_pass(&mut enc, "project", timer.as_deref_mut());
            for (base, count, uni) in &pieces {
                let mut resources = vec![uni.as_entire_binding()];
                resources.extend(param_slices(cloud, *base, *count));
                resources.extend([
                        gaussian_slice(&splats, 32, *base, *count),
                        gaussian_slice(&colors, 12, *base, *count),
                        gaussian_slice(&tile_counts, 4, *base, *count),
                        gaussian_slice(&depth_keys, 4, *base, *count),
                        gaussian_slice(&depth_ids, 4, *base, *count),
                    gaussian_slice(&cloud.features, f, *base, *count),
                ]);
                let bind = self.project.bind_resources(ctx, &resources);
                self.project.dispatch(&mut pass, &bind, count.div_ceil(256));
            }
        }
        self.depth_sort.encode(ctx, &mut enc, &depth_keys, &depth_ids, n, 32, timer.as_deref_mut())?;
        {
            let mut pass = GpuContext::begin_pass(&mut enc, "bin", timer.as_deref_mut());
            let bind = self.gather.bind(ctx, &[&project_uniforms, &depth_ids, &tile_counts, &sorted_counts]);
            self.gather.dispatch(&mut pass, &bind, groups);
        }
        self.scan.encode(ctx, &mut enc, &sorted_counts, &offsets, n, &pair_count, timer.as_deref_mut())?;
        ctx.submit(enc);
        Ok(Binned { channels, project_uniforms, splats, colors, tile_counts, depth_ids, offsets, pair_count })
    }

    /// The forward's second half, once the pair count is known: pair emission, tile sort,
    /// tile ranges and the rasterization (submitted; nothing waits).
    fn forward_rasterize(
        &self,
        cloud: &GpuCloud,
        cam: &Camera,
        settings: &RenderSettings,
        binned: Binned,
        num_pairs: u32,
        mut timer: Option<&mut GpuTimer>,
    ) -> Result<ForwardState, SplatError> {
        let ctx = &*self.ctx;
        let Binned { channels, project_uniforms, splats, colors, tile_counts, depth_ids, offsets, pair_count } = binned;
        let n = cloud.len;
        let (tiles_x, tiles_y) = cam.tiles(TILE_SIZE);
        let num_tiles = tiles_x * tiles_y;
        let pixels = cam.width as u64 * cam.height as u64;
        let groups = n.div_ceil(256);
        ctx.check_binding("the tile pairs", num_pairs as u64 * 4)?;

        let tile_keys = ctx.zeroed("tile keys", num_pairs as u64 * 4);
        let pair_ids = ctx.zeroed("pair ids", num_pairs as u64 * 4);
        let ranges = ctx.zeroed("tile ranges", num_tiles as u64 * 8);
        let color = ctx.zeroed("image colour", pixels * channels as u64 * 4);
        let alpha = ctx.zeroed("image alpha", pixels * 4);
        let depth = ctx.zeroed("image depth", pixels * 4);
        let pixel_state = ctx.zeroed("pixel state", pixels * 8);
        let bg: Vec<f32> = (0..channels as usize).map(|c| settings.background_value(c)).collect();
        let background = ctx.upload("background", &bg);

        let mut enc = ctx.encoder("splat forward: rasterize");
        if num_pairs > 0 {
            {
                let mut pass = GpuContext::begin_pass(&mut enc, "bin", timer.as_deref_mut());
                let bind = self.emit.bind(ctx, &[&project_uniforms, &splats, &depth_ids, &offsets, &tile_counts, &tile_keys, &pair_ids]);
                self.emit.dispatch(&mut pass, &bind, groups);
            }
            self.tile_sort.encode(ctx, &mut enc, &tile_keys, &pair_ids, num_pairs, bits_for(num_tiles - 1).max(1), timer.as_deref_mut())?;
            {
                let mut pass = GpuContext::begin_pass(&mut enc, "bin", timer.as_deref_mut());
                let bind = self.ranges.bind(ctx, &[&tile_keys, &pair_count, &ranges]);
                self.ranges.dispatch(&mut pass, &bind, num_pairs.div_ceil(256));
            }
        }
        let mut chunk_uniforms = Vec::new();
        for (first, width) in chunks(channels) {
            let uni = ctx.uniform("splat chunk uniforms", &self.uniforms(cloud, cam, settings, channels, first, width));
            let raster = Kernel::new(ctx, "splat_raster.wgsl", "main", &[("CH", width.to_string())])?;
            let source = match settings.color_source {
                ColorSource::Sh => &colors,
                ColorSource::Features => &cloud.features,
            };
            let mut pass = GpuContext::begin_pass(&mut enc, "rasterize", timer.as_deref_mut());
            let bind = raster.bind(ctx, &[&uni, &splats, &ranges, &pair_ids, source, &background, &color, &alpha, &depth, &pixel_state]);
            raster.dispatch(&mut pass, &bind, num_tiles);
            drop(pass);
            chunk_uniforms.push((first, width, uni));
        }
        if let Some(t) = timer {
            t.resolve(&mut enc);
        }
        ctx.submit(enc);
        Ok(ForwardState {
            camera: *cam,
            settings: settings.clone(),
            channels,
            num_pairs,
            num_tiles,
            color,
            alpha,
            depth,
            pixel_state,
            splats,
            colors,
            tile_counts,
            ranges,
            pair_ids,
            background,
            chunk_uniforms,
        })
    }

    /// Gradients of a loss whose output gradients are on the GPU (`grad_color` per pixel and
    /// channel, `grad_alpha` and `grad_depth` per pixel).
    pub fn backward(
        &self,
        cloud: &GpuCloud,
        fwd: &ForwardState,
        grad_color: &wgpu::Buffer,
        grad_alpha: &wgpu::Buffer,
        grad_depth: &wgpu::Buffer,
        mut timer: Option<&mut GpuTimer>,
    ) -> Result<GpuGrads, SplatError> {
        let ctx = &*self.ctx;
        let n = cloud.len.max(1) as u64;
        let g_splat = ctx.zeroed("splat grads", n * SPLAT_GRAD_FLOATS * 4);
        let g_color = ctx.zeroed("colour grads", n * fwd.channels as u64 * 4);
        let grads = GpuGrads {
            means: ctx.zeroed("grad means", n * 12),
            log_scales: ctx.zeroed("grad log_scales", n * 12),
            rotations: ctx.zeroed("grad rotations", n * 16),
            opacity_logits: ctx.zeroed("grad opacity", n * 4),
            sh: ctx.zeroed("grad sh", n * cloud.sh_coeffs() as u64 * 12),
            colors: g_color,
            mean2d_grad_norm: ctx.zeroed("mean2d grad norm", n * 4),
            splat_grads: g_splat,
        };
        let source = match fwd.settings.color_source {
            ColorSource::Sh => &fwd.colors,
            ColorSource::Features => &cloud.features,
        };
        let mut enc = ctx.encoder("splat backward");
        if fwd.num_pairs > 0 {
            for (_, width, uni) in &fwd.chunk_uniforms {
                let mut defines = vec![("CH", width.to_string())];
                if self.subgroup_reduce {
                    defines.push(("SUBGROUP_REDUCE", String::new()));
                }
                let k = Kernel::new(ctx, "splat_raster_backward.wgsl", "main", &defines)?;
                let mut pass = GpuContext::begin_pass(&mut enc, "raster backward", timer.as_deref_mut());
                let bind = k.bind(
                    ctx,
                    &[uni, &fwd.splats, &fwd.ranges, &fwd.pair_ids, source, &fwd.background, grad_color, grad_alpha, grad_depth, &fwd.pixel_state, &grads.splat_grads, &grads.colors],
                );
                k.dispatch(&mut pass, &bind, fwd.num_tiles);
            }
        }
        {
            let base_uniforms = self.uniforms(cloud, &fwd.camera, &fwd.settings, fwd.channels, 0, fwd.channels);
            let pieces = self.pieces(cloud, fwd.channels, base_uniforms, "splat project backward uniforms")?;
            let k = cloud.sh_coeffs() as u64 * 12;
            let c = fwd.channels as u64 * 4;
            let mut pass = GpuContext::begin_pass(&mut enc, "project backward", timer.as_deref_mut());
            for (base, count, uni) in &pieces {
                let mut resources = vec![uni.as_entire_binding()];
                resources.extend(param_slices(cloud, *base, *count));
                resources.extend([
                        gaussian_slice(&grads.splat_grads, SPLAT_GRAD_FLOATS * 4, *base, *count),
                        gaussian_slice(&grads.colors, c, *base, *count),
                        gaussian_slice(&grads.means, 12, *base, *count),
                        gaussian_slice(&grads.log_scales, 12, *base, *count),
                        gaussian_slice(&grads.rotations, 16, *base, *count),
                        gaussian_slice(&grads.opacity_logits, 4, *base, *count),
                        gaussian_slice(&grads.sh, k, *base, *count),
                        gaussian_slice(&grads.mean2d_grad_norm, 4, *base, *count),
                    gaussian_slice(&fwd.tile_counts, 4, *base, *count),
                ]);
                let bind = self.project_backward.bind_resources(ctx, &resources);
                self.project_backward.dispatch(&mut pass, &bind, count.div_ceil(256));
            }
        }
        if let Some(t) = timer {
            t.resolve(&mut enc);
        }
        ctx.submit(enc);
        Ok(grads)
    }

    /// Reads a forward render's outputs back to the host (one wait).
    pub fn read_output(&self, fwd: &ForwardState) -> Result<RenderOutput, SplatError> {
        self.read_outputs(std::slice::from_ref(fwd))?.pop().ok_or_else(|| SplatError::Gpu(kiln_gpu::GpuError::Runtime("no render was read back".into())))
    }

    /// Reads several renders' outputs back with one wait on the GPU.
    pub fn read_outputs(&self, states: &[ForwardState]) -> Result<Vec<RenderOutput>, SplatError> {
        let mut regions = Vec::with_capacity(3 * states.len());
        for f in states {
            let pixels = (f.camera.width * f.camera.height) as usize;
            regions.extend([(&f.color, pixels * f.channels as usize), (&f.alpha, pixels), (&f.depth, pixels)]);
        }
        let mut data = self.ctx.read_many::<f32>(&regions)?.into_iter();
        Ok(states
            .iter()
            .map(|f| RenderOutput {
                width: f.camera.width,
                height: f.camera.height,
                channels: f.channels as usize,
                color: data.next().unwrap_or_default(),
                alpha: data.next().unwrap_or_default(),
                depth: data.next().unwrap_or_default(),
            })
            .collect())
    }

    /// Host convenience: upload, render, read back.
    pub fn render(&self, cloud: &GaussianCloud, cam: &Camera, settings: &RenderSettings) -> Result<RenderOutput, SplatError> {
        let gpu = GpuCloud::upload(&self.ctx, cloud)?;
        let fwd = self.forward(&gpu, cam, settings, None)?;
        self.read_output(&fwd)
    }

    /// Host convenience: render, then back-propagate `grads` (empty vectors mean zero).
    pub fn render_backward(
        &self,
        cloud: &GaussianCloud,
        cam: &Camera,
        settings: &RenderSettings,
        grads: &OutputGrads,
    ) -> Result<(RenderOutput, CloudGrads), SplatError> {
        let ctx = &*self.ctx;
        let gpu = GpuCloud::upload(ctx, cloud)?;
        let fwd = self.forward(&gpu, cam, settings, None)?;
        let pixels = (cam.width * cam.height) as usize;
        let upload = |name: &str, v: &Vec<f32>, len: usize| -> Result<wgpu::Buffer, SplatError> {
            if v.is_empty() {
                Ok(ctx.zeroed(name, len as u64 * 4))
            } else if v.len() != len {
                Err(SplatError::Settings(format!("{name} has {} values, expected {len}", v.len())))
            } else {
                Ok(ctx.upload(name, v))
            }
        };
        let gc = upload("grad colour", &grads.color, pixels * fwd.channels as usize)?;
        let ga = upload("grad alpha", &grads.alpha, pixels)?;
        let gd = upload("grad depth", &grads.depth, pixels)?;
        let g = self.backward(&gpu, &fwd, &gc, &ga, &gd, None)?;
        let out = self.read_output(&fwd)?;
        let n = cloud.len();
        let means: Vec<f32> = ctx.read(&g.means, n * 3)?;
        let log_scales: Vec<f32> = ctx.read(&g.log_scales, n * 3)?;
        let rotations: Vec<f32> = ctx.read(&g.rotations, n * 4)?;
        let features = match settings.color_source {
            ColorSource::Features => ctx.read(&g.colors, n * cloud.feature_channels)?,
            ColorSource::Sh => vec![0.0; n * cloud.feature_channels],
        };
        Ok((
            out,
            CloudGrads {
                means: bytemuck::cast_slice(&means).to_vec(),
                log_scales: bytemuck::cast_slice(&log_scales).to_vec(),
                rotations: bytemuck::cast_slice(&rotations).to_vec(),
                opacity_logits: ctx.read(&g.opacity_logits, n)?,
                sh: ctx.read(&g.sh, cloud.sh.len())?,
                features,
                mean2d_grad_norm: ctx.read(&g.mean2d_grad_norm, n)?,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_chunks_cover_every_channel_once() {
        assert_eq!(chunks(3), vec![(0, 3)]);
        assert_eq!(chunks(16), vec![(0, 16)]);
        assert_eq!(chunks(40), vec![(0, 16), (16, 16), (32, 8)]);
        assert_eq!(bits_for(8159), 13);
        assert_eq!(bits_for(0), 0);
    }
}
