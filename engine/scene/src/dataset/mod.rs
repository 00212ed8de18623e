//! Posed-image datasets: COLMAP sparse models (text and binary), NeRF/Blender and nerfstudio
//! `transforms.json`, and LLFF `poses_bounds.npy`, converted once, at load, to kiln's
//! [`Camera`] (OpenCV axes, world-to-camera pose, intrinsics in pixels, pixel centres at +0.5).
//!
//! ```no_run
//! use kiln_scene::dataset::{Dataset, LoadOptions};
//! let ds = Dataset::load_with("data/nerf_synthetic/lego", &LoadOptions { resolution: Some(200), ..Default::default() })?;
//! let img = ds.train[0].image()?; // decoded on first use, cached
//! assert_eq!((img.width, img.height), (ds.train[0].camera.width, ds.train[0].camera.height));
//! # Ok::<(), kiln_scene::dataset::DatasetError>(())
//! ```
//!
//! # What loading does
//! Loading parses the pose files, checks that every image exists and reads its size from the
//! file header (no decode), and builds each view's camera at the requested resolution. Images
//! are decoded lazily by [`View::image`] (cached) or [`View::load_image`] (not cached), or all at
//! once, in parallel, by [`Dataset::preload`] or [`LoadOptions::eager`].
//!
//! Image pipeline: decode (PNG/JPEG, 8/16 bit) → f32 in [0, 1] → composite RGBA onto the
//! background → undistort (distorted cameras, see below) → area-filter downscale so that the
//! longer side is [`LoadOptions::resolution`] (never upscaled). Intrinsics scale by
//! new size / old size per axis.
//!
//! # Lens distortion
//! kiln renders pinhole cameras. Cameras with radial/tangential distortion (COLMAP
//! SIMPLE_RADIAL, RADIAL, OPENCV; nerfstudio `k1…k4, p1, p2`) are handled by
//! [`DistortionPolicy`]:
//! - `Undistort` (default): each image is resampled into the pinhole camera with the same
//!   size and intrinsics (fx, fy, cx, cy): every output pixel centre goes through the lens
//!   model, and the source is sampled bilinearly (pixels that fall outside take the nearest edge
//!   pixel). The forward model maps pinhole to distorted pixels, so no inversion is needed;
//!   [`Distortion::undistort`] (Newton) is there for points.
//! - `Ignore`: the distortion is dropped (pinhole with the same intrinsics), with a warning.
//! - `Refuse`: an error naming the camera model and the file.
//!
//! Under every policy a distortion that moves no pixel of the native image by more than
//! [`TINY_DISTORTION_PX`] (0.1 px) is ignored, with a warning in [`Dataset::warnings`] (also
//! printed to stderr). Fisheye and other COLMAP models are refused with their name.
//!
//! # Formats
//! - COLMAP: the model in `<root>/sparse/0`, `<root>/sparse` or `<root>`, each file from `.bin`
//!   where present else `.txt`; images in `<root>/images` (or [`LoadOptions::images_dir`]).
//!   Views sorted by image name. Initial points from `points3D`. No hold-out by default.
//! - NeRF / nerfstudio: `transforms_{train,val,test}.json`, else `transforms.json` (all train).
//!   OpenGL camera-to-world → OpenCV world-to-camera. Focal: `fl_x`/`fl_y` (frame, then top
//!   level) preferred over `camera_angle_x`/`camera_angle_y`; `fy = fx` when neither `fl_y`
//!   nor `camera_angle_y` is given. `cx`, `cy` default to the image centre; `w`, `h` to the
//!   image's size (intrinsics are scaled when the image on disk has another size). No initial
//!   points. Default background: white.
//! - LLFF: `poses_bounds.npy` (N×17), images in `images_<factor>` (or `images`), row i ↔ the
//!   i-th image in sorted order; the poses' world frame is kept (no NeRF recentring or
//!   rescaling), so `sparse/0/points3D` lines up and is used as initial points when present.
//!   Every 8th view (0, 8, 16, …) is held out as test by default. Per-view near/far go into
//!   [`View::bounds`]; the camera's own near/far stay at the culling defaults.

pub mod colmap;
mod colmap_dataset;
pub mod distortion;
mod error;
pub mod llff;
pub mod nerf;
pub mod npy;
pub mod raster;

pub use colmap::{CameraModel, ColmapCamera, ColmapImage, ColmapModel, ColmapPoint};
pub use distortion::Distortion;
pub use error::{DatasetError, ErrorKind};
pub use raster::Image;

use crate::camera::Camera;
use glam::{DMat3, DVec3, Vec3};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Distortions that move no pixel by more than this (native resolution) are ignored.
pub const TINY_DISTORTION_PX: f64 = 0.1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetFormat {
    Colmap,
    Nerf,
    Llff,
}

impl DatasetFormat {
    pub fn name(self) -> &'static str {
        match self {
            DatasetFormat::Colmap => "COLMAP",
            DatasetFormat::Nerf => "NeRF transforms.json",
            DatasetFormat::Llff => "LLFF",
        }
    }
}

/// Which views become test views, for formats without split files (COLMAP, LLFF, a single
/// `transforms.json`). NeRF split files always decide when present.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HoldOut {
    /// LLFF: every 8th; COLMAP and a single transforms.json: none.
    #[default]
    FormatDefault,
    /// Every view is a training view.
    None,
    /// Views 0, n, 2n, … (in the format's order) are test views.
    Every(usize),
}

/// What to do with distorted cameras (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DistortionPolicy {
    #[default]
    Undistort,
    Ignore,
    Refuse,
}

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Force a format instead of detecting it.
    pub format: Option<DatasetFormat>,
    /// Longer image side in pixels; `None` keeps the native size. Never upscales.
    pub resolution: Option<u32>,
    /// Background for RGBA images; default white for NeRF, black otherwise.
    pub background: Option<Vec3>,
    /// COLMAP / LLFF: the image folder, instead of `<root>/images` / `<root>/images_<factor>`.
    pub images_dir: Option<PathBuf>,
    /// LLFF: use `images_<factor>` (1: `images`). Default: the smallest folder whose images
    /// are at least `resolution` on the longer side (the largest without `resolution`).
    pub llff_factor: Option<u32>,
    pub hold_out: HoldOut,
    pub distortion: DistortionPolicy,
    /// Decode every image at load (in parallel) instead of on first use.
    pub eager: bool,
}

/// Initial points: positions and colours in [0, 1], and, for SfM points, which views saw them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Points {
    pub positions: Vec<Vec3>,
    pub colors: Vec<Vec3>,
    /// Per point, the names of the views whose images observe it (its SfM track), when known.
    /// Sparse-view fits keep only points their own views can triangulate (see [`Points::seen_by`]).
    pub observers: Option<Vec<Vec<String>>>,
}

impl Points {
    pub fn len(&self) -> usize {
        self.positions.len()
    }
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// `names(image id)` → the view name of a track entry (None: the point keeps no observer
    /// for it).
    pub(crate) fn from_colmap(points: &[ColmapPoint], names: impl Fn(u32) -> Option<String>) -> Self {
        Points {
            positions: points
                .iter()
                .map(|p| DVec3::from(p.xyz).as_vec3())
                .collect(),
            colors: points
                .iter()
                .map(|p| Vec3::new(p.rgb[0] as f32, p.rgb[1] as f32, p.rgb[2] as f32) / 255.0)
                .collect(),
            observers: Some(
                points
                    .iter()
                    .map(|p| {
                        let mut v: Vec<String> = p.track.iter().filter_map(|&(id, _)| names(id)).collect();
                        v.sort();
                        v.dedup();
                        v
                    })
                    .collect(),
            ),
        }
    }

    /// The points observed by at least `min_views` of `views` (by name): what SfM on those views
    /// alone could have triangulated. Points without track information are all kept (`None`).
    pub fn seen_by(&self, views: &[&str], min_views: usize) -> Option<Points> {
        let observers = self.observers.as_ref()?;
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| observers[i].iter().filter(|o| views.contains(&o.as_str())).count() >= min_views)
            .collect();
        Some(Points {
            positions: keep.iter().map(|&i| self.positions[i]).collect(),
            colors: keep.iter().map(|&i| self.colors[i]).collect(),
            observers: Some(keep.iter().map(|&i| observers[i].clone()).collect()),
        })
    }
}

/// One posed image.
#[derive(Clone, Debug)]
pub struct View {
    /// Image file name (COLMAP: as in the model; NeRF: `file_path`; LLFF: file name).
    pub name: String,
    /// Pinhole camera at the dataset's resolution; matches what [`View::image`] returns.
    pub camera: Camera,
    pub image_path: PathBuf,
    /// LLFF near/far depth bounds of the scene seen by this view.
    pub bounds: Option<[f32; 2]>,
    prep: Prep,
    cache: OnceLock<Arc<Image>>,
}

/// How to turn the file into the view's image.
#[derive(Clone, Debug)]
struct Prep {
    /// Size of the image file.
    native: (u32, u32),
    /// Intrinsics at native size and the distortion to remove.
    undistort: Option<([f64; 4], Distortion)>,
    background: [f32; 3],
}

impl View {
    /// Decodes and prepares the image (not cached): f32 RGB at `camera.width`×`camera.height`.
    pub fn load_image(&self) -> Result<Image, DatasetError> {
        let mut img = raster::decode(&self.image_path)?;
        if (img.width, img.height) != self.prep.native {
            return Err(DatasetError::inconsistent(
                &self.image_path,
                format!(
                    "image is {}x{} but was {}x{} when the dataset was loaded",
                    img.width, img.height, self.prep.native.0, self.prep.native.1
                ),
            ));
        }
        img.composite(self.prep.background);
        if let Some(([fx, fy, cx, cy], d)) = &self.prep.undistort {
            img = img.undistort(*fx, *fy, *cx, *cy, d);
        }
        Ok(img.resize_area(self.camera.width, self.camera.height))
    }

    /// The prepared image, decoded on first call and cached.
    pub fn image(&self) -> Result<Arc<Image>, DatasetError> {
        if let Some(img) = self.cache.get() {
            return Ok(img.clone());
        }
        let img = Arc::new(self.load_image()?);
        // Another thread may have won the race; either copy is the same image.
        Ok(self.cache.get_or_init(|| img).clone())
    }

    pub fn is_loaded(&self) -> bool {
        self.cache.get().is_some()
    }

    /// Size of the image file on disk.
    pub fn native_size(&self) -> (u32, u32) {
        self.prep.native
    }

    /// Whether [`View::load_image`] removes lens distortion.
    pub fn is_undistorted(&self) -> bool {
        self.prep.undistort.is_some()
    }

    /// Drops the cached image.
    pub fn unload(&mut self) {
        self.cache = OnceLock::new();
    }
}

/// Posed images with their train/val/test split, initial points and background.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub format: DatasetFormat,
    pub root: PathBuf,
    pub train: Vec<View>,
    /// NeRF `transforms_val.json`; empty for other formats.
    pub val: Vec<View>,
    pub test: Vec<View>,
    /// COLMAP `points3D`, or LLFF's `sparse/0/points3D` when present; `None` for NeRF.
    pub points: Option<Points>,
    /// What RGBA images were composited onto.
    pub background: Vec3,
    /// Things the loader decided on its own (e.g. ignored tiny distortion); printed to stderr.
    pub warnings: Vec<String>,
}

impl Dataset {
    /// Loads with default options (format detected, native resolution, lazy images).
    pub fn load(root: impl AsRef<Path>) -> Result<Self, DatasetError> {
        Self::load_with(root, &LoadOptions::default())
    }

    pub fn load_with(root: impl AsRef<Path>, opts: &LoadOptions) -> Result<Self, DatasetError> {
        let root = root.as_ref();
        let format = match opts.format {
            Some(f) => f,
            None => detect_format(root)?,
        };
        let background = opts.background.unwrap_or(match format {
            DatasetFormat::Nerf => Vec3::ONE,
            _ => Vec3::ZERO,
        });
        let parsed = match format {
            DatasetFormat::Colmap => colmap_dataset::load(root, opts)?,
            DatasetFormat::Nerf => nerf::load(root)?,
            DatasetFormat::Llff => llff::load(root, opts)?,
        };
        let Parsed {
            mut train,
            mut val,
            mut test,
            points,
            has_splits,
        } = parsed;
        if !has_splits {
            let every = match opts.hold_out {
                HoldOut::FormatDefault => (format == DatasetFormat::Llff).then_some(8),
                HoldOut::None => None,
                HoldOut::Every(n) => Some(n),
            };
            if let Some(n) = every.filter(|&n| n > 0) {
                let all = std::mem::take(&mut train);
                for (i, v) in all.into_iter().enumerate() {
                    if i % n == 0 {
                        test.push(v)
                    } else {
                        train.push(v)
                    }
                }
            }
        }
        let mut warnings = Vec::new();
        let mut build = |specs: Vec<ViewSpec>| -> Result<Vec<View>, DatasetError> {
            build_views(specs, opts, background, &mut warnings)
        };
        let train = build(std::mem::take(&mut train))?;
        let val = build(std::mem::take(&mut val))?;
        let test = build(std::mem::take(&mut test))?;
        if train.is_empty() && val.is_empty() && test.is_empty() {
            return Err(DatasetError::inconsistent(
                root,
                "the dataset lists no images",
            ));
        }
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        let ds = Dataset {
            format,
            root: root.to_path_buf(),
            train,
            val,
            test,
            points,
            background,
            warnings,
        };
        if opts.eager {
            ds.preload()?;
        }
        Ok(ds)
    }

    /// Train, then val, then test views.
    pub fn views(&self) -> impl Iterator<Item = &View> {
        self.train.iter().chain(&self.val).chain(&self.test)
    }

    /// The view of an image name, in any split.
    pub fn view(&self, name: &str) -> Option<&View> {
        self.views().find(|v| v.name == name)
    }

    /// Decodes every image not yet cached, in parallel.
    pub fn preload(&self) -> Result<(), DatasetError> {
        let all: Vec<&View> = self.views().collect();
        let results: Vec<Result<Arc<Image>, DatasetError>> =
            all.par_iter().map(|v| v.image()).collect();
        results.into_iter().try_for_each(|r| r.map(|_| ()))
    }

    /// The images of some views, decoded in parallel (cached in the views).
    pub fn images(views: &[View]) -> Result<Vec<Arc<Image>>, DatasetError> {
        let results: Vec<Result<Arc<Image>, DatasetError>> =
            views.par_iter().map(|v| v.image()).collect();
        results.into_iter().collect()
    }

    /// 1.1 × the largest distance of a training camera centre from the centres' mean (all
    /// views when there is no training view); 1 when all centres coincide.
    pub fn scene_extent(&self) -> f32 {
        let views: Vec<&View> = if self.train.is_empty() {
            self.views().collect()
        } else {
            self.train.iter().collect()
        };
        let centers: Vec<DVec3> = views.iter().map(|v| v.camera.center().as_dvec3()).collect();
        if centers.is_empty() {
            return 1.0;
        }
        let mean = centers.iter().sum::<DVec3>() / centers.len() as f64;
        let max = centers
            .iter()
            .map(|c| (*c - mean).length())
            .fold(0.0, f64::max);
        if max > 1e-9 {
            (1.1 * max) as f32
        } else {
            1.0
        }
    }
}

/// Which format a folder holds: `transforms_train.json` / `transforms.json` → NeRF,
/// `poses_bounds.npy` → LLFF, `cameras.{bin,txt}` in `sparse/0`, `sparse` or the folder →
/// COLMAP. A `.json` file or a `poses_bounds.npy` file may be given directly.
pub fn detect_format(root: &Path) -> Result<DatasetFormat, DatasetError> {
    let meta = std::fs::metadata(root).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DatasetError::missing(root, "dataset folder not found")
        } else {
            DatasetError::io(root, e)
        }
    })?;
    if meta.is_file() {
        let name = root.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".json") {
            return Ok(DatasetFormat::Nerf);
        }
        if name == "poses_bounds.npy" {
            return Ok(DatasetFormat::Llff);
        }
        return Err(DatasetError::new(
            root,
            ErrorKind::UnknownFormat(
                "a dataset file must be a transforms*.json or poses_bounds.npy".into(),
            ),
        ));
    }
    let mut entries = std::fs::read_dir(root).map_err(|e| DatasetError::io(root, e))?;
    if entries.next().is_none() {
        return Err(DatasetError::new(root, ErrorKind::EmptyFolder));
    }
    if root.join("transforms_train.json").is_file() || root.join("transforms.json").is_file() {
        return Ok(DatasetFormat::Nerf);
    }
    if root.join("poses_bounds.npy").is_file() {
        return Ok(DatasetFormat::Llff);
    }
    if colmap_dataset::model_dir(root).is_some() {
        return Ok(DatasetFormat::Colmap);
    }
    Err(DatasetError::new(
        root,
        ErrorKind::UnknownFormat(
            "found none of transforms.json / transforms_train.json (NeRF), poses_bounds.npy (LLFF), \
             sparse/0/cameras.bin|txt (COLMAP)"
                .into(),
        ),
    ))
}

// ---------------------------------------------------------------------------------------------
// What the format readers hand to the common view builder.

/// A view as a format describes it, before image sizes and options are applied.
#[derive(Clone, Debug)]
pub(crate) struct ViewSpec {
    pub name: String,
    pub image_path: PathBuf,
    /// Where the image was named (for the missing-image error).
    pub listed_in: PathBuf,
    /// Appended to the missing-image message.
    pub missing_hint: &'static str,
    /// World-to-camera rotation (orthonormal) and translation.
    pub rotation: DMat3,
    pub translation: DVec3,
    pub intrinsics: Intrinsics,
    pub bounds: Option<[f32; 2]>,
}

#[derive(Clone, Debug)]
pub(crate) struct Intrinsics {
    pub fx: Focal,
    pub fy: Focal,
    /// Principal point in pixels at `size`; `None`: the centre.
    pub c: Option<[f64; 2]>,
    /// The size the intrinsics refer to; `None`: the image file's size.
    pub size: Option<(u32, u32)>,
    pub distortion: Distortion,
    /// Names the camera in messages, e.g. `camera 1 (SIMPLE_RADIAL)`.
    pub describe: String,
    /// The file the camera comes from.
    pub file: PathBuf,
}

/// A focal length in pixels, or how to get it from the image size.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Focal {
    Pixels(f64),
    /// 0.5·w / tan(0.5·angle): NeRF's `camera_angle_x`.
    AngleX(f64),
    /// 0.5·h / tan(0.5·angle): `camera_angle_y`.
    AngleY(f64),
    /// fy only: equal to fx.
    SameAsFx,
}

pub(crate) struct Parsed {
    pub train: Vec<ViewSpec>,
    pub val: Vec<ViewSpec>,
    pub test: Vec<ViewSpec>,
    pub points: Option<Points>,
    /// The format's own files decided the split (NeRF split files).
    pub has_splits: bool,
}

/// The size with the longer side `resolution` (never larger than the native size).
pub(crate) fn target_size(native: (u32, u32), resolution: Option<u32>) -> (u32, u32) {
    let (w, h) = native;
    match resolution {
        Some(r) if r > 0 && r < w.max(h) => {
            let s = r as f64 / w.max(h) as f64;
            let sw = ((w as f64 * s).round() as u32).max(1);
            let sh = ((h as f64 * s).round() as u32).max(1);
            (sw, sh)
        }
        _ => (w, h),
    }
}

fn build_views(
    specs: Vec<ViewSpec>,
    opts: &LoadOptions,
    background: Vec3,
    warnings: &mut Vec<String>,
) -> Result<Vec<View>, DatasetError> {
    // Existence, then sizes from the headers, in parallel; the first error in view order wins.
    let sizes: Vec<Result<(u32, u32), DatasetError>> = specs
        .par_iter()
        .map(|s| {
            if !s.image_path.is_file() {
                return Err(DatasetError::missing(
                    &s.image_path,
                    format!(
                        "image not found (listed in {}{})",
                        s.listed_in.display(),
                        s.missing_hint
                    ),
                ));
            }
            raster::image_size(&s.image_path)
        })
        .collect();
    let mut views = Vec::with_capacity(specs.len());
    for (spec, size) in specs.into_iter().zip(sizes) {
        let native = size?;
        views.push(build_view(spec, native, opts, background, warnings)?);
    }
    Ok(views)
}

fn build_view(
    spec: ViewSpec,
    native: (u32, u32),
    opts: &LoadOptions,
    background: Vec3,
    warnings: &mut Vec<String>,
) -> Result<View, DatasetError> {
    let intr = &spec.intrinsics;
    // Intrinsics at the size they refer to, then at the image file's size.
    let (w0, h0) = intr.size.unwrap_or(native);
    let focal = |f: Focal, fx: f64| match f {
        Focal::Pixels(f) => f,
        Focal::AngleX(a) => 0.5 * w0 as f64 / (0.5 * a).tan(),
        Focal::AngleY(a) => 0.5 * h0 as f64 / (0.5 * a).tan(),
        Focal::SameAsFx => fx,
    };
    let fx0 = focal(intr.fx, f64::NAN);
    let fy0 = focal(intr.fy, fx0);
    let [cx0, cy0] = intr.c.unwrap_or([0.5 * w0 as f64, 0.5 * h0 as f64]);
    let (sx, sy) = if (w0, h0) != native {
        let (sx, sy) = (native.0 as f64 / w0 as f64, native.1 as f64 / h0 as f64);
        // Allow the rounding of a downscaled folder (e.g. 4032/3 → 1344 but 3000/7 → 428.6).
        let tol = 0.01 * sx.max(sy) + 1.0 / native.0.min(native.1) as f64;
        if (sx - sy).abs() > tol {
            return Err(DatasetError::inconsistent(
                &spec.image_path,
                format!(
                    "image is {}x{} but {} in {} is {}x{} (different aspect ratio)",
                    native.0,
                    native.1,
                    intr.describe,
                    intr.file.display(),
                    w0,
                    h0
                ),
            ));
        }
        (sx, sy)
    } else {
        (1.0, 1.0)
    };
    let (fx, fy) = (fx0 * sx, fy0 * sy);
    let (cx, cy) = (cx0 * sx, cy0 * sy);
    if ![fx, fy, cx, cy].iter().all(|v| v.is_finite()) || fx <= 0.0 || fy <= 0.0 {
        return Err(DatasetError::non_finite(
            &intr.file,
            format!(
                "{}: intrinsics fx {fx}, fy {fy}, cx {cx}, cy {cy} for {}",
                intr.describe, spec.name
            ),
        ));
    }
    let d = intr.distortion;
    let mut undistort = None;
    if !d.is_zero() {
        if !d.is_finite() {
            return Err(DatasetError::non_finite(
                &intr.file,
                format!("{}: distortion {d:?}", intr.describe),
            ));
        }
        let px = d.max_displacement_px(fx, fy, cx, cy, native.0, native.1);
        let what = format!("{} in {}", intr.describe, intr.file.display());
        if px <= TINY_DISTORTION_PX {
            push_unique(
                warnings,
                format!("{what}: distortion moves pixels by at most {} px; ignored (treated as pinhole)", fmt_px(px)),
            );
        } else {
            match opts.distortion {
                DistortionPolicy::Undistort => undistort = Some(([fx, fy, cx, cy], d)),
                DistortionPolicy::Ignore => push_unique(
                    warnings,
                    format!(
                        "{what}: distortion of up to {px:.2} px ignored (DistortionPolicy::Ignore)"
                    ),
                ),
                DistortionPolicy::Refuse => return Err(DatasetError::unsupported(
                    &intr.file,
                    format!(
                        "{} is distorted (up to {px:.2} px) and DistortionPolicy::Refuse is set; \
                             undistort the images (e.g. colmap image_undistorter) or use Undistort",
                        intr.describe
                    ),
                )),
            }
        }
    }
    let (w, h) = target_size(native, opts.resolution);
    let (rx, ry) = (w as f64 / native.0 as f64, h as f64 / native.1 as f64);
    let mut camera = Camera::identity(w, h, (fx * rx) as f32, (fy * ry) as f32);
    camera.cx = (cx * rx) as f32;
    camera.cy = (cy * ry) as f32;
    camera.rotation = spec.rotation.as_mat3();
    camera.translation = spec.translation.as_vec3();
    camera.validate().map_err(|reason| {
        DatasetError::non_finite(
            &spec.listed_in,
            format!("camera of {}: {reason}", spec.name),
        )
    })?;
    Ok(View {
        name: spec.name,
        camera,
        image_path: spec.image_path,
        bounds: spec.bounds,
        prep: Prep {
            native,
            undistort,
            background: background.to_array(),
        },
        cache: OnceLock::new(),
    })
}

/// Pixels with three significant digits.
fn fmt_px(px: f64) -> String {
    if px >= 0.01 {
        format!("{px:.3}")
    } else {
        format!("{px:.2e}")
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// Checks that a camera-to-world or world-to-camera 3×3 block is a rotation up to `tol`, and
/// returns the nearest rotation (renormalised through a quaternion).
pub(crate) fn orthonormalize(m: DMat3, tol: f64) -> Option<DMat3> {
    if !m.is_finite() {
        return None;
    }
    let mtm = m.transpose() * m;
    if !mtm.abs_diff_eq(DMat3::IDENTITY, tol) || m.determinant() <= 0.0 {
        return None;
    }
    // Two Newton steps of the polar decomposition: R ← (R + R⁻ᵀ) / 2.
    let mut r = m;
    for _ in 0..3 {
        r = (r + r.inverse().transpose()) * 0.5;
    }
    Some(r)
}
