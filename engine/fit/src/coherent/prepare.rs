//! CoherentGS's inputs from a scene (spec "Initialization"): kiln-depth's pipeline (monocular
//! depth from an ONNX model or user maps, normalised + bilateral-filtered disparity, depth
//! layers, flow for every ordered pair of training views with its consistency mask, per-view
//! scale/shift alignment), turned into the trainer's [`CoherentInputs`].

use super::{CoherentInputs, FlowField};
use crate::scene::Scene;
use crate::trainer::FitError;
use kiln_depth::pipeline::{prepare, read_depth_dir, read_flow_dir, DepthSource, FlowSource, InitOptions};
use kiln_depth::{AlignParams, DepthModel, FlowParams, LayerParams, ModelOptions};
use kiln_gpu::GpuContext;
pub use kiln_depth::MapKind;
use std::path::PathBuf;

/// Where depth and flow come from.
#[derive(Clone, Debug, Default)]
pub struct PrepareOptions {
    /// ONNX depth model (`[1, 3, H, W]` RGB in, one map out).
    pub depth_model: Option<PathBuf>,
    /// What the model outputs (FastDepth: depth; Depth Anything/MiDaS: disparity).
    pub model_output: Option<MapKind>,
    /// Folder with one map per training view, named after the image (`<stem>.png` 16-bit or
    /// `<stem>.npy`); `depth_kind` says whether they hold depth or disparity.
    pub depth_dir: Option<PathBuf>,
    pub depth_kind: Option<MapKind>,
    /// Folder with flow files `<from stem>_<to stem>.flo` or `.npy` for every ordered pair of
    /// training views; without it, flow is computed on the GPU.
    pub flow_dir: Option<PathBuf>,
    /// Per-view scale/shift alignment by the flow correspondences.
    pub align: bool,
    /// World length of the spec's depth unit (see `CoherentConfig::unit`).
    pub unit: f32,
    pub layers: usize,
    /// kiln's addition: start from the depth the flow correspondences triangulate to where the
    /// consistency check trusts them ([`triangulate_flow_depths`], [`merge_triangulated`]).
    pub triangulate: bool,
    /// kiln's addition: pixels whose Gaussian would stand in free space that another training
    /// view sees through start nearly transparent ([`free_space_conflicts`]).
    pub free_space: bool,
}

/// The free-space check's settings ([`free_space_conflicts`]).
#[derive(Clone, Copy, Debug)]
pub struct FreeSpaceParams {
    /// A point conflicts with view j when its depth in j is below (1 − this) × the nearest
    /// depth view j has around the pixel it lands on (0: below that nearest depth).
    pub depth_margin: f32,
    /// A third view confirms the point when it lands there within this much (relative) of
    /// that view's depth, in a matching colour.
    pub confirm_margin: f32,
    /// … and its colour differs from view j's there by more than this (mean |ΔRGB|, 0–1):
    /// where the colours agree, view j's depth is as likely to be the wrong one.
    pub color_margin: f32,
    /// Half-width (pixels) of the neighbourhood whose nearest depth counts, so that depth
    /// edges do not flag the points along them.
    pub radius: usize,
    /// Starting opacity of a conflicting pixel's Gaussian.
    pub opacity: f32,
}

impl Default for FreeSpaceParams {
    fn default() -> Self {
        // Measured on fern (3 views, FastDepth + triangulation; docs/COHERENTGS.md): a tighter
        // depth margin flags more and starts better (0.1 → 0.02 → 0: +0.39, +0.63, +0.74 dB
        // at 256 px), and the gain held through 300 steps at 128 px. With no margin, the 3×3
        // neighbourhood's nearest depth is the tolerance at depth edges; the confirmation
        // keeps one (5 %, about twice the triangulated depth's median error).
        FreeSpaceParams { depth_margin: 0.0, confirm_margin: 0.05, color_margin: 0.1, radius: 1, opacity: 0.02 }
    }
}

/// Least ray angle for a triangulated depth (below it, a pixel of flow error moves the point
/// too far along the ray).
pub const MIN_PARALLAX_DEG: f32 = 0.5;

/// Box-blur radius (pixels) of the triangulated / monocular depth ratio that rescales the
/// monocular depth where no triangulation exists.
const RATIO_BLUR_RADIUS: usize = 15;

/// What preparation found, for metrics.json and the log.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PrepareReport {
    pub depth_source: String,
    pub flow_source: String,
    pub flow_valid_fraction: Vec<f32>,
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
    pub align_residual_before: f64,
    pub align_residual_after: f64,
    /// With `triangulate`: per view, the fraction of pixels whose depth was triangulated.
    pub triangulated_fraction: Vec<f32>,
    /// With `free_space`: per view, the fraction of pixels that start nearly transparent.
    pub free_space_fraction: Vec<f32>,
}

fn depth_err(e: kiln_depth::DepthError) -> FitError {
    FitError::Invalid(e.to_string())
}

/// Builds the trainer's inputs for `scene`'s training views.
pub fn prepare_inputs(ctx: &GpuContext, scene: &Scene, opts: &PrepareOptions) -> Result<(CoherentInputs, PrepareReport), FitError> {
    let views = &scene.train;
    if views.len() < 2 {
        return Err(FitError::Invalid(format!("CoherentGS needs 2 to 4 training views, got {} (use --views)", views.len())));
    }
    let mut report = PrepareReport::default();
    let sizes: Vec<(&str, u32, u32)> = views.iter().map(|v| (v.name.as_str(), v.camera.width, v.camera.height)).collect();
    let model;
    let depth = if let Some(dir) = &opts.depth_dir {
        report.depth_source = format!("maps in {}", dir.display());
        DepthSource::Maps(read_depth_dir(dir, &sizes, opts.depth_kind.unwrap_or(MapKind::Disparity)).map_err(depth_err)?)
    } else if let Some(path) = &opts.depth_model {
        report.depth_source = format!("model {}", path.display());
        let mut options = ModelOptions::default();
        if let Some(k) = opts.model_output {
            options.output = k;
        }
        model = DepthModel::load_with(path, options).map_err(depth_err)?;
        DepthSource::Model(&model)
    } else {
        return Err(FitError::Invalid("CoherentGS needs monocular depth: give --depth-model or --depth-dir".into()));
    };
    let flows = if let Some(dir) = &opts.flow_dir {
        report.flow_source = format!("files in {}", dir.display());
        FlowSource::Given(read_flow_dir(dir, &sizes).map_err(depth_err)?)
    } else {
        report.flow_source = "GPU coarse-to-fine flow".into();
        FlowSource::Estimate(FlowParams::default())
    };
    let init_opts = InitOptions {
        layers: LayerParams { count: opts.layers.max(1), ..Default::default() },
        align: opts.align.then(AlignParams::default),
        ..Default::default()
    };
    let images: Vec<&kiln_scene::dataset::Image> = views.iter().map(|v| v.image.as_ref()).collect();
    let cameras: Vec<&kiln_scene::Camera> = views.iter().map(|v| &v.camera).collect();
    let init = prepare(ctx, &images, &cameras, depth, flows, &init_opts).map_err(depth_err)?;

    report.flow_valid_fraction = init.flows.iter().map(|(_, _, f)| f.valid_fraction()).collect();
    // Aligned depth is in world units already; unaligned depth (1/disparity ≈ 0.83…5) is in the
    // spec's scene unit.
    let scale = if let Some(a) = &init.alignment {
        report.scale = a.scale.clone();
        report.shift = a.shift.clone();
        report.align_residual_before = a.residual_before;
        report.align_residual_after = a.residual_after;
        1.0
    } else {
        opts.unit
    };
    let mut depth: Vec<Vec<f32>> = init.views.iter().map(|v| v.depth.values.iter().map(|z| z * scale).collect()).collect();
    let flows: Vec<FlowField> = init
        .flows
        .into_iter()
        .map(|(i, j, f)| FlowField { from: i, to: j, width: f.width, height: f.height, flow: f.interleaved(), mask: f.valid })
        .collect();
    if opts.triangulate {
        let tri = triangulate_flow_depths(&cameras, &flows, MIN_PARALLAX_DEG);
        for (v, (d, t)) in depth.iter_mut().zip(&tri).enumerate() {
            let (w, h) = (cameras[v].width as usize, cameras[v].height as usize);
            report.triangulated_fraction.push(t.iter().filter(|t| t.is_some()).count() as f32 / t.len().max(1) as f32);
            *d = merge_triangulated(d, t, w, h);
        }
    }
    let mut start_opacity = Vec::new();
    if opts.free_space {
        let params = FreeSpaceParams::default();
        let base = super::CoherentConfig::base_opacity(views.len());
        for c in free_space_conflicts(&cameras, &depth, &images, &params) {
            report.free_space_fraction.push(c.iter().filter(|&&c| c).count() as f32 / c.len().max(1) as f32);
            start_opacity.push(c.iter().map(|&c| if c { params.opacity } else { base }).collect());
        }
    }
    let inputs = CoherentInputs {
        depth,
        layers: init.views.iter().map(|v| v.layers.labels.clone()).collect(),
        layer_count: opts.layers.max(1),
        flows,
        start_opacity,
    };
    Ok((inputs, report))
}

/// Depth of every pixel of each view triangulated from the flow correspondences (midpoint of
/// the two rays' closest approach), where the forward–backward check trusts the flow and the
/// rays meet in front of both cameras at a parallax of at least `min_parallax_deg`; with
/// several partner views the estimate of largest parallax wins. `None` where no pair gives one.
/// Depth is camera-space z (the trainer's X = c + z·ray with ray.z = 1 in camera space).
pub fn triangulate_flow_depths(cameras: &[&kiln_scene::Camera], flows: &[FlowField], min_parallax_deg: f32) -> Vec<Vec<Option<f32>>> {
    use super::losses::pixel_ray as ray;
    let min_sin = min_parallax_deg.to_radians().sin();
    cameras
        .iter()
        .enumerate()
        .map(|(i, ci)| {
            let (w, h) = (ci.width as usize, ci.height as usize);
            let mut best: Vec<(f32, Option<f32>)> = vec![(0.0, None); w * h];
            for f in flows.iter().filter(|f| f.from == i) {
                let cj = cameras[f.to];
                let (oi, oj) = (ci.center(), cj.center());
                for p in 0..w * h {
                    if f.mask[p] < 0.5 {
                        continue;
                    }
                    let (x, y) = ((p % w) as f32 + 0.5, (p / w) as f32 + 0.5);
                    let (ri, rj) = (ray(ci, x, y), ray(cj, x + f.flow[p][0], y + f.flow[p][1]));
                    let sin = ri.normalize().cross(rj.normalize()).length();
                    if sin < min_sin || sin <= best[p].0 {
                        continue;
                    }
                    let w0 = oi - oj;
                    let (a, b, c, d, e) = (ri.dot(ri), ri.dot(rj), rj.dot(rj), ri.dot(w0), rj.dot(w0));
                    let denom = a * c - b * b;
                    let (t, s) = ((b * e - c * d) / denom, (a * e - b * d) / denom);
                    if t > 0.0 && s > 0.0 && t.is_finite() {
                        best[p] = (sin, Some(t));
                    }
                }
            }
            best.into_iter().map(|(_, t)| t).collect()
        })
        .collect()
}

/// Which pixels of each view would put their Gaussian in free space: for pixel p of view i at
/// depth z, the point X = c_i + z·ray_i(p) lands in another view j in front of every surface
/// j's depth map has around that spot (by `depth_margin` more, relative; none by default), and
/// p's colour differs from what j sees there. View j looks through X at something farther and of another
/// colour, so X is misplaced (the classic free-space violation of depth-map fusion); left
/// opaque, such points draw the "doubled leaves" of a novel view.
///
/// With two views the conflict is symmetric in doubt: view j's depth may be the one too far.
/// So a point that some third view confirms (it lands there within `confirm_margin` of that
/// view's depth, in a matching colour) is never flagged. Depths are camera-space z, `images`
/// the views' colours.
pub fn free_space_conflicts(cameras: &[&kiln_scene::Camera], depth: &[Vec<f32>], images: &[&kiln_scene::dataset::Image], params: &FreeSpaceParams) -> Vec<Vec<bool>> {
    use rayon::prelude::*;
    use super::losses::pixel_ray as ray;
    // Per view, the nearest depth within `radius` of each pixel (a min filter, rows then columns).
    let nearest: Vec<Vec<f32>> = cameras
        .iter()
        .zip(depth)
        .map(|(c, d)| {
            let (w, h, r) = (c.width as usize, c.height as usize, params.radius);
            let mut rows = vec![0.0f32; w * h];
            for y in 0..h {
                for x in 0..w {
                    rows[y * w + x] = (x.saturating_sub(r)..(x + r + 1).min(w)).map(|xx| d[y * w + xx]).fold(f32::INFINITY, f32::min);
                }
            }
            let mut out = vec![0.0f32; w * h];
            for y in 0..h {
                for x in 0..w {
                    out[y * w + x] = (y.saturating_sub(r)..(y + r + 1).min(h)).map(|yy| rows[yy * w + x]).fold(f32::INFINITY, f32::min);
                }
            }
            out
        })
        .collect();
    cameras
        .iter()
        .enumerate()
        .map(|(i, ci)| {
            let (w, h) = (ci.width as usize, ci.height as usize);
            let center = ci.center();
            (0..w * h)
                .into_par_iter()
                .map(|p| {
                    let x = center + ray(ci, (p % w) as f32 + 0.5, (p / w) as f32 + 0.5) * depth[i][p];
                    let (mut violated, mut confirmed) = (false, false);
                    for (j, cj) in cameras.iter().enumerate().filter(|&(j, _)| j != i) {
                        let xc = cj.world_to_camera(x);
                        if xc.z <= 0.0 {
                            continue;
                        }
                        let (u, v) = (cj.fx * xc.x / xc.z + cj.cx, cj.fy * xc.y / xc.z + cj.cy);
                        if !(u >= 0.0 && v >= 0.0 && u < cj.width as f32 && v < cj.height as f32) {
                            continue;
                        }
                        let q = v as usize * cj.width as usize + u as usize;
                        let (a, b) = (&images[i].rgb[3 * p..3 * p + 3], &images[j].rgb[3 * q..3 * q + 3]);
                        let colour_differs = (a[0] - b[0]).abs() + (a[1] - b[1]).abs() + (a[2] - b[2]).abs() > 3.0 * params.color_margin;
                        // A violation needs another colour, a confirmation the same one (so a
                        // point on view j's surface, a rounding error in front, confirms).
                        if colour_differs {
                            violated |= xc.z < (1.0 - params.depth_margin) * nearest[j][q];
                        } else {
                            confirmed |= (xc.z - depth[j][q]).abs() <= params.confirm_margin * depth[j][q];
                        }
                    }
                    violated && !confirmed
                })
                .collect()
        })
        .collect()
}

/// One view's starting depth from its monocular depth `mono` and its triangulated depths
/// `tri`: the triangulated depth where there is one; elsewhere the monocular depth times the
/// ratio triangulated / monocular averaged over the neighbourhood (a normalised box blur), so
/// that untriangulated regions follow their triangulated surroundings instead of the
/// monocular model's own scale. Where no pixel was triangulated the depth is unchanged.
pub fn merge_triangulated(mono: &[f32], tri: &[Option<f32>], w: usize, h: usize) -> Vec<f32> {
    let ratio: Vec<f32> = mono.iter().zip(tri).map(|(z, t)| t.map_or(1.0, |t| t / z)).collect();
    let weight: Vec<f32> = tri.iter().map(|t| if t.is_some() { 1.0 } else { 0.0 }).collect();
    let smooth = normalized_blur(&ratio, &weight, w, h, RATIO_BLUR_RADIUS, 1.0);
    mono.iter().zip(tri).zip(&smooth).map(|((z, t), r)| t.unwrap_or(z * r)).collect()
}

/// Box blur of `values` weighted by `weights` (normalised convolution), radius `r`, twice
/// (≈ a Gaussian of σ ≈ 0.8·r): where the weights sum to 0 the result is `fallback`.
fn normalized_blur(values: &[f32], weights: &[f32], w: usize, h: usize, r: usize, fallback: f32) -> Vec<f32> {
    let box_pass = |src: &[f32]| -> Vec<f32> {
        let mut tmp = vec![0.0f32; w * h];
        for y in 0..h {
            let row = &src[y * w..(y + 1) * w];
            let mut prefix = vec![0.0f64; w + 1];
            for x in 0..w {
                prefix[x + 1] = prefix[x] + row[x] as f64;
            }
            for x in 0..w {
                tmp[y * w + x] = (prefix[(x + r + 1).min(w)] - prefix[x.saturating_sub(r)]) as f32;
            }
        }
        let mut out = vec![0.0f32; w * h];
        for x in 0..w {
            let mut prefix = vec![0.0f64; h + 1];
            for y in 0..h {
                prefix[y + 1] = prefix[y] + tmp[y * w + x] as f64;
            }
            for y in 0..h {
                out[y * w + x] = (prefix[(y + r + 1).min(h)] - prefix[y.saturating_sub(r)]) as f32;
            }
        }
        out
    };
    let weighted: Vec<f32> = values.iter().zip(weights).map(|(v, m)| v * m).collect();
    let (num, den) = (box_pass(&box_pass(&weighted)), box_pass(&box_pass(weights)));
    num.iter().zip(&den).map(|(n, d)| if *d > 1e-6 { n / d } else { fallback }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::{Mat3, Vec3};
    use kiln_scene::Camera;

    fn camera(x: f32, yaw: f32) -> Camera {
        let rotation = Mat3::from_rotation_y(yaw);
        Camera { width: 40, height: 30, fx: 35.0, fy: 35.0, cx: 20.0, cy: 15.0, rotation, translation: -(rotation * Vec3::new(x, 0.0, 0.0)), near: 0.01, far: 100.0 }
    }

    /// The exact flow of a world surface `depth_at` seen by `a`, into `b`.
    fn flow(a: &Camera, b: &Camera, from: usize, to: usize, depth_at: impl Fn(usize) -> f32) -> FlowField {
        let rays = super::super::losses::pixel_rays(a);
        let (w, h) = (a.width as usize, a.height as usize);
        let flow = (0..w * h)
            .map(|p| {
                let xc = b.world_to_camera(a.center() + rays[p] * depth_at(p));
                let (x, y) = ((p % w) as f32 + 0.5, (p / w) as f32 + 0.5);
                [b.fx * xc.x / xc.z + b.cx - x, b.fy * xc.y / xc.z + b.cy - y]
            })
            .collect();
        // The left quarter is untrusted, as a failed consistency check would leave it.
        let mask = (0..w * h).map(|p| if p % w < w / 4 { 0.0 } else { 1.0 }).collect();
        FlowField { from, to, width: a.width, height: a.height, flow, mask }
    }

    #[test]
    fn triangulation_recovers_the_depth_of_exact_correspondences() {
        let (a, b) = (camera(0.0, 0.0), camera(0.6, -0.05));
        let depth_at = |p: usize| 4.0 + 0.05 * (p % 40) as f32 + 0.02 * (p / 40) as f32;
        let f = flow(&a, &b, 0, 1, depth_at);
        let tri = triangulate_flow_depths(&[&a, &b], &[f], MIN_PARALLAX_DEG);
        assert!(tri[1].iter().all(Option::is_none), "view 1 has no flow of its own");
        for (p, t) in tri[0].iter().enumerate() {
            match t {
                None => assert!(p % 40 < 10, "pixel {p} is trusted but got no depth"),
                Some(t) => {
                    assert!(p % 40 >= 10, "pixel {p} is masked but got a depth");
                    assert!((t - depth_at(p)).abs() < 1e-3 * depth_at(p), "pixel {p}: {t} for {}", depth_at(p));
                }
            }
        }
        // Rays closer than the least parallax (the same camera, moved a hair) are refused.
        let near = camera(1e-4, 0.0);
        let f = flow(&a, &near, 0, 1, depth_at);
        assert!(triangulate_flow_depths(&[&a, &near], &[f], MIN_PARALLAX_DEG)[0].iter().all(Option::is_none));
    }

    #[test]
    fn untriangulated_pixels_follow_the_local_ratio() {
        let (w, h) = (40, 30);
        // Monocular depth off by a factor 2 everywhere; triangulated (true) depth on the right
        // half only.
        let mono = vec![10.0f32; w * h];
        let tri: Vec<Option<f32>> = (0..w * h).map(|p| (p % w >= w / 2).then_some(5.0)).collect();
        let merged = merge_triangulated(&mono, &tri, w, h);
        for (p, z) in merged.iter().enumerate() {
            assert!((z - 5.0).abs() < 1e-4, "pixel {p}: {z}");
        }
        // Nothing triangulated: the monocular depth as it was.
        assert_eq!(merge_triangulated(&mono, &vec![None; w * h], w, h), mono);
    }

    /// Three views of a grey plane. A red patch of view a put in front of it (depth 2 instead
    /// of 4) is flagged: views b and c look through it at the plane. The same patch in the
    /// plane's colour is not (the colours agree, so the other views' depth may be the wrong
    /// one), nor a red patch behind the plane (hidden from b and c, not free space), nor any
    /// pixel of b or c — not even those in front of a's red patch behind the plane, which view
    /// a "sees through" but the third view confirms.
    #[test]
    fn free_space_conflicts_flag_points_another_view_sees_through() {
        let (a, b, c) = (camera(0.0, 0.0), camera(0.6, -0.05), camera(0.3, 0.0));
        let (w, h) = (40usize, 30usize);
        let grey = |x: Vec3| [0.5 + 0.05 * (5.0 * x.x).sin(); 3];
        let plane_depth = |c: &Camera, p: usize| {
            let r = super::super::losses::pixel_ray(c, (p % w) as f32 + 0.5, (p / w) as f32 + 0.5);
            (4.0 - c.center().z) / r.z
        };
        let point = |c: &Camera, p: usize, z: f32| c.center() + super::super::losses::pixel_ray(c, (p % w) as f32 + 0.5, (p / w) as f32 + 0.5) * z;
        // Patches of view a: rows 10..20; columns 24..28 red in front, 28..32 grey in front,
        // 32..36 red behind.
        let patch = |p: usize| (10..20).contains(&(p / w)).then_some(p % w).and_then(|x| match x {
            24..=27 => Some((2.0, true)),
            28..=31 => Some((2.0, false)),
            32..=35 => Some((6.0, true)),
            _ => None,
        });
        let depth_a: Vec<f32> = (0..w * h).map(|p| patch(p).map_or(plane_depth(&a, p), |(z, _)| z)).collect();
        let depth_b: Vec<f32> = (0..w * h).map(|p| plane_depth(&b, p)).collect();
        let depth_c: Vec<f32> = (0..w * h).map(|p| plane_depth(&c, p)).collect();
        let colours = |c: &Camera, depth: &[f32], red: &dyn Fn(usize) -> bool| kiln_scene::dataset::Image {
            width: w as u32,
            height: h as u32,
            rgb: (0..w * h).flat_map(|p| if red(p) { [1.0, 0.0, 0.0] } else { grey(point(c, p, depth[p])) }).collect(),
            alpha: None,
        };
        let image_a = colours(&a, &depth_a, &|p| patch(p).is_some_and(|(_, red)| red));
        // Grey patch pixels keep the plane's colour at the ray's plane point, which b sees.
        let image_a = kiln_scene::dataset::Image {
            rgb: image_a.rgb.chunks(3).enumerate().flat_map(|(p, c)| if patch(p).is_some_and(|(_, red)| !red) { grey(point(&a, p, plane_depth(&a, p))) } else { [c[0], c[1], c[2]] }).collect(),
            ..image_a
        };
        let (image_b, image_c) = (colours(&b, &depth_b, &|_| false), colours(&c, &depth_c, &|_| false));
        let flags = free_space_conflicts(&[&a, &b, &c], &[depth_a.clone(), depth_b, depth_c], &[&image_a, &image_b, &image_c], &FreeSpaceParams::default());
        let mut red_front = 0;
        for (p, &f) in flags[0].iter().enumerate() {
            match patch(p) {
                Some((z, true)) if z < 4.0 => {
                    let xc = b.world_to_camera(point(&a, p, z));
                    let u = b.fx * xc.x / xc.z + b.cx;
                    // Inside view b (away from its border): flagged.
                    if u > 2.0 && u < w as f32 - 2.0 {
                        assert!(f, "red patch pixel {p} in front of the plane is not flagged");
                        red_front += 1;
                    }
                }
                _ => assert!(!f, "pixel {p} ({:?}) is flagged", patch(p)),
            }
        }
        assert!(red_front > 20, "only {red_front} red patch pixels land in view b");
        for v in [1, 2] {
            assert!(flags[v].iter().all(|&f| !f), "view {v}'s plane pixels are flagged: {:?}", flags[v].iter().enumerate().filter(|(_, f)| **f).map(|(p, _)| (p % 40, p / 40)).collect::<Vec<_>>());
        }
        // Without the third view, b's points in front of a's red patch behind the plane are
        // flagged: two views cannot tell whose depth is wrong.
        let two = free_space_conflicts(&[&a, &b], &[depth_a.clone(), (0..w * h).map(|p| plane_depth(&b, p)).collect()], &[&image_a, &image_b], &FreeSpaceParams::default());
        assert!(two[1].iter().any(|&f| f));
    }
}
