//! The whole depth/flow initialisation of CoherentGS in one call (spec, Initialization 1–4):
//! per view monocular depth (a model or user maps) → `d/max + 0.2` → bilateral filter →
//! depth layers; flow for every ordered pair of views (GPU, or user files) with consistency
//! masks; per-view scale/shift alignment; the aligned depth.

use crate::align::{align_depths, AlignParams, AlignView, Alignment, FlowPair};
use crate::flow::{self, FlowParams};
use crate::{bilateral_filter, depth_layers, normalized_disparity, BilateralParams, DepthError, DepthLayers, DepthMap, DepthModel, Flow, LayerParams, MapKind};
use kiln_gpu::GpuContext;
use kiln_scene::dataset::Image;
use kiln_scene::Camera;
use std::path::{Path, PathBuf};

/// Where each view's monocular depth comes from.
pub enum DepthSource<'a> {
    /// Run a network on each view's image.
    Model(&'a DepthModel),
    /// Maps given per view (e.g. from [`read_depth_dir`]), depth or disparity, image-sized.
    Maps(Vec<DepthMap>),
}

/// Where the flows come from.
pub enum FlowSource {
    /// Estimate every ordered pair on the GPU.
    Estimate(FlowParams),
    /// Given: `(from, to, flow)` triples (e.g. from [`read_flow_dir`]).
    Given(Vec<(usize, usize, Flow)>),
}

#[derive(Clone, Debug)]
pub struct InitOptions {
    /// `None` skips the bilateral filter.
    pub filter: Option<BilateralParams>,
    pub layers: LayerParams,
    /// `None` skips the alignment (ablation "no alignment"): depth stays 1/filtered disparity.
    pub align: Option<AlignParams>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions { filter: Some(BilateralParams::default()), layers: LayerParams::default(), align: Some(AlignParams::default()) }
    }
}

/// One view's initial geometry.
#[derive(Clone, Debug)]
pub struct ViewInit {
    /// Depth after filtering and alignment (what the Gaussians start at).
    pub depth: DepthMap,
    /// Normalised, filtered disparity before alignment (what the layers were clustered on).
    pub disparity: DepthMap,
    pub layers: DepthLayers,
}

#[derive(Clone, Debug)]
pub struct CoherentInit {
    pub views: Vec<ViewInit>,
    /// Every ordered pair `(from, to, flow)` with its mask (the flow loss uses them in training).
    pub flows: Vec<(usize, usize, Flow)>,
    /// `None` when alignment was switched off.
    pub alignment: Option<Alignment>,
}

/// Runs the initialisation for 2 or more views.
pub fn prepare(
    ctx: &GpuContext,
    images: &[&Image],
    cameras: &[&Camera],
    depth: DepthSource,
    flows: FlowSource,
    options: &InitOptions,
) -> Result<CoherentInit, DepthError> {
    let n = images.len();
    if n < 2 {
        return Err(DepthError::Input(format!("CoherentGS needs at least 2 input views, got {n}")));
    }
    if cameras.len() != n {
        return Err(DepthError::Input(format!("{n} images but {} cameras", cameras.len())));
    }
    for (i, (img, cam)) in images.iter().zip(cameras).enumerate() {
        if (img.width, img.height) != (cam.width, cam.height) {
            return Err(DepthError::Input(format!(
                "view {i}: image is {}×{}, its camera {}×{}",
                img.width, img.height, cam.width, cam.height
            )));
        }
    }
    let mono: Vec<DepthMap> = match depth {
        DepthSource::Model(m) => images.iter().map(|img| m.estimate(img)).collect::<Result<_, _>>()?,
        DepthSource::Maps(maps) => {
            if maps.len() != n {
                return Err(DepthError::Input(format!("{} depth maps for {n} views", maps.len())));
            }
            for (i, m) in maps.iter().enumerate() {
                m.check_size(images[i].width, images[i].height, &format!("depth map of view {i}"), &format!("view {i}'s image"))?;
            }
            maps
        }
    };
    let mut disparities = Vec::with_capacity(n);
    for (i, m) in mono.iter().enumerate() {
        let d = normalized_disparity(m)?;
        let d = match &options.filter {
            Some(p) => bilateral_filter(&d, Some(images[i]), p)?,
            None => d,
        };
        disparities.push(d);
    }
    let flows = match flows {
        FlowSource::Estimate(p) => flow::all_pairs(ctx, images, &p)?,
        FlowSource::Given(f) => f,
    };
    let depths: Vec<DepthMap> = disparities.iter().map(|d| d.to_depth()).collect();
    let alignment = match &options.align {
        Some(p) => {
            let views: Vec<AlignView> = cameras.iter().zip(&depths).map(|(c, d)| AlignView { camera: c, depth: d }).collect();
            let pairs: Vec<FlowPair> = flows.iter().map(|(i, j, f)| FlowPair { from: *i, to: *j, flow: f }).collect();
            Some(align_depths(&views, &pairs, p)?)
        }
        None => None,
    };
    let mut views = Vec::with_capacity(n);
    for (i, (disparity, depth)) in disparities.into_iter().zip(depths).enumerate() {
        let layers = depth_layers(&disparity, &options.layers)?;
        let depth = match &alignment {
            Some(a) => a.apply(i, &depth),
            None => depth,
        };
        views.push(ViewInit { depth, disparity, layers });
    }
    Ok(CoherentInit { views, flows, alignment })
}

/// Per-view maps from a folder (`--depth-dir`): for each view name (its image file stem),
/// `<stem>.npy` or `<stem>.png` (also `<name>.npy` / `<name>.png` with the extension kept), checked
/// against the view's size. A missing map is an error naming the view and what was looked for.
pub fn read_depth_dir(dir: &Path, views: &[(&str, u32, u32)], kind: MapKind) -> Result<Vec<DepthMap>, DepthError> {
    views
        .iter()
        .map(|(name, w, h)| {
            let path = find_file(dir, name, &["npy", "png"]).ok_or_else(|| DepthError::format(dir, format!(
                "no depth map for view {name} (looked for {0}.npy and {0}.png)",
                stem(name)
            )))?;
            crate::io::read_depth_file(&path, kind, *w, *h)
        })
        .collect()
}

/// Flow files from a folder for every ordered pair of views: `<from>_<to>.flo` or `.npy`
/// (view image stems), checked against the size of `from`.
pub fn read_flow_dir(dir: &Path, views: &[(&str, u32, u32)]) -> Result<Vec<(usize, usize, Flow)>, DepthError> {
    let mut out = Vec::new();
    for (i, (a, w, h)) in views.iter().enumerate() {
        for (j, (b, _, _)) in views.iter().enumerate() {
            if i == j {
                continue;
            }
            let base = format!("{}_{}", stem(a), stem(b));
            let path = find_file(dir, &base, &["flo", "npy"]).ok_or_else(|| {
                DepthError::format(dir, format!("no flow file from view {a} to view {b} (looked for {base}.flo and {base}.npy)"))
            })?;
            out.push((i, j, crate::io::read_flow_file(&path, *w, *h)?));
        }
    }
    Ok(out)
}

fn stem(name: &str) -> &str {
    Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or(name)
}

fn find_file(dir: &Path, name: &str, exts: &[&str]) -> Option<PathBuf> {
    for base in [stem(name), name] {
        for ext in exts {
            let p = dir.join(format!("{base}.{ext}"));
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}
