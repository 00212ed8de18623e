//! The renderer the splat loss draws with.
//!
//! The loss itself (soft-label CE, L1 terms, decode and its backward) runs on the host in f64:
//! the images are small (VoxelSplat renders at ¼ resolution) and the network's tensors cross
//! the host anyway (kiln-nn cannot bind Burn's storage as a wgpu buffer, see its docs). So
//! each render is read back once and its output gradients uploaded once — written down here
//! as the read-back the GPU rules ask to justify. A step's renders go in two batches
//! ([`SplatBackend::render_many`], [`SplatBackend::render_backward_many`]): on a GPU the round
//! trips, not the rasterizing, cost the time (the H200 spent 11× a training step on 330 of
//! them), and the two batches wait five times in all, whatever their size. The GPU backend
//! is kiln's rasterizer; the CPU backend is its f64 reference, which finite-difference tests
//! use.

use crate::OccError;
use kiln_scene::Camera;
use kiln_splat::reference::{self, Camera64, Grads64, OutputGrads64, Params64, Settings64};
use kiln_splat::{GpuCloud, RenderSettings, SplatRenderer};

/// One render's outputs in f64 (layouts of [`kiln_splat::RenderOutput`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Render {
    pub width: u32,
    pub height: u32,
    pub channels: usize,
    pub color: Vec<f64>,
    pub alpha: Vec<f64>,
    pub depth: Vec<f64>,
}

/// dL/d(colour) and dL/d(depth) of one render (alpha is not supervised by VoxelSplat).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RenderGrads {
    pub color: Vec<f64>,
    pub depth: Vec<f64>,
}

/// Parameter gradients the loss needs: means, opacity logits, feature channels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SplatGrads {
    pub means: Vec<[f64; 3]>,
    pub opacity_logits: Vec<f64>,
    pub features: Vec<f64>,
}

pub trait SplatBackend {
    /// Renders `params` (feature mode) without gradients.
    fn render(&self, params: &Params64, cam: &Camera, settings: &RenderSettings) -> Result<Render, OccError>;

    /// Renders, asks `loss` for the output gradients of the render, and back-propagates them.
    fn render_backward(
        &self,
        params: &Params64,
        cam: &Camera,
        settings: &RenderSettings,
        loss: &mut dyn FnMut(&Render) -> RenderGrads,
    ) -> Result<SplatGrads, OccError>;

    /// Renders every (params, camera) job, in order. Backends may batch the jobs' GPU round
    /// trips; the default renders them one at a time.
    fn render_many(&self, jobs: &[(&Params64, &Camera)], settings: &RenderSettings) -> Result<Vec<Render>, OccError> {
        jobs.iter().map(|(params, cam)| self.render(params, cam, settings)).collect()
    }

    /// Renders every job, asks `loss(i, render)` for job i's output gradients once all are
    /// rendered, and back-propagates them; gradients come back in the jobs' order. The default
    /// handles the jobs one at a time.
    fn render_backward_many(
        &self,
        jobs: &[(&Params64, &Camera)],
        settings: &RenderSettings,
        loss: &mut dyn FnMut(usize, &Render) -> RenderGrads,
    ) -> Result<Vec<SplatGrads>, OccError> {
        jobs.iter().enumerate().map(|(i, (params, cam))| self.render_backward(params, cam, settings, &mut |r: &Render| loss(i, r))).collect()
    }
}

/// The f64 CPU reference rasterizer (slow; the oracle for tests).
pub struct CpuReference;

impl SplatBackend for CpuReference {
    fn render(&self, params: &Params64, cam: &Camera, settings: &RenderSettings) -> Result<Render, OccError> {
        cam.validate().map_err(|e| OccError::Invalid(format!("camera: {e}")))?;
        let out = reference::render64(params, &Camera64::from(cam), &Settings64::new(settings, params));
        Ok(Render { width: out.width, height: out.height, channels: out.channels, color: out.color, alpha: out.alpha, depth: out.depth })
    }

    fn render_backward(
        &self,
        params: &Params64,
        cam: &Camera,
        settings: &RenderSettings,
        loss: &mut dyn FnMut(&Render) -> RenderGrads,
    ) -> Result<SplatGrads, OccError> {
        let r = self.render(params, cam, settings)?;
        let g = loss(&r);
        let grads = reference::backward64(
            params,
            &Camera64::from(cam),
            &Settings64::new(settings, params),
            &OutputGrads64 { color: g.color, alpha: Vec::new(), depth: g.depth },
        );
        Ok(from_grads64(grads))
    }
}

fn from_grads64(g: Grads64) -> SplatGrads {
    SplatGrads { means: g.means, opacity_logits: g.opacity_logits, features: g.features }
}

/// kiln's GPU tile rasterizer.
pub struct GpuSplat<'a> {
    pub renderer: &'a SplatRenderer,
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn render_from(out: kiln_splat::RenderOutput) -> Render {
    Render { width: out.width, height: out.height, channels: out.channels, color: f64s(&out.color), alpha: f64s(&out.alpha), depth: f64s(&out.depth) }
}

impl GpuSplat<'_> {
    /// Uploads and renders every job with one wait for the pair counts and one for the images.
    fn forward_many(&self, jobs: &[(&Params64, &Camera)], settings: &RenderSettings) -> Result<(Vec<GpuCloud>, Vec<kiln_splat::gpu::ForwardState>, Vec<Render>), OccError> {
        let ctx = self.renderer.context();
        let clouds = jobs.iter().map(|(params, _)| GpuCloud::upload(ctx, &params.to_cloud())).collect::<Result<Vec<_>, _>>()?;
        let pairs: Vec<(&GpuCloud, &Camera)> = clouds.iter().zip(jobs).map(|(c, (_, cam))| (c, *cam)).collect();
        let states = self.renderer.forward_many(&pairs, settings)?;
        let renders = self.renderer.read_outputs(&states)?.into_iter().map(render_from).collect();
        Ok((clouds, states, renders))
    }
}

impl SplatBackend for GpuSplat<'_> {
    fn render(&self, params: &Params64, cam: &Camera, settings: &RenderSettings) -> Result<Render, OccError> {
        self.render_many(&[(params, cam)], settings)?.pop().ok_or_else(|| OccError::Invalid("the renderer returned no render".into()))
    }

    fn render_backward(
        &self,
        params: &Params64,
        cam: &Camera,
        settings: &RenderSettings,
        loss: &mut dyn FnMut(&Render) -> RenderGrads,
    ) -> Result<SplatGrads, OccError> {
        self.render_backward_many(&[(params, cam)], settings, &mut |_, r: &Render| loss(r))?
            .pop()
            .ok_or_else(|| OccError::Invalid("the renderer returned no gradients".into()))
    }

    fn render_many(&self, jobs: &[(&Params64, &Camera)], settings: &RenderSettings) -> Result<Vec<Render>, OccError> {
        Ok(self.forward_many(jobs, settings)?.2)
    }

    /// Three waits on the GPU for any number of jobs: pair counts, images, gradients (one
    /// render and its backward, read back buffer by buffer, waited seven times).
    fn render_backward_many(
        &self,
        jobs: &[(&Params64, &Camera)],
        settings: &RenderSettings,
        loss: &mut dyn FnMut(usize, &Render) -> RenderGrads,
    ) -> Result<Vec<SplatGrads>, OccError> {
        let ctx = self.renderer.context();
        let (clouds, states, renders) = self.forward_many(jobs, settings)?;
        let mut grads = Vec::with_capacity(jobs.len());
        for (i, ((cloud, fwd), render)) in clouds.iter().zip(&states).zip(&renders).enumerate() {
            let g = loss(i, render);
            let gc = ctx.upload("occ grad colour", &f32s(&g.color));
            let ga = ctx.zeroed("occ grad alpha", render.alpha.len() as u64 * 4);
            let gd = ctx.upload("occ grad depth", &f32s(&g.depth));
            grads.push(self.renderer.backward(cloud, fwd, &gc, &ga, &gd, None)?);
        }
        let mut regions = Vec::with_capacity(3 * jobs.len());
        for (g, (params, _)) in grads.iter().zip(jobs) {
            let n = params.len();
            regions.extend([(&g.means, n * 3), (&g.opacity_logits, n), (&g.colors, n * params.feature_channels)]);
        }
        let mut data = ctx.read_many::<f32>(&regions)?.into_iter();
        let mut next = || data.next().ok_or_else(|| OccError::Invalid("the GPU read-back returned fewer gradient buffers than asked".into()));
        jobs.iter()
            .map(|_| {
                let means = next()?;
                Ok(SplatGrads {
                    means: means.chunks_exact(3).map(|m| [m[0] as f64, m[1] as f64, m[2] as f64]).collect(),
                    opacity_logits: f64s(&next()?),
                    features: f64s(&next()?),
                })
            })
            .collect()
    }
}
