//! CPU reference of the differentiable splat rasterizer: exactly the math of
//! `docs/RASTERIZER.md`, forward and backward, computed in f64.
//!
//! The public f32 entry points ([`render`], [`backward`]) convert to the f64 core
//! ([`render64`], [`backward64`]); tests that need accurate finite differences use the core
//! directly through [`Params64`]. Speed is secondary: it is the oracle the GPU kernels are
//! tested against, so every step is written the way the contract states it. Tiles are processed
//! in parallel with rayon, and every sum is reduced in a fixed order, so results do not depend
//! on the thread count.

pub mod project;
pub mod raster;
pub mod sh;

use glam::{DMat3, DVec3, Vec3};
use kiln_scene::camera::Camera;
use rayon::prelude::*;

pub use project::{
    min_sigma_over_rect, search_pixels, tile_rect, tile_tau, tile_touches, ProjectedSplat, MIN_ALPHA, TAU_INFLATE_ABS,
    TAU_INFLATE_REL,
};
pub use raster::T_STOP;

use crate::{sh_coeffs, CloudGrads, ColorSource, GaussianCloud, OutputGrads, RenderOutput, RenderSettings, TILE_SIZE};

/// One group of parameters, for code that walks all of them (finite differences, comparisons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamGroup {
    Means,
    LogScales,
    Rotations,
    OpacityLogits,
    Sh,
    Features,
}

impl ParamGroup {
    pub const ALL: [ParamGroup; 6] = [
        ParamGroup::Means,
        ParamGroup::LogScales,
        ParamGroup::Rotations,
        ParamGroup::OpacityLogits,
        ParamGroup::Sh,
        ParamGroup::Features,
    ];
}

/// A Gaussian cloud in f64, same layout as [`GaussianCloud`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params64 {
    pub means: Vec<[f64; 3]>,
    pub log_scales: Vec<[f64; 3]>,
    pub rotations: Vec<[f64; 4]>,
    pub opacity_logits: Vec<f64>,
    pub sh_degree: u32,
    pub sh: Vec<f64>,
    pub feature_channels: usize,
    pub features: Vec<f64>,
}

impl Params64 {
    /// Panics if the cloud's arrays are inconsistent ([`GaussianCloud::validate`]).
    pub fn from_cloud(cloud: &GaussianCloud) -> Self {
        if let Err(e) = cloud.validate() {
            panic!("invalid cloud: {e}");
        }
        let v3 = |v: &Vec3| [v.x as f64, v.y as f64, v.z as f64];
        Params64 {
            means: cloud.means.iter().map(v3).collect(),
            log_scales: cloud.log_scales.iter().map(v3).collect(),
            rotations: cloud.rotations.iter().map(|q| q.map(f64::from)).collect(),
            opacity_logits: cloud.opacity_logits.iter().map(|&v| v as f64).collect(),
            sh_degree: cloud.sh_degree,
            sh: cloud.sh.iter().map(|&v| v as f64).collect(),
            feature_channels: cloud.feature_channels,
            features: cloud.features.iter().map(|&v| v as f64).collect(),
        }
    }

    /// Rounds to f32.
    pub fn to_cloud(&self) -> GaussianCloud {
        let v3 = |v: &[f64; 3]| Vec3::new(v[0] as f32, v[1] as f32, v[2] as f32);
        GaussianCloud {
            means: self.means.iter().map(v3).collect(),
            log_scales: self.log_scales.iter().map(v3).collect(),
            rotations: self.rotations.iter().map(|q| q.map(|v| v as f32)).collect(),
            opacity_logits: self.opacity_logits.iter().map(|&v| v as f32).collect(),
            sh_degree: self.sh_degree,
            sh: self.sh.iter().map(|&v| v as f32).collect(),
            feature_channels: self.feature_channels,
            features: self.features.iter().map(|&v| v as f32).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.means.len()
    }

    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }

    /// The values of one group, flattened (Gaussian-major, as in [`GaussianCloud`]).
    pub fn group(&self, g: ParamGroup) -> &[f64] {
        match g {
            ParamGroup::Means => self.means.as_flattened(),
            ParamGroup::LogScales => self.log_scales.as_flattened(),
            ParamGroup::Rotations => self.rotations.as_flattened(),
            ParamGroup::OpacityLogits => &self.opacity_logits,
            ParamGroup::Sh => &self.sh,
            ParamGroup::Features => &self.features,
        }
    }

    pub fn group_mut(&mut self, g: ParamGroup) -> &mut [f64] {
        match g {
            ParamGroup::Means => self.means.as_flattened_mut(),
            ParamGroup::LogScales => self.log_scales.as_flattened_mut(),
            ParamGroup::Rotations => self.rotations.as_flattened_mut(),
            ParamGroup::OpacityLogits => &mut self.opacity_logits,
            ParamGroup::Sh => &mut self.sh,
            ParamGroup::Features => &mut self.features,
        }
    }

    /// Values per Gaussian in a group.
    pub fn per_splat(&self, g: ParamGroup) -> usize {
        match g {
            ParamGroup::Means | ParamGroup::LogScales => 3,
            ParamGroup::Rotations => 4,
            ParamGroup::OpacityLogits => 1,
            ParamGroup::Sh => sh_coeffs(self.sh_degree) * 3,
            ParamGroup::Features => self.feature_channels,
        }
    }
}

/// A [`Camera`] in f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera64 {
    pub width: u32,
    pub height: u32,
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
    /// World-to-camera rotation.
    pub rotation: DMat3,
    /// World-to-camera translation.
    pub translation: DVec3,
    pub near: f64,
    pub far: f64,
}

impl From<&Camera> for Camera64 {
    fn from(c: &Camera) -> Self {
        Camera64 {
            width: c.width,
            height: c.height,
            fx: c.fx as f64,
            fy: c.fy as f64,
            cx: c.cx as f64,
            cy: c.cy as f64,
            rotation: c.rotation.as_dmat3(),
            translation: c.translation.as_dvec3(),
            near: c.near as f64,
            far: c.far as f64,
        }
    }
}

impl Camera64 {
    /// Camera centre in world coordinates, −Rᵀt (the origin of SH view directions).
    pub fn center(&self) -> DVec3 {
        -(self.rotation.transpose() * self.translation)
    }

    /// Tiles across and down.
    pub fn tiles(&self) -> (u32, u32) {
        (self.width.div_ceil(TILE_SIZE), self.height.div_ceil(TILE_SIZE))
    }
}

/// [`RenderSettings`] resolved against a cloud, in f64.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings64 {
    pub alpha_clamp: f64,
    pub antialiased: bool,
    pub eps2d: f64,
    /// One value per channel (missing ones of the settings are zero).
    pub background: Vec<f64>,
    /// Active SH degree (already clamped to the cloud's).
    pub sh_degree: u32,
    pub color_source: ColorSource,
    pub channels: usize,
}

impl Settings64 {
    pub fn new(s: &RenderSettings, params: &Params64) -> Self {
        let channels = match s.color_source {
            ColorSource::Sh => 3,
            ColorSource::Features => params.feature_channels,
        };
        Settings64 {
            alpha_clamp: s.alpha_clamp as f64,
            antialiased: s.antialiased,
            eps2d: s.eps2d as f64,
            background: (0..channels).map(|c| s.background_value(c) as f64).collect(),
            sh_degree: s.sh_degree.map_or(params.sh_degree, |d| d.min(params.sh_degree)),
            color_source: s.color_source,
            channels,
        }
    }
}

/// [`RenderOutput`] in f64, plus a fingerprint of the render's discrete decisions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output64 {
    pub width: u32,
    pub height: u32,
    pub channels: usize,
    pub color: Vec<f64>,
    pub alpha: Vec<f64>,
    pub depth: Vec<f64>,
    /// Hash of every discrete decision: which Gaussians were culled, Jacobian and SH clamps,
    /// and per pixel which Gaussians blended, which were α-clamped and whether T stopped it.
    /// Two renders with equal `structure` lie on the same smooth piece of the render function
    /// (barring hash collisions), which is what finite differences need.
    pub structure: u64,
}

/// [`OutputGrads`] in f64; empty vectors mean zero.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutputGrads64 {
    pub color: Vec<f64>,
    pub alpha: Vec<f64>,
    pub depth: Vec<f64>,
}

impl From<&OutputGrads> for OutputGrads64 {
    fn from(g: &OutputGrads) -> Self {
        let f = |v: &Vec<f32>| v.iter().map(|&x| x as f64).collect();
        OutputGrads64 { color: f(&g.color), alpha: f(&g.alpha), depth: f(&g.depth) }
    }
}

/// [`CloudGrads`] in f64, same layout as [`Params64`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grads64 {
    pub means: Vec<[f64; 3]>,
    pub log_scales: Vec<[f64; 3]>,
    pub rotations: Vec<[f64; 4]>,
    pub opacity_logits: Vec<f64>,
    pub sh: Vec<f64>,
    pub features: Vec<f64>,
    /// ‖dL/d mean2d‖ per Gaussian, in pixels.
    pub mean2d_grad_norm: Vec<f64>,
}

impl Grads64 {
    pub fn group(&self, g: ParamGroup) -> &[f64] {
        match g {
            ParamGroup::Means => self.means.as_flattened(),
            ParamGroup::LogScales => self.log_scales.as_flattened(),
            ParamGroup::Rotations => self.rotations.as_flattened(),
            ParamGroup::OpacityLogits => &self.opacity_logits,
            ParamGroup::Sh => &self.sh,
            ParamGroup::Features => &self.features,
        }
    }

    pub fn to_f32(&self) -> CloudGrads {
        let v3 = |v: &[f64; 3]| Vec3::new(v[0] as f32, v[1] as f32, v[2] as f32);
        let f = |v: &Vec<f64>| v.iter().map(|&x| x as f32).collect();
        CloudGrads {
            means: self.means.iter().map(v3).collect(),
            log_scales: self.log_scales.iter().map(v3).collect(),
            rotations: self.rotations.iter().map(|q| q.map(|v| v as f32)).collect(),
            opacity_logits: f(&self.opacity_logits),
            sh: f(&self.sh),
            features: f(&self.features),
            mean2d_grad_norm: f(&self.mean2d_grad_norm),
        }
    }
}

fn check_camera(cam: &Camera64) {
    assert!(cam.width > 0 && cam.height > 0, "empty image {}x{}", cam.width, cam.height);
}

/// Projects every Gaussian (contract steps 1–12), for comparison with the GPU's projection.
pub fn project64(params: &Params64, camera: &Camera64, settings: &Settings64) -> Vec<ProjectedSplat> {
    project::project_all(params, camera, settings).into_iter().map(|p| p.splat).collect()
}

/// [`project64`] from the f32 types.
pub fn project_cloud(cloud: &GaussianCloud, camera: &Camera, settings: &RenderSettings) -> Vec<ProjectedSplat> {
    let params = Params64::from_cloud(cloud);
    project64(&params, &Camera64::from(camera), &Settings64::new(settings, &params))
}

/// Indices of the visible Gaussians in blending order, by (depth, index).
pub fn blend_order(splats: &[ProjectedSplat]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..splats.len() as u32).filter(|&i| splats[i as usize].visible).collect();
    order.sort_by(|&a, &b| splats[a as usize].depth.total_cmp(&splats[b as usize].depth).then(a.cmp(&b)));
    order
}

/// One Gaussian blended into a pixel (see [`trace_image`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Blend {
    pub gaussian: u32,
    pub alpha: f64,
    /// Transmittance in front of it, T_i.
    pub transmittance: f64,
    /// o'e^(−σ) was above the alpha clamp.
    pub clamped: bool,
}

/// Everything that happened at one pixel, front to back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PixelTrace {
    pub blends: Vec<Blend>,
    pub final_transmittance: f64,
    /// The T ≤ 1e-4 rule ended the walk (some Gaussian touching the tile was not blended).
    pub stopped: bool,
}

/// Per pixel (row-major), the Gaussians blended and why the walk ended. For debugging GPU
/// mismatches and for tests that must know which branches a scene exercises.
pub fn trace_image(params: &Params64, camera: &Camera64, settings: &Settings64) -> Vec<PixelTrace> {
    check_camera(camera);
    let projs = project::project_all(params, camera, settings);
    let lists = raster::bin(&projs, camera);
    let (tw, _) = camera.tiles();
    (0..camera.width * camera.height)
        .into_par_iter()
        .map(|p| {
            let (x, y) = (p % camera.width, p / camera.width);
            let list = &lists[((y / TILE_SIZE) * tw + x / TILE_SIZE) as usize];
            let mut contribs = Vec::new();
            let (t, stopped) = raster::walk_pixel(x, y, list, &projs, settings, &mut contribs);
            PixelTrace {
                blends: contribs
                    .iter()
                    .map(|c| Blend {
                        gaussian: list[c.pos as usize],
                        alpha: c.alpha,
                        transmittance: c.t,
                        clamped: c.clamped,
                    })
                    .collect(),
                final_transmittance: t,
                stopped,
            }
        })
        .collect()
}

/// Forward render in f64.
pub fn render64(params: &Params64, camera: &Camera64, settings: &Settings64) -> Output64 {
    check_camera(camera);
    let projs = project::project_all(params, camera, settings);
    let lists = raster::bin(&projs, camera);
    let img = raster::forward(&projs, &lists, camera, settings);
    // Per-Gaussian decisions that the pixels do not see directly.
    let mut structure = img.structure;
    for p in &projs {
        let flags = match &p.cache {
            None => 1,
            Some(c) => {
                2 | (c.u_clamped as u64) << 2
                    | (c.v_clamped as u64) << 3
                    | (c.color_pass[0] as u64) << 4
                    | (c.color_pass[1] as u64) << 5
                    | (c.color_pass[2] as u64) << 6
            }
        };
        structure = raster::mix(structure, flags);
    }
    Output64 {
        width: camera.width,
        height: camera.height,
        channels: settings.channels,
        color: img.color,
        alpha: img.alpha,
        depth: img.depth,
        structure,
    }
}

/// Gradients of L w.r.t. the parameters, given dL/d(outputs); recomputes the forward.
pub fn backward64(params: &Params64, camera: &Camera64, settings: &Settings64, grads: &OutputGrads64) -> Grads64 {
    check_camera(camera);
    let npix = (camera.width * camera.height) as usize;
    let ch = settings.channels;
    for (name, len, want) in [
        ("color", grads.color.len(), npix * ch),
        ("alpha", grads.alpha.len(), npix),
        ("depth", grads.depth.len(), npix),
    ] {
        assert!(len == 0 || len == want, "output gradient `{name}` has {len} values, expected {want} (or none)");
    }
    let projs = project::project_all(params, camera, settings);
    let lists = raster::bin(&projs, camera);
    let (rg, stride) = raster::backward(&projs, &lists, camera, settings, grads);

    let per_sh = params.per_splat(ParamGroup::Sh);
    let per_f = params.feature_channels;
    let n = params.len();
    let mut out = Grads64 {
        means: vec![[0.0; 3]; n],
        log_scales: vec![[0.0; 3]; n],
        rotations: vec![[0.0; 4]; n],
        opacity_logits: vec![0.0; n],
        sh: vec![0.0; n * per_sh],
        features: vec![0.0; n * per_f],
        mean2d_grad_norm: vec![0.0; n],
    };
    let per_gaussian: Vec<Option<project::SplatGrads>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let p = &projs[i];
            match &p.cache {
                Some(cache) if p.splat.visible => Some(project::project_backward(
                    i,
                    &p.splat,
                    cache,
                    params,
                    camera,
                    settings,
                    &rg[i * stride..(i + 1) * stride],
                )),
                // Culled or touching no tile: no pixel saw it, the gradient is exactly zero.
                _ => None,
            }
        })
        .collect();
    for (i, g) in per_gaussian.into_iter().enumerate() {
        let Some(g) = g else { continue };
        out.means[i] = g.mean;
        out.log_scales[i] = g.log_scale;
        out.rotations[i] = g.rotation;
        out.opacity_logits[i] = g.logit;
        out.mean2d_grad_norm[i] = g.mean2d_norm;
        match settings.color_source {
            // Only the active degree's coefficients get a gradient; the rest stay zero.
            ColorSource::Sh => out.sh[i * per_sh..i * per_sh + g.colour.len()].copy_from_slice(&g.colour),
            ColorSource::Features => out.features[i * per_f..(i + 1) * per_f].copy_from_slice(&g.colour),
        }
    }
    out
}

/// Forward render (contract: `docs/RASTERIZER.md`). Panics on an inconsistent cloud.
pub fn render(cloud: &GaussianCloud, camera: &Camera, settings: &RenderSettings) -> RenderOutput {
    let params = Params64::from_cloud(cloud);
    let out = render64(&params, &Camera64::from(camera), &Settings64::new(settings, &params));
    let f = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
    RenderOutput {
        width: out.width,
        height: out.height,
        channels: out.channels,
        color: f(out.color),
        alpha: f(out.alpha),
        depth: f(out.depth),
    }
}

/// Backward pass: dL/d(parameters) from dL/d(outputs). Recomputes the forward internally.
pub fn backward(cloud: &GaussianCloud, camera: &Camera, settings: &RenderSettings, grads: &OutputGrads) -> CloudGrads {
    let params = Params64::from_cloud(cloud);
    backward64(&params, &Camera64::from(camera), &Settings64::new(settings, &params), &OutputGrads64::from(grads))
        .to_f32()
}
